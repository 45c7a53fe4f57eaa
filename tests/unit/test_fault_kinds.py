"""The fault-kind table (:mod:`hadrill.faults.kinds`) is how ``hadrill recover`` in a fresh process finds
the class that reverts a ledger record: every ``Fault`` subclass hadrill ships must be in it, under its
own ``kind``, and nothing else."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import hadrill.faults
from hadrill.errors import RevertFailed
from hadrill.faults.base import Fault, revert_record
from hadrill.faults.kinds import KINDS, UnknownFaultKind, fault_class
from hadrill.faults.ledger import FaultRecord


def _shipped_fault_classes() -> dict[str, type[Fault]]:
    """Every concrete Fault subclass in hadrill.faults.*, found by importing each module (not via the table)."""
    for info in pkgutil.iter_modules(hadrill.faults.__path__, "hadrill.faults."):
        importlib.import_module(info.name)
    found: dict[str, type[Fault]] = {}
    todo = list(Fault.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("hadrill.") and cls.kind:
            assert cls.kind not in found, f"{cls.__name__} and {found[cls.kind].__name__} share kind {cls.kind!r}"
            found[cls.kind] = cls
    return found


def test_every_shipped_fault_kind_is_in_the_table() -> None:
    shipped = _shipped_fault_classes()
    assert len(shipped) >= 7  # container, network, process, gluster, kube, vip, etcd-restore at least
    missing = sorted(set(shipped) - set(KINDS))
    assert not missing, f"add to hadrill/faults/kinds.py: {', '.join(missing)}"
    assert set(KINDS) == set(shipped), f"table names kinds no class has: {sorted(set(KINDS) - set(shipped))}"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_table_points_at_the_class_of_that_kind(kind: str) -> None:
    cls = fault_class(kind)
    assert issubclass(cls, Fault)
    assert cls.kind == kind


def test_the_etcd_restore_fault_lives_in_faults() -> None:
    assert fault_class("etcd-restore").__module__ == "hadrill.faults.etcd_restore"


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(UnknownFaultKind, match=r"'no.such'.*container.*process"):
        fault_class("no.such")


def test_reverting_a_record_of_an_unknown_kind_is_a_revert_failure() -> None:
    record = FaultRecord(id="f1", kind="no.such", target="docker://x", params={}, created=0.0, deadline=1.0, run="h:1")
    with pytest.raises(RevertFailed, match=r"fault f1: unknown fault kind 'no.such'"):
        revert_record(record)
