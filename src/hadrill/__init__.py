"""hadrill: prove that a high-availability platform survives the failures it was built for."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "discover"]


def discover(discover_system: bool = True) -> dict[str, Any]:
    """Chaos Toolkit's entry point for ``chaos discover hadrill``: every action and probe, with arguments."""
    from hadrill.ctk.discovery import discover as _discover

    return _discover(discover_system)
