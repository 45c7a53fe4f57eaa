"""``hadrill inventory``: write the inventory of a cluster hadrill did not build (a kind cluster, a Docker Swarm).

Exit codes: 0 written; 2 bad input (kubeconfig, context); 3 infrastructure (no engine, no such cluster).
"""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from hadrill.cli._common import INPUT_PATH, handle_errors

__all__ = ["inventory_cmd"]


@click.group("inventory")
def inventory_cmd() -> None:
    """Inventories of platforms hadrill did not build (a real kind cluster)."""


@inventory_cmd.command("kind")
@click.argument("name")
@click.option(
    "--kubeconfig", type=INPUT_PATH,
    help="kubeconfig holding the context kind-NAME (default: $KUBECONFIG, else ~/.kube/config).",
)  # fmt: skip
@click.option("--context", help="Context to use (default: kind-NAME, else the kubeconfig's only context).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout).")
@handle_errors
def kind_cmd(name: str, kubeconfig: Path | None, context: str | None, output: Path | None) -> None:
    """Find kind cluster NAME's node containers by label and print (or write) its inventory.

    The kubeconfig is referenced by path: no credential is copied into the inventory.
    """
    from hadrill.providers import inventory_from_kind

    inv = inventory_from_kind(name, kubeconfig=kubeconfig, context=context)
    if output is None:
        click.echo(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False), nl=False)
    else:
        inv.dump(output)
        click.echo(str(output))


@inventory_cmd.command("swarm")
@click.argument("manager")
@click.option("--name", default="swarm", show_default=True, help="The cluster's name in the inventory.")
@click.option(
    "--node-url",
    help="Target URL template of the other nodes, with {hostname} or {addr} "
    "(default: docker://{hostname} for a docker:// manager, ssh://USER@{addr} for ssh://).",
)
@click.option("--service", help="A service whose published port (mode=host) is each node's http endpoint.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout).")
@handle_errors
def swarm_cmd(manager: str, name: str, node_url: str | None, service: str | None, output: Path | None) -> None:
    """Ask the swarm manager at target URL MANAGER (docker://NAME, ssh://root@HOST) for its nodes and
    print (or write) the inventory: a cluster of type swarm, budget a minority of the managers."""
    from hadrill.providers_swarm import inventory_from_swarm

    inv = inventory_from_swarm(manager, name=name, url_template=node_url, service=service)
    if output is None:
        click.echo(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False), nl=False)
    else:
        inv.dump(output)
        click.echo(str(output))
