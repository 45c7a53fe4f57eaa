"""hadrill: prove that a high-availability platform survives the failures it was built for."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
