"""A probe-starting action waits for a steady state, then returns the run's probe names, sorted."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

import hadrill.ctk as ctk


def test_steady_state_sleeps_then_names_the_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(ctk.time, "sleep", slept.append)
    run = cast(Any, SimpleNamespace(samplers={"etcd-write": object(), "etcd-read": object()}))
    assert ctk.steady_state(run) == ["etcd-read", "etcd-write"]
    assert ctk.steady_state(run, 2.0) == ["etcd-read", "etcd-write"]
    assert slept == [1.0, 2.0]
