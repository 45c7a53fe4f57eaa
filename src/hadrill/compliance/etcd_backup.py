"""etcd backups, file part: the newest snapshot is recent enough and etcd itself can read it.

A backup job that silently stopped, or one that writes truncated files, is found only when a restore
is needed. hadrill checks the backup directory on the node that holds it: the newest snapshot file
(by mtime, compared with the node's own clock) is younger than the allowed age, and
``etcdutl snapshot status FILE -w json`` (etcd >= 3.5) or ``etcdctl snapshot status`` (Debian's
etcd-client 3.4) reads it: hash, revision and key count. The backup CronJob part comes with the
Kubernetes API: the declared CronJob exists with its schedule and its ``status.lastSuccessfulTime`` is
younger than ``cronjob_max_age_hours`` (by the API server's clock).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from hadrill.clients.nodes import STAT_FORMAT, FileStat, as_node, parse_stat_line
from hadrill.compliance.policy import EtcdBackupPolicy
from hadrill.compliance.registry import CHECKS, Finding, Verdict, register
from hadrill.errors import TargetError

__all__ = [
    "BackupFacts",
    "CronJobFacts",
    "check_etcd_backup",
    "check_etcd_backup_cronjob",
    "cronjob_facts",
    "snapshot_status",
]

SUITE = "etcd_backup"


@dataclass(frozen=True)
class BackupFacts:
    dir: str
    newest: FileStat | None
    node_time: float
    max_age_hours: float
    status: dict[str, Any] | None = None  # etcdutl/etcdctl snapshot status output
    status_error: str = ""
    tool: str = ""

    @property
    def age_hours(self) -> float | None:
        return None if self.newest is None else (self.node_time - self.newest.mtime) / 3600


def _snapshots(node: Any, policy: EtcdBackupPolicy) -> tuple[float, list[FileStat]]:
    q = shlex.quote(policy.dir)
    res = node.run(
        f"date +%s; [ -d {q} ] || exit 44; "
        f"find {q} -maxdepth 1 -type f -name {shlex.quote(policy.pattern)} -exec stat -c '{STAT_FORMAT}' {{}} +",
        timeout=20,
    )
    lines = res.stdout.splitlines()
    if res.rc == 44:
        raise TargetError(f"{node.url}: backup directory {policy.dir} does not exist")
    if not res.ok or not lines:
        raise TargetError(f"{node.url}: cannot list {policy.dir}: {res.stderr.strip()[-200:]}")
    return float(lines[0]), [parse_stat_line(line) for line in lines[1:] if line.strip()]


def snapshot_status(node_like: Any, path: str) -> tuple[str, dict[str, Any] | None, str]:
    """(tool, parsed status, error) of ``etcdutl``/``etcdctl snapshot status PATH -w json`` on the node."""
    node = as_node(node_like)
    q = shlex.quote(path)
    res = node.run(
        f"if command -v etcdutl >/dev/null; then echo etcdutl; etcdutl snapshot status {q} -w json; "
        f"elif command -v etcdctl >/dev/null; then echo etcdctl; ETCDCTL_API=3 etcdctl snapshot status {q} -w json; "
        "else echo none; exit 45; fi",
        timeout=60,
    )
    tool, _, out = res.stdout.partition("\n")
    if res.rc == 45:
        return "none", None, "neither etcdutl nor etcdctl on the node"
    if not res.ok:
        return tool, None, (res.stderr or out).strip()[-300:] or f"exit {res.rc}"
    try:
        status = json.loads(out.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return tool, None, f"unexpected output: {out.strip()[-200:]!r}"
    if not isinstance(status, dict) or "hash" not in status:
        return tool, None, f"unexpected output: {out.strip()[-200:]!r}"
    return tool, status, ""


def check_etcd_backup(node_like: Any, policy: EtcdBackupPolicy | None = None, *, name: str = "") -> list[Finding]:
    """Age of the newest snapshot in the backup dir and its ``snapshot status``."""
    policy = policy or EtcdBackupPolicy()
    node = as_node(node_like)
    label = name or node.url
    age, status = CHECKS["HD-ETCD-BAK-001"], CHECKS["HD-ETCD-BAK-002"]
    try:
        node_time, files = _snapshots(node, policy)
    except (TargetError, ValueError) as e:
        return [age.error(label, str(e), object=policy.dir), status.error(label, str(e), object=policy.dir)]
    newest = max(files, key=lambda f: f.mtime, default=None)
    facts = BackupFacts(policy.dir, newest, node_time, policy.max_age_hours)
    if newest is not None:
        tool, parsed, error = snapshot_status(node, newest.path)
        facts = BackupFacts(policy.dir, newest, node_time, policy.max_age_hours, parsed, error, tool)
    return age.evaluate(label, facts) + status.evaluate(label, facts)


@register(
    "HD-ETCD-BAK-001", suite=SUITE, severity="high",
    reference="platform rule: etcd is snapshotted at least as often as the declared RPO",
    title="The newest etcd snapshot is younger than the allowed age",
    remediation="Check the backup job (its schedule, its last run, the disk it writes to); take a snapshot now: "
    "etcdctl snapshot save /var/backups/etcd/etcd-$(date +%F-%H%M).db",
)  # fmt: skip
def snapshot_age(f: BackupFacts) -> Verdict:
    expected = f"< {f.max_age_hours:g} h old"
    if f.newest is None:
        return Verdict(False, "no snapshot", expected, f"no snapshot file in {f.dir}", object=f.dir)
    hours = f.age_hours or 0.0
    observed = f"{hours:.1f} h old"
    ok = hours < f.max_age_hours
    return Verdict(ok, observed, expected, f"newest snapshot {f.newest.path} is {observed}", object=f.newest.path)


@register(
    "HD-ETCD-BAK-002", suite=SUITE, severity="high",
    reference="platform rule: a backup counts only if etcd can read it (etcdutl snapshot status)",
    title="The newest etcd snapshot passes snapshot status",
    remediation="Take a new snapshot and find out why the last one is unreadable (a full disk, a job killed while "
    "writing, a copy of the member's live db file instead of a snapshot).",
)  # fmt: skip
def snapshot_readable(f: BackupFacts) -> Verdict:
    if f.newest is None:
        return Verdict(False, "no snapshot", "status ok", f"no snapshot file in {f.dir}", object=f.dir)
    if f.status is None:
        msg = f"{f.tool} snapshot status {f.newest.path}: {f.status_error}"
        return Verdict(False, f.status_error, "status ok", msg, object=f.newest.path)
    observed = {k: f.status.get(k) for k in ("hash", "revision", "totalKey", "totalSize")}
    msg = f"{f.newest.path}: revision {observed['revision']}, {observed['totalKey']} keys ({f.tool})"
    return Verdict(True, observed, "status ok", msg, object=f.newest.path)


# -- the CronJob part (through the Kubernetes API) ---------------------------------------------------
@dataclass(frozen=True)
class CronJobFacts:
    ref: str  # namespace/name
    cronjob: dict[str, Any] | None  # None: not found
    declared_schedule: str | None
    max_age_hours: float
    server_time: float  # the API server's clock (its Date header), epoch seconds


def _parse_time(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cronjob_facts(api: Any, policy: EtcdBackupPolicy) -> CronJobFacts:
    """GET the declared backup CronJob (one object) and the server's clock from the same answer."""
    from email.utils import parsedate_to_datetime

    from hadrill.clients.kube import KubeApiError

    ref = policy.cronjob or ""
    ns, _, name = ref.partition("/")
    if not name:
        ns, name = "kube-system", ns
    max_age = policy.cronjob_max_age_hours or policy.max_age_hours
    try:
        r = api.request("GET", f"/apis/batch/v1/namespaces/{ns}/cronjobs/{name}")
        body: dict[str, Any] | None = r.json()
        date = r.headers.get("Date")
    except KubeApiError as e:
        if e.status != 404:
            raise
        r = api.request("GET", "/version")
        body, date = None, r.headers.get("Date")
    import time as _time

    now = parsedate_to_datetime(date).timestamp() if date else _time.time()
    return CronJobFacts(f"{ns}/{name}", body, policy.schedule, max_age, now)


def check_etcd_backup_cronjob(api: Any, policy: EtcdBackupPolicy, *, name: str = "kubernetes") -> list[Finding]:
    """The backup CronJob exists with the declared schedule, and its last success is recent enough."""
    exists, recent = CHECKS["HD-ETCD-BAK-003"], CHECKS["HD-ETCD-BAK-004"]
    if not policy.cronjob:
        return []
    try:
        facts = cronjob_facts(api, policy)
    except TargetError as e:
        return [exists.error(name, str(e), object=policy.cronjob), recent.error(name, str(e), object=policy.cronjob)]
    return exists.evaluate(name, facts) + recent.evaluate(name, facts)


def _norm_schedule(s: Any) -> str:
    return " ".join(str(s or "").split())


@register(
    "HD-ETCD-BAK-003", suite=SUITE, severity="high", target_kind="pod",
    reference="platform rule: etcd backups run as a CronJob on the declared schedule",
    title="The etcd backup CronJob exists with the declared schedule",
    remediation="Create (or fix) the backup CronJob: spec.schedule as declared in the policy, spec.suspend false.",
)  # fmt: skip
def cronjob_schedule(f: CronJobFacts) -> Verdict:
    ns, _, name = f.ref.partition("/")
    obj = f"CronJob/{name}"
    expected = _norm_schedule(f.declared_schedule) if f.declared_schedule else "exists"
    if f.cronjob is None:
        return Verdict(False, "not found", expected, f"CronJob {f.ref} does not exist", object=obj, namespace=ns)
    spec = f.cronjob.get("spec") or {}
    sched = _norm_schedule(spec.get("schedule"))
    ok = (not f.declared_schedule or sched == expected) and not spec.get("suspend")
    observed = sched + (" (suspended)" if spec.get("suspend") else "")
    return Verdict(ok, observed, expected, f"CronJob {f.ref}: schedule {observed!r}", object=obj, namespace=ns)


@register(
    "HD-ETCD-BAK-004", suite=SUITE, severity="high", target_kind="pod",
    reference="platform rule: the backup job's last success is within the declared RPO",
    title="The etcd backup CronJob succeeded recently",
    remediation="Look at the CronJob's recent Jobs and their pods' logs (kubectl -n NS get jobs); run one now: "
    "kubectl create job --from=cronjob/NAME NAME-manual.",
)  # fmt: skip
def cronjob_last_success(f: CronJobFacts) -> Verdict:
    ns, _, name = f.ref.partition("/")
    obj = f"CronJob/{name}"
    expected = f"< {f.max_age_hours:g} h ago"
    if f.cronjob is None:
        return Verdict(False, "not found", expected, f"CronJob {f.ref} does not exist", object=obj, namespace=ns)
    last = (f.cronjob.get("status") or {}).get("lastSuccessfulTime")
    if not last:
        return Verdict(False, "never", expected, f"CronJob {f.ref} has never succeeded", object=obj, namespace=ns)
    try:
        hours = (f.server_time - _parse_time(str(last))) / 3600
    except ValueError:
        return Verdict(False, last, expected, f"CronJob {f.ref}: unreadable lastSuccessfulTime", object=obj,
                       namespace=ns)  # fmt: skip
    observed = f"{hours:.1f} h ago ({last})"
    return Verdict(hours < f.max_age_hours, observed, expected, f"CronJob {f.ref}: last success {observed}",
                   object=obj, namespace=ns)  # fmt: skip
