"""Docker daemon hardening (CIS Docker Benchmark v1.6.0) on nodes with the docker-host role.

Thin: the checks are :mod:`hadrill.compliance.docker`'s; this module only parametrises them over
the inventory (see conftest.py) so ``pytest compliance/test_docker.py`` and ``hadrill check --suite docker``
give the same findings.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hadrill.compliance.registry import checks_in

SUITE = "docker"
pytestmark = pytest.mark.compliance


@pytest.mark.parametrize("check_id", [c.id for c in checks_in(SUITE)])
def test_docker(check_id: str, assert_check: Callable[[str], None]) -> None:
    assert_check(check_id)
