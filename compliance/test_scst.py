"""SCST iSCSI targets: every vdisk write-through, no NV cache, in scst.conf and live in sysfs.

Thin: the checks are :mod:`hadrill.compliance.scst`'s; this module only parametrises them over
the inventory (see conftest.py) so ``pytest compliance/test_scst.py`` and ``hadrill check --suite scst``
give the same findings.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hadrill.compliance.registry import checks_in

SUITE = "scst"
pytestmark = pytest.mark.compliance


@pytest.mark.parametrize("check_id", [c.id for c in checks_in(SUITE)])
def test_scst(check_id: str, assert_check: Callable[[str], None]) -> None:
    assert_check(check_id)
