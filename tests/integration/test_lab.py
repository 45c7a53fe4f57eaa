"""The offline lab against a real Docker engine: up, idempotent repair, status, side-by-side labs, down, prune, CLI.

The read-only tests share one lab (module scope); tests that stop or kill a member of it repair it with
``up`` before they end. Tests talk only to the labs' containers (10.213.0.0/16) and loopback.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
import yaml

from hadrill.clients.etcd import EtcdClient
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.lab import Lab, prune_labs
from hadrill.lab.runtime import LAB_LABEL, OWNER_LABEL, StatusRow

pytestmark = pytest.mark.lab

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
LAB_POOL = ipaddress.IPv4Network("10.213.0.0/16")
HADRILL = Path(sys.executable).parent / "hadrill"
CLI_TIMEOUT = 180.0


# -- helpers ---------------------------------------------------------------------------------------
def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0, interval: float = 0.5) -> None:
    """Poll ``check`` until true; bounded in time and in attempts."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 1):
        if check():
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    pytest.fail(f"{what}: not true after {timeout:.0f} s")


def labelled(client: docker.DockerClient, lab: str) -> dict[str, list[str]]:
    """Names of every container, network and volume carrying ``dev.hadrill.lab=<lab>``."""
    flt = {"label": [f"{LAB_LABEL}={lab}"]}
    return {
        "containers": sorted(c.name for c in client.containers.list(all=True, filters=flt)),
        "networks": sorted(n.name for n in client.networks.list(filters=flt)),
        "volumes": sorted(v.name for v in client.volumes.list(filters=flt)),
    }


def etcd_clients(inv: Inventory, timeout: float = 2.0) -> dict[str, EtcdClient]:
    clients = {}
    for m in inv.cluster("etcd").members:
        endpoint = m.endpoints["client"]
        host = endpoint.split("://", 1)[1].rsplit(":", 1)[0]
        assert ipaddress.ip_address(host) in LAB_POOL, f"{m.name}: {endpoint} is outside the lab pool"
        clients[m.name] = EtcdClient(endpoint, timeout=timeout)
    return clients


def container_ids(lab: Lab) -> dict[str, str]:
    return {c.name: c.id for c in lab.ctx.containers()}


def container_states(lab: Lab) -> dict[str, str]:
    return {c.name: c.status for c in lab.ctx.containers()}


def assert_all_healthy(rows: list[StatusRow], count: int = 3) -> None:
    assert len(rows) == count, rows
    bad = [r for r in rows if r.health != "healthy" or r.state != "running"]
    assert not bad, f"unhealthy rows: {bad}"


def status_all_healthy(lab: Lab) -> bool:
    rows = lab.status()
    return all(r.health == "healthy" and r.state == "running" for r in rows)


def repair(lab: Lab) -> None:
    """Bring a lab a test broke back to healthy (``up`` is the repair)."""
    if any(state != "running" for state in container_states(lab).values()) or not status_all_healthy(lab):
        lab.up(timeout=120)
    assert_all_healthy(lab.status())


def hadrill(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would; wide COLUMNS so rich does not wrap messages."""
    cmd = [str(HADRILL)] if HADRILL.exists() else [sys.executable, "-m", "hadrill.cli"]
    full_env = {**os.environ, "COLUMNS": "400", **(env or {})}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=full_env, timeout=CLI_TIMEOUT, check=False)


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_lab(module_lab_factory) -> Lab:
    """One 3-member lab for the module's tests; tests that break it repair it."""
    lab = module_lab_factory.make("shared")
    module_lab_factory.up(lab)
    return lab


@pytest.fixture
def healthy_lab(shared_lab: Lab) -> Iterator[Lab]:
    """The shared lab, repaired after a test that stops or kills one of its members."""
    try:
        yield shared_lab
    finally:
        repair(shared_lab)


# -- up --------------------------------------------------------------------------------------------
def test_up_writes_inventory_and_etcd_answers(shared_lab: Lab) -> None:
    path = shared_lab.inventory_path
    assert path.is_file(), f"no inventory at {path}"
    inv = load_inventory(path)
    assert inv.platform == f"lab:{shared_lab.name}"
    cluster = inv.cluster("etcd")
    assert len(cluster.members) == 3
    assert cluster.failure_budget == 1
    assert len(inv.nodes) == 3

    clients = etcd_clients(inv)
    statuses = {name: c.status() for name, c in clients.items()}
    leaders = {s.leader for s in statuses.values()}
    assert len(leaders) == 1, f"members disagree on the leader: {statuses}"
    leader = leaders.pop()
    assert leader in {s.member_id for s in statuses.values()}, f"leader {leader} is not a member: {statuses}"

    key, value = f"/hdt/{uuid.uuid4().hex}", uuid.uuid4().hex
    first, *others = list(clients)
    assert clients[first].put(key, value) > 0
    for name in others:
        assert clients[name].get(key) == value, f"{name} does not see the write made on {first}"

    names = {m.name for m in clients[first].members()}
    assert names == {m.name for m in cluster.members}


def test_up_twice_is_idempotent(shared_lab: Lab) -> None:
    ids_before = container_ids(shared_lab)
    inventory_before = shared_lab.inventory_path.read_text()
    assert len(ids_before) == 3

    shared_lab.up(timeout=120)

    assert container_ids(shared_lab) == ids_before
    assert shared_lab.inventory_path.read_text() == inventory_before
    assert set(container_states(shared_lab).values()) == {"running"}
    assert_all_healthy(shared_lab.status())


def test_up_starts_a_stopped_member(healthy_lab: Lab) -> None:
    ids_before = container_ids(healthy_lab)
    victim = healthy_lab.ctx.containers()[1]
    victim.stop(timeout=5)
    assert container_states(healthy_lab)[victim.name] != "running"

    healthy_lab.up(timeout=120)

    assert container_ids(healthy_lab) == ids_before, "up replaced a container instead of starting it"
    rows = {r.node: r for r in healthy_lab.status()}
    assert rows[victim.name].state == "running"
    assert rows[victim.name].health == "healthy"
    assert_all_healthy(list(rows.values()))


# -- status ----------------------------------------------------------------------------------------
def test_status_rows_and_a_killed_member(healthy_lab: Lab, engine: docker.DockerClient) -> None:
    rows = healthy_lab.status()
    assert_all_healthy(rows)
    assert [r.role for r in rows].count("etcd leader") == 1, rows
    assert all(ipaddress.ip_address(r.address) in LAB_POOL for r in rows), rows

    leader = next(r.node for r in rows if r.role == "etcd leader")
    engine.containers.get(leader).kill()
    wait_for(f"{leader} not running", lambda: container_states(healthy_lab)[leader] != "running", timeout=15)

    rows_after = {r.node: r for r in healthy_lab.status()}
    assert len(rows_after) == 3
    assert rows_after[leader].health == "unreachable", rows_after[leader]
    assert rows_after[leader].state != "running", rows_after[leader]
    for name, row in rows_after.items():
        if name != leader:
            assert (row.health, row.state) == ("healthy", "running"), row

    healthy_lab.up(timeout=120)  # the repair itself is part of the test; the fixture checks once more
    assert_all_healthy(healthy_lab.status())


# -- two labs --------------------------------------------------------------------------------------
def test_two_labs_side_by_side(shared_lab: Lab, lab_factory, engine: docker.DockerClient) -> None:
    side = lab_factory.make("side")
    lab_factory.up(shared_lab, side)  # at the same time: the shared one idempotently, the side one fresh

    inv_a, inv_b = load_inventory(shared_lab.inventory_path), load_inventory(side.inventory_path)
    net_a = ipaddress.ip_network(inv_a.networks[0].subnet)
    net_b = ipaddress.ip_network(inv_b.networks[0].subnet)
    assert not net_a.overlaps(net_b), f"both labs on {net_a} / {net_b}"
    assert net_a.subnet_of(LAB_POOL) and net_b.subnet_of(LAB_POOL)

    names_a, names_b = set(container_ids(shared_lab)), set(container_ids(side))
    assert len(names_a) == len(names_b) == 3
    assert not names_a & names_b
    assert all(n.startswith(f"{side.name}-") for n in names_b)

    assert_all_healthy(shared_lab.status())
    assert_all_healthy(side.status())

    key = f"/hdt/{uuid.uuid4().hex}"
    a, b = next(iter(etcd_clients(inv_a).values())), next(iter(etcd_clients(inv_b).values()))
    a.put(key, "in-a")
    assert b.get(key) is None, "a write in one lab is visible in the other"
    b.put(key, "in-b")
    assert a.get(key) == "in-a"

    side.down()
    assert labelled(engine, side.name) == {"containers": [], "networks": [], "volumes": []}
    assert_all_healthy(shared_lab.status())
    assert a.get(key) == "in-a"


# -- down and prune --------------------------------------------------------------------------------
def test_down_removes_every_labelled_object(lab_factory, engine: docker.DockerClient) -> None:
    lab = lab_factory.make("down")
    lab_factory.up(lab)
    before = labelled(engine, lab.name)
    assert len(before["containers"]) == 3
    assert before["networks"] == [f"{lab.name}-net"]
    assert len(before["volumes"]) == 3
    assert lab.inventory_path.is_file()

    counts = lab.down()

    assert counts == {"containers": 3, "volumes": 3, "networks": 1}
    assert labelled(engine, lab.name) == {"containers": [], "networks": [], "volumes": []}
    assert not lab.inventory_path.exists()
    assert not lab.exists()

    assert lab.down() == {"containers": 0, "volumes": 0, "networks": 0}  # twice is harmless


def test_prune_removes_only_the_owners_labs(lab_factory, engine: docker.DockerClient) -> None:
    # A worker-specific owner: prune_labs("pytest") would also take down the other xdist workers' labs
    # (and those of any other test run on this engine) while their tests use them.
    owner = f"pytest-prune-{WORKER}"
    doomed = lab_factory.make("prune", owner=owner, members=1)
    control = lab_factory.make("keep", owner="pytest-keep", members=1)
    lab_factory.up(doomed, control)
    assert doomed.exists() and control.exists()

    assert prune_labs(owner, client=engine) == [doomed.name]

    assert labelled(engine, doomed.name) == {"containers": [], "networks": [], "volumes": []}
    assert not doomed.inventory_path.exists()
    kept = labelled(engine, control.name)
    assert len(kept["containers"]) == 1 and kept["networks"] == [f"{control.name}-net"]
    owners = {
        c.labels.get(OWNER_LABEL) for c in engine.containers.list(filters={"label": f"{LAB_LABEL}={control.name}"})
    }
    assert owners == {"pytest-keep"}
    assert_all_healthy(control.status(), count=1)

    control.down()
    assert labelled(engine, control.name) == {"containers": [], "networks": [], "volumes": []}


# -- CLI -------------------------------------------------------------------------------------------
def test_cli_status_of_a_running_lab(shared_lab: Lab, tmp_path: Path) -> None:
    lab_file = tmp_path / "lab.yaml"  # the test labs are etcd-only, unlike the default lab file
    lab_file.write_text(yaml.safe_dump(shared_lab.spec.model_dump(mode="json")))
    proc = hadrill("lab", "status", "--lab-file", str(lab_file), "--name", shared_lab.name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in container_ids(shared_lab):
        assert name in proc.stdout
    assert "leader" in proc.stdout


def test_cli_up_with_a_bad_lab_file(tmp_path: Path, lab_factory) -> None:
    lab_factory.make("badfile")  # taken down at teardown should the file ever be accepted
    path = tmp_path / "lab.yaml"
    path.write_text(f"api_version: hadrill/v1\nkind: Lab\nname: hdt-{WORKER}-badfile\netcd:\n  members: 4\n")
    proc = hadrill("lab", "up", "--lab-file", str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert str(path) in proc.stderr
    assert "etcd.members" in proc.stderr


def test_cli_without_an_engine() -> None:
    proc = hadrill("lab", "status", "--name", f"hdt-{WORKER}-noengine", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "dockerd" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_status_of_an_unknown_lab(engine: docker.DockerClient) -> None:
    proc = hadrill("lab", "status", "--name", "hdt-nope-xyz")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "hdt-nope-xyz" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert labelled(engine, "hdt-nope-xyz") == {"containers": [], "networks": [], "volumes": []}
