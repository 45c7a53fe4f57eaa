"""Keep a run's report files in a ConfigMap: where the in-cluster nightly gate (``deploy/in-cluster/``)
leaves its results, read back with ``kubectl get configmap NAME -o jsonpath='{.data.report\\.md}'``.

A ConfigMap holds at most 1 MiB. Files are kept in the order given (the most wanted first); one that
would pass :data:`BUDGET` is left out and named in ``omitted.txt``, never cut in the middle (half a
JSON file is no evidence). The ConfigMap is created or replaced whole: no file of an earlier run is
left beside this run's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hadrill.clients.kube import KubeApi, KubeApiError
from hadrill.errors import ConfigError

__all__ = ["BUDGET", "configmap_body", "keep_in_configmap", "parse_ref"]

BUDGET = 900_000  # bytes of file contents: under the 1 MiB of a ConfigMap, with room for its metadata
LABELS = {"app.kubernetes.io/name": "hadrill", "app.kubernetes.io/component": "report"}


def parse_ref(ref: str, where: str = "--configmap") -> tuple[str, str]:
    """``NAMESPACE/NAME`` of a ConfigMap; bad input names the option."""
    ns, sep, name = ref.partition("/")
    if not sep or not ns or not name or "/" in name:
        raise ConfigError(where, "configmap", "NAMESPACE/NAME, such as hadrill/hadrill-nightly-report", ref)
    return ns, name


def configmap_body(
    namespace: str, name: str, files: list[Path], *, budget: int = BUDGET, now: float | None = None
) -> dict[str, Any]:
    """The ConfigMap: each file under its own name while the contents fit ``budget`` bytes."""
    data: dict[str, str] = {}
    omitted: list[str] = []
    used = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        size = len(text.encode("utf-8"))
        if path.name in data or used + size > budget:
            omitted.append(f"{path.name} ({size} bytes)")
            continue
        data[path.name] = text
        used += size
    if omitted:
        data["omitted.txt"] = (
            f"left out to keep the ConfigMap under {budget} bytes (or a name given twice):\n"
            + "".join(f"{o}\n" for o in omitted)
        )
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": LABELS,
                     "annotations": {"hadrill.io/written": stamp}},
        "data": data,
    }  # fmt: skip


def keep_in_configmap(api: KubeApi, ref: str, files: list[Path]) -> str:
    """Create or replace ConfigMap ``ref`` (``NAMESPACE/NAME``) with ``files``; what was kept."""
    ns, name = parse_ref(ref)
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise ConfigError("--configmap", "files", "report files that exist", ", ".join(missing))
    body = configmap_body(ns, name, files)
    path = f"/api/v1/namespaces/{ns}/configmaps"
    try:
        api.request("PUT", f"{path}/{name}", body)
    except KubeApiError as e:
        if e.status != 404:
            raise
        api.request("POST", path, body)
    return f"ConfigMap {ns}/{name}: {', '.join(sorted(body['data']))}"
