"""Helpers the integration modules share (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from hadrill.lab.lab import Lab
from hadrill.lab.labfile import LabFile

__all__ = ["fresh_lab", "wait_until"]


def fresh_lab(spec: LabFile) -> Iterator[Lab]:
    """A module's own lab (owner pytest): a killed earlier run's leftover is removed first, so paused
    containers or rules never leak in; always taken down after. Use with ``yield from``."""
    lab = Lab(spec, owner="pytest")
    try:
        lab.down()
        lab.up()
        yield lab
    finally:
        lab.down()


def wait_until(what: str, problem: Callable[[], str | None], *, timeout: float, interval: float = 0.3) -> float:
    """Poll ``problem`` (None when fine) until fine; bounded in time and attempts. Returns seconds waited."""
    start = time.monotonic()
    last: str | None = "never checked"
    for _ in range(int(timeout / interval) + 2):
        last = problem()
        if last is None:
            return time.monotonic() - start
        if time.monotonic() - start >= timeout:
            break
        time.sleep(interval)
    pytest.fail(f"{what}: not true after {timeout:.0f} s ({last})")
