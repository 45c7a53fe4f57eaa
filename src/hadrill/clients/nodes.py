"""How a check reaches a node: a hadrill :class:`~hadrill.clients.targets.Target`, a testinfra host, or a URL.

Checks only run shell commands and read small files, so one tiny interface serves both the CLI (which
holds hadrill targets) and the pytest suites in ``compliance/`` (which hold testinfra's ``host``
fixture): the same check code gives the same result either way.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Protocol

from hadrill.clients.targets import Result, Target, target
from hadrill.errors import TargetError

__all__ = ["STAT_FORMAT", "FileStat", "Node", "as_node", "parse_stat_line", "read_text", "stat_file"]

_ABSENT = 44  # exit code our probes use for "no such file": distinct from cat's and stat's own


class Node(Protocol):
    """What a check needs from a node."""

    url: str

    def run(self, command: str, *, timeout: float = 30.0) -> Result: ...


class _TestinfraNode:
    """A testinfra ``host`` seen through hadrill's bounded ``run``."""

    def __init__(self, host: Any) -> None:
        self._host = host
        backend = host.backend
        self.url = str(getattr(backend, "get_pytest_id", lambda: repr(backend))())

    def run(self, command: str, *, timeout: float = 30.0) -> Result:
        wrapped = f"timeout -k 2 {timeout:g} sh -c {shlex.quote(command)}"
        try:
            out = self._host.run(wrapped)
        except Exception as e:  # testinfra backends raise whatever their transport raises
            raise TargetError(f"{self.url}: cannot run {command!r}: {e}") from e
        return Result(int(out.rc), str(out.stdout), str(out.stderr))


def as_node(obj: Any) -> Node:
    """A node from a hadrill Target, a testinfra host, or a target URL."""
    if isinstance(obj, Target):
        return obj
    if isinstance(obj, str):
        return target(obj)
    if isinstance(obj, _TestinfraNode):
        return obj
    if hasattr(obj, "backend") and hasattr(obj, "run"):
        return _TestinfraNode(obj)
    if hasattr(obj, "url") and hasattr(obj, "run"):  # already a node (tests' fakes, other adapters)
        return obj  # type: ignore[no-any-return]
    raise TypeError(f"not a node: {obj!r} (a hadrill Target, a testinfra host or a URL)")


@dataclass(frozen=True)
class FileStat:
    """Mode bits, owner and age of a file on a node."""

    path: str
    mode: int
    uid: int
    owner: str
    size: int
    mtime: float

    @property
    def mode_text(self) -> str:
        return f"{self.mode:04o}"


def read_text(node: Node, path: str, *, timeout: float = 15.0) -> str | None:
    """The file's content, or None when it does not exist; TargetError when it cannot be read."""
    q = shlex.quote(path)
    res = node.run(f"[ -e {q} ] || exit {_ABSENT}; cat {q}", timeout=timeout)
    if res.rc == _ABSENT:
        return None
    if not res.ok:
        raise TargetError(f"{node.url}: cannot read {path}: {(res.stderr or res.stdout).strip()[-200:]}")
    return res.stdout


def parse_stat_line(line: str) -> FileStat:
    """One line of ``stat -c '%a|%u|%U|%s|%Y|%n'``."""
    mode, uid, owner, size, mtime, path = line.split("|", 5)
    return FileStat(path, int(mode, 8), int(uid), owner, int(size), float(mtime))


STAT_FORMAT = "%a|%u|%U|%s|%Y|%n"


def stat_file(node: Node, path: str) -> FileStat | None:
    """Mode, owner, size and mtime of one file, or None when it does not exist."""
    q = shlex.quote(path)
    res = node.run(f"[ -e {q} ] || exit {_ABSENT}; stat -L -c '{STAT_FORMAT}' {q}", timeout=15)
    if res.rc == _ABSENT:
        return None
    if not res.ok:
        raise TargetError(f"{node.url}: cannot stat {path}: {(res.stderr or res.stdout).strip()[-200:]}")
    try:
        return parse_stat_line(res.stdout.strip().splitlines()[0])
    except (ValueError, IndexError) as e:
        raise TargetError(f"{node.url}: unexpected stat output for {path}: {res.stdout[:200]!r}") from e
