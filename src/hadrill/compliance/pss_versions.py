"""The Pod Security Standards as they stood at an earlier Kubernetes version (``--pss-version 1.N``).

:mod:`hadrill.compliance.pss` holds policy 1.34. pod-security-admission keeps every older variant of a
check (``VersionedCheck.MinimumVersion`` in ``policy/check_*.go``); this module lists the ones that
differ before 1.34 and wraps the 1.34 controls accordingly, so a pre-upgrade run judges a manifest at
the version the cluster runs (or will run):

- hostProbesAndHostLifecycle exists from 1.34, runAsUser from 1.23, capabilities_restricted from 1.22,
  seccompProfile_restricted from 1.19, allowPrivilegeEscalation from 1.8; a restricted check replaces
  its baseline check only from the version it exists (``OverrideCheckIDs``);
- ``spec.os.name: windows`` exempts pods from allowPrivilegeEscalation, restricted seccomp and
  restricted capabilities from 1.25;
- seccompProfile_baseline reads the deprecated annotations before 1.19 and the fields from 1.19;
- SELinux type container_engine_t from 1.31; safe sysctls grow at 1.27, 1.29 and 1.32.

>>> parse_version("v1.30"), parse_version("1.34")
((1, 30), (1, 34))
"""

from __future__ import annotations

from collections.abc import Callable, Container
from functools import cache
from typing import Any

from hadrill.compliance.pss import CONTROLS, Control, Ctrs, Hit, Json, containers_of
from hadrill.errors import ConfigError

__all__ = ["LATEST", "evaluate_pod_at", "parse_version"]

LATEST = (1, 34)
Version = tuple[int, int]
Fn = Callable[[Json, Json, str, str, Ctrs, bool], Hit | None]

_SINCE: dict[str, Version] = {
    "hostProbesAndHostLifecycle": (1, 34),
    "runAsUser": (1, 23),
    "capabilities_restricted": (1, 22),
    "seccompProfile_restricted": (1, 19),
    "allowPrivilegeEscalation": (1, 8),
}
_OVERRIDES = {
    "restrictedVolumes": "hostPathVolumes",
    "seccompProfile_restricted": "seccompProfile_baseline",
    "capabilities_restricted": "capabilities_baseline",
}
_WINDOWS_EXEMPT_SINCE = (1, 25)
_SYSCTLS_SINCE: dict[str, Version] = {
    "net.ipv4.ip_local_reserved_ports": (1, 27),
    "net.ipv4.tcp_keepalive_time": (1, 29),
    "net.ipv4.tcp_fin_timeout": (1, 29),
    "net.ipv4.tcp_keepalive_intvl": (1, 29),
    "net.ipv4.tcp_keepalive_probes": (1, 29),
    "net.ipv4.tcp_rmem": (1, 32),
    "net.ipv4.tcp_wmem": (1, 32),
}
_SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
_SECCOMP_CONTAINER_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"


def parse_version(text: str, source: str = "--pss-version") -> Version:
    """``1.N`` or ``v1.N`` (0 <= N <= 34): the policy versions pod-security-admission 1.34 knows."""
    raw = str(text).strip().removeprefix("v")
    major, _, minor = raw.partition(".")
    if major == "1" and minor.isdigit() and (1, int(minor)) <= LATEST:
        return (1, int(minor))
    raise ConfigError(source, "", f"a Pod Security Standards version 1.0 to 1.{LATEST[1]} (like 1.34)", text)


def _d(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _no_windows_exemption(fn: Fn) -> Fn:
    def check(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
        return fn(meta, {k: v for k, v in spec.items() if k != "os"}, sp, mp, ctrs, relax)

    return check


def _seccomp_annotations(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    """seccompProfile_baseline before 1.19: the alpha annotations, not the fields."""
    notes = _d(meta.get("annotations"))

    def ok(v: Any) -> bool:
        v = "" if v is None else str(v)
        return v in ("runtime/default", "docker/default") or v.startswith("localhost/")

    keys = [_SECCOMP_POD_ANNOTATION] + [_SECCOMP_CONTAINER_PREFIX + str(c.get("name", "")) for _, c, _ in ctrs]
    paths = {f"{mp}.annotations[{k}]": notes[k] for k in keys if k in notes and not ok(notes[k])}
    return Hit(paths, "forbidden seccomp annotations") if paths else None


def _selinux_before_1_31(fn: Fn) -> Fn:
    def check(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
        hit = fn(meta, spec, sp, mp, ctrs, relax)
        paths = dict(hit.paths) if hit else {}
        owners = [(f"{sp}.securityContext", spec.get("securityContext"))] + [
            (f"{p}.securityContext", sc) for p, _, sc in ctrs
        ]
        for where, sc in owners:
            opts = sc.get("seLinuxOptions") if isinstance(sc, dict) else None
            if isinstance(opts, dict) and opts.get("type") == "container_engine_t":
                paths[f"{where}.seLinuxOptions.type"] = "container_engine_t"
        return Hit(paths, "forbidden securityContext.seLinuxOptions") if paths else None

    return check


def _sysctls_at(version: Version, fn: Fn) -> Fn:
    newer = {name for name, since in _SYSCTLS_SINCE.items() if version < since}

    def check(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
        hit = fn(meta, spec, sp, mp, ctrs, relax)
        paths = dict(hit.paths) if hit else {}
        items = _d(spec.get("securityContext")).get("sysctls")
        for i, s in enumerate(items if isinstance(items, list) else []):
            if isinstance(s, dict) and s.get("name") in newer:
                paths[f"{sp}.securityContext.sysctls[{i}].name"] = s["name"]
        return Hit(dict(sorted(paths.items())), "forbidden sysctls") if paths else None

    return check


@cache
def _controls_at(level: str, version: Version) -> tuple[tuple[Control, Fn], ...]:
    """The controls of ``level`` at ``version``, wrapped once per (level, version): a scan reuses them."""
    present = [c for c in CONTROLS.values() if version >= _SINCE.get(c.psa_id, (1, 0))]
    if level == "baseline":
        chosen = [c for c in present if c.level == "baseline"]
    elif level == "restricted":
        overridden = {_OVERRIDES[c.psa_id] for c in present if c.psa_id in _OVERRIDES}
        chosen = [c for c in present if c.psa_id not in overridden]
    else:
        raise ValueError(f"level {level!r}: expected baseline or restricted")
    out = []
    for c in chosen:
        fn: Fn = c.fn
        if c.psa_id in ("allowPrivilegeEscalation", "seccompProfile_restricted", "capabilities_restricted"):
            fn = _no_windows_exemption(fn) if version < _WINDOWS_EXEMPT_SINCE else fn
        elif c.psa_id == "seccompProfile_baseline" and version < (1, 19):
            fn = _seccomp_annotations
        elif c.psa_id == "seLinuxOptions" and version < (1, 31):
            fn = _selinux_before_1_31(fn)
        elif c.psa_id == "sysctls":
            fn = _sysctls_at(version, fn)
        out.append((c, fn))
    return tuple(out)


def evaluate_pod_at(
    meta: Json, spec: Json, level: str = "restricted", version: Version = LATEST, *, spec_path: str = "spec",
    meta_path: str = "metadata", relax_userns: bool = False, only: Container[str] | None = None,
) -> list[tuple[Control, Hit]]:  # fmt: skip
    """Every control of ``level`` at policy ``version`` that the pod violates, with field paths.

    ``only``: the PSA IDs worth running (:func:`hadrill.compliance.pss_screen.may_violate`, valid at 1.34)."""
    meta = meta if isinstance(meta, dict) else {}
    spec = spec if isinstance(spec, dict) else {}
    table = _controls_at(level, version)
    if only is not None:
        table = tuple(row for row in table if row[0].psa_id in only)
        if not table:
            return []
    ctrs = containers_of(spec, spec_path)
    out = []
    for control, fn in table:
        hit = fn(meta, spec, spec_path, meta_path, ctrs, relax_userns)
        if hit is not None:
            out.append((control, hit))
    return out
