"""``hadrill drill``, ``hadrill report`` and ``hadrill compare``: the exercise, its report, and
before/after comparisons. Registered on the main group by :mod:`hadrill.cli`.

Exit codes as everywhere: 0 success; 1 a scenario failed or the pre-upgrade validation said no-go (drill,
report) or something regressed (compare);
2 bad input (plan, journal, report file: the message names the file and the field); 3 broken
infrastructure.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import click

from hadrill.cli._common import (
    INPUT_PATH,
    check_keep_snapshot,
    check_target_version,
    configmap_option,
    err,
    escape,
    handle_errors,
    inventory_option,
    keep_in_configmap,
    keep_snapshot_option,
    out,
    resolve_inventory,
)

__all__ = ["compare_cmd", "drill_cmd", "report_cmd"]


def _default_out(platform: str) -> Path:
    from hadrill.paths import state_dir

    slug = re.sub(r"[^a-z0-9]+", "-", platform.lower()).strip("-")[:40] or "platform"
    return state_dir() / "reports" / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"


def _metrics_options(fn: Any) -> Any:
    """``--metrics-file`` and ``--push-gateway``: the results as Prometheus metrics, after the report."""
    fn = click.option(
        "--push-gateway",
        metavar="URL",
        help="Also push the results as metrics to this Pushgateway (group job=hadrill, instance=platform).",
    )(fn)
    return click.option(
        "--metrics-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Also write the results as metrics here (a node exporter textfile-collector .prom file).",
    )(fn)


def _export_metrics(report_dir: Path, metrics_file: Path | None, push_gateway: str | None) -> None:
    from hadrill.report.metrics import METRICS_FILE, push_metrics, write_textfile

    text = (report_dir / METRICS_FILE).read_text(encoding="utf-8")
    if metrics_file is not None:
        err.print(f"metrics: {write_textfile(metrics_file, text)}")
    if push_gateway:
        report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
        err.print(f"metrics pushed: {push_metrics(push_gateway, text, instance=str(report.get('platform')))}")


@click.command("drill")
@click.option(
    "--plan",
    "plan_path",
    type=INPUT_PATH,
    help="Plan file (default: every experiment in ./experiments, with their own objectives).",
)
@inventory_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Report directory (default: <state dir>/reports/<time>-<platform>).",
)
@click.option(
    "--experiments",
    "experiments_dir",
    default="experiments",
    show_default=True,
    type=INPUT_PATH,
    help="Where the default plan finds experiments.",
)
@click.option("--interval", default=0.1, show_default=True, help="Probe interval in seconds.")
@click.option(
    "--target-version",
    help="After the scenarios, the pre-upgrade validation (hadrill preflight) to this Kubernetes version, "
    "such as 1.35, against the inventory's kubernetes cluster; in the report, exit 1 on no-go.",
)
@click.option("--pdf", is_flag=True, help="Also print the report to report.pdf (headless Chromium).")
@keep_snapshot_option
@_metrics_options
@configmap_option
@handle_errors
def drill_cmd(
    plan_path: Path | None, inventory: Path | None, out_dir: Path | None, experiments_dir: Path, interval: float,
    target_version: str | None, pdf: bool, keep_snapshot: Path | None, metrics_file: Path | None,
    push_gateway: str | None, configmap: str | None,
) -> None:  # fmt: skip
    """Run the exercise: every scenario of the plan in order, then (--target-version) the pre-upgrade
    validation, then the report; exits 1 if a scenario failed or the validation said no-go.

    The last line printed is the report's index.html.
    """
    from hadrill.drill import run_drill
    from hadrill.inventory import load_inventory
    from hadrill.plan import default_plan, load_plan
    from hadrill.progress import Progress

    if target_version is not None:
        check_target_version(target_version)
    keep = check_keep_snapshot(keep_snapshot)
    if configmap is not None:
        from hadrill.report.configmap import parse_ref

        parse_ref(configmap)  # bad input before the exercise, not after it
    inv = resolve_inventory(inventory)
    if plan_path is not None:
        plan = load_plan(plan_path)
    else:
        inv_data = load_inventory(inv)  # experiments needing clusters it lacks (kube-*: kubernetes) are left out
        plan = default_plan(experiments_dir, platform=inv_data.platform, clusters=inv_data.provides)
    target = out_dir or _default_out(plan.platform)
    err.print(f"exercise {escape(plan.title)}: {len(plan.scenarios)} scenario(s) against {escape(plan.platform)}")
    result = run_drill(
        plan, inv, target, Progress(console=err), interval=interval, target_version=target_version,
        keep_snapshot=keep,
    )  # fmt: skip
    for s in result.scenarios:
        mark = "[green]✓[/]" if s.ok else "[red]✗[/]"
        out.print(f"{mark} {escape(s.name)}: {s.status} ({s.ended - s.started:.1f} s)")
        for reason in s.reasons:
            out.print(f"    {escape(reason)}")
    failed = sum(not s.ok for s in result.scenarios)
    out.print(f"{len(result.scenarios) - failed} passed, {failed} failed")
    if result.preflight is not None:
        pre = result.preflight
        mark = "[green]✓[/]" if result.preflight_ok else "[red]✗[/]"
        why = pre.get("note") or "; ".join(str(r) for r in pre.get("reasons") or [])
        verdict = str(pre.get("decision")).upper()
        out.print(
            f"{mark} preflight to Kubernetes {escape(str(target_version))}: {verdict}"
            + (f" ({escape(why)})" if why else "")
        )
    if pdf:
        from hadrill.report.pdf import print_pdf

        err.print(f"report.pdf: {print_pdf(result.index)}")
    _export_metrics(result.index.parent, metrics_file, push_gateway)
    if configmap is not None:
        kept = ("report.md", "report.json", "junit.xml", "drill.json")
        keep_in_configmap(inv, configmap, [result.index.parent / name for name in kept])
    click.echo(str(result.index))
    sys.exit(0 if result.ok else 1)


@click.command("report")
@click.option(
    "--journal-dir",
    required=True,
    type=INPUT_PATH,
    help="A drill's journals (OUT/journals) or any directory of RUN/journal.json.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Report directory (default: the drill's directory, the journal dir's parent; else JOURNAL_DIR/report).",
)
@click.option(
    "--preflight",
    "preflight_path",
    type=INPUT_PATH,
    help="A stored preflight.json (hadrill preflight --json) to show as the pre-upgrade validation "
    "(default: the drill directory's preflight.json, when there is one).",
)
@click.option("--pdf", is_flag=True, help="Also print the report to report.pdf (headless Chromium).")
@_metrics_options
@handle_errors
def report_cmd(
    journal_dir: Path, out_dir: Path | None, preflight_path: Path | None, pdf: bool, metrics_file: Path | None,
    push_gateway: str | None,
) -> None:  # fmt: skip
    """Render the report again from stored journals (never from the platform); exits 1 if a scenario failed
    or the stored pre-upgrade validation said no-go."""
    import json

    from hadrill.errors import ConfigError
    from hadrill.report import render_report
    from hadrill.report.model import DRILL_JOURNAL, PREFLIGHT_FILE

    try:
        is_dir = journal_dir.is_dir()
    except (OSError, ValueError):  # a name too long, a NUL byte
        is_dir = False
    if not is_dir:
        raise ConfigError(str(journal_dir), "", "a directory of journals (drill.json, RUN/journal.json)")
    drill_dir = (journal_dir / DRILL_JOURNAL).is_file()
    if out_dir is None:
        out_dir = journal_dir.parent if drill_dir else journal_dir / "report"
    if preflight_path is None and drill_dir and (journal_dir.parent / PREFLIGHT_FILE).is_file():
        preflight_path = journal_dir.parent / PREFLIGHT_FILE
    index = render_report(journal_dir, out_dir, preflight=preflight_path)
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    pre = report.get("preflight")
    if pdf:
        from hadrill.report.pdf import print_pdf

        err.print(f"report.pdf: {print_pdf(index)}")
    _export_metrics(out_dir, metrics_file, push_gateway)
    click.echo(str(index))
    sys.exit(0 if report["ok"] and (pre is None or pre["ok"]) else 1)


@click.command("compare")
@click.argument("old", type=INPUT_PATH)
@click.argument("new", type=INPUT_PATH)
@click.option("--rto-tolerance", default=0.5, show_default=True, help="Seconds the RTO may grow before it regresses.")
@click.option("--rpo-tolerance", default=0, show_default=True, help="Lost writes the RPO may grow by.")
@click.option("--availability-tolerance", default=0.01, show_default=True, help="Ratio availability may drop by.")
@handle_errors
def compare_cmd(old: Path, new: Path, rto_tolerance: float, rpo_tolerance: int, availability_tolerance: float) -> None:
    """Compare two exercises' report.json (before/after an upgrade); exits 1 on an RTO/RPO/availability regression."""
    from rich.table import Table

    from hadrill.compare import compare_files

    result = compare_files(
        old, new, rto_tolerance_s=rto_tolerance, rpo_tolerance=rpo_tolerance,
        availability_tolerance=availability_tolerance,
    )  # fmt: skip
    table = Table(title=f"{escape(str(old))} → {escape(str(new))}")
    for col in ("scenario", "metric", "before", "after", "", "note"):
        table.add_column(col)
    for r in result.rows:
        mark = "[red]REGRESSION[/]" if r.regression else "[green]ok[/]"
        table.add_row(
            escape(r.scenario), r.metric, escape(r.shown(r.old)), escape(r.shown(r.new)), mark, escape(r.note)
        )
    out.print(table)
    n = len(result.regressions)
    out.print(f"{n} regression(s)" if n else "no regression")
    sys.exit(result.exit_code)
