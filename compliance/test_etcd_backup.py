"""etcd backups: the newest snapshot is recent and passes snapshot status.

Thin: the checks are :mod:`hadrill.compliance.etcd_backup`'s; this module only parametrises them over
the inventory (see conftest.py) so ``pytest compliance/test_etcd_backup.py`` and ``hadrill check --suite etcd_backup``
give the same findings.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hadrill.compliance.registry import checks_in

SUITE = "etcd_backup"
pytestmark = pytest.mark.compliance


@pytest.mark.parametrize("check_id", [c.id for c in checks_in(SUITE)])
def test_etcd_backup(check_id: str, assert_check: Callable[[str], None]) -> None:
    assert_check(check_id)
