"""Pre-upgrade validation: go or no-go for a Kubernetes upgrade to a target version, with reasons.

Checks (each a :class:`Check`: ``ok``, ``blocking``, a sentence, details):

- **deprecated APIs**: the package's table (``data/deprecated_apis.yaml``, from the Kubernetes
  Deprecated API Migration Guide) against the API versions the cluster serves (discovery), the
  versions CustomResourceDefinitions serve, and the versions live objects were written with (the
  ``kubectl.kubernetes.io/last-applied-configuration`` annotation and ``metadata.managedFields``).
  A use of an API the target version removes blocks; a use of one it only deprecates warns.
- **Helm releases**: the manifests of deployed Helm v3 releases (their ``helm.sh/release.v1`` Secrets,
  decoded) against the same table: what ``helm upgrade`` would re-apply; and the API server's
  ``apiserver_requested_deprecated_apis`` counter when /metrics is readable (:mod:`hadrill.helm_releases`).
- **drain simulation**: every PodDisruptionBudget allows at least one eviction
  (``status.disruptionsAllowed``, else computed from minAvailable / maxUnavailable against the current
  healthy and expected pods, as the disruption controller does), and each node can be drained: every
  PDB covering one of its pods allows an eviction, and another schedulable Ready node exists.
- **nodes Ready**: every Node's Ready condition is True.
- **etcd**: every member answers with one leader, and the newest snapshot in the backup directory of
  one member's node is younger than the allowed age and readable (:mod:`hadrill.compliance.etcd_backup`).
- **certificates**: the inventory's client certificates and the serving certificates of the API
  servers and etcd members are valid beyond the upgrade window.

Exit codes of ``hadrill preflight``: 0 go, 1 no-go, 2 bad input, 3 the cluster could not be reached.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import socket
import ssl
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from hadrill.clients.etcd import EtcdClient
from hadrill.clients.kube import KubeApi, KubeApiError, kube_api
from hadrill.errors import ConfigError, TargetError
from hadrill.helm_releases import helm_release_checks
from hadrill.inventory import Cluster, Inventory, TLSFiles

__all__ = [
    "Check",
    "DeprecatedApi",
    "PreflightResult",
    "allowed_disruptions",
    "api_findings",
    "deprecated_apis",
    "label_selector_matches",
    "lookup",
    "parse_version",
    "run_preflight",
]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$")


def parse_version(text: str) -> tuple[int, int]:
    """``1.35``, ``v1.35.2``, ``1.34.4-kwok`` -> (1, 35); ValueError otherwise."""
    m = _VERSION.match(str(text).strip())
    if not m:
        raise ValueError(f"not a Kubernetes version: {text!r} (expected MAJOR.MINOR such as 1.35)")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class DeprecatedApi:
    api_version: str
    kind: str
    deprecated_in: tuple[int, int]
    removed_in: tuple[int, int] | None
    replacement: str

    def status_at(self, target: tuple[int, int]) -> str | None:
        """``removed`` or ``deprecated`` at the target version, None when neither yet."""
        if self.removed_in is not None and target >= self.removed_in:
            return "removed"
        if target >= self.deprecated_in:
            return "deprecated"
        return None

    def describe(self) -> str:
        removed = f"removed in {self.removed_in[0]}.{self.removed_in[1]}" if self.removed_in else "no removal set"
        dep = f"{self.deprecated_in[0]}.{self.deprecated_in[1]}"
        return f"{self.api_version} {self.kind} (deprecated in {dep}, {removed}; use {self.replacement})"


@cache
def deprecated_apis() -> tuple[DeprecatedApi, ...]:
    """The package's table (``hadrill/data/deprecated_apis.yaml``)."""
    text = resources.files("hadrill").joinpath("data/deprecated_apis.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    out = []
    for i, e in enumerate(data["apis"]):
        try:
            out.append(
                DeprecatedApi(
                    api_version=str(e["api_version"]), kind=str(e["kind"]),
                    deprecated_in=parse_version(str(e["deprecated_in"])),
                    removed_in=parse_version(str(e["removed_in"])) if e.get("removed_in") else None,
                    replacement=str(e.get("replacement", "")),
                )
            )  # fmt: skip
        except (KeyError, ValueError) as err:
            raise ConfigError("hadrill/data/deprecated_apis.yaml", f"apis[{i}]", "api_version, kind, versions") from err
    return tuple(out)


def lookup(api_version: str, kind: str, target: tuple[int, int]) -> tuple[DeprecatedApi, str] | None:
    """The table's entry for (apiVersion, kind) and its status at ``target``, None when fine there."""
    for e in deprecated_apis():
        if e.api_version == api_version and e.kind == kind:
            status = e.status_at(target)
            return (e, status) if status else None
    return None


def group_version_status(api_version: str, target: tuple[int, int]) -> list[tuple[DeprecatedApi, str]]:
    """Every table entry of a group/version (any kind) with its status at ``target``."""
    out = []
    for e in deprecated_apis():
        status = e.status_at(target) if e.api_version == api_version else None
        if status:
            out.append((e, status))
    return out


# -- checks --------------------------------------------------------------------------------------------
@dataclass
class Check:
    name: str
    ok: bool
    blocking: bool
    summary: str
    details: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PreflightResult:
    target_version: str
    current_version: str
    checked_at: float
    checks: list[Check]

    @property
    def go(self) -> bool:
        return not any(c.blocking and not c.ok for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.summary}" for c in self.checks if c.blocking and not c.ok]

    @property
    def warnings(self) -> list[str]:
        return [f"{c.name}: {c.summary}" for c in self.checks if not c.blocking and not c.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "hadrill/preflight/v1",
            "target_version": self.target_version,
            "current_version": self.current_version,
            "checked_at": self.checked_at,
            "decision": "go" if self.go else "no-go",
            "reasons": self.reasons,
            "warnings": self.warnings,
            "checks": [c.to_dict() for c in self.checks],
        }


def _object_name(obj: dict[str, Any], kind: str) -> str:
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{kind} {ns}/{md.get('name')}" if ns else f"{kind} {md.get('name')}"


def api_findings(obj: dict[str, Any], kind: str, target: tuple[int, int]) -> list[tuple[str, DeprecatedApi, str]]:
    """(where, entry, status) for each trace in ``obj`` of an API version the target deprecates or removes:
    its last-applied-configuration annotation and its managedFields entries."""
    md = obj.get("metadata") or {}
    found: list[tuple[str, DeprecatedApi, str]] = []
    raw = (md.get("annotations") or {}).get(LAST_APPLIED)
    if raw:
        try:
            applied = json.loads(raw)
        except (json.JSONDecodeError, TypeError):
            applied = None
        if isinstance(applied, dict):
            hit = lookup(str(applied.get("apiVersion", "")), str(applied.get("kind") or kind), target)
            if hit:
                found.append(("last-applied-configuration", *hit))
    for mf in md.get("managedFields") or []:
        if not isinstance(mf, dict):
            continue
        hit = lookup(str(mf.get("apiVersion", "")), kind, target)
        if hit:
            found.append((f"managedFields[{mf.get('manager', '?')}]", *hit))
    return found


# -- PDB arithmetic ------------------------------------------------------------------------------------
def _scaled(value: int | str, total: int) -> int:
    """An IntOrString against ``total``: ints as they are, percentages rounded up (as the controller)."""
    if isinstance(value, bool):
        raise ValueError(f"not an int or percentage: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        return math.ceil(int(text[:-1]) * total / 100)
    return int(text)


def allowed_disruptions(spec: dict[str, Any], status: dict[str, Any] | None = None) -> int | None:
    """Evictions a PDB allows now: ``status.disruptionsAllowed`` when set, else computed from
    minAvailable / maxUnavailable against ``status.currentHealthy`` and ``status.expectedPods``;
    None when it cannot be told (no status)."""
    status = status or {}
    if isinstance(status.get("disruptionsAllowed"), int) and "observedGeneration" in status:
        return int(status["disruptionsAllowed"])
    if "currentHealthy" not in status or "expectedPods" not in status:
        return None
    healthy, expected = int(status["currentHealthy"]), int(status["expectedPods"])
    if spec.get("minAvailable") is not None:
        desired = _scaled(spec["minAvailable"], expected)
    elif spec.get("maxUnavailable") is not None:
        desired = expected - _scaled(spec["maxUnavailable"], expected)
    else:
        desired = expected  # neither set: the API defaults minAvailable to 1, which the caller's status holds
    return max(0, healthy - desired)


def label_selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels, matchExpressions) against labels; an empty selector matches all."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), set(expr.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _ready(node: dict[str, Any]) -> bool:
    conds = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def drain_checks(nodes: list[dict[str, Any]], pods: list[dict[str, Any]], pdbs: list[dict[str, Any]]) -> list[Check]:
    """The PDB check and the per-node drain check (pure: from listed objects)."""
    blocking: list[str] = []
    allowed: dict[tuple[str, str], int | None] = {}
    for pdb in pdbs:
        md, spec, st = pdb.get("metadata") or {}, pdb.get("spec") or {}, pdb.get("status") or {}
        key = (str(md.get("namespace")), str(md.get("name")))
        n = allowed_disruptions(spec, st)
        allowed[key] = n
        expected = int(st.get("expectedPods") or 0)
        if n is not None and n < 1 and expected > 0:
            rule = "minAvailable" if spec.get("minAvailable") is not None else "maxUnavailable"
            blocking.append(
                f"PodDisruptionBudget {key[0]}/{key[1]} allows {n} evictions "
                f"({rule} {spec.get(rule)}, {st.get('currentHealthy')}/{expected} healthy)"
            )
    checks = [
        Check(
            "drain: PodDisruptionBudgets", not blocking, True,
            f"{len(blocking)} of {len(pdbs)} PodDisruptionBudgets allow no eviction" if blocking
            else f"every PodDisruptionBudget ({len(pdbs)}) allows at least one eviction",
            blocking,
        )
    ]  # fmt: skip
    schedulable = {
        str(n["metadata"]["name"]) for n in nodes if _ready(n) and not (n.get("spec") or {}).get("unschedulable")
    }
    problems: list[str] = []
    for node in nodes:
        name = str(node["metadata"]["name"])
        on_node = [
            p for p in pods
            if (p.get("spec") or {}).get("nodeName") == name
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not any(o.get("kind") == "DaemonSet" for o in (p.get("metadata") or {}).get("ownerReferences") or [])
        ]  # fmt: skip
        if on_node and not schedulable - {name}:
            problems.append(f"{name}: no other schedulable Ready node for its {len(on_node)} pods")
        for pdb in pdbs:
            md = pdb.get("metadata") or {}
            key = (str(md.get("namespace")), str(md.get("name")))
            selector = (pdb.get("spec") or {}).get("selector")
            covered = [
                p for p in on_node
                if (p.get("metadata") or {}).get("namespace") == key[0]
                and label_selector_matches(selector, (p.get("metadata") or {}).get("labels") or {})
            ]  # fmt: skip
            n = allowed.get(key)
            if covered and n is not None and n < 1:
                problems.append(
                    f"{name}: {len(covered)} pod(s) covered by PodDisruptionBudget {key[0]}/{key[1]} "
                    "that allows no eviction"
                )
    checks.append(
        Check(
            "drain: nodes", not problems, True,
            f"{len({p.split(':')[0] for p in problems})} of {len(nodes)} nodes cannot be drained" if problems
            else f"each of the {len(nodes)} nodes can be drained",
            problems,
        )
    )  # fmt: skip
    return checks


# -- live checks ---------------------------------------------------------------------------------------
# Secrets were only ever v1, and scanning them would need a role that reads every secret of the cluster.
_SKIP_SCAN = {"secrets", "events", "events.k8s.io/events", "leases", "endpointslices", "endpoints", "componentstatuses"}


def _discovery(api: KubeApi) -> list[tuple[str, str, dict[str, Any]]]:
    """(groupVersion, preferredVersion-or-"", resource) for every served resource."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    core = api.get("/api/v1")
    out += [("v1", "v1", r) for r in core.get("resources", [])]
    groups = api.get("/apis").get("groups", [])
    for g in groups:
        preferred = (g.get("preferredVersion") or {}).get("groupVersion", "")
        for v in g.get("versions", []):
            gv = v["groupVersion"]
            try:
                res = api.get(f"/apis/{gv}").get("resources", [])
            except KubeApiError:
                continue
            out += [(gv, preferred, r) for r in res]
    return out


def deprecated_api_check(api: KubeApi, target: tuple[int, int], *, max_objects: int = 20000) -> list[Check]:
    """Served group/versions, CRD versions and live objects against the table."""
    served = _discovery(api)
    notes: list[str] = []
    blocking: list[str] = []
    warn: list[str] = []
    for gv, _, r in served:
        if "/" in str(r.get("name", "")):
            continue
        hit = lookup(gv, str(r.get("kind", "")), target)
        if hit:
            notes.append(f"served now: {gv} {r.get('kind')} ({hit[1]} at the target)")
    try:
        crds = api.list_all("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    except KubeApiError as e:
        if e.status == 403:
            blocking.append("not scanned: CustomResourceDefinitions: RBAC forbids list (deploy/rbac/preflight.yaml)")
        crds = []
    for crd in crds:
        spec = crd.get("spec") or {}
        kind = str((spec.get("names") or {}).get("kind", ""))
        for v in spec.get("versions") or []:
            gv = f"{spec.get('group')}/{v.get('name')}"
            hit = lookup(gv, kind, target) if v.get("served") else None
            if hit:
                line = f"CustomResourceDefinition {crd['metadata']['name']} serves {gv} {kind}: {hit[0].describe()}"
                (blocking if hit[1] == "removed" else warn).append(line)
            if v.get("served") and v.get("deprecated"):
                warn.append(f"CustomResourceDefinition {crd['metadata']['name']}: version {gv} is marked deprecated")
    scanned = 0
    preferred = [(gv, r) for gv, pref, r in served if gv == pref and "/" not in str(r.get("name", ""))]
    for gv, r in preferred:
        if "list" not in (r.get("verbs") or []) or r.get("name") in _SKIP_SCAN or scanned >= max_objects:
            continue
        prefix = "/api/v1" if gv == "v1" else f"/apis/{gv}"
        try:
            items = api.list_all(f"{prefix}/{r['name']}", pages=40)
        except KubeApiError as e:
            if e.status == 403:  # not scanned is not "no use": the check fails and says which list RBAC forbids
                blocking.append(f"not scanned: {gv} {r['name']}: RBAC forbids list (see deploy/rbac/preflight.yaml)")
            continue
        for obj in items:
            scanned += 1
            for where, entry, status in api_findings(obj, str(r.get("kind", "")), target):
                line = f"{_object_name(obj, str(r.get('kind')))}: {where} uses {entry.describe()}"
                (blocking if status == "removed" else warn).append(line)
    t = f"{target[0]}.{target[1]}"
    checks = [
        Check(
            "deprecated APIs: removed", not blocking, True,
            f"{len(blocking)} uses of APIs {t} no longer serves" if blocking
            else f"no use of an API {t} removes ({scanned} objects, {len(crds)} CRDs scanned)",
            blocking + notes,
        ),
        Check(
            "deprecated APIs: deprecated", not warn, False,
            f"{len(warn)} uses of APIs deprecated at {t}" if warn else f"no use of an API deprecated at {t}", warn,
        ),
    ]  # fmt: skip
    return checks


def nodes_ready_check(nodes: list[dict[str, Any]]) -> Check:
    bad = [str(n["metadata"]["name"]) for n in nodes if not _ready(n)]
    if not nodes:
        return Check("nodes Ready", False, True, "no Node objects", [])
    return Check(
        "nodes Ready", not bad, True,
        f"{len(bad)} of {len(nodes)} nodes not Ready" if bad else f"all {len(nodes)} nodes Ready", bad,
    )  # fmt: skip


def etcd_checks(inventory: Inventory, cluster: str, backup_dir: str, max_age_hours: float) -> list[Check]:
    """Every member answers with one leader; the newest snapshot on one member's node is fresh and readable."""
    try:
        c = inventory.cluster(cluster)
    except (ConfigError, KeyError, LookupError) as e:
        return [Check("etcd healthy", False, True, f"no etcd cluster {cluster!r} in the inventory: {e}")]
    details, leaders = [], set()
    for m in c.members:
        try:
            st = EtcdClient(m.endpoints["client"], timeout=3.0, tls=c.tls).status()
            leaders.add(st.leader)
            details.append(f"{m.name}: etcd {st.version}, leader {st.leader}")
        except TargetError as e:
            details.append(f"{m.name}: unreachable ({str(e)[:120]})")
            leaders.add("0")
    healthy = len(leaders) == 1 and not leaders & {"", "0"}
    checks = [
        Check(
            "etcd healthy", healthy, True,
            f"{len(c.members)} members, one leader" if healthy else "not every member answers with one leader",
            details,
        )
    ]  # fmt: skip
    from hadrill.compliance.etcd_backup import check_etcd_backup
    from hadrill.compliance.policy import EtcdBackupPolicy

    policy = EtcdBackupPolicy(dir=backup_dir, max_age_hours=max_age_hours)
    seen: list[str] = []
    fresh = False
    for m in c.members:
        url = inventory.node(m.node).url
        findings = check_etcd_backup(url, policy, name=m.node)
        seen += [f"{m.node}: {f.message}" for f in findings]
        if findings and all(f.status == "pass" for f in findings):
            fresh = True
            break
    checks.append(
        Check(
            "etcd backup fresh", fresh, True,
            f"a readable snapshot younger than {max_age_hours:g} h in {backup_dir}" if fresh
            else f"no readable snapshot younger than {max_age_hours:g} h in {backup_dir} on any member",
            seen,
        )
    )  # fmt: skip
    return checks


def _peer_cert(url: str, tls: TLSFiles | None, timeout: float = 5.0) -> x509.Certificate:
    host, _, port = url.split("//", 1)[-1].split("/", 1)[0].rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # we read the certificate's dates, not trust it
    if tls is not None:
        ctx.load_cert_chain(tls.cert, tls.key)
    with socket.create_connection((host, int(port)), timeout=timeout) as raw, ctx.wrap_socket(raw) as s:
        der = s.getpeercert(binary_form=True)
    if not der:
        raise TargetError(f"{url}: no certificate")
    return x509.load_der_x509_certificate(der)


def certificate_check(inventory: Inventory, clusters: list[Cluster], window_days: float) -> Check:
    """Client certificates of the inventory and serving certificates of API servers and etcd members."""
    now = dt.datetime.now(dt.UTC)
    limit = now + dt.timedelta(days=window_days)
    short, seen = [], []

    def judge(label: str, cert: x509.Certificate) -> None:
        after = cert.not_valid_after_utc
        days = (after - now).total_seconds() / 86400
        seen.append(f"{label}: {days:.0f} days left")
        if after < limit:
            short.append(f"{label}: expires {after:%Y-%m-%d} ({days:.1f} days left, window {window_days:g} days)")

    for c in clusters:
        if c.tls is not None:
            for what, path in (("ca", c.tls.ca), ("client cert", c.tls.cert)):
                if path:
                    try:
                        judge(f"{c.name} {what} {path}", x509.load_pem_x509_certificate(Path(path).read_bytes()))
                    except (OSError, ValueError) as e:
                        short.append(f"{c.name} {what} {path}: unreadable ({e})")
        for m in c.members:
            for key in ("api", "client"):
                url = m.endpoints.get(key)
                if url and url.startswith("https://"):
                    try:
                        judge(f"{c.name} {m.name} {key} serving cert", _peer_cert(url, c.tls))
                    except (OSError, ssl.SSLError, TargetError, ValueError) as e:
                        short.append(f"{c.name} {m.name} {key} {url}: cannot read the serving certificate ({e})")
    return Check(
        "certificates", not short, True,
        f"{len(short)} certificates expire within {window_days:g} days (or cannot be read)" if short
        else f"{len(seen)} certificates valid beyond {window_days:g} days",
        short or seen,
    )  # fmt: skip


def run_preflight(
    inventory: Inventory,
    target_version: str,
    *,
    cluster: str = "kubernetes",
    etcd_cluster: str = "k8s-etcd",
    backup_dir: str = "/var/backups/etcd",
    backup_max_age_hours: float = 25.0,
    window_days: float = 30.0,
) -> PreflightResult:
    """Every check against the inventory's cluster; ConfigError for bad input, TargetError when unreachable."""
    try:
        target = parse_version(target_version)
    except ValueError as e:
        raise ConfigError("command line", "--target-version", "a version such as 1.35", target_version) from e
    k8s = inventory.cluster(cluster)
    api = kube_api(k8s, timeout=10.0)
    try:
        version = str(api.get("/version").get("gitVersion", "?"))
    except KubeApiError as e:
        raise TargetError(f"the API of {cluster} does not answer: {e}") from e
    checks: list[Check] = []
    current = parse_version(version)
    if target < current:
        checks.append(Check("target version", False, True, f"{target_version} is older than the cluster's {version}"))
    elif target[1] - current[1] > 1 and target[0] == current[0]:
        checks.append(
            Check("target version", False, True,
                  f"{version} -> {target_version} skips minor versions (one minor at a time)")
        )  # fmt: skip
    else:
        checks.append(Check("target version", True, True, f"{version} -> {target_version}"))
    checks += deprecated_api_check(api, target)
    checks += [Check(**c) for c in helm_release_checks(api, target, lookup)]
    nodes = api.list_all("/api/v1/nodes")
    pods = api.list_all("/api/v1/pods")
    pdbs = api.list_all("/apis/policy/v1/poddisruptionbudgets")
    checks.append(nodes_ready_check(nodes))
    checks += drain_checks(nodes, pods, pdbs)
    checks += etcd_checks(inventory, etcd_cluster, backup_dir, backup_max_age_hours)
    certs = [k8s] + [c for c in inventory.clusters if c.name == etcd_cluster]
    checks.append(certificate_check(inventory, certs, window_days))
    return PreflightResult(target_version, version, time.time(), checks)


def render_text(result: PreflightResult) -> str:
    lines = [
        f"preflight {result.current_version} -> {result.target_version}: {'GO' if result.go else 'NO-GO'}",
    ]
    for c in result.checks:
        mark = "ok  " if c.ok else ("FAIL" if c.blocking else "warn")
        lines.append(f"  [{mark}] {c.name}: {c.summary}")
        if not c.ok:
            lines += [f"         - {d}" for d in c.details[:10]]
    return "\n".join(lines)
