"""Pod Security Standards over objects and manifests: find the pod template, evaluate, report findings.

Objects are dicts as the API returns them (a Pod, a Deployment, a ``PodList``/``DeploymentList``
whose items carry no ``kind``) or as manifest files hold them (``---``-separated documents, ``kind:
List``). Pod templates are read where Kubernetes keeps them: ``spec`` of a Pod, ``spec.template`` of
Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController and Job, ``spec.jobTemplate.spec
.template`` of a CronJob, ``template`` of a PodTemplate. One :class:`Finding` per violated control,
with the offending field paths (``spec.template.spec.containers[0].securityContext.privileged``).

>>> pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"hostNetwork": True, "containers": [{"name": "c"}]}}
>>> [f.check_id for f in scan_objects([pod], level="baseline")]
['HD-PSS-002']
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hadrill.compliance.pss import CONTROLS
from hadrill.compliance.pss_screen import may_violate
from hadrill.compliance.pss_shape import problems
from hadrill.compliance.pss_versions import LATEST, Version, evaluate_pod_at
from hadrill.compliance.registry import CHECKS, Finding, Severity, register
from hadrill.config import load_yaml_all, read_text

__all__ = ["NATIVE", "PSS_CHECK_IDS", "PodRef", "pod_refs", "scan_manifest_files", "scan_manifest_text", "scan_objects"]

# (psa_id, offending field paths, detail) per violated control, in evaluate_pod_at's order
Hits = tuple[tuple[str, dict[str, Any], str], ...]
# (template metadata, template spec, spec path, metadata path) -> the screen's set or the C evaluator's hits;
# None: a shape it does not judge (the shape check then runs, and the Python controls)
Judge = Callable[[Any, Any, str, str], Any]


# _pss_native.scan: (objects, restricted, relax_userns, file, suite, templates, rules, other) -> findings
_NativeScan = Callable[[Iterable[Any], bool, bool, str | None, str, Any, Any, Callable[[Any], list[Finding]]],
                       list[Finding]]  # fmt: skip


def _load_native() -> _NativeScan | None:
    """The C evaluator (policy 1.34), when it was built (``setup.py``: optional, needs a C compiler)."""
    try:
        from hadrill.compliance._pss_native import bind_finding, scan
    except ImportError:
        return None
    bind_finding(Finding, tuple(f.name for f in fields(Finding)))  # refuses a Finding it would fill wrong
    return scan


_native_scan = _load_native()
NATIVE: bool = _native_scan is not None  # scans at policy 1.34 run in C (the Python controls otherwise)

SUITE = "pss"
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "PodTemplate": ("template",),
}
_DOC = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"

# psa check id → (hadrill id, severity, title, remediation)
_RULES: dict[str, tuple[str, Severity, str, str]] = {
    "windowsHostProcess": ("HD-PSS-001", "critical", "HostProcess (Windows) pods are forbidden",
                           "Remove securityContext.windowsOptions.hostProcess (or set it false)."),
    "hostNamespaces": ("HD-PSS-002", "high", "Host namespaces are not shared",
                       "Remove hostNetwork, hostPID and hostIPC (or set them false)."),
    "privileged": ("HD-PSS-003", "critical", "Containers are not privileged",
                   "Remove securityContext.privileged: true; grant only the capabilities needed."),
    "capabilities_baseline": ("HD-PSS-004", "high", "Only default capabilities are added",
                              "Add only AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, "
                              "NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT."),
    "hostPathVolumes": ("HD-PSS-005", "high", "No hostPath volumes",
                        "Replace hostPath volumes with PersistentVolumeClaims, emptyDir or projected volumes."),
    "hostPorts": ("HD-PSS-006", "medium", "No host ports", "Remove ports[].hostPort; expose through a Service."),
    "appArmorProfile": ("HD-PSS-007", "medium", "AppArmor is not disabled",
                        "Use appArmorProfile.type RuntimeDefault or Localhost; never Unconfined."),
    "seLinuxOptions": ("HD-PSS-008", "medium", "No custom SELinux user, role or type",
                       "Remove seLinuxOptions.user/role; type only container_t, container_init_t, container_kvm_t "
                       "or container_engine_t."),
    "procMount": ("HD-PSS-009", "medium", "The default /proc mask is kept", "Remove securityContext.procMount "
                  "(or set it to Default)."),
    "seccompProfile_baseline": ("HD-PSS-010", "medium", "Seccomp is not disabled",
                                "Use seccompProfile.type RuntimeDefault or Localhost; never Unconfined."),
    "sysctls": ("HD-PSS-011", "medium", "Only safe sysctls are set",
                "Set only the safe, namespaced sysctls (kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, "
                "net.ipv4.tcp_* keepalive/fin/rmem/wmem, ...)."),
    "hostProbesAndHostLifecycle": ("HD-PSS-012", "medium", "Probes and lifecycle hooks do not target other hosts",
                                   "Remove the host field of httpGet/tcpSocket probes and lifecycle handlers."),
    "restrictedVolumes": ("HD-PSS-101", "medium", "Only core volume types are used",
                          "Use configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, "
                          "projected or secret volumes; put other storage behind a PersistentVolume."),
    "allowPrivilegeEscalation": ("HD-PSS-102", "high", "Privilege escalation is disallowed",
                                 "Set securityContext.allowPrivilegeEscalation: false on every container."),
    "runAsNonRoot": ("HD-PSS-103", "high", "Containers run as non-root",
                     "Set securityContext.runAsNonRoot: true on the pod (or every container)."),
    "runAsUser": ("HD-PSS-104", "high", "Containers do not run as UID 0",
                  "Remove runAsUser: 0; run as a non-zero UID."),
    "seccompProfile_restricted": ("HD-PSS-105", "medium", "A seccomp profile is set",
                                  "Set securityContext.seccompProfile.type: RuntimeDefault on the pod."),
    "capabilities_restricted": ("HD-PSS-106", "medium", "All capabilities are dropped",
                                'Set capabilities.drop: ["ALL"] on every container; add back at most '
                                "NET_BIND_SERVICE."),
}  # fmt: skip

# Registered for ids, titles and reports; evaluated by evaluate_pod (one pass per pod), not Check.evaluate.
for _psa, (_id, _sev, _title, _fix) in _RULES.items():
    _level = CONTROLS[_psa].level
    register(
        _id, suite=SUITE, title=_title, severity=_sev, remediation=_fix, target_kind="pod",
        reference=f"Pod Security Standards ({_level}, Kubernetes 1.34): {_psa}; {_DOC}",
    )(CONTROLS[_psa].fn)  # fmt: skip
PSS_CHECK_IDS = {psa: rule[0] for psa, rule in _RULES.items()}
_CHECK_OF_PSA = {psa: CHECKS[hd] for psa, hd in PSS_CHECK_IDS.items()}
_RULE_OF_PSA = {psa: (chk.id, chk.title, chk.severity) for psa, chk in _CHECK_OF_PSA.items()}
READABLE_ID = "HD-PSS-000"


@register(
    READABLE_ID,
    suite=SUITE,
    title="The pod template can be read",
    severity="critical",
    target_kind="pod",
    remediation="Fix the object's structure (a list written as a mapping, a value of the wrong type) so the "
    "Pod Security controls can judge it; the API server would reject it.",
    reference=f"Pod Security Standards: a pod that cannot be read cannot be judged compliant; {_DOC}",
)
def _readable(facts: Any) -> None:
    """Evaluated by scan_objects (an error finding per unreadable pod), not through Check.evaluate."""


@dataclass(frozen=True)
class PodRef:
    """Where a pod template lives: the object that holds it and the paths of its metadata and spec."""

    kind: str
    name: str
    namespace: str | None
    meta: dict[str, Any]
    spec: dict[str, Any]
    spec_path: str
    meta_path: str
    problems: tuple[str, ...] = ()  # what keeps the controls from reading it: judged an error
    may_violate: set[str] | None = field(default=None, compare=False)  # the screen's answer, when it judged

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _get(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


# kind -> (path to the template, its path text, spec path, metadata path), worked out once
_TEMPLATES: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    kind: (path, ".".join(path), f"{'.'.join(path)}.spec" if path else "spec",
           f"{'.'.join(path)}.metadata" if path else "metadata")
    for kind, path in _TEMPLATE_PATHS.items()
}  # fmt: skip
# (kind, object metadata, template metadata, template spec, spec path, metadata path, problems, judged)
_Template = tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], str, str, tuple[str, ...], Any]


def _screen(meta: Any, spec: Any, spec_path: str, meta_path: str) -> set[str] | None:
    return may_violate(meta, spec)


def _templates(objects: Iterable[Any], judge: Judge = _screen) -> Iterator[_Template]:
    """pod_refs' walk as plain tuples: scan_objects makes no PodRef per pod (they cost as much as a screen).

    ``judge``'s answer (the screen's flags, or the C evaluator's hits) is the last item; None: the shape
    check ran, and the pod's problems are the one before it."""
    for obj in objects:
        if type(obj) is not dict and not isinstance(obj, dict):
            continue
        kind = obj.get("kind")
        kind = kind if type(kind) is str else str(kind or "")
        row = _TEMPLATES.get(kind)
        if row is None:
            if kind == "List" and not isinstance(obj.get("items") or [], list):
                items_type = type(obj["items"]).__name__
                yield (kind, _dict(obj.get("metadata")), {}, {}, "spec", "metadata",
                       (f"items is not a list (got {items_type})",), None)  # fmt: skip
            elif kind == "List" or (kind.endswith("List") and isinstance(obj.get("items"), list)):
                item_kind = kind[:-4] if kind != "List" else ""
                yield from _templates(
                    ({**i, "kind": i.get("kind") or item_kind} for i in obj.get("items") or [] if isinstance(i, dict)),
                    judge,
                )
            continue
        path, prefix, spec_path, meta_path = row
        holder = _get(obj, path) if path else obj
        if type(holder) is dict or isinstance(holder, dict):
            meta, spec = holder.get("metadata"), holder.get("spec")
            # one pass for both: a pod the screen judges is well formed (the screen is stricter than
            # the shape check), so the shape check only runs on the pods it gives up on
            screened = judge(meta, spec, spec_path, meta_path)
            found = () if screened is not None else tuple(problems(spec, spec_path, meta, meta_path))
            meta = meta if type(meta) is dict else _dict(meta)
            spec = spec if type(spec) is dict else _dict(spec)
        else:
            screened, meta, spec = None, {}, {}
            found = (f"{prefix} is missing" if holder is None else f"{prefix} is not a mapping",)
        md = obj.get("metadata")
        yield kind, md if type(md) is dict else _dict(md), meta, spec, spec_path, meta_path, found, screened


def pod_refs(objects: Iterable[Any]) -> Iterator[PodRef]:
    """Every pod template in the objects (lists are unfolded; objects without one are skipped)."""
    for kind, md, meta, spec, spec_path, meta_path, found, screened in _templates(objects):
        namespace = md.get("namespace")
        yield PodRef(
            kind=kind,
            name=str(md.get("name") or md.get("generateName") or "?"),
            namespace=str(namespace) if namespace else None,
            meta=meta,
            spec=spec,
            spec_path=spec_path,
            meta_path=meta_path,
            problems=found,
            may_violate=screened,
        )


@contextmanager
def _acyclic() -> Iterator[None]:
    """The cycle collector paused while a scan allocates (findings, paths, messages: none in a cycle).

    With the scanned objects' dicts alive, the collector's passes, one per 700 new containers, were about
    a fifth of a scan's CPU. Reference counting still frees everything; the collector runs again (if it
    did before) when the scan ends, whatever ends it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def scan_objects(
    objects: Iterable[Any], *, level: str = "restricted", file: str | None = None, relax_userns: bool = False,
    version: Version = LATEST,
) -> list[Finding]:  # fmt: skip
    """One fail finding per violated control per pod template (compliant pods give none), at policy ``version``."""
    with _acyclic():
        return _scan(objects, level, file, relax_userns, version)


def _scan(
    objects: Iterable[Any], level: str, file: str | None, relax_userns: bool, version: Version, native: bool = NATIVE
) -> list[Finding]:
    if native and version == LATEST and _native_scan is not None and level in ("baseline", "restricted"):
        return _scan_native(objects, level, file, relax_userns, _native_scan)
    return _scan_templates(objects, level, file, relax_userns, version, _screen, False)


def _scan_native(objects: Iterable[Any], level: str, file: str | None, relax: bool, scan: _NativeScan) -> list[Finding]:
    """The C scan (``_pss_findings.c``): each object that holds its template where its kind says (most do)
    is judged and its findings made in C; lists, odd shapes and the pods the C screen gives up on come
    back here one object at a time (``_scan_templates``), so the findings keep the objects' order."""
    from hadrill.compliance._pss_native import evaluate

    restricted = level == "restricted"

    def judge(meta: Any, spec: Any, spec_path: str, meta_path: str) -> Hits | None:
        return evaluate(restricted, relax, meta, spec, spec_path, meta_path)

    def other(obj: Any) -> list[Finding]:
        return _scan_templates((obj,), level, file, relax, LATEST, judge, True)

    return scan(objects, restricted, relax, file, SUITE, _TEMPLATES, _RULE_OF_PSA, other)


def _scan_templates(
    objects: Iterable[Any], level: str, file: str | None, relax_userns: bool, version: Version, judge: Judge,
    native: bool,
) -> list[Finding]:  # fmt: skip
    """Every template through _templates; ``native``: ``judge`` is the C evaluator (its hits, or None)."""
    findings: list[Finding] = []
    screen = version == LATEST  # the screen (and the C evaluator) know policy 1.34 only
    for kind, md, meta, spec, spec_path, meta_path, found, judged in _templates(objects, judge):
        if not found:
            if native and judged is not None:  # the C evaluator's hits: () when compliant
                if not judged:
                    continue
                hits: Hits = judged
            else:  # the screen's answer; None: an odd shape, run every control
                if screen and judged is not None and not judged:
                    continue  # compliant: the common case costs no names, refs or allocation
                pairs = evaluate_pod_at(
                    meta, spec, level, version, spec_path=spec_path, meta_path=meta_path, relax_userns=relax_userns,
                    only=judged if screen else None,
                )  # fmt: skip
                if not pairs:
                    continue
                hits = tuple((c.psa_id, hit.paths, hit.detail) for c, hit in pairs)
            findings += _pod_findings(kind, md, hits, file)
            continue
        name = str(md.get("name") or md.get("generateName") or "?")
        ns = md.get("namespace")
        namespace = str(ns) if ns else None
        ref = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
        more = len(found) - 3
        shown = "; ".join(found[:3]) + (f" and {more} more" if more > 0 else "")
        error = CHECKS[READABLE_ID].error(ref, f"{ref}: cannot be judged: {shown}", object=f"{kind}/{name}")
        findings.append(error.with_(namespace=namespace, file=file, observed=list(found)))
    return findings


def _pod_findings(kind: str, md: dict[str, Any], hits: Hits, file: str | None) -> list[Finding]:
    """One fail finding per hit of one pod template (``md``: the metadata of the object that holds it)."""
    name = str(md.get("name") or md.get("generateName") or "?")
    ns = md.get("namespace")
    namespace = str(ns) if ns else None
    ref = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
    obj = f"{kind}/{name}"
    return _fails(ref, obj, namespace, hits, file)


def _fails(ref: str, obj: str, namespace: str | None, hits: Hits, file: str | None) -> list[Finding]:
    """One fail finding per hit (``_pss_findings.c`` builds the same in C)."""
    out = []
    for psa, paths, detail in hits:
        check_id, title, severity = _RULE_OF_PSA[psa]
        shown = ", ".join(paths) if len(paths) <= 4 else ", ".join(list(paths)[:4]) + f" and {len(paths) - 4} more"
        message = f"{ref}: {detail} (at {shown})"
        out.append(Finding(check_id, ref, "fail", paths, title, message, obj, namespace, severity, SUITE, file))
    return out


def scan_manifest_text(
    text: str, source: str = "manifest.yaml", *, level: str = "restricted", version: Version = LATEST
) -> list[Finding]:
    """Scan ``---``-separated YAML (or JSON) documents; a YAML error names the file and the line."""
    return scan_objects(load_yaml_all(text, source), level=level, file=source, version=version)


def scan_manifest_files(
    paths: Iterable[Path], *, level: str = "restricted", version: Version = LATEST
) -> list[Finding]:
    findings = []
    for path in paths:
        findings += scan_manifest_text(read_text(path, "manifest"), str(path), level=level, version=version)
    return findings
