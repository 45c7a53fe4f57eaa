"""What every ``hadrill`` command shares: the consoles, the one error handler and the ``--inventory``
option. Command modules import this, never the root :mod:`hadrill.cli` (which imports them).

Exit codes: 0 success; 1 a check, objective or health verdict failed; 2 bad input (a file, a field,
an option); 3 broken infrastructure (no engine, a build or the lab failed, a cluster unreachable).
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
from rich.markup import escape as _markup_escape
from rich.text import Text

from hadrill.errors import ConfigError, HadrillError, printable
from hadrill.paths import lab_inventory_path

__all__ = [
    "INPUT_PATH",
    "INVENTORY_ENV",
    "check_keep_snapshot",
    "check_target_version",
    "configmap_option",
    "err",
    "escape",
    "handle_errors",
    "inventory_option",
    "keep_in_configmap",
    "keep_snapshot_option",
    "out",
    "plain",
    "resolve_inventory",
]

F = TypeVar("F", bound=Callable[..., Any])
INVENTORY_ENV = "HADRILL_INVENTORY"
# CI logs are not terminals: keep tables on one line per row there.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)
# A file hadrill reads: click only converts it; hadrill's loader judges it (a directory, a FIFO, an
# unreadable or missing file is then one line naming the file and exit 2, as every other bad input).
INPUT_PATH = click.Path(path_type=Path, readable=False)


def plain(text: str, style: str = "") -> Text:
    """Text printed as is: no rich markup or emoji codes (file names hold ``[``), control characters escaped."""
    return Text(printable(text, 4000), style=style)


def escape(text: str) -> str:
    """A value for a markup string (a table cell, a line with colours): markup escaped, control
    characters escaped, cut."""
    return _markup_escape(printable(text, 4000))


def _error_line(message: str, prefix: str = "") -> Text:
    return Text.assemble(("error:", "red"), " ", plain(prefix + message))


def handle_errors(fn: F) -> F:
    """Turn hadrill's own errors into one readable line and an exit code, not a traceback:
    2 for bad input (:class:`ConfigError`), 3 for infrastructure (any other :class:`HadrillError`, or
    the Docker engine failing under us)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as e:
            err.print(_error_line(str(e)), soft_wrap=True)
            sys.exit(2)
        except HadrillError as e:
            err.print(_error_line(str(e)), soft_wrap=True)
            sys.exit(3)
        except DockerException as e:  # the engine failed under us: infrastructure, not a bug
            err.print(_error_line(str(e), "Docker engine: "), soft_wrap=True)
            sys.exit(3)

    return wrapper  # type: ignore[return-value]


def inventory_option(fn: F) -> F:
    """``--inventory FILE``, else ``$HADRILL_INVENTORY`` (as the Chaos Toolkit layer and the pytest plugin
    read it), else the default lab's inventory (:func:`resolve_inventory`)."""
    return click.option(
        "--inventory", type=INPUT_PATH, envvar=INVENTORY_ENV, show_envvar=True,
        help="Inventory (default: the lab's).",
    )(fn)  # fmt: skip


def resolve_inventory(given: Path | None) -> Path:
    """The inventory a command acts on: the one given (option or environment), else the default lab's."""
    if given is not None:
        return given
    return lab_inventory_path()


def check_target_version(version: str) -> None:
    """``--target-version`` must read as a Kubernetes version (such as 1.35): bad input otherwise."""
    from hadrill.preflight import parse_version

    try:
        parse_version(version)
    except ValueError as e:
        raise ConfigError("command line", "--target-version", "a version such as 1.35", version) from e


def keep_snapshot_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--keep-snapshot DIR``: the restore drill keeps its etcd snapshot there instead of deleting it."""
    return click.option(
        "--keep-snapshot", "keep_snapshot", type=INPUT_PATH, metavar="DIR",
        help="Keep the restore drill's etcd snapshot (every Secret of the cluster) in DIR, created 0700; "
        "by default it is deleted when the drill ends.",
    )(fn)  # fmt: skip


def check_keep_snapshot(path: Path | None) -> Path | None:
    """``--keep-snapshot`` names a directory, or nothing yet (created 0700 when the snapshot is moved)."""
    if path is None:
        return None
    try:
        ok = path.is_dir() or not path.exists()
    except (OSError, ValueError):  # a name too long, a NUL byte
        ok = False
    if not ok:
        raise ConfigError("command line", "--keep-snapshot", "a directory (or a path to create one at)", str(path))
    return path.absolute()


def configmap_option(fn: F) -> F:
    """``--configmap NAMESPACE/NAME``: the report files kept in a ConfigMap of the inventory's Kubernetes
    cluster (the in-cluster nightly gate's results, :mod:`hadrill.report.configmap`)."""
    return click.option(
        "--configmap", metavar="NAMESPACE/NAME",
        help="Also keep the report files in this ConfigMap of the inventory's Kubernetes cluster "
        "(created or replaced; the in-cluster gate's results).",
    )(fn)  # fmt: skip


def keep_in_configmap(inventory: Path, ref: str, files: list[Path]) -> None:
    """Write ``files`` to ConfigMap ``ref`` through the API of the inventory's Kubernetes cluster."""
    from hadrill.clients.kube import kube_api
    from hadrill.inventory import load_inventory
    from hadrill.report.configmap import keep_in_configmap as keep

    cluster = load_inventory(inventory).cluster("kubernetes")
    err.print(plain(keep(kube_api(cluster, timeout=10.0), ref, [f for f in files if f.is_file()])), soft_wrap=True)
