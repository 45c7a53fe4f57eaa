"""``hadrill preflight``: go or no-go before a Kubernetes upgrade (:mod:`hadrill.preflight`), or a Docker
Swarm engine upgrade with ``--swarm CLUSTER`` (:mod:`hadrill.preflight_swarm`).

Exit codes: 0 go; 1 no-go; 2 bad input (version, inventory); 3 the cluster could not be reached.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hadrill.cli._common import check_target_version, handle_errors, inventory_option, resolve_inventory

__all__ = ["preflight_cmd"]


@click.command("preflight")
@click.option("--target-version", required=True, help="The Kubernetes version to upgrade to, such as 1.35.")
@inventory_option
@click.option("--cluster", default="kubernetes", show_default=True, help="The Kubernetes cluster of the inventory.")
@click.option("--etcd-cluster", default="k8s-etcd", show_default=True, help="Its etcd cluster in the inventory.")
@click.option(
    "--backup-dir", default="/var/backups/etcd", show_default=True, help="Where snapshots are on the etcd nodes."
)
@click.option("--backup-max-age", default=25.0, show_default=True, help="Newest snapshot's maximum age, hours.")
@click.option("--window-days", default=30.0, show_default=True, help="Certificates must outlive this window.")
@click.option(
    "--swarm",
    "swarm",
    default=None,
    help="Check this Docker Swarm cluster of the inventory for an "
    "engine upgrade instead (version skew, quorum with a manager down, replicas).",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the result as JSON.")
@handle_errors
def preflight_cmd(
    target_version: str, inventory: Path | None, cluster: str, etcd_cluster: str, backup_dir: str,
    backup_max_age: float, window_days: float, swarm: str | None, json_path: Path | None,
) -> None:  # fmt: skip
    """Go or no-go for an upgrade: removed/deprecated APIs in use, drain simulation (PDBs), nodes Ready,
    etcd health and a fresh backup, certificates beyond the upgrade window. Exits 0 go, 1 no-go."""
    from hadrill.inventory import load_inventory
    from hadrill.preflight import render_text, run_preflight

    if swarm is not None:
        from hadrill.preflight_swarm import run_swarm_preflight

        result = run_swarm_preflight(load_inventory(resolve_inventory(inventory)), target_version, cluster=swarm)
    else:
        check_target_version(target_version)
        inv = load_inventory(resolve_inventory(inventory))
        result = run_preflight(
            inv, target_version, cluster=cluster, etcd_cluster=etcd_cluster, backup_dir=backup_dir,
            backup_max_age_hours=backup_max_age, window_days=window_days,
        )  # fmt: skip
    click.echo(render_text(result))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    sys.exit(0 if result.go else 1)
