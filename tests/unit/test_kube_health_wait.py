"""The Kubernetes labs' health wait: conditions one after another, every one against the same deadline."""

from __future__ import annotations

import pytest

from hadrill.errors import LabError, TargetError
from hadrill.lab import kube
from hadrill.lab.kube import HealthWait


class _Clock:
    """time.monotonic and time.sleep for the module under test: sleeping moves the clock on, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps = 0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    c = _Clock()
    monkeypatch.setattr(kube.time, "monotonic", c.monotonic)
    monkeypatch.setattr(kube.time, "sleep", c.sleep)
    return c


def test_returns_once_the_problem_is_gone_and_a_target_error_is_a_problem(clock: _Clock) -> None:
    answers: list[str | Exception | None] = ["etcd leaders: ['', '7']", TargetError("connection refused"), None]

    def problem() -> str | None:
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    HealthWait("lab1", 10.0)("etcd members healthy", problem)
    assert answers == [] and clock.sleeps == 2  # asked three times, slept 1 s between


def test_the_deadline_is_shared_and_the_error_names_the_last_problem(clock: _Clock) -> None:
    wait = HealthWait("lab1", 5.0)
    calls = iter([*(["slow"] * 3), None])
    wait("first", lambda: next(calls))  # took 3 s of the 5
    long = "x" * 400 + "tail"
    with pytest.raises(LabError) as e:
        wait("every node Ready", lambda: long)
    # 2 s left: asked at t=3 and t=4, then the deadline; the message keeps the problem's last 300 characters
    assert clock.sleeps == 5
    assert str(e.value) == f"Kubernetes of lab lab1: every node Ready not true after 5 s: {'x' * 296}tail"
