"""``hadrill inventory``: write the inventory of a cluster hadrill did not build (a kind cluster).

Exit codes: 0 written; 2 bad input (kubeconfig, context); 3 infrastructure (no engine, no such cluster).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml
from rich.console import Console
from rich.markup import escape

from hadrill.errors import ConfigError, HadrillError

__all__ = ["inventory_cmd"]

err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)


@click.group("inventory")
def inventory_cmd() -> None:
    """Inventories of platforms hadrill did not build (a real kind cluster)."""


@inventory_cmd.command("kind")
@click.argument("name")
@click.option(
    "--kubeconfig", type=click.Path(dir_okay=False, path_type=Path),
    help="kubeconfig holding the context kind-NAME (default: $KUBECONFIG, else ~/.kube/config).",
)  # fmt: skip
@click.option("--context", help="Context to use (default: kind-NAME, else the kubeconfig's only context).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout).")
def kind_cmd(name: str, kubeconfig: Path | None, context: str | None, output: Path | None) -> None:
    """Find kind cluster NAME's node containers by label and print (or write) its inventory.

    The kubeconfig is referenced by path: no credential is copied into the inventory.
    """
    from hadrill.providers import inventory_from_kind

    try:
        inv = inventory_from_kind(name, kubeconfig=kubeconfig, context=context)
    except ConfigError as e:
        err.print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True)
        sys.exit(2)
    except HadrillError as e:
        err.print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True)
        sys.exit(3)
    if output is None:
        click.echo(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False), nl=False)
    else:
        inv.dump(output)
        click.echo(str(output))
