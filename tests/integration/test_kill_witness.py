"""A container kill or stop sent to its first process and proven from its death
(:mod:`hadrill.faults.container_kill`), and a revert that waits for the engine's teardown, against a
real one: a one-member etcd lab (``hdt-<worker>-kw``).

Oracles: the ``docker`` CLI (kill, inspect: state, pid, StartedAt) and this machine's /proc.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labtools import one_node_lab, wait_until

from hadrill.clients.docker import container, engine
from hadrill.faults import container_kill, hostdeadman
from hadrill.faults.container import start_container
from hadrill.faults.container_kill import kill, kill_witness, killed, stop, stopped

pytestmark = [pytest.mark.lab]


@pytest.fixture(scope="module")
def node(module_lab_factory: Any, state_dir: Path) -> str:
    return one_node_lab(module_lab_factory, "kw")


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


def _events(name: str, since: float, until: float) -> list[str]:
    """The engine's events for the container between two moments (the CLI's view)."""
    out = subprocess.run(
        ["docker", "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--filter", f"container={name}",
         "--format", "{{.Action}}"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return out.split()


@pytest.mark.parametrize(("action", "how"), [("kill", ""), ("stop", " after SIGTERM")])
def test_a_kill_or_stop_goes_to_the_first_process_and_is_proven(running: str, action: str, how: str) -> None:
    """Signalled here, not by the engine (no "kill" or "stop" event), proven, and reverted to a new instance."""
    send, proof = (kill, killed) if action == "kill" else (stop, stopped)
    since = time.time()
    c = container(running)
    witness = kill_witness(c)
    send(c, witness)
    wait_until("proven", lambda: None if proof(running, witness) else "not yet", timeout=5, interval=0.02)
    assert proof(running, witness) == (
        f"container {running}'s first process (pid {witness['pid']}) dead{how}, and every process with it"
    )
    wait_until("exited", lambda: None if _inspect(running, "{{.State.Status}}") == "exited" else "not yet", timeout=10)
    actions = _events(running, since, time.time())
    assert "die" in actions and "kill" not in actions and "stop" not in actions, actions
    # SIGKILL's 137, or etcd's own exit on SIGTERM
    assert (_inspect(running, "{{.State.ExitCode}}") == "137") == (action == "kill")
    start_container(running, killed_instance=witness["started_at"])
    assert _inspect(running, "{{.State.Status}}") == "running"
    assert _inspect(running, "{{.State.StartedAt}}") != witness["started_at"]


def test_a_revert_right_after_the_kill_waits_for_the_teardown(running: str) -> None:
    """Started at once, the engine still shows the killed instance running: that is no container back."""
    c = container(running)
    witness = kill_witness(c)
    kill(c, witness)
    start_container(running, killed_instance=witness["started_at"])
    assert _inspect(running, "{{.State.Status}}") == "running"
    assert _inspect(running, "{{.State.StartedAt}}") != witness["started_at"]


def test_the_host_deadman_right_after_the_kill_waits_for_the_teardown(running: str) -> None:
    """The deadman's power-on (a fault's time limit reached just after its kill) starts the node again."""
    c = container(running)
    witness = kill_witness(c)
    kill(c, witness)
    said = hostdeadman.power_on(engine(), {"op": "start", "container": running, "started_at": witness["started_at"]})
    assert said.endswith("now running") and "was running" not in said
    assert _inspect(running, "{{.State.Status}}") == "running"
    assert _inspect(running, "{{.State.StartedAt}}") != witness["started_at"]


def test_the_host_deadman_leaves_an_instance_never_cut_running(running: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deadman armed by a run that died before its cut waits (bounded), then finds the node running."""
    monkeypatch.setattr(hostdeadman, "KILLED_TEARDOWN_S", 0.5)
    started_at = _inspect(running, "{{.State.StartedAt}}")
    t0 = time.monotonic()
    said = hostdeadman.power_on(engine(), {"op": "start", "container": running, "started_at": started_at})
    assert 0.5 <= time.monotonic() - t0 < 5
    assert "was running" in said and _inspect(running, "{{.State.StartedAt}}") == started_at


def test_a_container_with_a_restart_policy_is_killed_by_the_engine(running: str) -> None:
    """Killed here, the engine would take the exit for a crash and restart it: the engine kills it."""
    image = container(running).attrs["Config"]["Image"]
    c = engine().containers.run(image, entrypoint=["sleep", "120"], restart_policy={"Name": "on-failure"}, detach=True)
    try:
        c.reload()
        since = time.time()
        kill(c, kill_witness(c))
        time.sleep(2.0)  # an engine restarting it would have done so by now
        assert _inspect(c.id, "{{.State.Status}}") == "exited"
        assert "kill" in _events(c.id, since, time.time())
    finally:
        c.remove(force=True)


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


def test_a_stop_signal_ignored_gets_the_sigkill_after_the_grace(running: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container_kill, "STOP_GRACE_S", 1.0)
    image = container(running).attrs["Config"]["Image"]
    c = engine().containers.run(
        image, entrypoint=["sh", "-c", "trap '' TERM; while :; do sleep 0.2; done"], detach=True
    )
    try:
        c.reload()
        witness = kill_witness(c)
        stop(c, witness)
        time.sleep(0.5)
        assert stopped(c.name, witness) is None  # still alive within the grace
        wait_until("proven", lambda: None if stopped(c.name, witness) else "not yet", timeout=5, interval=0.02)
        assert stopped(c.name, witness) == (
            f"container {c.name}'s first process (pid {witness['pid']}) dead after SIGTERM, SIGKILL 1 s later, "
            "and every process with it"
        )
        wait_until("exited", lambda: None if _inspect(c.id, "{{.State.Status}}") == "exited" else "-", timeout=10)
        assert _inspect(c.id, "{{.State.ExitCode}}") == "137"
    finally:
        c.remove(force=True)
