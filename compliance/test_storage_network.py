"""Storage networks: every attached interface at the declared MTU, full-size DF pings between peers.

Thin: the checks are :mod:`hadrill.compliance.network`'s; this module only parametrises them over
the inventory (see conftest.py) so ``pytest compliance/test_storage_network.py`` and ``hadrill check --suite network``
give the same findings.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hadrill.compliance.registry import checks_in

SUITE = "network"
pytestmark = pytest.mark.compliance


@pytest.mark.parametrize("check_id", [c.id for c in checks_in(SUITE)])
def test_storage_network(check_id: str, assert_check: Callable[[str], None]) -> None:
    assert_check(check_id)
