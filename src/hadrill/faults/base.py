"""A fault is an inject/revert pair, recorded before it is applied and reverted whatever happens.

The order in :func:`injected` is the crash-safety contract:

1. the emergency stop (``hadrill stop``) and the safety gate (the cluster's failure budget) may
   refuse the fault; the gate's check and the ledger append happen under the ledger's lock;
2. the record is appended to the ledger and fsynced;
3. a deadman is armed (in the target, or on the engine's host for container faults) that reverts the
   fault by itself at the record's deadline, even if the harness is SIGKILLed; it is proven alive, or
   the fault is not injected;
4. the fault is injected, then its effect is proven (or :class:`InjectionFailed` is raised);
5. the caller's block runs; in ``finally`` the fault is reverted and verified, and only then its
   deadman disarmed and the fault closed in the ledger. A failed revert is noted in the ledger (the
   fault stays open with the reason), the deadman is re-armed to fire shortly, and the revert is
   retried with backoff until the time limit. A deadman that fired first is reported as an expiry.

``revert`` is a classmethod that needs only the record, so ``hadrill recover`` can revert a fault
opened by a process that no longer exists; it finds the class from the record's kind in
:mod:`hadrill.faults.kinds` (this module imports no fault module). Every revert is idempotent, and
succeeds when the state it verifies is reverted, whoever reverted it (the deadman may race it).
"""

from __future__ import annotations

import dataclasses
import logging
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
from hadrill.faults.stop import check_not_stopped

__all__ = ["Fault", "FaultEvent", "heal", "injected", "recover", "revert_record", "wait_for"]

_log = logging.getLogger(__name__)
DEFAULT_TIME_LIMIT = 120.0
REARM_S = 5.0  # after a failed revert, the deadman is re-armed to fire this soon
RETRY_FIRST_S = 1.0  # first pause between revert attempts, doubled each time
RETRY_MAX_S = 8.0
RETRY_MIN_WINDOW_S = 15.0  # a revert past the time limit is still retried this long


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
    step: str  # "inject", "effect", "revert_start", "revert" (its end), "revert_failed", "rearm_failed",
    # "expired", "disarm_failed"
    at: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class Fault(ABC):
    """One fault against one target. Subclasses name a ``kind`` (registered in :mod:`hadrill.faults.kinds`)
    and implement the pair.

    ``cluster`` and ``members`` say which cluster members the fault takes away, for the safety gate;
    ``nodes`` are the inventory nodes those members run on and ``cluster_nodes`` maps every member of
    the cluster to its node, so a fault on a node counts once against every cluster stacked on it (a master and its
    etcd member are one member).
    """

    target: str
    time_limit: float = DEFAULT_TIME_LIMIT
    cluster: str = ""
    members: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    cluster_nodes: dict[str, str] = field(default_factory=dict)  # member -> node, every member
    failure_budget: int | None = None
    force: bool = False
    description: str = ""
    kind: ClassVar[str] = ""
    events: list[FaultEvent] = field(default_factory=list, init=False, repr=False)

    def params(self) -> dict[str, Any]:
        """Everything revert needs, JSON-serialisable (subclasses extend it)."""
        return {"cluster": self.cluster, "members": list(self.members), "nodes": list(self.nodes)}

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

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        """Arrange for the fault to revert itself at ``record.deadline`` without the harness; prove it
        is alive or raise InjectionFailed. Needs only the record: a failed revert re-arms it."""
        return None

    @classmethod
    def disarm(cls, record: FaultRecord) -> None:
        """Stop the fault's deadmen (after a verified revert); raise TargetError if one is left."""
        return None

    @classmethod
    def fired(cls, record: FaultRecord) -> bool:
        """Whether a deadman of this fault already ran its revert (the fault expired)."""
        return False

    @abstractmethod
    def inject(self, record: FaultRecord) -> None: ...

    def prove(self, record: FaultRecord) -> str:
        """Check that the fault took; return what was observed. Raise InjectionFailed if not."""
        return "not checked"

    @classmethod
    @abstractmethod
    def revert(cls, record: FaultRecord) -> None: ...


def revert_record(record: FaultRecord) -> str:
    """Revert any recorded fault through its registered kind, verified, then disarm its deadman.

    Returns "" or what went wrong disarming (the fault is reverted either way: a deadman left behind
    only re-applies an idempotent revert). Raises RevertFailed when the revert is not verified.
    """
    return _revert_verified(record)[1]


def _revert_verified(record: FaultRecord, cls: type[Fault] | None = None) -> tuple[bool, str]:
    """Revert (verified), ask whether the deadman fired first, disarm: (expired, disarm problem).

    ``cls`` is the live fault's class in the process that injected it; otherwise (``hadrill recover``)
    the record's kind is looked up in the table.
    """
    cls = cls or kind_of(record)
    try:
        cls.revert(record)
    except RevertFailed:
        raise
    except HadrillError as e:
        raise RevertFailed(f"fault {record.id} ({record.kind} on {record.target}): {e}") from e
    expired = _fired(cls, record)
    try:
        cls.disarm(record)
    except Exception as e:  # reported, not fatal: see above
        _log.warning("fault %s: deadman not disarmed: %s", record.id, e)
        return expired, f"deadman not disarmed: {e}"
    return expired, ""


def kind_of(record: FaultRecord) -> type[Fault]:
    """The class of a record's kind (:func:`hadrill.faults.kinds.fault_class`); RevertFailed if unknown."""
    try:
        return fault_class(record.kind)
    except UnknownFaultKind as e:
        raise RevertFailed(f"fault {record.id}: {e}") from e


def held_nodes(ledger: Ledger) -> set[str]:
    """Nodes (and member names, for faults recorded without nodes) that open faults hold."""
    held: set[str] = set()
    for rec in ledger.open_faults():
        held |= set(rec.params.get("nodes") or rec.params.get("members") or [])
    return held


def _check_budget(fault: Fault, ledger: Ledger) -> None:
    if fault.force or fault.failure_budget is None or not fault.cluster:
        return
    affected = set(fault.members)
    by_node = {node: member for member, node in fault.cluster_nodes.items()}
    for rec in ledger.open_faults():
        if rec.params.get("cluster") == fault.cluster:
            affected |= set(rec.params.get("members", []))
        # the same machine taken through another cluster stacked on it (a master holds an etcd member)
        for node in set(rec.params.get("nodes") or []) & set(by_node):
            affected.add(by_node[node])
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


def wait_back(problem: Callable[[], str | None], *, timeout: float, what: str, interval: float = 0.2) -> float:
    """Poll ``problem`` (what is still wrong, or None/"" once back) until ``timeout``; return the time
    (``time.time()``) it was first seen back, the figure recovery metrics are taken from."""
    deadline = time.monotonic() + timeout
    last = "not checked"
    while time.monotonic() < deadline:
        last = problem() or ""
        if not last:
            return time.time()
        time.sleep(interval)
    raise RevertFailed(f"{what} after {timeout:g} s: {last}")


def heal(
    fault_cls: type[Fault],
    record: FaultRecord,
    ledger: Ledger,
    event: Callable[[str, str], None],
    *,
    how: str = "reverted",
) -> None:
    """Revert, verify, disarm, close; on failure note it, re-arm the deadman soon and retry with
    backoff until the time limit (at least :data:`RETRY_MIN_WINDOW_S`), then raise RevertFailed."""
    until = max(record.deadline, time.time() + RETRY_MIN_WINDOW_S)
    pause = RETRY_FIRST_S
    attempt = 0
    while True:  # bounded: it raises once the time limit has passed
        attempt += 1
        try:
            expired, problem = _revert_verified(record, fault_cls)
            break
        except Exception as e:
            ledger.revert_failed(record.id, e)
            event("revert_failed", f"attempt {attempt}: {e}")
            try:
                fault_cls.arm_deadman(dataclasses.replace(record, deadline=time.time() + REARM_S))
            except Exception as arm_error:
                event("rearm_failed", f"deadman not re-armed: {arm_error}")
            if time.time() + pause > until:
                raise RevertFailed(
                    f"fault {record.id} ({record.kind} on {record.target}) did not revert after {attempt} "
                    f"attempt(s): {e}; it stays open in the ledger, its deadman re-armed"
                ) from e
            time.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)
    if problem:
        event("disarm_failed", problem)
    if expired:
        limit = record.deadline - record.created
        event("expired", f"time limit {limit:g} s passed: its deadman reverted it before the heal")
    ledger.close(record.id, "expired" if expired else how)  # type: ignore[arg-type]
    event("revert", "")


def _fired(fault_cls: type[Fault], record: FaultRecord) -> bool:
    try:
        return fault_cls.fired(record)
    except Exception:  # the revert is verified: not knowing who did it is no failure
        return time.time() > record.deadline


@contextmanager
def injected(fault: Fault, *, ledger: Ledger | None = None, run: str | None = None) -> Iterator[FaultRecord]:
    """Inject ``fault`` for the duration of the block; always revert it."""
    ledger = ledger or Ledger()
    with ledger.guard():  # the budget seen is the budget used: no other process appends in between
        check_not_stopped()
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
        event("revert_start")
        heal(type(fault), record, ledger, event)


def recover(ledger: Ledger | None = None, *, include_live: bool = False) -> list[tuple[FaultRecord, str]]:
    """Revert every fault still open in the ledger; return (record, outcome) pairs.

    Faults opened by a process that is still alive on this host are left alone unless
    ``include_live``: they belong to a run in progress (another xdist worker, another job).
    A fault whose revert fails stays open and its deadman is re-armed to fire soon.
    """
    ledger = ledger or Ledger()
    ledger.check_private()  # its records become root commands: nobody else may have written them
    outcomes: list[tuple[FaultRecord, str]] = []
    for rec in reversed(ledger.open_faults()):  # newest first, as a run heals
        if not include_live and _owner_alive(rec.run):
            outcomes.append((rec, f"left alone: its run {rec.run} is still alive"))
            continue
        try:
            expired, problem = _revert_verified(rec)
            expired = expired or time.time() > rec.deadline
        except Exception as e:
            ledger.revert_failed(rec.id, e)
            try:
                kind_of(rec).arm_deadman(dataclasses.replace(rec, deadline=time.time() + REARM_S))
            except Exception as arm_error:
                e = RevertFailed(f"{e}; deadman not re-armed: {arm_error}")
            outcomes.append((rec, f"revert failed: {e}"))
            continue
        ledger.close(rec.id, "expired" if expired else "recovered")
        outcomes.append((rec, "reverted" + (f" ({problem})" if problem else "")))
    ledger.compact()
    return outcomes
