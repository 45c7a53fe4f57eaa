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
from hadrill.faults.deadman import arm_in_target, disarm_in_target
from hadrill.faults.ledger import FaultRecord

__all__ = ["ProcessFault"]

Signal = Literal["KILL", "TERM", "STOP"]


def _revert_commands(params: dict[str, Any]) -> str:
    name = shlex.quote(params["process"])
    if params["signal"] == "STOP":
        return f"pkill -CONT -x {name}; true"
    if params.get("restart"):
        return f"pgrep -x {name} >/dev/null || ({params['restart']})"
    return "true"


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

    def arm_deadman(self, record: FaultRecord) -> None:
        arm_in_target(target(record.target), record, _revert_commands(record.params))

    def inject(self, record: FaultRecord) -> None:
        t = target(record.target)
        name = shlex.quote(self.process)
        pids = t.run(f"pgrep -x {name}", timeout=10).stdout.split()
        if not pids:
            raise InjectionFailed(f"{record.target}: no process named {self.process!r} to {self.signal}")
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
        try:
            disarm_in_target(t, record.id)
            t.check(_revert_commands(record.params), timeout=60)
        except TargetError as e:
            raise RevertFailed(f"{record.kind} on {record.target}: {e}") from e
