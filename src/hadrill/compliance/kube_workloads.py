"""The Kubernetes API half of the compliance suites: Pod Security Standards on live objects, workload resilience.

Everything is read with ONE paginated LIST per resource kind, across all namespaces (``limit``/``continue``,
bounded), never one call per object: pods, deployments, statefulsets, daemonsets, replicasets, jobs,
cronjobs, and for the resilience checks namespaces, poddisruptionbudgets, networkpolicies and
resourcequotas. The PSS verdicts are :mod:`hadrill.compliance.pss`'s (the same code as the manifest
scan); the resilience checks are pure functions over the listed objects (:class:`ClusterFacts`), so they
run the same on a fixture and on a live cluster.

The client is :func:`hadrill.clients.kube.kube_api`, the one every part of hadrill uses: the cluster's
``tls`` file paths and ``settings.api``, else ``settings.kubeconfig`` at ``settings.context``. Credentials
are only read from those files, never printed.

A finding's target is ``namespace/Kind/name`` (``namespace`` for the per-namespace checks), its observed
value what was seen (the replicas, the PDB's ``disruptionsAllowed``, the image...).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hadrill.clients.kube import KubeApi, kube_api
from hadrill.compliance.policy import CompliancePolicy, PssPolicy, WorkloadsPolicy
from hadrill.compliance.pss_scan import scan_objects
from hadrill.compliance.registry import CHECKS, Finding, Verdict, register
from hadrill.errors import TargetError
from hadrill.inventory import Cluster, Inventory

__all__ = [
    "LIST_PATHS",
    "ClusterFacts",
    "Workload",
    "check_pss_live",
    "check_workloads",
    "gather",
    "image_pinned",
    "kube_cluster",
    "label_selector_matches",
    "list_kind",
    "run_cluster_suite",
    "workload_findings",
]

SUITE = "workloads"
Json = dict[str, Any]

LIST_PATHS: dict[str, str] = {
    "Pod": "/api/v1/pods",
    "Deployment": "/apis/apps/v1/deployments",
    "StatefulSet": "/apis/apps/v1/statefulsets",
    "DaemonSet": "/apis/apps/v1/daemonsets",
    "ReplicaSet": "/apis/apps/v1/replicasets",
    "Job": "/apis/batch/v1/jobs",
    "CronJob": "/apis/batch/v1/cronjobs",
    "Namespace": "/api/v1/namespaces",
    "PodDisruptionBudget": "/apis/policy/v1/poddisruptionbudgets",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/networkpolicies",
    "ResourceQuota": "/api/v1/resourcequotas",
}
PSS_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
_REPLICATED = ("Deployment", "StatefulSet")  # replicas, PDB and spread apply to these
_SERVING = ("Deployment", "StatefulSet", "DaemonSet")  # probes apply to these
_TEMPLATE = {"CronJob": ("spec", "jobTemplate", "spec", "template"), "Pod": ()}
PAGE_LIMIT = 500


# -- the client -----------------------------------------------------------------------------------------
def kube_cluster(inventory: Inventory, name: str = "kubernetes") -> Cluster | None:
    """The cluster named ``name``, else the only one of type kubernetes; None when the inventory has none."""
    for c in inventory.clusters:
        if c.name == name:
            return c
    kube = [c for c in inventory.clusters if c.type == "kubernetes"]
    return kube[0] if len(kube) == 1 else None


def list_kind(api: KubeApi, kind: str, *, limit: int = PAGE_LIMIT, pages: int = 2000) -> list[Json]:
    """Every object of ``kind`` in all namespaces: one paginated LIST, items with their ``kind`` set."""
    return [{**i, "kind": kind} for i in api.list_all(LIST_PATHS[kind], limit=limit, pages=pages)]


# -- facts ----------------------------------------------------------------------------------------------
def _d(v: Any) -> Json:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


@dataclass(frozen=True)
class Workload:
    kind: str
    namespace: str
    name: str
    labels: dict[str, str]
    template_labels: dict[str, str]
    spec: Json  # the pod spec
    replicas: int | None
    owned: bool  # has a controller owner (a Deployment's ReplicaSet, a Job's Pod): judged through the owner

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"


@dataclass
class ClusterFacts:
    """What the LISTs returned, by kind (``objects[kind]``)."""

    objects: dict[str, list[Json]] = field(default_factory=dict)

    def of(self, kind: str) -> list[Json]:
        return self.objects.get(kind, [])

    def workloads(self, system: Iterable[str] = ()) -> Iterator[Workload]:
        skip = set(system)
        for kind in WORKLOAD_KINDS:
            for obj in self.of(kind):
                md = _d(obj.get("metadata"))
                ns = str(md.get("namespace") or "")
                if ns in skip:
                    continue
                holder: Any = obj
                for key in _TEMPLATE.get(kind, ("spec", "template")):
                    holder = _d(holder).get(key)
                holder = _d(holder)
                spec = _d(obj.get("spec")) if kind == "Pod" else _d(holder.get("spec"))
                tlabels = _d(md.get("labels")) if kind == "Pod" else _d(_d(holder.get("metadata")).get("labels"))
                owned = any(o.get("controller") for o in _l(md.get("ownerReferences")) if isinstance(o, dict))
                replicas = _d(obj.get("spec")).get("replicas") if kind in _REPLICATED else None
                yield Workload(
                    kind,
                    ns,
                    str(md.get("name") or "?"),
                    _d(md.get("labels")),
                    tlabels,
                    spec,
                    1 if kind in _REPLICATED and replicas is None else replicas,
                    owned,
                )

    def namespaces(self, system: Iterable[str] = ()) -> list[str]:
        skip = set(system)
        names = {str(_d(n.get("metadata")).get("name")) for n in self.of("Namespace")}
        return sorted(n for n in names if n not in skip)

    def in_namespace(self, kind: str, namespace: str) -> list[Json]:
        return [o for o in self.of(kind) if _d(o.get("metadata")).get("namespace") == namespace]


def gather(api: KubeApi, kinds: Iterable[str]) -> ClusterFacts:
    return ClusterFacts({k: list_kind(api, k) for k in kinds})


# -- helpers --------------------------------------------------------------------------------------------
def label_selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels, matchExpressions) against labels; an empty selector matches all."""
    sel = _d(selector)
    for k, v in _d(sel.get("matchLabels")).items():
        if labels.get(k) != v:
            return False
    for e in _l(sel.get("matchExpressions")):
        e = _d(e)
        key, op, values = str(e.get("key") or ""), e.get("operator"), _l(e.get("values"))
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def image_pinned(image: str) -> bool:
    """A digest, or a tag other than ``latest`` (``host:5000/repo`` has no tag: the port is not one)."""
    if "@" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    return last.rsplit(":", 1)[1] not in ("", "latest")


def _containers(spec: Json, init: bool = True) -> list[Json]:
    kinds = ("initContainers", "containers") if init else ("containers",)
    return [_d(c) for k in kinds for c in _l(spec.get(k))]


def _fail_or_pass(bad: dict[str, Any], ok_observed: Any, expected: Any, w: Workload, what: str) -> Verdict:
    if bad:
        return Verdict(
            False, bad, expected, f"{w.ref}: {what}: {bad}", object=f"{w.kind}/{w.name}", namespace=w.namespace
        )
    return Verdict(True, ok_observed, expected, f"{w.ref}: ok", object=f"{w.kind}/{w.name}", namespace=w.namespace)


# -- the checks -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Ctx:
    facts: ClusterFacts
    policy: WorkloadsPolicy
    workload: Workload | None = None
    namespace: str = ""


_REF = "platform rule (workload resilience; cf. kube-score, Polaris)"


def _probe_check(c: _Ctx, probe: str) -> Verdict | None:
    w = c.workload
    if w is None or w.kind not in _SERVING or w.owned:
        return None
    bad = {
        f"containers[{i}]({x.get('name')})": "missing"
        for i, x in enumerate(_containers(w.spec, False))
        if not x.get(probe)
    }
    return _fail_or_pass(bad, "set", f"{probe} on every container", w, f"no {probe}")


@register(
    "HD-WL-001",
    suite=SUITE,
    severity="medium",
    target_kind="pod",
    reference=_REF,
    title="Every container has a readiness probe",
    remediation="Add readinessProbe to every container so Services send traffic only to ready pods.",
)
def readiness_probe(c: _Ctx) -> Verdict | None:
    return _probe_check(c, "readinessProbe")


@register(
    "HD-WL-002",
    suite=SUITE,
    severity="medium",
    target_kind="pod",
    reference=_REF,
    title="Every container has a liveness probe",
    remediation="Add livenessProbe to every container so a hung process is restarted.",
)
def liveness_probe(c: _Ctx) -> Verdict | None:
    return _probe_check(c, "livenessProbe")


@register(
    "HD-WL-003",
    suite=SUITE,
    severity="low",
    target_kind="pod",
    reference=_REF,
    title="Slow starters have a startup probe",
    remediation="Replace a long initialDelaySeconds with a startupProbe (failureThreshold x periodSeconds "
    "covering the start-up time).",
)
def startup_probe(c: _Ctx) -> Verdict | None:
    w = c.workload
    if w is None or w.kind not in _SERVING or w.owned:
        return None
    limit = c.policy.slow_start_seconds
    bad = {}
    for i, x in enumerate(_containers(w.spec, False)):
        delay = max(
            (_d(x.get(p)).get("initialDelaySeconds") or 0 for p in ("livenessProbe", "readinessProbe")), default=0
        )
        if isinstance(delay, int) and delay > limit and not x.get("startupProbe"):
            bad[f"containers[{i}]({x.get('name')})"] = f"initialDelaySeconds {delay}, no startupProbe"
    return _fail_or_pass(
        bad,
        "no slow starter without startupProbe",
        f"startupProbe when initialDelaySeconds > {limit}",
        w,
        "slow start without startupProbe",
    )


@register(
    "HD-WL-004",
    suite=SUITE,
    severity="high",
    target_kind="pod",
    reference=_REF,
    title="Replicated workloads run at least the minimum replicas",
    remediation="Set spec.replicas to at least 2 (the policy's min_replicas) so losing a node keeps it up.",
)
def replicas(c: _Ctx) -> Verdict | None:
    w = c.workload
    if w is None or w.kind not in _REPLICATED or w.owned:
        return None
    n = w.replicas or 0
    ok = n >= c.policy.min_replicas
    return Verdict(
        ok,
        n,
        f">= {c.policy.min_replicas}",
        f"{w.ref}: replicas {n}",
        object=f"{w.kind}/{w.name}",
        namespace=w.namespace,
    )


@register(
    "HD-WL-005",
    suite=SUITE,
    severity="high",
    target_kind="pod",
    reference=_REF,
    title="A PodDisruptionBudget allows at least one eviction",
    remediation="Add a PodDisruptionBudget selecting the pods with maxUnavailable: 1 (or a minAvailable below "
    "the replicas); a PDB allowing 0 disruptions blocks node drains.",
)
def pdb(c: _Ctx) -> Verdict | None:
    w = c.workload
    if w is None or w.kind not in _REPLICATED or w.owned:
        return None
    obj = f"{w.kind}/{w.name}"
    pdbs = [
        p
        for p in c.facts.in_namespace("PodDisruptionBudget", w.namespace)
        if label_selector_matches(_d(p.get("spec")).get("selector"), w.template_labels)
    ]
    if not pdbs:
        return Verdict(
            False,
            "no PDB",
            "disruptionsAllowed >= 1",
            f"{w.ref}: no PodDisruptionBudget selects its pods",
            object=obj,
            namespace=w.namespace,
        )
    allowed = {str(_d(p.get("metadata")).get("name")): _d(p.get("status")).get("disruptionsAllowed", 0) for p in pdbs}
    ok = all((v or 0) >= 1 for v in allowed.values())
    return Verdict(
        ok,
        {f"PDB/{k}": v for k, v in allowed.items()},
        "disruptionsAllowed >= 1",
        f"{w.ref}: disruptionsAllowed {allowed}",
        object=obj,
        namespace=w.namespace,
    )


@register(
    "HD-WL-006",
    suite=SUITE,
    severity="medium",
    target_kind="pod",
    reference=_REF,
    title="Replicas are spread across nodes",
    remediation="Add a topologySpreadConstraint (or podAntiAffinity) on topologyKey kubernetes.io/hostname.",
)
def spread(c: _Ctx) -> Verdict | None:
    w = c.workload
    if w is None or w.kind not in _REPLICATED or w.owned:
        return None
    key = c.policy.topology_key
    how = [
        f"topologySpreadConstraints[{i}]"
        for i, t in enumerate(_l(w.spec.get("topologySpreadConstraints")))
        if _d(t).get("topologyKey") == key
    ]
    anti = _d(_d(w.spec.get("affinity")).get("podAntiAffinity"))
    for i, t in enumerate(_l(anti.get("requiredDuringSchedulingIgnoredDuringExecution"))):
        if _d(t).get("topologyKey") == key:
            how.append(f"podAntiAffinity.required[{i}]")
    for i, t in enumerate(_l(anti.get("preferredDuringSchedulingIgnoredDuringExecution"))):
        if _d(_d(t).get("podAffinityTerm")).get("topologyKey") == key:
            how.append(f"podAntiAffinity.preferred[{i}]")
    return Verdict(
        bool(how),
        how or "none",
        f"spread or anti-affinity on {key}",
        f"{w.ref}: {how or 'no spread'}",
        object=f"{w.kind}/{w.name}",
        namespace=w.namespace,
    )


@register(
    "HD-WL-007",
    suite=SUITE,
    severity="medium",
    target_kind="pod",
    reference=_REF,
    title="Containers set CPU and memory requests and limits",
    remediation="Set resources.requests and resources.limits (cpu and memory) on every container.",
)
def resources(c: _Ctx) -> Verdict | None:
    w = c.workload
    if w is None or w.owned:
        return None
    bad = {}
    for x in _containers(w.spec):
        res = _d(x.get("resources"))
        missing = [
            f"{kind}.{r}" for kind in ("requests", "limits") for r in ("cpu", "memory") if r not in _d(res.get(kind))
        ]
        if missing:
            bad[str(x.get("name"))] = missing
    return _fail_or_pass(bad, "set", "requests and limits for cpu and memory", w, "missing resources")


def _critical(w: Workload, p: WorkloadsPolicy) -> bool:
    if w.namespace in p.critical_namespaces:
        return True
    return any(w.labels.get(k) == v or w.template_labels.get(k) == v for k, v in p.critical_labels.items())


@register(
    "HD-WL-008",
    suite=SUITE,
    severity="medium",
    target_kind="pod",
    reference=_REF,
    title="Critical components have a priority class",
    remediation="Set spec.priorityClassName (a PriorityClass above the default) on critical workloads so "
    "they are scheduled and kept before others.",
)
def priority(c: _Ctx) -> Verdict | None:
    w = c.workload
    if w is None or w.owned or not _critical(w, c.policy):
        return None
    pc = w.spec.get("priorityClassName")
    return Verdict(
        bool(pc),
        pc or "none",
        "a priorityClassName",
        f"{w.ref}: priorityClassName {pc or 'unset'}",
        object=f"{w.kind}/{w.name}",
        namespace=w.namespace,
    )


@register(
    "HD-WL-009",
    suite=SUITE,
    severity="medium",
    target_kind="pod",
    reference=_REF,
    title="Every namespace has a NetworkPolicy",
    remediation="Add a NetworkPolicy to the namespace (a default deny, then what is allowed).",
)
def network_policy(c: _Ctx) -> Verdict | None:
    if not c.namespace:
        return None
    names = sorted(str(_d(p.get("metadata")).get("name")) for p in c.facts.in_namespace("NetworkPolicy", c.namespace))
    return Verdict(
        bool(names),
        names or "none",
        ">= 1 NetworkPolicy",
        f"namespace {c.namespace}: {names or 'none'}",
        object=f"Namespace/{c.namespace}",
        namespace=c.namespace,
    )


@register(
    "HD-WL-010",
    suite=SUITE,
    severity="medium",
    target_kind="pod",
    reference=_REF,
    title="Every namespace has a ResourceQuota",
    remediation="Add a ResourceQuota to the namespace (requests, limits, object counts).",
)
def resource_quota(c: _Ctx) -> Verdict | None:
    if not c.namespace:
        return None
    names = sorted(str(_d(p.get("metadata")).get("name")) for p in c.facts.in_namespace("ResourceQuota", c.namespace))
    return Verdict(
        bool(names),
        names or "none",
        ">= 1 ResourceQuota",
        f"namespace {c.namespace}: {names or 'none'}",
        object=f"Namespace/{c.namespace}",
        namespace=c.namespace,
    )


@register(
    "HD-WL-011",
    suite=SUITE,
    severity="high",
    target_kind="pod",
    reference=_REF,
    title="Images are pinned (no :latest, no untagged image)",
    remediation="Use an explicit version tag or a digest (image: repo/app:1.4.2 or repo/app@sha256:...).",
)
def images(c: _Ctx) -> Verdict | None:
    w = c.workload
    if w is None or w.owned:
        return None
    bad = {
        str(x.get("name")): x.get("image") for x in _containers(w.spec) if not image_pinned(str(x.get("image") or ""))
    }
    return _fail_or_pass(bad, "pinned", "a tag other than latest, or a digest", w, "unpinned image")


_WORKLOAD_CHECKS = (
    "HD-WL-001",
    "HD-WL-002",
    "HD-WL-003",
    "HD-WL-004",
    "HD-WL-005",
    "HD-WL-006",
    "HD-WL-007",
    "HD-WL-008",
    "HD-WL-011",
)
_NAMESPACE_CHECKS = ("HD-WL-009", "HD-WL-010")
WORKLOAD_LIST_KINDS = (*WORKLOAD_KINDS, "Namespace", "PodDisruptionBudget", "NetworkPolicy", "ResourceQuota")


def workload_findings(facts: ClusterFacts, policy: WorkloadsPolicy | None = None) -> list[Finding]:
    """Every resilience check over the listed objects (pass and fail findings), system namespaces excluded."""
    policy = policy or WorkloadsPolicy()
    out: list[Finding] = []
    for w in facts.workloads(policy.system_namespaces):
        ctx = _Ctx(facts, policy, workload=w)
        for cid in _WORKLOAD_CHECKS:
            chk = CHECKS[cid]
            out += chk.evaluate(w.ref, ctx)
    for ns in facts.namespaces(policy.system_namespaces):
        ctx = _Ctx(facts, policy, namespace=ns)
        for cid in _NAMESPACE_CHECKS:
            out += CHECKS[cid].evaluate(ns, ctx)
    return out


def check_workloads(api: KubeApi, policy: WorkloadsPolicy | None = None) -> list[Finding]:
    return workload_findings(gather(api, WORKLOAD_LIST_KINDS), policy)


def check_pss_live(api: KubeApi, policy: PssPolicy | None = None, facts: ClusterFacts | None = None) -> list[Finding]:
    """PSS on live pods and workload templates: one LIST per kind, scanned with the manifest scanner's code."""
    policy = policy or PssPolicy()
    facts = facts or gather(api, PSS_KINDS)
    skip = set(policy.exclude_namespaces)
    objs = (o for k in PSS_KINDS for o in facts.of(k) if _d(o.get("metadata")).get("namespace") not in skip)
    return scan_objects(objs, level=policy.level)


def run_cluster_suite(suite: str, inventory: Inventory, policy: CompliancePolicy) -> list[Finding]:
    """``pss`` or ``workloads`` against the inventory's Kubernetes cluster ([] when it has none)."""
    sub = getattr(policy, suite)
    cluster = kube_cluster(inventory, sub.cluster)
    if cluster is None:
        return []
    ids = [c.id for c in CHECKS.values() if c.suite == suite]
    try:
        api = kube_api(cluster, timeout=10.0)
        if suite == "pss":
            return check_pss_live(api, sub)
        return check_workloads(api, sub)
    except TargetError as e:
        return [CHECKS[i].error(cluster.name, str(e)) for i in sorted(ids)[:1]]
