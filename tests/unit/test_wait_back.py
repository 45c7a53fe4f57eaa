"""``wait_back``: the loop every revert that waits for its node uses (control-plane node, worker)."""

from __future__ import annotations

import time

import pytest

from hadrill.errors import RevertFailed
from hadrill.faults.base import wait_back


def test_returns_the_wall_time_the_problem_was_first_gone() -> None:
    said = iter(["etcd member down", "API not ready", None, "never asked again"])
    before = time.time()
    back = wait_back(lambda: next(said), timeout=5, what="m1: node not back", interval=0.01)
    assert before <= back <= time.time()
    assert next(said) == "never asked again"  # polled three times, not one more


def test_an_empty_answer_means_back_too() -> None:
    assert wait_back(lambda: "", timeout=1, what="x") > 0


def test_a_node_never_back_fails_naming_what_and_the_last_problem() -> None:
    with pytest.raises(RevertFailed, match=r"^w1: powered on, not Ready after 0.05 s: kubelet stopped posting"):
        wait_back(lambda: "kubelet stopped posting", timeout=0.05, what="w1: powered on, not Ready", interval=0.01)
