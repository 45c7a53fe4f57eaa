"""etcd backups, file part: the newest snapshot is recent enough and etcd itself can read it.

A backup job that silently stopped, or one that writes truncated files, is found only when a restore
is needed. hadrill checks the backup directory on the node that holds it: the newest snapshot file
(by mtime, compared with the node's own clock) is younger than the allowed age, and
``etcdutl snapshot status FILE -w json`` (etcd >= 3.5) or ``etcdctl snapshot status`` (Debian's
etcd-client 3.4) reads it: hash, revision and key count. The backup CronJob part comes with the
Kubernetes lab.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from hadrill.compliance.nodes import STAT_FORMAT, FileStat, as_node, parse_stat_line
from hadrill.compliance.policy import EtcdBackupPolicy
from hadrill.compliance.registry import CHECKS, Finding, Verdict, register
from hadrill.errors import TargetError

__all__ = ["BackupFacts", "check_etcd_backup", "snapshot_status"]

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
