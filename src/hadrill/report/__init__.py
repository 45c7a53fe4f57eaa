"""The exercise report: rendered from journals only, never from the platform.

:func:`render_report` writes ``index.html`` (self-contained: inline CSS and SVG, no script, no
external URL), ``report.md``, ``report.json`` (the machine-readable source for ``hadrill compare``),
``junit.xml`` and ``SHA256SUMS`` from a journal directory (see :mod:`hadrill.report.model`).
"""

from __future__ import annotations

from hadrill.report.model import FORMAT, build_report, load_journals, scenario_status
from hadrill.report.render import render_report

__all__ = ["FORMAT", "build_report", "load_journals", "render_report", "scenario_status"]
