"""NFS clients: nfsmount.conf and live nfs/nfs4 mounts against the declared mount policy.

Thin: the checks are :mod:`hadrill.compliance.nfs_mounts`'s; this module only parametrises them over
the inventory (see conftest.py) so ``pytest compliance/test_nfs_mounts.py`` and ``hadrill check --suite nfs_mounts``
give the same findings.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hadrill.compliance.registry import checks_in

SUITE = "nfs_mounts"
pytestmark = pytest.mark.compliance


@pytest.mark.parametrize("check_id", [c.id for c in checks_in(SUITE)])
def test_nfs_mounts(check_id: str, assert_check: Callable[[str], None]) -> None:
    assert_check(check_id)
