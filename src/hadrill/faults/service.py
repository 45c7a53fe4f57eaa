"""Service faults on a systemd host, through the service manager as an operator (or an OOM kill) would.

- ``stop``: ``systemctl stop``; revert starts it.
- ``kill``: ``systemctl kill --signal=KILL``; the unit's own ``Restart=`` policy then acts, as in
  production (what is being tested); revert only makes sure it is active again.
- ``mask``: ``systemctl mask --runtime`` then stop: held down until revert unmasks and starts it.
- ``kill-masked``: masked, then SIGKILLed: a crash the unit does not come back from (a member lost
  until the revert), the host-level equivalent of killing a member's container.
- ``freeze``: ``systemctl kill --signal=STOP`` (every process of the unit); revert sends CONT.

Masks are ``--runtime`` (under /run): a reboot clears them like every other trace of the fault. A
runtime mask cannot hide a unit file kept in /etc/systemd/system (it outranks /run), so the proof
checks the unit really is masked and stays down, and says so when it is not. The deadman is a transient
systemd timer on the host (:mod:`hadrill.faults.systemd_timer`).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from hadrill.clients.targets import Target, target
from hadrill.errors import InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import Fault, wait_for
from hadrill.faults.ledger import FaultRecord
from hadrill.faults.systemd_timer import arm_timer, disarm_timer

__all__ = ["ServiceAction", "ServiceFault", "unit_state"]

ServiceAction = Literal["stop", "kill", "mask", "kill-masked", "freeze"]
_MASKING = ("mask", "kill-masked")


def unit_state(t: Target, unit: str) -> dict[str, str]:
    """``systemctl show`` properties of a unit that the faults read."""
    props = "LoadState,ActiveState,SubState,MainPID,NRestarts,FragmentPath,Restart"
    out = t.run(f"systemctl show -p {props} {shlex.quote(unit)}", timeout=10).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def revert_commands(params: dict[str, Any]) -> str:
    """Shell run by the revert and by the deadman timer; idempotent."""
    u = shlex.quote(params["unit"])
    if params["action"] == "freeze":
        return f"systemctl kill --signal=CONT {u}"
    unmask = f"systemctl unmask --runtime {u}; " if params["action"] in _MASKING else ""
    return f"{unmask}systemctl is-active -q {u} || {{ systemctl reset-failed {u}; systemctl start {u}; }}"


@dataclass
class ServiceFault(Fault):
    """Stop, kill, mask or freeze the systemd unit ``unit`` on the target host."""

    unit: str = ""
    action: ServiceAction = "stop"
    kind: ClassVar[str] = "service"

    def params(self) -> dict[str, Any]:
        if not self.unit:
            raise InjectionFailed(f"service fault on {self.target}: no unit given")
        return {**super().params(), "unit": self.unit, "action": self.action}

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        record.params["deadman"] = arm_timer(target(record.target), record, revert_commands(record.params))

    @classmethod
    def disarm(cls, record: FaultRecord) -> None:
        disarm_timer(target(record.target), record.id)

    def inject(self, record: FaultRecord) -> None:
        t = target(record.target)
        u = shlex.quote(self.unit)
        before = unit_state(t, self.unit)
        if before.get("LoadState") != "loaded":
            raise InjectionFailed(f"{record.target}: unit {self.unit} is {before.get('LoadState') or 'unknown'}")
        if before.get("ActiveState") != "active":
            raise InjectionFailed(f"{record.target}: unit {self.unit} is {before.get('ActiveState')}, not active")
        record.params["pid"] = before.get("MainPID", "0")
        record.params["restarts"] = before.get("NRestarts", "0")
        command = {
            "stop": f"systemctl stop {u}",
            "kill": f"systemctl kill --signal=KILL {u}",
            "mask": f"systemctl mask --runtime {u} && systemctl stop {u}",
            "kill-masked": f"systemctl mask --runtime {u} && systemctl kill --signal=KILL {u}",
            "freeze": f"systemctl kill --signal=STOP {u}",
        }[self.action]
        try:
            t.check(command, timeout=60)
        except TargetError as e:
            raise InjectionFailed(f"{self.action} {self.unit} on {record.target}: {e}") from e

    def prove(self, record: FaultRecord) -> str:
        t = target(record.target)
        pid = record.params["pid"]
        deadman = f"; deadman {record.params.get('deadman', '?')}"
        if self.action == "freeze":

            def stopped() -> str | None:
                st = t.run(f"ps -o stat= -p {pid}", timeout=5).stdout.strip()
                return f"{self.unit} pid {pid} stopped ({st})" if st.startswith("T") else None

            return wait_for(stopped, timeout=5, what=f"{self.unit} frozen") + deadman
        if self.action == "kill":

            def killed() -> str | None:
                if t.run(f"kill -0 {pid}", timeout=5).ok:
                    return None
                now = unit_state(t, self.unit)
                return (
                    f"{self.unit} pid {pid} killed; unit {now.get('ActiveState')}/{now.get('SubState')}, "
                    f"Restart={now.get('Restart')}, restarts {record.params['restarts']}→{now.get('NRestarts')}"
                )

            return wait_for(killed, timeout=10, what=f"{self.unit} pid {pid} killed") + deadman

        def down() -> str | None:
            now = unit_state(t, self.unit)
            state = f"{now.get('ActiveState')}/{now.get('SubState')}"
            # With Restart= set, a killed unit sits in "activating (auto-restart)" until systemd tries to
            # start it again: a masked one is held down from then on (that start is refused: "failed").
            pending = state == "activating/auto-restart" and self.action in _MASKING
            if not (now.get("ActiveState") in ("inactive", "failed") or pending):
                return None
            if t.run(f"kill -0 {pid}", timeout=5).ok:
                return None
            if self.action in _MASKING and now.get("LoadState") != "masked":
                raise InjectionFailed(
                    f"{self.unit} on {record.target} is not masked (its unit file {now.get('FragmentPath')} "
                    "outranks a runtime mask)"
                )
            held = ", its restart refused by the mask" if pending else ""
            return f"{self.unit} {state} ({now.get('LoadState')}{held}), pid {pid} gone"

        seen = wait_for(down, timeout=30, what=f"{self.unit} down")
        return seen + deadman

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        t = target(record.target)
        unit = record.params["unit"]
        try:  # the timer is disarmed after the revert is verified (Fault.disarm)
            if unit_state(t, unit).get("LoadState") == "not-found":
                if "pid" in record.params:  # this process saw it loaded and acted on it
                    raise RevertFailed(f"{unit} on {record.target} was loaded at inject and is now not found")
                # the injection was refused before any change (no such unit), or it was uninstalled since:
                # there is nothing to start, and an open record would refuse every later fault on the host
                return
            t.check(revert_commands(record.params), timeout=90)
            if record.params["action"] == "freeze":
                return
            deadline = time.monotonic() + 60
            while (state := unit_state(t, unit).get("ActiveState")) != "active":
                if time.monotonic() > deadline:
                    raise RevertFailed(f"{unit} on {record.target} is {state} 60 s after revert")
                time.sleep(0.3)
        except TargetError as e:
            raise RevertFailed(f"{record.kind} {unit} on {record.target}: {e}") from e
