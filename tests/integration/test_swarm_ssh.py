"""Swarm over ``ssh://`` (#13): the lab's Swarm nodes (systemd hosts running dockerd) reached only over SSH,
as on a real fleet. A node's kill is a power cut (``systemctl poweroff --force --force`` over SSH, the lab's
engine powers it on); a drain's deadman is a systemd timer on every manager.

One lab for the module (``hdt-<worker>-swssh``: 3 managers, 2 workers, no Gluster, so no stateful
service: its scenario runs in test_swarm.py) and an isolated ledger. Oracles: the engine's view of the
containers (independent of SSH) and ``docker node ls`` read through ``docker exec``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from labtools import engine_exec, fresh_lab

from hadrill.experiment import failure_report, run_experiment_file
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.lab import Lab, docker_inventory_path
from hadrill.lab.labfile import parse_lab_data

pytestmark = [pytest.mark.lab, pytest.mark.chaos]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    spec = {"name": f"hdt-{WORKER}-swssh", "etcd": None, "swarm": {}, "transport": "ssh"}
    yield from fresh_lab(parse_lab_data(spec, "<test>"))


@pytest.fixture(scope="module")
def inv(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)



def test_every_swarm_node_is_reached_over_ssh_and_the_engines_view_stays(lab: Lab, inv: Inventory) -> None:
    c = inv.cluster("swarm")
    names = [*c.settings["managers"], *c.settings["workers"]]
    assert len(names) == 5
    for name in names:
        assert inv.node(name).url.startswith("ssh://root@"), inv.node(name).url
    assert {n.url for n in load_inventory(docker_inventory_path(lab.name)).nodes} == {f"docker://{n}" for n in names}
    table = engine_exec(names[0], "docker node ls --format '{{.Hostname}} {{.Status}}'").split("\n")
    assert sorted(line.split()[0] for line in table if line.endswith("Ready")) == sorted(names)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("swarm-kill-leader", "power.off"), ("swarm-kill-worker", "power.off"), ("swarm-drain-node", "swarm.drain")],
)
def test_experiment_passes_over_ssh(name: str, kind: str, lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    result = run_experiment_file(EXPERIMENTS / f"{name}.yaml", inventory=lab.inventory_path, journal_dir=tmp_path)
    assert result.ok, failure_report(result.journal)
    faults = result.hadrill["faults"]
    assert [f["kind"] for f in faults] == [kind], faults
    p = faults[0]["params"]
    if kind == "power.off":
        assert faults[0]["target"].startswith("ssh://") and (p["off"], p["on"]) == ("ssh", "lab"), p
    else:  # the deadman: a timer on each manager host, listed by its own systemd when armed
        assert p["deadman"].count(f"hadrill-deadman-{faults[0]['id']}.timer ") == 3, p["deadman"]
        for m in inv.cluster("swarm").settings["managers"]:
            timers = engine_exec(m, "systemctl list-timers --all --no-legend")
            assert f"hadrill-deadman-{faults[0]['id']}" not in timers, (m, timers)  # disarmed after the heal
