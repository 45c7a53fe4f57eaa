"""Fakes for unit tests of hadrill's engine without a platform (as chaostoolkit-lib's tests/fixtures).

:class:`FakeFault` is a real :class:`~hadrill.faults.base.Fault` whose steps only write what happened to a
journal (a list of step names) and can be told to fail at one step. ``arm_deadman``, ``revert`` and
``disarm`` are classmethods that see only the ledger record (as ``hadrill recover`` in a fresh process
does), so the journal is found through the record's params (``journal``), in :data:`JOURNALS`. The
engine finds the class through the kind table: register it with
``monkeypatch.setitem(KINDS, "test.fake", "fakes:FakeFault")``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hadrill.errors import InjectionFailed, RevertFailed
from hadrill.faults.base import Fault
from hadrill.faults.ledger import FaultRecord, Ledger

__all__ = ["JOURNALS", "FakeFault", "journal_of"]

JOURNALS: dict[str, list[str]] = {}  # journal id -> the steps taken, in order


def journal_of(record: FaultRecord) -> list[str]:
    return JOURNALS[str(record.params["journal"])]


@dataclass
class FakeFault(Fault):
    """Records ``arm``, ``inject``, ``prove``, ``revert`` and ``disarm``; ``fail_at`` names the step that
    raises (``revert-once``: the first revert only).

    With ``ledger`` set, each step also notes whether the record was already open on disk then
    (``inject[open]``), read back through a fresh :class:`Ledger` on the same file.
    """

    fail_at: str = ""
    ledger: Ledger | None = None
    journal: str = field(default_factory=lambda: uuid.uuid4().hex)
    kind: ClassVar[str] = "test.fake"

    def __post_init__(self) -> None:
        JOURNALS.setdefault(self.journal, [])

    @property
    def steps(self) -> list[str]:
        return JOURNALS[self.journal]

    def params(self) -> dict[str, Any]:
        return {**super().params(), "journal": self.journal, "fail_at": self.fail_at,
                "ledger": str(self.ledger.path) if self.ledger else ""}  # fmt: skip

    def _step(self, name: str, record: FaultRecord) -> None:
        JOURNALS[self.journal].append(name + _on_disk(record))
        if self.fail_at == name:
            raise InjectionFailed(f"fake {name} failed")

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        journal_of(record).append("arm" + _on_disk(record))
        if record.params.get("fail_at") == "arm":
            raise InjectionFailed("fake arm failed")

    def inject(self, record: FaultRecord) -> None:
        self._step("inject", record)

    def prove(self, record: FaultRecord) -> str:
        self._step("prove", record)
        return "fake effect seen"

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        steps = journal_of(record)
        steps.append("revert" + _on_disk(record))
        fail = record.params.get("fail_at")
        if fail == "revert" or (fail == "revert-once" and sum(s.startswith("revert") for s in steps) == 1):
            raise RevertFailed("fake revert failed")

    @classmethod
    def disarm(cls, record: FaultRecord) -> None:
        journal_of(record).append("disarm" + _on_disk(record))


def _on_disk(record: FaultRecord) -> str:
    """``[open]`` when the record is open in its ledger file right now, ``[closed]`` when it is not."""
    path = record.params.get("ledger")
    if not path:
        return ""
    return "[open]" if record.id in {r.id for r in Ledger(path).open_faults()} else "[closed]"
