"""Where hadrill keeps state that must outlive one process: ledgers, inventories, journals, caches."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "state_dir"]


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

    Built images are cached by Docker itself; this holds build logs, locks and Go builds.
    """
    env = os.environ.get("HADRILL_CACHE_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/hadrill")
    return Path.home() / ".cache" / "hadrill"
