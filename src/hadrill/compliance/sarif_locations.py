"""Where a finding points in the repository: the file and line that declared its node, network,
cluster or Kubernetes object, as SARIF ``physicalLocation``s GitHub and GitLab code scanning accept.

Code scanning drops a result without a physical location and cannot place an absolute path, so every
result gets one: a manifest finding points at its object's document, a node finding at the inventory
(or policy) entry that declared the node, anything else at the top of the inventory. URIs are relative
to the repository root (``uriBaseId: SRCROOT``), the root of a git work tree containing the current
directory, else the current directory.
"""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["BASE_ID", "anchors", "artifact_location", "repository_root"]

BASE_ID = "SRCROOT"


def repository_root(start: Path | None = None) -> Path:
    """The git work tree's top directory containing ``start`` (default: the current one), else ``start``."""
    here = (start or Path.cwd()).resolve()
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here, capture_output=True, text=True,
                             timeout=10, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return here
    return Path(top.stdout.strip()).resolve() if top.returncode == 0 and top.stdout.strip() else here


def artifact_location(path: str | Path, root: Path) -> dict[str, Any]:
    """``{"uri": "k8s/app.yaml", "uriBaseId": "SRCROOT"}``; an absolute ``file:`` URI outside the root."""
    p = Path(path)
    full = (p if p.is_absolute() else Path.cwd() / p).resolve()
    if full.is_relative_to(root):
        return {"uri": full.relative_to(root).as_posix(), "uriBaseId": BASE_ID}
    return {"uri": full.as_uri()}


def _scalar(node: Any, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v  # type: ignore[no-any-return]
    return None


def _walk(node: Any, out: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + 1
        name = _scalar(node, "name")
        if isinstance(name, yaml.ScalarNode):
            out.setdefault(name.value, line)
        kind, meta = _scalar(node, "kind"), _scalar(node, "metadata")
        obj_name, ns = _scalar(meta, "name"), _scalar(meta, "namespace")
        if isinstance(kind, yaml.ScalarNode) and isinstance(obj_name, yaml.ScalarNode):
            out.setdefault(f"{kind.value}/{obj_name.value}", line)
            if isinstance(ns, yaml.ScalarNode):
                out.setdefault(f"{kind.value}/{ns.value}/{obj_name.value}", line)
        for _, v in node.value:
            _walk(v, out)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            _walk(v, out)


@cache
def anchors(path: str) -> dict[str, int]:
    """Name (a node's, a network's, ``Kind/name``, ``Kind/ns/name``) → the 1-based line that declares it."""
    out: dict[str, int] = {}
    try:
        for doc in yaml.compose_all(Path(path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader):
            _walk(doc, out)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        pass  # an unreadable file anchors at line 1
    return out
