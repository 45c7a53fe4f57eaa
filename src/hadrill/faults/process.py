"""Process faults inside a target: kill a process by name, or freeze it (SIGSTOP) and thaw it.

A killed process comes back only if the fault knows how: ``restart`` is the command that restarts it
on the target (e.g. ``gluster volume start gv0 force``); without one, revert checks nothing and
relies on the platform's own supervisor, which is the behaviour being tested.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from hadrill.clients.targets import target
from hadrill.errors import InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import Fault, wait_for
from hadrill.faults.deadman import arm_in_target, disarm_in_target, fired_in_target
from hadrill.faults.ledger import FaultRecord

__all__ = ["ProcessFault"]

Signal = Literal["KILL", "TERM", "STOP"]


def _revert_commands(params: dict[str, Any]) -> str:
    name = shlex.quote(params["process"])
    if params["signal"] == "STOP":
        return f"pkill -CONT -x {name}; true"
    if params.get("restart"):
        return f"pgrep -x {name} >/dev/null || sh -c {shlex.quote(params['restart'])}"
    return "true"


def _verify_commands(params: dict[str, Any]) -> str | None:
    """Shell that succeeds once the revert took (None: nothing to verify, the platform restarts it)."""
    name = shlex.quote(params["process"])
    if params["signal"] == "STOP":  # none of the named processes is still stopped
        return f"! ps -eo stat=,comm= | awk -v n={name} '$2 == n && $1 ~ /^T/' | grep -q ."
    if params.get("restart"):
        return f"pgrep -x {name} >/dev/null"
    return None


@dataclass
class ProcessFault(Fault):
    """Send ``signal`` to every process named ``process`` (exact name) on the target."""

    process: str = ""
    signal: Signal = "KILL"
    restart: str = ""
    kind: ClassVar[str] = "process"

    def params(self) -> dict[str, Any]:
        if not self.process:
            raise InjectionFailed(f"process fault on {self.target}: no process name given")
        return {**super().params(), "process": self.process, "signal": self.signal, "restart": self.restart}

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        arm_in_target(target(record.target), record, _revert_commands(record.params))

    @classmethod
    def disarm(cls, record: FaultRecord) -> None:
        disarm_in_target(target(record.target), record.id)

    @classmethod
    def fired(cls, record: FaultRecord) -> bool:
        return fired_in_target(target(record.target), record.id)

    def inject(self, record: FaultRecord) -> None:
        t = target(record.target)
        name = shlex.quote(self.process)
        pids = [p for p in t.run(f"pgrep -x {name}", timeout=10).stdout.split() if p.isdigit()]
        if not pids:
            raise InjectionFailed(f"{record.target}: no process named {self.process!r} to {self.signal}")
        if self.signal == "STOP":  # already frozen (another fault?): stopping it would prove nothing
            states = t.run(f"ps -o stat= -p {','.join(pids)}", timeout=5).stdout.split()
            if states and all(st.startswith("T") for st in states):
                raise InjectionFailed(f"{record.target}: {self.process} is already stopped ({' '.join(states)})")
        record.params["pids"] = pids
        t.check(f"kill -{self.signal} {' '.join(pids)}", timeout=10)

    def prove(self, record: FaultRecord) -> str:
        t = target(record.target)
        pids: list[str] = record.params["pids"]
        if self.signal == "STOP":

            def stopped() -> str | None:
                states = t.run(f"ps -o stat= -p {','.join(pids)}", timeout=5).stdout.split()
                return (
                    f"{self.process} stopped ({' '.join(states)})"
                    if states and all(s.startswith("T") for s in states)
                    else None
                )

            return wait_for(stopped, timeout=5, what=f"{self.process} stopped")

        def gone() -> str | None:
            alive = t.run(f"ps -o pid= -p {','.join(pids)}", timeout=5).stdout.split()
            return f"{self.process} pid(s) {' '.join(pids)} gone" if not alive else None

        return wait_for(gone, timeout=10, what=f"{self.process} killed")

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        t = target(record.target)
        verify = _verify_commands(record.params)
        try:
            t.check(_revert_commands(record.params), timeout=60)
            if verify is not None:
                wait_for(lambda: "back" if t.run(verify, timeout=5).ok else None, timeout=20, what="process back")
        except (TargetError, InjectionFailed) as e:
            raise RevertFailed(f"{record.kind} on {record.target}: {e}") from e
