"""The shell a service fault's revert (and its deadman timer) runs: idempotent, and it must undo exactly
what the action did (a kept runtime mask would leave the member down after the run)."""

from __future__ import annotations

import pytest

from hadrill.errors import InjectionFailed
from hadrill.faults.kinds import fault_class
from hadrill.faults.service import ServiceFault, revert_commands


@pytest.mark.parametrize("action", ["mask", "kill-masked"])
def test_masking_actions_unmask_before_starting(action: str) -> None:
    cmd = revert_commands({"unit": "etcd.service", "action": action})
    assert cmd.index("systemctl unmask --runtime etcd.service") < cmd.index("systemctl start etcd.service")
    assert "systemctl is-active -q etcd.service ||" in cmd  # a running unit is left alone


@pytest.mark.parametrize("action", ["stop", "kill"])
def test_plain_actions_start_without_touching_masks(action: str) -> None:
    cmd = revert_commands({"unit": "etcd.service", "action": action})
    assert "unmask" not in cmd
    assert cmd.endswith("{ systemctl reset-failed etcd.service; systemctl start etcd.service; }")


def test_freeze_is_thawed() -> None:
    assert revert_commands({"unit": "etcd.service", "action": "freeze"}) == "systemctl kill --signal=CONT etcd.service"


def test_unit_names_are_quoted() -> None:
    cmd = revert_commands({"unit": "my unit;reboot", "action": "stop"})
    assert "'my unit;reboot'" in cmd and " my unit;reboot" not in cmd


def test_a_unit_is_required_and_recover_finds_the_kind() -> None:
    with pytest.raises(InjectionFailed, match="no unit"):
        ServiceFault(target="ssh://root@10.0.0.1").params()
    assert fault_class("service") is ServiceFault
