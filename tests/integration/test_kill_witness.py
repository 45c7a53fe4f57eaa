"""A container kill proven from its first process (:func:`hadrill.faults.container.kill_witness`,
:func:`~hadrill.faults.container.killed`) and a revert that waits for the engine's teardown, against a
real one: a one-member etcd lab (``hdt-<worker>-kw``).

Oracles: the ``docker`` CLI (kill, inspect: state, pid, StartedAt) and this machine's /proc.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labtools import wait_until

from hadrill.clients.docker import container, engine
from hadrill.faults.container import kill_witness, killed, start_container
from hadrill.inventory import load_inventory

pytestmark = [pytest.mark.lab]


@pytest.fixture(scope="module")
def node(module_lab_factory: Any, state_dir: Path) -> Iterator[str]:
    lab = module_lab_factory.make("kw", members=1)
    module_lab_factory.up(lab)
    [url] = [n.url for n in load_inventory(lab.inventory_path).nodes]
    yield url.removeprefix("docker://")


def _inspect(name: str, fmt: str) -> str:
    return subprocess.run(
        ["docker", "inspect", "-f", fmt, name], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()


def _start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat, read here without hadrill's parser."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split(" ")[19]


@pytest.fixture
def running(node: str) -> Iterator[str]:
    """The node running before and after each test."""
    start_container(node)
    yield node
    start_container(node)


def test_a_running_container_is_not_proven_killed(running: str) -> None:
    witness = kill_witness(container(running))
    pid = int(_inspect(running, "{{.State.Pid}}"))
    assert witness == {"pid": pid, "start": _start_time(pid), "started_at": _inspect(running, "{{.State.StartedAt}}")}
    assert killed(running, witness) is None


def test_a_kill_is_proven_then_reverted(running: str) -> None:
    witness = kill_witness(container(running))
    subprocess.run(["docker", "kill", running], capture_output=True, timeout=30, check=True)
    wait_until("proven", lambda: None if killed(running, witness) else "not yet", timeout=5, interval=0.02)
    assert killed(running, witness) == (
        f"container {running}'s first process (pid {witness['pid']}) dead, and every process with it"
    )
    wait_until("exited", lambda: None if _inspect(running, "{{.State.Status}}") == "exited" else "not yet", timeout=10)
    start_container(running, killed_instance=witness["started_at"])
    assert _inspect(running, "{{.State.Status}}") == "running"
    assert _inspect(running, "{{.State.StartedAt}}") != witness["started_at"]


def test_a_revert_right_after_the_kill_waits_for_the_teardown(running: str) -> None:
    """Started at once, the engine still shows the killed instance running: that is no container back."""
    c = container(running)
    witness = kill_witness(c)
    c.kill()
    start_container(running, killed_instance=witness["started_at"])
    assert _inspect(running, "{{.State.Status}}") == "running"
    assert _inspect(running, "{{.State.StartedAt}}") != witness["started_at"]


def test_a_pid_that_is_now_another_process_is_a_dead_first_process(running: str) -> None:
    """A witness's pid taken by another process (another start time) is no proof the container lives."""
    me = os.getpid()
    assert killed(running, {"pid": me, "start": _start_time(me), "started_at": ""}) is None
    assert killed(running, {"pid": me, "start": "1", "started_at": ""}) is not None


def test_no_process_witness_without_a_pid_namespace_of_its_own(running: str) -> None:
    """A container sharing the host's pid namespace: its first process's death kills nothing else."""
    image = container(running).attrs["Config"]["Image"]
    c = engine().containers.run(image, entrypoint=["sleep", "120"], pid_mode="host", detach=True, remove=True)
    try:
        c.reload()
        witness = kill_witness(c)
        assert witness["pid"] is None and witness["started_at"] == c.attrs["State"]["StartedAt"]
        assert killed(c.name, witness) is None
    finally:
        c.remove(force=True)
