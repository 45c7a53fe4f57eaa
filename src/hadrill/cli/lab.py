"""``hadrill lab``: build, bring up, inspect and take down the offline lab."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from hadrill.cli._common import INPUT_PATH, handle_errors, out

__all__ = ["lab_group"]

F = TypeVar("F", bound=Callable[..., Any])


# -- lab -------------------------------------------------------------------------------------------
@click.group("lab")
def lab_group() -> None:
    """The offline lab: real etcd (and more) in local containers built from Debian packages."""


def _lab_options(fn: F) -> F:
    fn = click.option("--name", help="Lab name (overrides the lab file's).")(fn)
    fn = click.option(
        "--lab-file", "lab_file", type=INPUT_PATH,
        help="Lab file (default: the one shipped with hadrill).",
    )(fn)  # fmt: skip
    return fn


def _open_lab(
    lab_file: Path | None, name: str | None, quiet: bool = False, stored: bool = False, transport: str | None = None
) -> Any:
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
    if transport:
        spec = spec.with_transport(transport, f"{lab_file or 'the default lab file'} with --transport {transport}")
    return Lab(spec, progress=Progress(quiet=quiet), base_dir=lab_file.parent if lab_file else None)


@lab_group.command("build")
@_lab_options
@click.option("--rebuild", is_flag=True, help="Rebuild images even when their content hash is cached.")
@handle_errors
def lab_build(lab_file: Path | None, name: str | None, rebuild: bool) -> None:
    """Build the lab's images (cached by content hash)."""
    for ref in _open_lab(lab_file, name).build(rebuild=rebuild):
        out.print(ref)


@lab_group.command("image")
@click.option(
    "--source", type=click.Path(file_okay=False, path_type=Path),
    help="The hadrill source tree to build from (default: the current directory, else this hadrill's checkout).",
)  # fmt: skip
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path), help="Also write the image as a tar here.")
@handle_errors
def lab_image(source: Path | None, save: Path | None) -> None:
    """Build hadrill's own image (the in-cluster nightly gate's, deploy/in-cluster/): Debian's Python and the
    project's wheel. Prints its reference (hadrill.local/hadrill:VERSION)."""
    from hadrill.lab.engine import docker_client
    from hadrill.lab.hadrill_image import ensure_hadrill_image, source_root
    from hadrill.lab.images import save_image
    from hadrill.progress import Progress

    client = docker_client()
    ref = ensure_hadrill_image(client, source_root(source), progress=Progress())
    if save is not None:
        save_image(client, ref, save)
    out.print(ref)


@lab_group.command("up")
@_lab_options
@click.option("--rebuild", is_flag=True, help="Rebuild images even when their content hash is cached.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for health.")
@click.option(
    "--transport", type=click.Choice(["docker", "ssh"]),
    help="How the inventory reaches the nodes (overrides the lab file's). ssh makes every node a systemd "
    "host reached as ssh://root@ADDR; inventory-docker.yaml beside it keeps the engine's view.",
)  # fmt: skip
@handle_errors
def lab_up(lab_file: Path | None, name: str | None, rebuild: bool, timeout: float, transport: str | None) -> None:
    """Bring the lab up (idempotent) and write its inventory."""
    the_lab = _open_lab(lab_file, name, transport=transport)
    the_lab.up(rebuild=rebuild, timeout=timeout)
    out.print(str(the_lab.inventory_path))


@lab_group.command("status")
@_lab_options
@handle_errors
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


@lab_group.command("down")
@_lab_options
@handle_errors
def lab_down(lab_file: Path | None, name: str | None) -> None:
    """Remove every container, network and volume carrying the lab's label."""
    counts = _open_lab(lab_file, name, stored=True).down()
    out.print(", ".join(f"{v} {k}" for k, v in counts.items()) + " removed")


@lab_group.command("prune")
@click.option("--owner", default="pytest", show_default=True, help="Remove the labs made by this owner.")
@handle_errors
def lab_prune(owner: str) -> None:
    """Take down every lab whose objects carry dev.hadrill.owner=OWNER (leftovers of killed runs)."""
    from hadrill.lab.lab import prune_labs

    names = prune_labs(owner)
    out.print(f"pruned {len(names)} lab(s) owned by {owner}" + (f": {', '.join(names)}" if names else ""))


@lab_group.command("list")
@handle_errors
def lab_list() -> None:
    """Labs on this engine (found by label) and their container counts."""
    from hadrill.lab.lab import list_labs

    for name, count in sorted(list_labs().items()):
        out.print(f"{name}\t{count} containers")
