"""Chaos Toolkit activities that call hadrill: ``chaos run experiments/x.yaml`` works on its own.

Every activity takes the experiment's ``configuration``; these keys are read (all optional):

- ``hadrill_inventory``: the inventory file (default: ``$HADRILL_INVENTORY``, else the default
  lab's inventory as ``hadrill lab up`` writes it);
- ``hadrill_journal_dir``: where the run's journal goes (default ``$HADRILL_JOURNAL_DIR``);
- ``hadrill_interval``: probe interval in seconds (default 0.1);
- ``hadrill_objectives``: objectives that override the experiment's (a mapping);
- ``hadrill_keep_snapshot``: a directory where the restore drill keeps its etcd snapshot instead of
  deleting it (``--keep-snapshot DIR`` of ``hadrill run`` and ``hadrill drill``; default
  ``$HADRILL_KEEP_SNAPSHOT``); an activity's own ``keep_snapshot`` argument wins.

The ``hadrill.ctk.control`` control creates the run before the experiment and writes the journal
after it; the activities share that run because Chaos Toolkit runs them in one process.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from hadrill.errors import ConfigError
from hadrill.paths import lab_inventory_path
from hadrill.run import Run
from hadrill.secrets import install_log_redaction

__all__ = ["active_run", "current_run", "end_run", "start_run", "steady_state"]

_RUN: Run | None = None
install_log_redaction()  # Chaos Toolkit logs activity arguments and outputs: never a secret in its log


def _inventory_path(configuration: dict[str, Any] | None) -> Path:
    cfg = configuration or {}
    path = cfg.get("hadrill_inventory") or os.environ.get("HADRILL_INVENTORY")
    if path:
        return Path(str(path))
    return lab_inventory_path()  # the embedded default target


def _objectives(cfg: dict[str, Any]) -> dict[str, Any]:
    raw = cfg.get("hadrill_objectives") or os.environ.get("HADRILL_OBJECTIVES") or {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ConfigError("configuration", "hadrill_objectives", "a JSON mapping", raw) from e
    if not isinstance(raw, dict):
        raise ConfigError("configuration", "hadrill_objectives", "a mapping", raw)
    return raw


def start_run(title: str, configuration: dict[str, Any] | None = None) -> Run:
    """Begin a run (the control does this before the experiment)."""
    global _RUN
    if _RUN is not None:
        end_run()
    cfg = configuration or {}
    journal_dir = cfg.get("hadrill_journal_dir") or os.environ.get("HADRILL_JOURNAL_DIR")
    _RUN = Run(
        _inventory_path(cfg),
        title=title,
        interval=float(cfg.get("hadrill_interval") or os.environ.get("HADRILL_INTERVAL") or 0.1),
        journal_dir=Path(journal_dir) if journal_dir else None,
        objectives=_objectives(cfg),
    )
    return _RUN


def current_run(configuration: dict[str, Any] | None = None) -> Run:
    """The run in progress, started on first use when the experiment declares no control."""
    return _RUN if _RUN is not None else start_run("experiment", configuration)


def steady_state(run: Run, seconds: float = 1.0) -> list[str]:
    """Let the probes just started sample ``seconds`` before anything happens, so the timeline shows the
    steady state a fault then breaks; returns the run's probe names (what a probe-starting action returns)."""
    time.sleep(seconds)
    return sorted(run.samplers)


def active_run() -> Run | None:
    """The run in progress, if any (a control must not start one)."""
    return _RUN


def end_run() -> Run | None:
    """Heal, stop probes, forget the run (its journal is written by the caller)."""
    global _RUN
    run, _RUN = _RUN, None
    if run is not None:
        run.close()
    return run
