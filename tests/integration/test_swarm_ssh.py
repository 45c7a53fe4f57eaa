"""Swarm over ``ssh://`` (#13): the lab's Swarm nodes (systemd hosts running dockerd) reached only over SSH,
as on a real fleet. A node's kill is a power cut (``systemctl poweroff --force --force`` over SSH, the lab's
engine powers it on); a drain's deadman is a systemd timer on every manager; the disaster procedure's
re-join powers each lost host on and cuts it off with iptables while it leaves its old swarm.

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
from swarmtools import deadman_restores_the_swarm

from hadrill.experiment import failure_report, run_experiment_file
from hadrill.faults.ledger import Ledger
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


def _manager_ids(manager: str) -> dict[str, str]:
    """``docker node ls`` on a manager, read through the engine: host name → node ID and manager status."""
    rows = engine_exec(manager, "docker node ls --format '{{.Hostname}} {{.ID}} {{.ManagerStatus}}'").splitlines()
    return {r.split()[0]: " ".join(r.split()[1:]) for r in rows if r.strip()}


def _no_cut_off_left(inv: Inventory) -> None:
    """No host keeps the re-join's iptables rules or their timer (read through the engine)."""
    for m in inv.cluster("swarm").settings["managers"]:
        rules = engine_exec(m, "iptables -S")
        assert "HADRILL-CUTOFF" not in rules, (m, rules)
        timers = engine_exec(m, "systemctl list-timers --all --no-legend")
        assert "hadrill-swarm-cutoff-undo" not in timers, (m, timers)


def test_force_new_cluster_over_ssh_powers_each_lost_host_on_cut_off_and_rejoins_it(
    lab: Lab, inv: Inventory, tmp_path: Path
) -> None:
    """The disaster procedure on hosts: the two lost managers lose their power (ssh off, the lab's engine
    on); the revert powers each on by that driver, drops Swarm's ports with iptables while it leaves its
    old swarm, lifts them and joins it with a token read from the survivor. Oracle: the engines' own node
    list, read through ``docker exec``: three managers, the two lost ones with new node IDs."""
    managers = inv.cluster("swarm").settings["managers"]
    before = _manager_ids(managers[0])
    result = run_experiment_file(
        EXPERIMENTS / "swarm-force-new-cluster.yaml", inventory=lab.inventory_path, journal_dir=tmp_path
    )
    assert result.ok, failure_report(result.journal)
    faults = result.hadrill["faults"]
    assert [f["kind"] for f in faults] == ["power.off", "power.off", "swarm.force_new_cluster"], faults
    lost = faults[2]["params"]["lost"]
    assert all(m["ssh"].startswith("ssh://") and m["power"]["op"] == "start" for m in lost), lost
    after = _manager_ids(managers[0])
    assert sorted(after) == sorted(before), after
    assert sorted(v.split()[1] for v in after.values() if len(v.split()) > 1) == ["Leader", "Reachable", "Reachable"]
    changed = sorted(h for h in after if after[h].split()[0] != before[h].split()[0])
    assert changed == sorted(m["name"] for m in lost), (before, after)
    _no_cut_off_left(inv)


def test_force_new_cluster_deadman_over_ssh_restores_three_managers_after_the_harness_is_killed(
    lab: Lab, inv: Inventory, tmp_path: Path, ledger: Ledger, state_dir: Path
) -> None:
    """As over ``docker://`` (:func:`swarmtools.deadman_restores_the_swarm`): the harness SIGKILLed mid-drill,
    the procedure's deadman on this host powers the lost hosts on, cuts each off, has it leave and join."""
    deadman_restores_the_swarm(lab, inv, tmp_path, ledger, state_dir)
    _no_cut_off_left(inv)
