"""A container's kill or stop, sent to its first process and proven from that process's death.

The engine's kill API answers only once it has torn the container down (its network, its mounts):
0.15-0.35 s on a busy lab, for a node running systemd or not. The kill itself is over long before. So
when this machine sees the engine's processes, the harness signals the container's first process
itself, through a pidfd (that very process, never a pid's next owner), and proves the kill from /proc:
the kernel kills every process of a pid namespace with its first one. Otherwise (a remote engine, a
harness in a container of its own, a restart policy the engine must not take for a crash) the engine
kills it and its state is the proof. A stop is the same with the container's stop signal first, and
SIGKILL after the grace period the engine would give it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from docker.models.containers import Container

from hadrill.clients.docker import container as _container

__all__ = ["STOP_GRACE_S", "kill", "kill_witness", "killed", "stop", "stopped"]

STOP_GRACE_S = 10.0  # a stop's SIGKILL comes this long after the stop signal, as ``docker stop -t 10``


def kill_witness(c: Container) -> dict[str, Any]:
    """What a kill of ``c`` is sent to and proven against, read just before it: the instance's StartedAt
    and its first process as this machine's /proc shows it (pid, start time in clock ticks since boot).

    The pid only when this machine sees the engine's processes (that pid's cgroup names the container)
    and the container has a pid namespace of its own (its processes die with their first one); else
    None: the engine's state is then the witness."""
    state = c.attrs["State"]
    witness: dict[str, Any] = {"started_at": state.get("StartedAt", ""), "pid": None, "start": None}
    pid = int(state.get("Pid") or 0)
    if pid <= 0 or c.attrs.get("HostConfig", {}).get("PidMode"):
        return witness
    try:
        cgroup = Path(f"/proc/{pid}/cgroup").read_text()
        start = _start_time(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, IndexError):
        return witness
    if c.id in cgroup:
        witness["pid"], witness["start"] = pid, start
    return witness


def kill(c: Container, witness: dict[str, Any]) -> None:
    """SIGKILL the container: to its first process (:func:`kill_witness`) when it has one and no restart
    policy (the engine would take that exit for a crash and restart it), else through the engine.
    Raises docker's APIError when the engine refuses."""
    if not _direct(c) or not _signal_first_process(witness, signal.SIGKILL):
        c.kill()


def stop(c: Container, witness: dict[str, Any]) -> None:
    """Stop the container as ``docker stop -t 10`` does: its stop signal to its first process now (the
    SIGKILL after :data:`STOP_GRACE_S` is :func:`stopped`'s), or, when it cannot be sent from here, the
    engine's stop, which answers once the container is down. Raises docker's APIError."""
    signum = _stop_signal(c)
    if signum is not None and _direct(c) and _signal_first_process(witness, signum):
        witness["signalled_at"], witness["signal"] = time.time(), signal.Signals(signum).name
    else:
        c.stop(timeout=int(STOP_GRACE_S))


def stopped(name: str, witness: dict[str, Any]) -> str | None:
    """Evidence that a stopped container's processes are dead, or None; past the grace period of a stop
    signalled from here, its first process gets the SIGKILL the engine would have sent."""
    seen = killed(name, witness)
    if seen is not None or "signalled_at" not in witness:
        return seen
    if "killed_at" not in witness and time.time() > witness["signalled_at"] + STOP_GRACE_S:
        _signal_first_process(witness, signal.SIGKILL)
        witness["killed_at"] = time.time()
    return None


def _direct(c: Container) -> bool:
    """Whether an exit the engine did not ask for leaves the container down (no restart policy)."""
    return ((c.attrs.get("HostConfig", {}).get("RestartPolicy") or {}).get("Name") or "no") == "no"


def _stop_signal(c: Container) -> int | None:
    """The container's stop signal (``StopSignal``, SIGTERM by default) as a number; None when unknown."""
    name = str(c.attrs.get("Config", {}).get("StopSignal") or "SIGTERM").upper()
    if name.isdigit():
        return int(name)
    name = name if name.startswith("SIG") else f"SIG{name}"
    for base, sign in (("SIGRTMIN+", 1), ("SIGRTMAX-", -1)):
        if name.startswith(base) and name[len(base) :].isdigit():
            return int(getattr(signal, base[:-1])) + sign * int(name[len(base) :])
    try:
        return int(signal.Signals[name])
    except KeyError:
        return None


def _signal_first_process(witness: dict[str, Any], signum: int) -> bool:
    """Send ``signum`` to the witnessed process through a pidfd; False when it cannot be (no pid, gone,
    not permitted, a kernel without pidfds): the caller asks the engine."""
    pid = witness.get("pid")
    if not pid:
        return False
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        # the pidfd holds that very process: one whose start time matches is the witnessed one
        if _start_time(Path(f"/proc/{pid}/stat").read_text()) != witness["start"]:
            return False
        signal.pidfd_send_signal(fd, signum)
    except (OSError, IndexError):
        return False
    finally:
        os.close(fd)
    return True


def _start_time(stat: str) -> str:
    """Field 22 of /proc/PID/stat (the name in parentheses may hold spaces)."""
    return stat.rpartition(") ")[2].split()[19]


def _first_process_dead(witness: dict[str, Any]) -> bool:
    """Whether the witnessed process is dead: gone, a zombie, or its pid now another process's."""
    pid = witness.get("pid")
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    except OSError:
        return False
    return stat.rpartition(") ")[2].split()[0] in ("Z", "X") or _start_time(stat) != witness["start"]


def killed(name: str, witness: dict[str, Any]) -> str | None:
    """Evidence that the killed container's processes are dead, or None: its first process dead (the
    kernel kills a pid namespace's processes with it), or, with no process witness, the engine's own
    "exited"."""
    if witness.get("pid"):
        if not _first_process_dead(witness):
            return None
        how = f" after {witness['signal']}" if "signal" in witness else ""
        how += f", SIGKILL {STOP_GRACE_S:g} s later" if "killed_at" in witness else ""
        return f"container {name}'s first process (pid {witness['pid']}) dead{how}, and every process with it"
    status = _container(name).status
    return f"container {name} running -> {status}" if status in ("exited", "dead") else None
