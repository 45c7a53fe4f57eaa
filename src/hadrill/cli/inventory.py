"""``hadrill inventory``: write the inventory of a platform hadrill did not build: a kind cluster, a
Kubernetes cluster reached by a kubeconfig with its nodes by SSH, a fleet kept in an Ansible hosts file,
or a Docker Swarm read through one manager.

Exit codes: 0 written; 2 bad input (kubeconfig, context); 3 infrastructure (no engine, no such cluster).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from hadrill.cli._common import INPUT_PATH, handle_errors

__all__ = ["inventory_cmd"]


@click.group("inventory")
def inventory_cmd() -> None:
    """Inventories of platforms hadrill did not build: kind, a kubeconfig + SSH, an Ansible hosts file."""


def _emit(inv: Any, output: Path | None) -> None:
    if output is None:
        click.echo(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False), nl=False)
    else:
        inv.dump(output)
        click.echo(str(output))


@inventory_cmd.command("ansible")
@click.argument("hosts_file", type=INPUT_PATH)
@click.option("--platform", help="Platform name (default: the file's name).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout).")
@handle_errors
def ansible_cmd(hosts_file: Path, platform: str | None, output: Path | None) -> None:
    """Nodes from an Ansible hosts file (INI or YAML), reached as ssh://USER@HOST[:PORT], groups as roles.

    Keys are referenced by path (ansible_ssh_private_key_file), never read.
    """
    from hadrill.fleet import inventory_from_ansible

    _emit(inventory_from_ansible(hosts_file, platform=platform), output)


@inventory_cmd.command("kubeconfig")
@click.option("--context", required=True, help="The kubeconfig context of the cluster.")
@click.option(
    "--ssh-map", "ssh_map", type=INPUT_PATH, required=True,
    help="Node name to ssh:// URL: a YAML map, or an Ansible hosts file naming the nodes.",
)  # fmt: skip
@click.option("--kubeconfig", type=INPUT_PATH, help="kubeconfig (default: $KUBECONFIG, else ~/.kube/config).")
@click.option("--control-plane", "control_planes", multiple=True, help="A master's node name (default: from labels).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout).")
@handle_errors
def kubeconfig_cmd(
    context: str, ssh_map: Path, kubeconfig: Path | None, control_planes: tuple[str, ...], output: Path | None
) -> None:
    """A Kubernetes cluster through a kubeconfig context (read from its API), its nodes reached over SSH."""
    from hadrill.fleet import load_ssh_map
    from hadrill.providers import inventory_from_kubeconfig

    hosts = load_ssh_map(ssh_map)
    planes = list(control_planes) or None
    _emit(inventory_from_kubeconfig(context, hosts, kubeconfig=kubeconfig, control_planes=planes), output)


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

    _emit(inventory_from_kind(name, kubeconfig=kubeconfig, context=context), output)


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

    _emit(inventory_from_swarm(manager, name=name, url_template=node_url, service=service), output)
