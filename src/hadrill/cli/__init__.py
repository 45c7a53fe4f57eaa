"""The ``hadrill`` command.

Exit codes: 0 success; 1 a check, objective or health verdict failed; 2 bad input (a file, a field,
an option); 3 broken infrastructure (no engine, a build or the lab failed).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from docker.errors import DockerException
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hadrill import __version__
from hadrill.errors import ConfigError, HadrillError

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])
# CI logs are not terminals: keep tables on one line per row there.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)


def _handle_errors(fn: F) -> F:
    """Turn hadrill's own errors into one readable line and an exit code, not a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as e:
            err.print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True)
            sys.exit(2)
        except HadrillError as e:
            err.print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True)
            sys.exit(3)
        except DockerException as e:  # the engine failed under us: infrastructure, not a bug
            err.print(f"[red]error:[/] Docker engine: {escape(str(e))}", soft_wrap=True)
            sys.exit(3)

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(__version__, prog_name="hadrill")
def main() -> None:
    """Prove that a high-availability platform survives the failures it was built for."""


# -- lab -------------------------------------------------------------------------------------------
@main.group()
def lab() -> None:
    """The offline lab: real etcd (and more) in local containers built from Debian packages."""


def _lab_options(fn: F) -> F:
    fn = click.option("--name", help="Lab name (overrides the lab file's).")(fn)
    fn = click.option(
        "--lab-file", "lab_file", type=click.Path(dir_okay=False, path_type=Path),
        help="Lab file (default: the one shipped with hadrill).",
    )(fn)  # fmt: skip
    return fn


def _open_lab(lab_file: Path | None, name: str | None, quiet: bool = False, stored: bool = False) -> Any:
    """The lab to act on. ``stored``: without --lab-file, prefer the spec the lab was brought up
    with (status and down of a lab made from another file then describe it correctly)."""
    from hadrill.lab.lab import Lab, stored_spec
    from hadrill.lab.labfile import default_lab_file, load_lab_file
    from hadrill.progress import Progress

    spec = load_lab_file(lab_file) if lab_file else None
    if spec is None and stored:
        spec = stored_spec(name or default_lab_file().name)
    if spec is None:
        spec = default_lab_file()
    if name:
        spec = spec.with_name(name)
    return Lab(spec, progress=Progress(quiet=quiet), base_dir=lab_file.parent if lab_file else None)


@lab.command("build")
@_lab_options
@click.option("--rebuild", is_flag=True, help="Rebuild images even when their content hash is cached.")
@_handle_errors
def lab_build(lab_file: Path | None, name: str | None, rebuild: bool) -> None:
    """Build the lab's images (cached by content hash)."""
    for ref in _open_lab(lab_file, name).build(rebuild=rebuild):
        out.print(ref)


@lab.command("up")
@_lab_options
@click.option("--rebuild", is_flag=True, help="Rebuild images even when their content hash is cached.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for health.")
@_handle_errors
def lab_up(lab_file: Path | None, name: str | None, rebuild: bool, timeout: float) -> None:
    """Bring the lab up (idempotent) and write its inventory."""
    the_lab = _open_lab(lab_file, name)
    the_lab.up(rebuild=rebuild, timeout=timeout)
    out.print(str(the_lab.inventory_path))


@lab.command("status")
@_lab_options
@_handle_errors
def lab_status(lab_file: Path | None, name: str | None) -> None:
    """Nodes, roles, addresses and health; exits 1 when anything is unhealthy."""
    the_lab = _open_lab(lab_file, name, quiet=True, stored=True)
    rows = the_lab.status()
    table = Table(title=f"lab {the_lab.name}")
    for col in ("node", "role", "address", "state", "health", "detail"):
        table.add_column(col)
    healthy = True
    for r in rows:
        good = r.ok
        healthy &= good
        colour = "green" if good else "red"
        table.add_row(r.node, r.role, r.address, r.state, f"[{colour}]{r.health}[/]", r.detail)
    out.print(table)
    out.print(f"inventory: {the_lab.inventory_path}")
    sys.exit(0 if healthy else 1)


@lab.command("down")
@_lab_options
@_handle_errors
def lab_down(lab_file: Path | None, name: str | None) -> None:
    """Remove every container, network and volume carrying the lab's label."""
    counts = _open_lab(lab_file, name, stored=True).down()
    out.print(", ".join(f"{v} {k}" for k, v in counts.items()) + " removed")


@lab.command("prune")
@click.option("--owner", default="pytest", show_default=True, help="Remove the labs made by this owner.")
@_handle_errors
def lab_prune(owner: str) -> None:
    """Take down every lab whose objects carry dev.hadrill.owner=OWNER (leftovers of killed runs)."""
    from hadrill.lab.lab import prune_labs

    names = prune_labs(owner)
    out.print(f"pruned {len(names)} lab(s) owned by {owner}" + (f": {', '.join(names)}" if names else ""))


@lab.command("list")
@_handle_errors
def lab_list() -> None:
    """Labs on this engine (found by label) and their container counts."""
    from hadrill.lab.lab import list_labs

    for name, count in sorted(list_labs().items()):
        out.print(f"{name}\t{count} containers")


# -- faults --------------------------------------------------------------------------------------------
@main.command("recover")
@click.option("--all", "include_live", is_flag=True, help="Also revert faults of runs still alive on this host.")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False, path_type=Path), help="Ledger file.")
@_handle_errors
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


# -- experiments ---------------------------------------------------------------------------------------
@main.command("run")
@click.argument("experiments", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--inventory", type=click.Path(dir_okay=False, path_type=Path), help="Inventory (default: the lab's).")
@click.option("--journal-dir", type=click.Path(file_okay=False, path_type=Path), help="Where journals go.")
@click.option("--interval", default=0.1, show_default=True, help="Probe interval in seconds.")
@_handle_errors
def run_cmd(experiments: tuple[Path, ...], inventory: Path | None, journal_dir: Path | None, interval: float) -> None:
    """Run Chaos Toolkit experiment files against a platform; exits 1 if one deviates."""
    from hadrill.experiment import failure_report, run_experiment_file
    from hadrill.lab.lab import inventory_path

    inv = inventory or inventory_path("hadrill")
    failed = 0
    for path in experiments:
        err.print(f"→ {path}")
        result = run_experiment_file(path, inventory=inv, journal_dir=journal_dir, interval=interval)
        for v in result.hadrill.get("verdicts", []):
            mark = "[green]✓[/]" if v["ok"] else "[red]✗[/]"
            out.print(f"  {mark} {v['name']}: {v['detail']}")
        if not result.ok:
            failed += 1
            out.print(failure_report(result.journal))
        out.print(f"  journal: {result.hadrill.get('journal', '(not written)')}")
    sys.exit(1 if failed else 0)


@main.command("validate")
@click.argument("experiments", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@_handle_errors
def validate_cmd(experiments: tuple[Path, ...]) -> None:
    """Check experiment files (fields, hadrill functions and their arguments) without running them."""
    from hadrill.experiment import load_experiment_file

    for path in experiments:
        load_experiment_file(path)
        out.print(f"{path}: valid")


# -- the exercise: drill, report, compare (hadrill.cli.drill) --------------------------------------
from hadrill.cli.drill import compare_cmd, drill_cmd, report_cmd  # noqa: E402

main.add_command(drill_cmd)
main.add_command(report_cmd)
main.add_command(compare_cmd)

# -- compliance: hadrill check (hadrill.cli.check) ------------------------------------------------------
from hadrill.cli.check import check_cmd  # noqa: E402

main.add_command(check_cmd)

# -- inventories of clusters hadrill did not build: hadrill inventory kind (hadrill.cli.inventory) -------
from hadrill.cli.inventory import inventory_cmd  # noqa: E402

main.add_command(inventory_cmd)

# -- pre-upgrade go/no-go: hadrill preflight (hadrill.cli.preflight) --------------------------------------
from hadrill.cli.preflight import preflight_cmd  # noqa: E402

main.add_command(preflight_cmd)

if __name__ == "__main__":  # pragma: no cover
    main()
