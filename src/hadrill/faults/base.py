"""A fault is an inject/revert pair, recorded before it is applied and reverted whatever happens.

The order in :func:`injected` is the crash-safety contract:

1. the safety gate (the cluster's failure budget) may refuse the fault;
2. the record is appended to the ledger and fsynced;
3. a deadman is armed (in the target, or on the engine's host for container faults) that reverts the
   fault by itself at the record's deadline, even if the harness is SIGKILLed;
4. the fault is injected, then its effect is proven (or :class:`InjectionFailed` is raised);
5. the caller's block runs; in ``finally`` the fault is reverted and closed in the ledger.

``revert`` is a classmethod that needs only the record, so ``hadrill recover`` can revert a fault
opened by a process that no longer exists; it finds the class from the record's kind in
:mod:`hadrill.faults.kinds` (this module imports no fault module). Every revert is idempotent.
"""

from __future__ import annotations

import os
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hadrill.errors import HadrillError, InjectionFailed, RevertFailed, SafetyRefused
from hadrill.faults.kinds import UnknownFaultKind, fault_class
from hadrill.faults.ledger import FaultRecord, Ledger, new_fault_id

__all__ = ["Fault", "FaultEvent", "injected", "recover", "revert_record", "wait_for"]

DEFAULT_TIME_LIMIT = 120.0


def owner_tag() -> str:
    """Which process opened a fault: recovery leaves faults of live processes alone."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(tag: str | None) -> bool:
    if not tag or ":" not in tag:
        return False
    host, _, pid = tag.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class FaultEvent:
    """One step of a fault's life, for the journal's event log."""

    fault: str
    kind: str
    target: str
    step: str  # "inject", "effect", "revert", "revert_failed"
    at: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class Fault(ABC):
    """One fault against one target. Subclasses name a ``kind`` (registered in :mod:`hadrill.faults.kinds`)
    and implement the pair.

    ``cluster`` and ``members`` say which cluster members the fault takes away, for the safety gate.
    """

    target: str
    time_limit: float = DEFAULT_TIME_LIMIT
    cluster: str = ""
    members: tuple[str, ...] = ()
    failure_budget: int | None = None
    force: bool = False
    description: str = ""
    kind: ClassVar[str] = ""
    events: list[FaultEvent] = field(default_factory=list, init=False, repr=False)

    def params(self) -> dict[str, Any]:
        """Everything revert needs, JSON-serialisable (subclasses extend it)."""
        return {"cluster": self.cluster, "members": list(self.members)}

    def record(self, run: str | None = None) -> FaultRecord:
        now = time.time()
        return FaultRecord(
            id=new_fault_id(),
            kind=self.kind,
            target=self.target,
            params=self.params(),
            created=now,
            deadline=now + self.time_limit,
            run=run or owner_tag(),
            description=self.description or f"{self.kind} on {self.target}",
        )

    def arm_deadman(self, record: FaultRecord) -> None:  # noqa: B027 - optional hook
        """Arrange for the fault to revert itself at ``record.deadline`` without the harness."""

    @abstractmethod
    def inject(self, record: FaultRecord) -> None: ...

    def prove(self, record: FaultRecord) -> str:
        """Check that the fault took; return what was observed. Raise InjectionFailed if not."""
        return "not checked"

    @classmethod
    @abstractmethod
    def revert(cls, record: FaultRecord) -> None: ...


def revert_record(record: FaultRecord) -> None:
    """Revert any recorded fault through its kind's class (:func:`hadrill.faults.kinds.fault_class`)."""
    try:
        cls = fault_class(record.kind)
    except UnknownFaultKind as e:
        raise RevertFailed(f"fault {record.id}: {e}") from e
    try:
        cls.revert(record)
    except RevertFailed:
        raise
    except HadrillError as e:
        raise RevertFailed(f"fault {record.id} ({record.kind} on {record.target}): {e}") from e


def _check_budget(fault: Fault, ledger: Ledger) -> None:
    if fault.force or fault.failure_budget is None or not fault.cluster:
        return
    affected = set(fault.members)
    for rec in ledger.open_faults():
        if rec.params.get("cluster") == fault.cluster:
            affected |= set(rec.params.get("members", []))
    if len(affected) > fault.failure_budget:
        raise SafetyRefused(
            f"{fault.kind} on {fault.target} would take {len(affected)} member(s) of {fault.cluster} "
            f"({', '.join(sorted(affected))}) but its failure budget is {fault.failure_budget}; "
            "pass force=True to do it anyway"
        )


def wait_for(check: Callable[[], str | None], *, timeout: float, what: str, interval: float = 0.1) -> str:
    """Poll ``check`` (returns an observation, or None while not yet) until ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            seen = check()
            if seen is not None:
                return seen
        except HadrillError as e:
            last_error = f" (last error: {e})"
        if time.monotonic() >= deadline:
            raise InjectionFailed(f"{what} not observed within {timeout:g} s{last_error}")
        time.sleep(interval)


@contextmanager
def injected(fault: Fault, *, ledger: Ledger | None = None, run: str | None = None) -> Iterator[FaultRecord]:
    """Inject ``fault`` for the duration of the block; always revert it."""
    ledger = ledger or Ledger()
    _check_budget(fault, ledger)
    record = fault.record(run)
    ledger.open(record)

    def event(step: str, detail: str = "") -> None:
        fault.events.append(FaultEvent(record.id, record.kind, record.target, step, time.time(), detail))

    try:
        fault.arm_deadman(record)
        event("inject", record.description)
        fault.inject(record)
        event("effect", fault.prove(record))
        yield record
    finally:
        try:
            fault.revert(record)
        except Exception as e:
            ledger.revert_failed(record.id, e)
            event("revert_failed", str(e))
            raise RevertFailed(f"fault {record.id} ({record.kind} on {record.target}) did not revert: {e}") from e
        ledger.close(record.id, "reverted")
        event("revert")


def recover(ledger: Ledger | None = None, *, include_live: bool = False) -> list[tuple[FaultRecord, str]]:
    """Revert every fault still open in the ledger; return (record, outcome) pairs.

    Faults opened by a process that is still alive on this host are left alone unless
    ``include_live``: they belong to a run in progress (another xdist worker, another job).
    """
    ledger = ledger or Ledger()
    outcomes: list[tuple[FaultRecord, str]] = []
    for rec in reversed(ledger.open_faults()):  # newest first, as a run heals
        if not include_live and _owner_alive(rec.run):
            outcomes.append((rec, f"left alone: its run {rec.run} is still alive"))
            continue
        try:
            revert_record(rec)
        except Exception as e:
            ledger.revert_failed(rec.id, e)
            outcomes.append((rec, f"revert failed: {e}"))
            continue
        ledger.close(rec.id, "expired" if time.time() > rec.deadline else "recovered")
        outcomes.append((rec, "reverted"))
    ledger.compact()
    return outcomes
