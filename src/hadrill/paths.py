"""Where hadrill keeps state that must outlive one process: ledgers, inventories, journals, caches."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_LAB", "cache_dir", "lab_inventory_path", "state_dir"]

DEFAULT_LAB = "hadrill"  # the lab `hadrill lab up` brings up: the default target of every command


def state_dir() -> Path:
    """``$HADRILL_STATE_DIR``, else /var/lib/hadrill for root, else ~/.local/state/hadrill."""
    env = os.environ.get("HADRILL_STATE_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/hadrill")
    return Path.home() / ".local" / "state" / "hadrill"


def cache_dir() -> Path:
    """``$HADRILL_CACHE_DIR``, else /var/cache/hadrill for root, else ~/.cache/hadrill.

    Built images are cached by Docker itself; this holds build logs, locks, Go builds and the report
    templates compiled by Jinja.
    """
    env = os.environ.get("HADRILL_CACHE_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/hadrill")
    return Path.home() / ".cache" / "hadrill"


def lab_inventory_path(lab: str = DEFAULT_LAB) -> Path:
    """Where ``hadrill lab up`` writes lab ``lab``'s inventory (the default one: what commands, the Chaos
    Toolkit layer and the pytest plugin act on when no inventory is named)."""
    return state_dir() / "labs" / lab / "inventory.yaml"
