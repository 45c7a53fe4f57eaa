"""Deadmen: timers that revert a fault by themselves when its time limit passes.

A deadman is a detached ``sh`` that sleeps until the record's deadline and then runs the revert
commands. It lives in the target itself (iptables rules, stopped processes), or on the engine's host
for container faults (a dead container cannot revert itself), in a session of its own, so killing the
harness (even with SIGKILL) does not kill it. Its command line carries ``hadrill-deadman-<id>``
so revert can disarm it.
"""

from __future__ import annotations

import shlex
import subprocess
import time

from hadrill.clients.targets import Target
from hadrill.faults.ledger import FaultRecord

__all__ = ["arm_in_target", "arm_on_host", "disarm_in_target", "disarm_on_host"]


def _tag(record_id: str) -> str:
    return f"hadrill-deadman-{record_id}"


def _pattern(record_id: str) -> str:
    """A regex matching the deadman but not the shell that runs pkill (``[x]`` trick)."""
    tag = _tag(record_id)
    cut = len("hadrill-deadman-")
    return f"{tag[:cut]}[{tag[cut]}]{tag[cut + 1 :]}"


def _script(record: FaultRecord, commands: str) -> str:
    delay = max(0.0, record.deadline - time.time())
    return f"sleep {delay:.1f}; : {_tag(record.id)}; {commands}"


def arm_in_target(target: Target, record: FaultRecord, commands: str) -> None:
    """Run ``commands`` inside the target at the record's deadline, harness or no harness."""
    target.spawn(_script(record, commands))


def disarm_in_target(target: Target, record_id: str) -> None:
    target.run(f"pkill -f {shlex.quote(_pattern(record_id))} || true", timeout=10)


def arm_on_host(record: FaultRecord, commands: str) -> None:
    """Run ``commands`` on this machine at the record's deadline, in a session of its own."""
    subprocess.Popen(
        ["sh", "-c", _script(record, commands)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def disarm_on_host(record_id: str) -> None:
    subprocess.run(["pkill", "-f", _pattern(record_id)], check=False, capture_output=True, timeout=10)
