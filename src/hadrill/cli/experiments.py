"""``hadrill run``, ``hadrill validate``, ``hadrill recover``, ``hadrill stop`` and ``hadrill resume``:
experiment files, the fault ledger and the emergency stop."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hadrill.cli._common import (
    INPUT_PATH,
    check_keep_snapshot,
    err,
    handle_errors,
    inventory_option,
    keep_snapshot_option,
    out,
    plain,
    resolve_inventory,
)

__all__ = ["recover_cmd", "resume_cmd", "run_cmd", "stop_cmd", "validate_cmd"]


# -- faults --------------------------------------------------------------------------------------------
@click.command("recover")
@click.option("--all", "include_live", is_flag=True, help="Also revert faults of runs still alive on this host.")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False, path_type=Path), help="Ledger file.")
@handle_errors
def recover_cmd(include_live: bool, ledger_path: Path | None) -> None:
    """Revert every fault still open in the ledger (left by a run that died); exits 1 if one failed."""
    from hadrill.faults.base import recover
    from hadrill.faults.ledger import Ledger

    ledger = Ledger(ledger_path)
    outcomes = recover(ledger, include_live=include_live)
    for record, outcome in outcomes:
        out.print(f"{record.id}  {record.description}  ({record.target}, opened by {record.run}): {outcome}")
    out.print(f"{len(outcomes)} open fault(s) in {ledger.path}")
    sys.exit(1 if any(o.startswith("revert failed") for _, o in outcomes) else 0)


@click.command("stop")
@click.option("--reason", default="", help="Why, recorded in the stop notice.")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False, path_type=Path), help="Ledger file.")
@handle_errors
def stop_cmd(reason: str, ledger_path: Path | None) -> None:
    """Emergency stop: refuse new faults, abort running experiments, revert every open fault now
    (live runs' too) until `hadrill resume`; exits 1 if a revert failed."""
    from hadrill.faults.base import recover
    from hadrill.faults.ledger import Ledger
    from hadrill.faults.stop import write_stop

    flag = write_stop(reason)
    out.print(f"stop in force ({flag}): new faults are refused and experiments abort until `hadrill resume`")
    ledger = Ledger(ledger_path)
    outcomes = recover(ledger, include_live=True)
    for record, outcome in outcomes:
        out.print(f"{record.id}  {record.description}  ({record.target}, opened by {record.run}): {outcome}")
    out.print(f"{len(outcomes)} open fault(s) reverted from {ledger.path}")
    sys.exit(1 if any(o.startswith("revert failed") for _, o in outcomes) else 0)


@click.command("resume")
@handle_errors
def resume_cmd() -> None:
    """Lift an emergency stop: faults are allowed again."""
    from hadrill.faults.stop import resume

    out.print("stop lifted: faults allowed again" if resume() else "no stop was in force")


# -- experiments ---------------------------------------------------------------------------------------
@click.command("run")
@click.argument("experiments", nargs=-1, required=True, type=INPUT_PATH)
@inventory_option
@click.option("--journal-dir", type=click.Path(file_okay=False, path_type=Path), help="Where journals go.")
@click.option("--interval", default=0.1, show_default=True, help="Probe interval in seconds.")
@keep_snapshot_option
@handle_errors
def run_cmd(
    experiments: tuple[Path, ...], inventory: Path | None, journal_dir: Path | None, interval: float,
    keep_snapshot: Path | None,
) -> None:  # fmt: skip
    """Run Chaos Toolkit experiment files against a platform; exits 1 if one deviates."""
    from hadrill.experiment import failure_report, run_experiment_file

    keep = check_keep_snapshot(keep_snapshot)
    inv = resolve_inventory(inventory)
    failed = 0
    for path in experiments:
        err.print(plain(f"→ {path}"), soft_wrap=True)
        result = run_experiment_file(
            path, inventory=inv, journal_dir=journal_dir, interval=interval, keep_snapshot=keep
        )
        for v in result.hadrill.get("verdicts", []):
            mark = "[green]✓[/]" if v["ok"] else "[red]✗[/]"
            out.print(f"  {mark} {v['name']}: {v['detail']}")
        if not result.ok:
            failed += 1
            out.print(failure_report(result.journal))
        out.print(plain(f"  journal: {result.hadrill.get('journal', '(not written)')}"), soft_wrap=True)
    sys.exit(1 if failed else 0)


@click.command("validate")
@click.argument("experiments", nargs=-1, required=True, type=INPUT_PATH)
@handle_errors
def validate_cmd(experiments: tuple[Path, ...]) -> None:
    """Check experiment files (fields, hadrill functions and their arguments) without running them."""
    from hadrill.experiment import load_experiment_file

    for path in experiments:
        load_experiment_file(path)
        out.print(plain(f"{path}: valid"), soft_wrap=True)
