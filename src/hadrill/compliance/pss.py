"""Pod Security Standards (baseline and restricted) as pure logic over pod specs, policy version 1.34.

Mirrors Kubernetes' pod-security-admission (``k8s.io/pod-security-admission/policy/check_*.go`` at
release-1.34), check by check, so hadrill's verdict on a pod equals the API server's:

- containers are visited as PSA does: initContainers, containers, then ephemeralContainers (native
  sidecars are ordinary init containers: no exemption);
- pod-level fallbacks exactly where PSA has them: ``runAsNonRoot`` and ``seccompProfile`` may be set
  once for the pod (restricted), while an explicit bad container value always fails; ``runAsUser=0``
  fails at either level;
- restricted replaces three baseline checks (``OverrideCheckIDs``): restrictedVolumes replaces
  hostPathVolumes, seccompProfile_restricted replaces seccompProfile_baseline, capabilities_restricted
  replaces capabilities_baseline;
- ``spec.os.name: windows`` pods are exempt from allowPrivilegeEscalation, restricted seccomp and
  restricted capabilities (policy 1.25+);
- the user-namespace relaxation (``hostUsers: false`` skips runAsNonRoot, runAsUser and procMount) is
  behind the alpha UserNamespacesPodSecurityStandards gate in 1.34, off by default: ``relax_userns``;
- 1.34 specifics: the host field of probes and lifecycle handlers is forbidden (baseline), image
  volumes are allowed (restricted), sysctls include tcp_rmem/tcp_wmem (1.32), SELinux allows
  container_engine_t (1.31), AppArmor is checked in fields and in the deprecated annotations.

Each control returns a :class:`Hit` (the offending field paths and values, and PSA's wording) or None.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any

__all__ = ["BASELINE", "CONTROLS", "RESTRICTED", "Control", "Hit", "containers_of", "evaluate_pod"]

Json = dict[str, Any]
Ctrs = list[tuple[str, Json, Json]]  # (field path, container, its securityContext)


@dataclass(frozen=True)
class Hit:
    """A violated control: offending field path → value, and a PSA-like explanation."""

    paths: dict[str, Any]
    detail: str


@dataclass(frozen=True)
class Control:
    psa_id: str
    level: str  # baseline | restricted
    fn: Callable[[Json, Json, str, str, Ctrs, bool], Hit | None]


CAPS_BASELINE = frozenset(
    [
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
        "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
    ]
)  # fmt: skip
SYSCTLS_SAFE = frozenset(
    [
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",  # 1.27
        "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",  # 1.29
        "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",  # 1.32
    ]
)  # fmt: skip
SELINUX_TYPES = frozenset(("", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"))
RESTRICTED_VOLUMES_ALLOWED = (
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim", "projected",
    "secret",
)  # fmt: skip
APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
_CONTAINER_KINDS = ("initContainers", "containers", "ephemeralContainers")


def _d(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _safe_sysctl(name: Any) -> bool:
    return isinstance(name, str) and name in SYSCTLS_SAFE


def _names(items: Ctrs) -> str:
    names = [f'"{c.get("name", "")}"' for _, c, _ in items]
    return f"{'container' if len(names) == 1 else 'containers'} {', '.join(names)}"


def _windows(spec: Json) -> bool:
    return _d(spec.get("os")).get("name") == "windows"


def _userns(spec: Json, relax: bool) -> bool:
    return relax and spec.get("hostUsers") is False


# -- baseline -------------------------------------------------------------------------------------------
def host_process(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    paths = {}
    if _d(_d(spec.get("securityContext")).get("windowsOptions")).get("hostProcess") is True:
        paths[f"{sp}.securityContext.windowsOptions.hostProcess"] = True
    for p, _, sc in ctrs:
        if _d(sc.get("windowsOptions")).get("hostProcess") is True:
            paths[f"{p}.securityContext.windowsOptions.hostProcess"] = True
    return (
        Hit(paths, "pod or containers must not set securityContext.windowsOptions.hostProcess=true") if paths else None
    )


def host_namespaces(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    paths = {f"{sp}.{f}": True for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f) is True}
    return Hit(paths, f"{', '.join(p.rsplit('.', 1)[1] + '=true' for p in paths)}") if paths else None


def privileged(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    bad = [x for x in ctrs if x[2].get("privileged") is True]
    if not bad:
        return None
    return Hit(
        {f"{p}.securityContext.privileged": True for p, _, _ in bad},
        f"{_names(bad)} must not set securityContext.privileged=true",
    )


def capabilities_baseline(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    paths = {}
    for p, _, sc in ctrs:
        added = _l(_d(sc.get("capabilities")).get("add"))
        extra = [c for c in added if not (isinstance(c, str) and c in CAPS_BASELINE)]
        if extra:
            paths[f"{p}.securityContext.capabilities.add"] = extra
    return Hit(paths, "non-default capabilities added") if paths else None


def host_path_volumes(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    paths = {f"{sp}.volumes[{i}].hostPath": _d(v).get("hostPath") for i, v in enumerate(_l(spec.get("volumes")))
             if _d(v).get("hostPath") is not None}  # fmt: skip
    return Hit(paths, "hostPath volumes") if paths else None


def host_ports(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    paths = {}
    for p, c, _ in ctrs:
        for i, port in enumerate(_l(c.get("ports"))):
            hp = _d(port).get("hostPort")
            if hp not in (None, 0):
                paths[f"{p}.ports[{i}].hostPort"] = hp
    return Hit(paths, "hostPort") if paths else None


def _apparmor_ok(profile: Json) -> bool:
    return profile.get("type") in ("RuntimeDefault", "Localhost")


def app_armor(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    paths: dict[str, Any] = {}
    pod_profile = _d(spec.get("securityContext")).get("appArmorProfile")
    if pod_profile is not None and not _apparmor_ok(_d(pod_profile)):
        paths[f"{sp}.securityContext.appArmorProfile.type"] = _d(pod_profile).get("type")
    for p, _, sc in ctrs:
        prof = sc.get("appArmorProfile")
        if prof is not None and not _apparmor_ok(_d(prof)):
            paths[f"{p}.securityContext.appArmorProfile.type"] = _d(prof).get("type")
    for k, v in _d(meta.get("annotations")).items():
        if str(k).startswith(APPARMOR_PREFIX):
            value = "" if v is None else str(v)
            if value and value != "runtime/default" and not value.startswith("localhost/"):
                paths[f"{mp}.annotations[{k}]"] = value
    return Hit(paths, "forbidden AppArmor profile") if paths else None


def _selinux_bad(opts: Json) -> list[str]:
    bad = []
    if str(opts.get("type") or "") not in SELINUX_TYPES:
        bad.append("type")
    bad += [f for f in ("user", "role") if opts.get(f)]
    return bad


def se_linux(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    paths = {}
    owners = [(f"{sp}.securityContext", _d(spec.get("securityContext")))] + [
        (f"{p}.securityContext", sc) for p, _, sc in ctrs
    ]
    for where, sc in owners:
        opts = sc.get("seLinuxOptions")
        if opts is not None:
            for f in _selinux_bad(_d(opts)):
                paths[f"{where}.seLinuxOptions.{f}"] = _d(opts).get(f)
    return Hit(paths, "forbidden securityContext.seLinuxOptions") if paths else None


def proc_mount(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    if _userns(spec, relax):
        return None
    paths = {f"{p}.securityContext.procMount": sc["procMount"] for p, _, sc in ctrs
             if sc.get("procMount") is not None and sc.get("procMount") != "Default"}  # fmt: skip
    return Hit(paths, "procMount must be Default") if paths else None


def _seccomp_ok(profile: Json) -> bool:
    return profile.get("type") in ("RuntimeDefault", "Localhost")


def seccomp_baseline(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    paths = {}
    pod = _d(spec.get("securityContext")).get("seccompProfile")
    if pod is not None and not _seccomp_ok(_d(pod)):
        paths[f"{sp}.securityContext.seccompProfile.type"] = _d(pod).get("type")
    for p, _, sc in ctrs:
        prof = sc.get("seccompProfile")
        if prof is not None and not _seccomp_ok(_d(prof)):
            paths[f"{p}.securityContext.seccompProfile.type"] = _d(prof).get("type")
    return Hit(paths, "seccompProfile.type must be RuntimeDefault or Localhost when set") if paths else None


def sysctls(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    items = _l(_d(spec.get("securityContext")).get("sysctls"))
    paths = {f"{sp}.securityContext.sysctls[{i}].name": _d(s).get("name") for i, s in enumerate(items)
             if not _safe_sysctl(_d(s).get("name"))}  # fmt: skip
    return Hit(paths, "forbidden sysctls") if paths else None


def probe_hosts(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    paths = {}
    for p, c, _ in ctrs:
        handlers = [(f"{p}.{k}", _d(c.get(k))) for k in ("livenessProbe", "readinessProbe", "startupProbe") if c.get(k)]
        life = _d(c.get("lifecycle"))
        handlers += [(f"{p}.lifecycle.{k}", _d(life.get(k))) for k in ("postStart", "preStop") if life.get(k)]
        for where, h in handlers:
            for kind in ("httpGet", "tcpSocket"):
                host = _d(h.get(kind)).get("host")
                if host:
                    paths[f"{where}.{kind}.host"] = host
    return Hit(paths, "probe or lifecycle host") if paths else None


# -- restricted -----------------------------------------------------------------------------------------
def restricted_volumes(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    paths = {}
    for i, v in enumerate(_l(spec.get("volumes"))):
        vol = _d(v)
        kinds = [k for k, val in vol.items() if k != "name" and val is not None]
        if not kinds:
            continue  # no source: the API server defaults it to emptyDir, which is allowed
        if not any(vol.get(k) is not None for k in RESTRICTED_VOLUMES_ALLOWED):
            paths[f"{sp}.volumes[{i}]"] = f"{vol.get('name', '')}: {', '.join(kinds)}"
    return Hit(paths, "restricted volume types") if paths else None


def allow_privilege_escalation(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    if _windows(spec):
        return None
    bad = [x for x in ctrs if x[2].get("allowPrivilegeEscalation") is not False]
    if not bad:
        return None
    paths = {f"{p}.securityContext.allowPrivilegeEscalation": sc.get("allowPrivilegeEscalation") for p, _, sc in bad}
    return Hit(paths, f"{_names(bad)} must set securityContext.allowPrivilegeEscalation=false")


def run_as_non_root(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    if _userns(spec, relax):
        return None
    pod = _d(spec.get("securityContext")).get("runAsNonRoot")
    paths: dict[str, Any] = {}
    if pod is not None and pod is not True:
        paths[f"{sp}.securityContext.runAsNonRoot"] = pod
    explicit = {f"{p}.securityContext.runAsNonRoot": sc["runAsNonRoot"] for p, _, sc in ctrs
                if sc.get("runAsNonRoot") is not None and sc.get("runAsNonRoot") is not True}  # fmt: skip
    if paths or explicit:
        return Hit({**paths, **explicit}, "pod or containers must not set securityContext.runAsNonRoot=false")
    implicit = [x for x in ctrs if x[2].get("runAsNonRoot") is None]
    if implicit and pod is not True:
        return Hit({f"{p}.securityContext.runAsNonRoot": None for p, _, _ in implicit},
                   f"pod or {_names(implicit)} must set securityContext.runAsNonRoot=true")  # fmt: skip
    return None


def _is_zero(v: Any) -> bool:
    return type(v) is int and v == 0


def run_as_user(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    if _userns(spec, relax):
        return None
    paths = {}
    if _is_zero(_d(spec.get("securityContext")).get("runAsUser")):
        paths[f"{sp}.securityContext.runAsUser"] = 0
    paths.update({f"{p}.securityContext.runAsUser": 0 for p, _, sc in ctrs if _is_zero(sc.get("runAsUser"))})
    return Hit(paths, "pod or containers must not set runAsUser=0") if paths else None


def seccomp_restricted(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    if _windows(spec):
        return None
    paths: dict[str, Any] = {}
    pod = _d(spec.get("securityContext")).get("seccompProfile")
    pod_ok = pod is not None and _seccomp_ok(_d(pod))
    if pod is not None and not pod_ok:
        paths[f"{sp}.securityContext.seccompProfile.type"] = _d(pod).get("type")
    for p, _, sc in ctrs:
        prof = sc.get("seccompProfile")
        if prof is not None and not _seccomp_ok(_d(prof)):
            paths[f"{p}.securityContext.seccompProfile.type"] = _d(prof).get("type")
    if paths:
        return Hit(paths, "pod or containers must not set securityContext.seccompProfile.type to a forbidden value")
    implicit = [x for x in ctrs if x[2].get("seccompProfile") is None]
    if implicit and not pod_ok:
        return Hit({f"{p}.securityContext.seccompProfile": None for p, _, _ in implicit},
                   f'pod or {_names(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" or '
                   '"Localhost"')  # fmt: skip
    return None


def capabilities_restricted(meta: Json, spec: Json, sp: str, mp: str, ctrs: Ctrs, relax: bool) -> Hit | None:
    if _windows(spec):
        return None
    paths: dict[str, Any] = {}
    for p, _, sc in ctrs:
        caps = sc.get("capabilities")
        if caps is None:
            paths[f"{p}.securityContext.capabilities.drop"] = None
            continue
        drop = _l(_d(caps).get("drop"))
        if "ALL" not in drop:
            paths[f"{p}.securityContext.capabilities.drop"] = list(drop)
        extra = [c for c in _l(_d(caps).get("add")) if c != "NET_BIND_SERVICE"]
        if extra:
            paths[f"{p}.securityContext.capabilities.add"] = extra
    return (
        Hit(paths, 'containers must set capabilities.drop=["ALL"] and add at most NET_BIND_SERVICE') if paths else None
    )


CONTROLS: dict[str, Control] = {
    c.psa_id: c
    for c in (
        Control("windowsHostProcess", "baseline", host_process),
        Control("hostNamespaces", "baseline", host_namespaces),
        Control("privileged", "baseline", privileged),
        Control("capabilities_baseline", "baseline", capabilities_baseline),
        Control("hostPathVolumes", "baseline", host_path_volumes),
        Control("hostPorts", "baseline", host_ports),
        Control("appArmorProfile", "baseline", app_armor),
        Control("seLinuxOptions", "baseline", se_linux),
        Control("procMount", "baseline", proc_mount),
        Control("seccompProfile_baseline", "baseline", seccomp_baseline),
        Control("sysctls", "baseline", sysctls),
        Control("hostProbesAndHostLifecycle", "baseline", probe_hosts),
        Control("restrictedVolumes", "restricted", restricted_volumes),
        Control("allowPrivilegeEscalation", "restricted", allow_privilege_escalation),
        Control("runAsNonRoot", "restricted", run_as_non_root),
        Control("runAsUser", "restricted", run_as_user),
        Control("seccompProfile_restricted", "restricted", seccomp_restricted),
        Control("capabilities_restricted", "restricted", capabilities_restricted),
    )
}
_OVERRIDDEN = {"hostPathVolumes", "seccompProfile_baseline", "capabilities_baseline"}
BASELINE: tuple[Control, ...] = tuple(c for c in CONTROLS.values() if c.level == "baseline")
RESTRICTED: tuple[Control, ...] = tuple(c for c in CONTROLS.values() if c.psa_id not in _OVERRIDDEN)


def containers_of(spec: Json, sp: str) -> Ctrs:
    """(field path, container, securityContext) in PSA's visiting order."""
    out = []
    for kind in _CONTAINER_KINDS:
        for i, c in enumerate(_l(spec.get(kind))):
            c = _d(c)
            out.append((f"{sp}.{kind}[{i}]", c, _d(c.get("securityContext"))))
    return out


def evaluate_pod(
    meta: Json, spec: Json, level: str = "restricted", *, spec_path: str = "spec", meta_path: str = "metadata",
    relax_userns: bool = False, only: Container[str] | None = None,
) -> list[tuple[Control, Hit]]:  # fmt: skip
    """Every control of ``level`` (baseline or restricted) that the pod violates, with field paths.

    ``only``: the PSA IDs worth running (:func:`hadrill.compliance.pss_screen.may_violate`); None: all.
    """
    controls = RESTRICTED if level == "restricted" else BASELINE if level == "baseline" else None
    if controls is None:
        raise ValueError(f"level {level!r}: expected baseline or restricted")
    if only is not None:
        controls = tuple(c for c in controls if c.psa_id in only)
        if not controls:
            return []
    meta, spec = _d(meta), _d(spec)
    ctrs = containers_of(spec, spec_path)
    out = []
    for control in controls:
        hit = control.fn(meta, spec, spec_path, meta_path, ctrs, relax_userns)
        if hit is not None:
            out.append((control, hit))
    return out
