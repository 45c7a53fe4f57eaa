"""Deprecated APIs inside Helm releases: what ``helm upgrade`` or ``helm rollback`` would re-apply.

Helm v3 keeps each release revision in a Secret of type ``helm.sh/release.v1`` (labels ``owner=helm``,
``name``, ``status``, ``version``). Its ``data.release`` is, under the Secret's own base64, the
base64 of the gzipped JSON release, whose ``manifest`` holds every object the chart rendered. Objects
written with an API the target version removes make the next ``helm upgrade`` fail ("unable to build
kubernetes objects from current release manifest") even when the live objects were converted: the
most asked-for source of pluto's findings. Only each release's deployed revision counts.

The API server also counts the requests it served through deprecated APIs since it started
(``apiserver_requested_deprecated_apis`` on ``/metrics``); when that endpoint is readable its series
are listed: clients still calling those APIs break at the removal.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

__all__ = [
    "HelmRelease",
    "decode_release",
    "deprecated_api_metric",
    "release_api_findings",
    "releases_from_secrets",
]

RELEASE_TYPE = "helm.sh/release.v1"
_GZIP_MAGIC = b"\x1f\x8b"
_METRIC = re.compile(r"^apiserver_requested_deprecated_apis\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)", re.M)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class HelmRelease:
    name: str
    namespace: str
    revision: int
    status: str
    chart: str
    manifest: str


def decode_release(secret: dict[str, Any]) -> dict[str, Any]:
    """The release JSON of a Helm v3 release Secret (as the API returns it: ``data`` base64-encoded).

    Raises ValueError naming what is not as Helm writes it."""
    raw = (secret.get("data") or {}).get("release")
    if not isinstance(raw, str):
        raise ValueError("no data.release")
    try:
        payload = base64.b64decode(base64.b64decode(raw, validate=True), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"data.release is not base64 of base64 ({e})") from e
    if payload[:2] == _GZIP_MAGIC:  # Helm gzips; releases written by Helm < 3.1 may not be
        try:
            payload = gzip.decompress(payload)
        except (OSError, EOFError) as e:
            raise ValueError(f"data.release is not valid gzip ({e})") from e
    try:
        release = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"data.release is not JSON ({e})") from e
    if not isinstance(release, dict):
        raise ValueError("data.release is not a JSON object")
    return release


def releases_from_secrets(secrets: list[dict[str, Any]]) -> tuple[list[HelmRelease], list[str]]:
    """The deployed revision of each release among ``secrets`` (any Secrets: others are ignored), and a
    note per release Secret that could not be read."""
    latest: dict[tuple[str, str], HelmRelease] = {}
    problems = []
    for s in secrets:
        if s.get("type") != RELEASE_TYPE:
            continue
        md = s.get("metadata") or {}
        where = f"Secret {md.get('namespace')}/{md.get('name')}"
        try:
            rel = decode_release(s)
        except ValueError as e:
            problems.append(f"{where}: {e}")
            continue
        info, chart = rel.get("info") or {}, (rel.get("chart") or {}).get("metadata") or {}
        status = str(info.get("status") or (md.get("labels") or {}).get("status") or "")
        if status != "deployed":
            continue
        r = HelmRelease(
            name=str(rel.get("name") or (md.get("labels") or {}).get("name") or "?"),
            namespace=str(rel.get("namespace") or md.get("namespace") or ""),
            revision=int(rel.get("version") or 0), status=status,
            chart=f"{chart.get('name', '?')}-{chart.get('version', '?')}", manifest=str(rel.get("manifest") or ""),
        )  # fmt: skip
        key = (r.namespace, r.name)
        if key not in latest or r.revision > latest[key].revision:
            latest[key] = r
    return sorted(latest.values(), key=lambda r: (r.namespace, r.name)), problems


Lookup = Callable[[str, str, tuple[int, int]], "tuple[Any, str] | None"]


def release_api_findings(release: HelmRelease, target: tuple[int, int], lookup: Lookup) -> list[tuple[str, Any, str]]:
    """(object, table entry, removed|deprecated) for each object of the release's manifest that uses an
    API deprecated or removed at ``target``, by ``lookup`` (:func:`hadrill.preflight.lookup`)."""
    out = []
    try:
        docs = list(yaml.safe_load_all(release.manifest))
    except yaml.YAMLError:
        return [("manifest", None, "unreadable")]
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
        hit = lookup(api_version, kind, target)
        if hit:
            name = (doc.get("metadata") or {}).get("name", "?")
            out.append((f"{kind} {name}", hit[0], hit[1]))
    return out


def deprecated_api_metric(text: str) -> list[dict[str, str]]:
    """The ``apiserver_requested_deprecated_apis`` series of a /metrics page (value 1: requested)."""
    out = []
    for m in _METRIC.finditer(text):
        if float(m["value"]) > 0:
            out.append(dict(_LABEL.findall(m["labels"])))
    return out


def _check(name: str, ok: bool, blocking: bool, summary: str, details: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "ok": ok, "blocking": blocking, "summary": summary, "details": details or []}


def helm_release_checks(api: Any, target: tuple[int, int], lookup: Lookup) -> list[dict[str, Any]]:
    """Preflight checks (as ``Check`` fields): release manifests using APIs the target removes (blocking) or
    deprecates, and the API server's deprecated-API request counter (a warning: it names APIs, not clients)."""
    from hadrill.clients.kube import KubeApiError

    Check = _check
    t = f"{target[0]}.{target[1]}"
    try:
        secrets = api.list_all("/api/v1/secrets", label_selector="owner=helm")
    except KubeApiError as e:
        return [Check("Helm releases", False, False, f"release Secrets could not be listed: {e}")]
    releases, problems = releases_from_secrets(secrets)
    removed: list[str] = []
    deprecated: list[str] = []
    for r in releases:
        for obj, entry, status in release_api_findings(r, target, lookup):
            what = entry.describe() if entry is not None else "a manifest that is not valid YAML"
            line = f"Helm release {r.namespace}/{r.name} (revision {r.revision}, {r.chart}): {obj} uses {what}"
            (removed if status in ("removed", "unreadable") else deprecated).append(line)
    checks = [
        Check(
            "Helm releases: removed APIs", not removed, True,
            f"{len(removed)} objects in Helm releases use APIs {t} no longer serves (helm upgrade would fail; "
            "migrate the release, e.g. helm mapkubeapis)" if removed
            else f"no Helm release re-applies an API {t} removes ({len(releases)} deployed releases read)",
            removed + problems,
        ),
        Check(
            "Helm releases: deprecated APIs", not deprecated, False,
            f"{len(deprecated)} objects in Helm releases use APIs deprecated at {t}" if deprecated
            else f"no Helm release uses an API deprecated at {t}", deprecated,
        ),
    ]  # fmt: skip
    try:
        series = deprecated_api_metric(api.request("GET", "/metrics").text)
    except KubeApiError as e:
        checks.append(Check("deprecated APIs requested", True, False,
                            f"not measured: the API server's /metrics is not readable ({e.status or e})"))  # fmt: skip
        return checks
    lines = [
        f"{s.get('group') or 'core'}/{s.get('version')} {s.get('resource')}"
        f"{'/' + s['subresource'] if s.get('subresource') else ''} (removed in {s.get('removed_release') or '?'})"
        for s in series
    ]
    checks.append(Check(
        "deprecated APIs requested", not lines, False,
        f"the API server served {len(lines)} deprecated API resources since it started "
        "(apiserver_requested_deprecated_apis): find and update their clients" if lines
        else "no deprecated API requested since the API server started", lines,
    ))  # fmt: skip
    return checks
