"""``hadrill check``: run the compliance suites against an inventory, write JSON, SARIF and JUnit.

Exit codes: 0 no failing finding; 1 failing findings (not waived, not in the baseline); 2 bad input
(inventory, policy, waivers, baseline: the message names the file and the field); 3 infrastructure (a
check could not run on a node, and nothing else failed).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from hadrill.cli._common import (
    INPUT_PATH,
    configmap_option,
    err,
    escape,
    handle_errors,
    inventory_option,
    keep_in_configmap,
    out,
    plain,
    resolve_inventory,
)
from hadrill.errors import ConfigError

__all__ = ["check_cmd"]

_STYLE = {"pass": "green", "fail": "red", "error": "magenta", "waived": "yellow"}


def _manifest_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        try:
            if p.is_dir():
                files += sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml", ".json") and f.is_file())
                continue
        except (OSError, ValueError) as e:  # a name too long, a NUL byte, a directory we may not list
            raise ConfigError(str(p), "", "a readable manifest file or directory") from e
        files.append(p)  # the loader says what is wrong with it if it is not a readable manifest
    return files


@click.command("check")
@inventory_option
@click.option("--suite", "suite", default="", help="Comma-separated suites (default: all node suites): "
              "docker,network,scst,nfs_mounts,pki,etcd_backup; the kube API suites pss,workloads "
              "when named.")  # fmt: skip
@click.option("--policy", type=INPUT_PATH, help="Compliance policy YAML.")
@click.option("--waivers", type=INPUT_PATH, help="Waivers YAML.")
@click.option("--baseline", type=INPUT_PATH, help="Only findings not in it fail.")
@click.option("--write-baseline", type=click.Path(dir_okay=False, path_type=Path), help="Record today's failures.")
@click.option("--manifests", type=INPUT_PATH, multiple=True,
              help="Kubernetes manifest files or directories to check against the Pod Security Standards.")  # fmt: skip
@click.option("--pss-level", type=click.Choice(["baseline", "restricted"]), default="restricted", show_default=True)
@click.option("--pss-version", default=None, metavar="1.N",
              help="Judge manifests at this Pod Security Standards version (default: the policy's pss.version, "
              "else 1.34), e.g. the version a cluster is about to be upgraded to.")  # fmt: skip
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("hadrill-compliance"),
              show_default=True, help="Where findings.json, findings.sarif and junit.xml go.")  # fmt: skip
@click.option("--all", "show_all", is_flag=True, help="List passing findings too.")
@click.option("--audit-waivers", is_flag=True,
              help="Also list waivers that matched nothing, expire within --expiring-days, or have expired, with "
              "their owners (waivers-audit.json in --out); exit 1 when any has expired.")  # fmt: skip
@click.option("--expiring-days", type=click.IntRange(min=0), default=30, show_default=True,
              help="With --audit-waivers: how soon an expiry is reported.")  # fmt: skip
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the counts per suite and status as metrics here (a textfile-collector .prom file).",
)
@click.option("--push-gateway", metavar="URL", help="Also push those metrics to this Pushgateway.")
@configmap_option
@handle_errors
def check_cmd(
    inventory: Path | None, suite: str, policy: Path | None, waivers: Path | None, baseline: Path | None,
    write_baseline: Path | None, manifests: tuple[Path, ...], pss_level: str, pss_version: str | None,
    out_dir: Path, show_all: bool, audit_waivers: bool, expiring_days: int, metrics_file: Path | None,
    push_gateway: str | None, configmap: str | None,
) -> None:  # fmt: skip
    """Check the platform's configuration (exit 0 compliant, 1 failing findings, 2 bad input, 3 infrastructure,
    4 a suite asked for matched no node).

    With only ``--manifests`` (no ``--inventory``, ``--suite`` or ``--policy``) it checks the manifests
    alone: no inventory and no lab needed, as in a repository's CI.
    """
    from hadrill.compliance.baseline import load_baseline
    from hadrill.compliance.baseline import write_baseline as save_baseline
    from hadrill.compliance.outputs import summary, write_reports
    from hadrill.compliance.policy import load_policy
    from hadrill.compliance.pss_scan import scan_manifest_files
    from hadrill.compliance.pss_versions import parse_version
    from hadrill.compliance.runner import EMPTY_SCOPE, empty_scopes, exit_code, gate, parse_suites, run_checks
    from hadrill.compliance.waivers import load_waivers
    from hadrill.inventory import load_inventory

    manifests_only = bool(manifests) and not (inventory or suite or policy)
    if configmap is not None:
        from hadrill.report.configmap import parse_ref

        parse_ref(configmap)
        if manifests_only:
            raise ConfigError("--configmap", "", "an inventory naming the Kubernetes cluster to keep the findings in")
    files = _manifest_files(manifests)
    waiver_list = load_waivers(waivers) if waivers else []
    known = load_baseline(baseline) if baseline else None
    if manifests_only:
        inv_path, suites, findings, declared, empty = None, [], [], None, []
    else:
        inv_path = resolve_inventory(inventory)
        try:
            exists = inv_path.exists()
        except (OSError, ValueError):  # a name too long: the loader says so
            exists = True
        if not exists:
            raise ConfigError(str(inv_path), "", "an inventory file (hadrill lab up writes one; or pass --inventory)")
        inv = load_inventory(inv_path)
        suites = parse_suites(suite) if suite or not manifests else []
        pol = load_policy(policy, inv, str(inv_path))
        findings = run_checks(inv, pol, suites, source=str(policy or inv_path))
        named = parse_suites(suite) if suite else []
        empty = empty_scopes(inv, pol, suites, named, source=str(policy or inv_path))
        declared = pol.pss.version
    version = parse_version(pss_version) if pss_version else parse_version(declared or "1.34", "policy pss.version")
    findings += scan_manifest_files(files, level=pss_level, version=version)
    if audit_waivers and not waivers:
        raise ConfigError("--audit-waivers", "", "a waivers file to audit (--waivers FILE)")
    audit = _audit(waiver_list, findings, out_dir, expiring_days) if audit_waivers else None
    findings = gate(findings, waiver_list, known)
    if write_baseline:
        n = save_baseline(findings, write_baseline)
        err.print(plain(f"baseline: {n} known finding(s) written to {write_baseline}"), soft_wrap=True)
    meta = {"inventory": str(inv_path) if inv_path else None, "suites": suites,
            "policy": str(policy) if policy else None, "pss_version": f"{version[0]}.{version[1]}"}  # fmt: skip
    paths = write_reports(findings, out_dir, meta, baseline_used=known is not None)
    _export_metrics(findings, out_dir, inv_path, metrics_file, push_gateway)
    if configmap is not None and inv_path is not None:
        keep_in_configmap(inv_path, configmap, [paths["json"], paths["junit"], out_dir / "metrics.prom"])
    _print_table(findings, show_all)
    s = summary(findings)
    out.print(
        f"{s['total']} findings: {s['pass']} pass, {s['fail']} fail ({s['baselined']} in baseline), "
        f"{s['waived']} waived, {s['error']} error; reports in {paths['json'].parent}"
    )
    for line in empty:
        out.print(f"[red]empty scope[/] {escape(line)}: nothing was checked (exit {EMPTY_SCOPE})")
    if audit is not None and any("expired" in a.problems for a in audit):
        sys.exit(1)
    sys.exit(exit_code(findings, empty))


def _export_metrics(
    findings: list[Any], out_dir: Path, inv_path: Path | None, metrics_file: Path | None, push_gateway: str | None
) -> None:
    """metrics.prom beside the findings (per suite and status), and where --metrics-file/--push-gateway say."""
    import time

    from hadrill.inventory import load_inventory
    from hadrill.report.metrics import compliance_metrics, push_metrics, write_textfile

    platform = load_inventory(inv_path).platform if inv_path else "manifests"
    text = compliance_metrics([(f.suite, f.status) for f in findings], platform=platform, at=time.time())
    write_textfile(out_dir / "metrics.prom", text)
    if metrics_file is not None:
        err.print(f"metrics: {write_textfile(metrics_file, text)}")
    if push_gateway:
        err.print(f"metrics pushed: {push_metrics(push_gateway, text, instance=f'{platform}/compliance')}")


def _audit(waivers: list[Any], findings: list[Any], out_dir: Path, within_days: int) -> list[Any]:
    """Print and store the waiver audit (before gating: what each waiver would match)."""
    import json

    from hadrill.compliance.waiver_audit import audit_waivers

    audit = audit_waivers(waivers, findings, within_days=within_days)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {"expiring_days": within_days, "waivers": [a.to_dict() for a in audit]}
    (out_dir / "waivers-audit.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    flagged = [a for a in audit if a.problems]
    table = Table(title=f"waiver audit: {len(flagged)} of {len(audit)} need attention")
    for col in ("waiver", "check", "owner", "expires", "matched", "problems"):
        table.add_column(col, overflow="fold")
    for a in flagged:
        when = f"{a.waiver.expires} ({a.days_left:+d} d)"
        style = "red" if "expired" in a.problems else "yellow"
        table.add_row(f"waivers[{a.index}]", a.waiver.check, escape(a.waiver.owner), when, str(a.matched),
                      f"[{style}]{', '.join(a.problems)}[/]")  # fmt: skip
    if flagged:
        out.print(table)
    else:
        out.print(f"waiver audit: all {len(audit)} waivers in use and valid beyond {within_days} days")
    return audit


def _print_table(findings: list[Any], show_all: bool) -> None:
    rows = [f for f in findings if show_all or f.status != "pass"]
    if not rows:
        return
    table = Table(title="compliance findings")
    for col in ("status", "check", "severity", "target", "object", "detail"):
        table.add_column(col, overflow="fold")
    for f in rows:
        status = f"{f.status}{' (baseline)' if f.baselined else ''}"
        table.add_row(
            f"[{_STYLE[f.status]}]{status}[/]", f.check_id, f.severity, escape(f.target), escape(f.object or ""),
            escape(f.message[:200]),
        )  # fmt: skip
    out.print(table)
