"""The Chaos Toolkit control: one hadrill run per experiment, and its journal.

Declare it in an experiment::

    controls:
      - name: hadrill
        provider: {type: python, module: hadrill.ctk.control}
"""

from __future__ import annotations

from typing import Any

from hadrill.ctk import end_run, start_run
from hadrill.faults.base import recover

__all__ = ["after_experiment_control", "before_experiment_control"]


def before_experiment_control(
    context: dict[str, Any], configuration: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """Revert what a dead earlier run left behind, then start this run."""
    run = start_run(str(context.get("title", "experiment")), configuration)
    for record, outcome in recover(run.ledger):
        run.event("recover", f"fault {record.id} ({record.description}) left by {record.run}: {outcome}")


def after_experiment_control(
    context: dict[str, Any], state: dict[str, Any], configuration: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """Heal whatever is still open, attach hadrill's record to Chaos Toolkit's journal, write it."""
    run = end_run()
    if run is None:
        return
    state["hadrill"] = run.to_journal()
    run.write({k: v for k, v in state.items() if k != "hadrill"})
