"""A one-pass screen of a pod spec: which Pod Security controls it may violate, so only those run.

Most pods in a cluster are compliant and most controls pass on the rest; running all eighteen controls
on every pod (each walking the containers again and building field paths) is what made the scan cost
several times the upstream evaluator's CPU. The screen reads every field a control reads once, with no
paths and no allocation, and names the controls that cannot be cleared at a glance; evaluate_pod then
runs only those, and they decide (with the offending paths) exactly as before.

The screen is conservative: it may name a control that then passes, never omit one that fails (the
unit tests check this against the controls themselves on generated pods). A value of an unexpected
type, or any structure it does not know, makes it give up (None): the caller then checks the pod's
shape (:mod:`.pss_shape`) and runs everything. It is at least as strict as :mod:`.pss_shape` (tested
too), so a pod it judges needs no separate shape check: that pass was as costly as all the controls.

>>> may_violate({}, {"containers": [{"name": "c", "securityContext": {"privileged": True}}]}) >= {"privileged"}
True
>>> may_violate({}, {"containers": {"name": "c"}}) is None
True
"""

from __future__ import annotations

from typing import Any

from hadrill.compliance.pss import APPARMOR_PREFIX, CAPS_BASELINE, RESTRICTED_VOLUMES_ALLOWED

__all__ = ["may_violate"]

_GOOD_PROFILES = ("RuntimeDefault", "Localhost")
_ALLOWED_VOLUMES = frozenset(RESTRICTED_VOLUMES_ALLOWED)
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_HANDLER_KEYS = ("httpGet", "tcpSocket")
_SELINUX_KEYS = ("type", "user", "role", "level")
_SC_KEYS = frozenset(
    (
        "privileged", "allowPrivilegeEscalation", "runAsNonRoot", "runAsUser", "procMount", "capabilities",
        "seccompProfile", "appArmorProfile", "seLinuxOptions", "windowsOptions",
    )
)  # fmt: skip


class _Unknown(Exception):
    """A shape the screen does not judge: the caller runs every control."""


def _profile_ok(profile: Any) -> bool:
    """A seccomp or AppArmor profile that passes (RuntimeDefault or Localhost); raises on a bad shape."""
    if type(profile) is not dict:
        raise _Unknown
    kind = profile.get("type")
    if kind is not None and type(kind) is not str:
        raise _Unknown
    local = profile.get("localhostProfile")
    if local is not None and type(local) is not str:
        raise _Unknown
    return kind in _GOOD_PROFILES


def _strings(value: Any, keys: tuple[str, ...]) -> None:
    """A mapping whose ``keys`` are strings when set (seLinuxOptions, os), or a bad shape."""
    if type(value) is not dict:
        raise _Unknown
    for key in keys:
        v = value.get(key)
        if v is not None and type(v) is not str:
            raise _Unknown


def _windows(value: Any) -> None:
    if type(value) is not dict:
        raise _Unknown
    v = value.get("hostProcess")
    if v is not None and type(v) is not bool:
        raise _Unknown


def _string_list(value: Any) -> list[str]:
    if type(value) is not list or any(type(v) is not str for v in value):
        raise _Unknown
    return value


def _handler_has_host(handler: Any) -> bool:
    """Both actions are checked before answering: stopping at the first host made the answer depend on
    the set's iteration order (string hashing differs per process) when the other action was odd."""
    if handler is None:
        return False
    if type(handler) is not dict:
        raise _Unknown
    found = False
    for key in _HANDLER_KEYS:
        action = handler.get(key)
        if action is None:
            continue
        if type(action) is not dict:
            raise _Unknown
        host = action.get("host")
        if host is not None:
            if type(host) is not str:
                raise _Unknown
            found = found or host != ""
    return found


def _container(c: Any, flags: set[str]) -> tuple[bool, bool]:
    """Flag what one container may violate; return (runAsNonRoot unset, seccompProfile unset)."""
    if type(c) is not dict:
        raise _Unknown
    name = c.get("name")
    if name is not None and type(name) is not str:
        raise _Unknown
    ports = c.get("ports")
    if ports is not None:
        if type(ports) is not list:
            raise _Unknown
        for port in ports:
            if type(port) is not dict:
                raise _Unknown
            hp = port.get("hostPort")
            if hp is not None:
                if type(hp) is not int:
                    raise _Unknown
                if hp != 0:
                    flags.add("hostPorts")
    for probe in _PROBES:
        handler = c.get(probe)
        if handler is not None and _handler_has_host(handler):  # most containers have one probe or none
            flags.add("hostProbesAndHostLifecycle")
    life = c.get("lifecycle")
    if life is not None:
        if type(life) is not dict:
            raise _Unknown
        if _handler_has_host(life.get("postStart")) or _handler_has_host(life.get("preStop")):
            flags.add("hostProbesAndHostLifecycle")
    sc = c.get("securityContext")
    if sc is None:
        flags.update(("allowPrivilegeEscalation", "capabilities_restricted"))
        return True, True
    if type(sc) is not dict:
        raise _Unknown
    if _SC_KEYS.isdisjoint(sc.keys()):
        flags.update(("allowPrivilegeEscalation", "capabilities_restricted"))
        return True, True
    _container_security(sc, flags)
    return sc.get("runAsNonRoot") is None, sc.get("seccompProfile") is None


def _container_security(sc: dict[str, Any], flags: set[str]) -> None:
    """Flag what a container's securityContext may violate."""
    get = sc.get
    v = get("privileged")
    if v is not None:
        if type(v) is not bool:
            raise _Unknown
        if v:
            flags.add("privileged")
    v = get("allowPrivilegeEscalation")
    if v is not None and type(v) is not bool:
        raise _Unknown
    if v is not False:
        flags.add("allowPrivilegeEscalation")
    v = get("runAsNonRoot")
    if v is not None:
        if type(v) is not bool:
            raise _Unknown
        if not v:
            flags.add("runAsNonRoot")
    v = get("runAsUser")
    if v is not None:
        if type(v) is not int:
            raise _Unknown
        if v == 0:
            flags.add("runAsUser")
    v = get("procMount")
    if v is not None:
        if type(v) is not str:
            raise _Unknown
        if v != "Default":
            flags.add("procMount")
    v = get("seccompProfile")
    if v is not None and not _profile_ok(v):
        flags.update(("seccompProfile_baseline", "seccompProfile_restricted"))
    v = get("appArmorProfile")
    if v is not None and not _profile_ok(v):
        flags.add("appArmorProfile")
    v = get("seLinuxOptions")
    if v is not None:
        _strings(v, _SELINUX_KEYS)
        flags.add("seLinuxOptions")
    v = get("windowsOptions")
    if v is not None:
        _windows(v)
        flags.add("windowsHostProcess")
    caps = get("capabilities")
    if caps is None:
        flags.add("capabilities_restricted")
        return
    if type(caps) is not dict:
        raise _Unknown
    drop = caps.get("drop")
    if drop is None or "ALL" not in _string_list(drop):
        flags.add("capabilities_restricted")
    add = caps.get("add")
    if add is not None:
        for cap in _string_list(add):
            if cap != "NET_BIND_SERVICE":
                flags.add("capabilities_restricted")
            if cap not in CAPS_BASELINE:
                flags.add("capabilities_baseline")


def _pod(meta: dict[str, Any], spec: dict[str, Any], flags: set[str]) -> tuple[bool, bool]:
    """Flag the pod-level fields; return (runAsNonRoot is true, seccompProfile passes) for the pod."""
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        v = spec.get(key)
        if v is not None:
            if type(v) is not bool:
                raise _Unknown
            if v:
                flags.add("hostNamespaces")
    v = spec.get("hostUsers")
    if v is not None and type(v) is not bool:
        raise _Unknown
    v = spec.get("os")
    if v is not None:
        _strings(v, ("name",))
    annotations = meta.get("annotations")
    if annotations is not None:
        if type(annotations) is not dict:
            raise _Unknown
        if any(str(k).startswith(APPARMOR_PREFIX) for k in annotations):
            flags.add("appArmorProfile")
    volumes = spec.get("volumes")
    if volumes is not None:
        if type(volumes) is not list:
            raise _Unknown
        for vol in volumes:
            if type(vol) is not dict:
                raise _Unknown
            if vol.get("hostPath") is not None:
                flags.add("hostPathVolumes")
            if not any(vol[k] is not None for k in _ALLOWED_VOLUMES & vol.keys()):
                flags.add("restrictedVolumes")
    psc = spec.get("securityContext")
    if psc is None:
        return False, False
    if type(psc) is not dict:
        raise _Unknown
    get = psc.get
    non_root = get("runAsNonRoot")
    if non_root is not None:
        if type(non_root) is not bool:
            raise _Unknown
        if not non_root:
            flags.add("runAsNonRoot")
    v = get("runAsUser")
    if v is not None:
        if type(v) is not int:
            raise _Unknown
        if v == 0:
            flags.add("runAsUser")
    seccomp = get("seccompProfile")
    seccomp_ok = seccomp is not None and _profile_ok(seccomp)
    if seccomp is not None and not seccomp_ok:
        flags.update(("seccompProfile_baseline", "seccompProfile_restricted"))
    v = get("appArmorProfile")
    if v is not None and not _profile_ok(v):
        flags.add("appArmorProfile")
    v = get("seLinuxOptions")
    if v is not None:
        _strings(v, _SELINUX_KEYS)
        flags.add("seLinuxOptions")
    v = get("windowsOptions")
    if v is not None:
        _windows(v)
        flags.add("windowsHostProcess")
    v = get("sysctls")
    if v is not None:
        if type(v) is not list:
            raise _Unknown
        for item in v:
            if type(item) is not dict:
                raise _Unknown
            _strings(item, ("name",))
        if v:
            flags.add("sysctls")
    return non_root is True, seccomp_ok


def may_violate(meta: Any, spec: Any) -> set[str] | None:
    """The PSA check IDs this pod may violate (a superset of those it does), or None: judge it fully."""
    if type(spec) is not dict or (meta is not None and type(meta) is not dict):
        return None
    flags: set[str] = set()
    try:
        pod_non_root, pod_seccomp = _pod(meta or {}, spec, flags)
        unset_non_root = unset_seccomp = False
        for kind in ("initContainers", "containers", "ephemeralContainers"):
            ctrs = spec.get(kind)
            if ctrs is None:
                continue
            if type(ctrs) is not list:
                return None
            for c in ctrs:
                no_non_root, no_seccomp = _container(c, flags)
                unset_non_root |= no_non_root
                unset_seccomp |= no_seccomp
    except _Unknown:
        return None
    if unset_non_root and not pod_non_root:
        flags.add("runAsNonRoot")
    if unset_seccomp and not pod_seccomp:
        flags.add("seccompProfile_restricted")
    return flags
