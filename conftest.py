"""Repository-wide pytest settings for hadrill's own test suite.

hadrill's pytest plugin (markers, --hadrill-* options, experiment collection, fixtures) is loaded
through its entry point, as it is for users; this file only sets up what is specific to this repo.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Shared, noisy 2-core machines: no per-example deadline, and CI runs a fixed number of examples.
settings.register_profile("ci", deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))
