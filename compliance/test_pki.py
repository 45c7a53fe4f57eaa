"""Kubernetes PKI on control-plane nodes: key and ca.crt modes and owners, certificate expiry.

Thin: the checks are :mod:`hadrill.compliance.pki`'s; this module only parametrises them over
the inventory (see conftest.py) so ``pytest compliance/test_pki.py`` and ``hadrill check --suite pki``
give the same findings.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hadrill.compliance.registry import checks_in

SUITE = "pki"
pytestmark = pytest.mark.compliance


@pytest.mark.parametrize("check_id", [c.id for c in checks_in(SUITE)])
def test_pki(check_id: str, assert_check: Callable[[str], None]) -> None:
    assert_check(check_id)
