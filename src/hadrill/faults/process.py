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

__all__ = ["ProcessFault", "process_states"]

Signal = Literal["KILL", "TERM", "STOP"]
_STATS = "--stat--"  # separates the pids signalled from their /proc/PID/stat lines in inject's output


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


def process_states(stats: str) -> dict[str, str]:
    r"""pid → state letter from /proc/PID/stat lines (the name in parentheses may hold spaces).

    >>> process_states("12 (etcd) T 1 12 12\n13 (a b) c) S 1 13 13\n")
    {'12': 'T', '13': 'S'}
    """
    out = {}
    for line in stats.splitlines():
        pid, _, rest = line.partition(" (")
        fields = rest.rpartition(") ")[2].split()
        if pid.isdigit() and fields:
            out[pid] = fields[0]
    return out


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
        # One call: find, refuse a process already frozen (another fault? stopping it would prove
        # nothing), signal; the pids signalled are the ones recorded.
        frozen = ""
        if self.signal == "STOP":
            frozen = (
                'all=1; for p in $pids; do s=$(cat /proc/$p/stat 2>/dev/null); s=${s##*") "}; '
                '[ "${s%% *}" = T ] || all=0; done; [ $all = 1 ] && { echo $pids; exit 4; }; '
            )
        # After the signal, the same call reads /proc/PID/stat until every pid shows the effect (stopped:
        # state T; killed: gone), for at most ~0.2 s: prove() starts from that evidence, not a round trip.
        effect = '[ "${s%% *}" = T ] || all=0' if self.signal == "STOP" else '[ -z "$s" ] || all=0'
        settle = (
            f'for i in $(seq 1 40); do all=1; for p in $pids; do s=$(cat /proc/$p/stat 2>/dev/null); s=${{s##*") "}}; '
            f"{effect}; done; [ $all = 1 ] && break; sleep 0.005; done; "
        )
        res = t.run(
            f"pids=$(pgrep -x {name}) || exit 3; {frozen}kill -{self.signal} $pids; rc=$?; echo $pids; "
            f"[ $rc = 0 ] && {{ {settle}echo {_STATS}; for p in $pids; do cat /proc/$p/stat 2>/dev/null; done; }}; "
            "exit $rc",
            timeout=10,
        )
        head, _, stats = res.stdout.partition(_STATS)
        pids = [p for p in head.split() if p.isdigit()]
        record.params["states_after_signal"] = process_states(stats)
        if res.rc == 3 or not pids:
            raise InjectionFailed(f"{record.target}: no process named {self.process!r} to {self.signal}")
        if res.rc == 4:
            raise InjectionFailed(f"{record.target}: {self.process} is already stopped (pid {' '.join(pids)})")
        record.params["pids"] = pids
        if not res.ok:
            why = (res.stderr or res.stdout).strip()[-200:]
            raise InjectionFailed(f"{record.target}: kill -{self.signal} {self.process}: {why}")

    def prove(self, record: FaultRecord) -> str:
        """Frozen: every signalled pid is in state T in /proc/PID/stat. Killed: none is left."""
        t = target(record.target)
        pids: list[str] = record.params["pids"]
        seen: dict[str, str] = record.params.get("states_after_signal") or {}
        if self.signal == "STOP":
            if sorted(seen) == sorted(pids) and all(v == "T" for v in seen.values()):
                return f"{self.process} stopped (state T: pid {' '.join(pids)}, read right after the signal)"
            stat = " ".join(f"/proc/{p}/stat" for p in pids)

            def stopped() -> str | None:
                states = process_states(t.run(f"cat {stat} 2>/dev/null", timeout=5).stdout)
                frozen = len(states) == len(pids) and all(s == "T" for s in states.values())
                return f"{self.process} stopped (state T: pid {' '.join(pids)})" if frozen else None

            return wait_for(stopped, timeout=5, interval=0.02, what=f"{self.process} stopped")

        if not seen and "states_after_signal" in record.params:
            return f"{self.process} pid(s) {' '.join(pids)} gone (no /proc entry right after the signal)"

        def gone() -> str | None:
            alive = t.run(f"ps -o pid= -p {','.join(pids)}", timeout=5).stdout.split()
            return f"{self.process} pid(s) {' '.join(pids)} gone" if not alive else None

        return wait_for(gone, timeout=10, interval=0.05, what=f"{self.process} killed")

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
