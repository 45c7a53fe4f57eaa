"""The etcd backup and restore drill (the master-restore procedure), against a hadrill Kubernetes cluster.

What real sites do, and what the drill proves:

1. **Backup.** A backup CronJob (batch/v1; ``etcdctl snapshot save`` to a backup volume on the masters)
   is applied, as sites run it. In the lab the workers are kwok's (no container runs for real), so the
   drill itself takes the snapshot from a master with ``etcdctl snapshot save`` and the etcd client
   certificate inside the control-plane container, and notes the snapshot's revision
   (``etcdutl snapshot status``). A copy is kept on the host (``state_dir()/restore/<fault>.db``).
2. **Writes.** Sequence-numbered ConfigMaps are written (and acknowledged) before the snapshot, and
   more after it. Each acknowledgement carries the object's resourceVersion (etcd's mod revision).
3. **Disaster** (:class:`EtcdRestoreFault`, recorded in the ledger like any fault): on every master the
   supervisor's restart of the control-plane daemons is paused (SIGSTOP of the supervising shell, the
   kubelet's role), etcd, kube-apiserver, kube-controller-manager and kube-scheduler are killed, and
   etcd's data directory is destroyed.
4. **Restore.** Every member is restored from the snapshot with ``etcdutl snapshot restore`` (a new
   ``--initial-cluster-token``, the same member names and peer URLs, the revision bumped and marked
   compacted so informers relist, as the Kubernetes documentation advises), the supervisors resume and
   restart the daemons; the drill waits for /readyz through the load balancer. RTO = disaster to API
   ready.
5. **Verify.** Objects written before the snapshot are back, objects written after are gone: the
   measured RPO (hadrill's own loss accounting, :func:`hadrill.slo.acked_writes_lost` over the keys
   read back) must *equal* the number of acknowledged writes whose resourceVersion is above the
   snapshot's revision — the harness checked against a known answer. The CA keys and certificates
   keep their modes (0600 / 0644, :mod:`hadrill.compliance.pki`'s checks).

The fault has no deadman (a dead harness cannot be replaced by a timer that restores a cluster), but
its revert is idempotent and needs only the record: it restores every member whose data directory is
not a restore of this fault's snapshot, and resumes the supervisors, so ``hadrill recover`` finishes a
drill that died midway.
"""

from __future__ import annotations

import hashlib
import io
import json
import shlex
import tarfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import docker
from docker.errors import DockerException, NotFound

from hadrill import slo
from hadrill.compliance.nodes import parse_stat_line
from hadrill.compliance.pki import ca_cert_file, key_files
from hadrill.errors import InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import Fault
from hadrill.faults.ledger import FaultRecord
from hadrill.inventory import Cluster, Inventory
from hadrill.paths import state_dir
from hadrill.probes.kube import KubeApi, KubeApiError, KubeWriteProbe, cluster_api

__all__ = [
    "DAEMONS",
    "EtcdRestoreFault",
    "Master",
    "RestoreResult",
    "Snapshot",
    "backup_cronjob",
    "masters",
    "run_restore_drill",
    "take_snapshot",
]

PKI = "/etc/kubernetes/pki"
DATA_DIR = "/var/lib/etcd/data"
WORK_DIR = "/var/lib/etcd/hadrill-restore"  # on the etcd volume, outside the data dir: survives the disaster
SNAPSHOT = f"{WORK_DIR}/snapshot.db"
DAEMONS = ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")
BUMP_REVISION = 1_000_000_000
_ETCDCTL = (
    f"etcdctl --endpoints=https://127.0.0.1:2379 --cacert={PKI}/etcd/ca.crt --cert={PKI}/etcd/client.crt "
    f"--key={PKI}/etcd/client.key --command-timeout=20s"
)
BACKUP_NAMESPACE = "kube-system"
BACKUP_NAME = "etcd-backup"


@dataclass(frozen=True)
class Master:
    """A control-plane node: its container, its etcd member name and address."""

    name: str
    container: str
    ip: str

    @property
    def peer_url(self) -> str:
        return f"https://{self.ip}:2380"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "container": self.container, "ip": self.ip}


@dataclass(frozen=True)
class Snapshot:
    revision: int
    taken_at: float
    size: int
    sha256: str
    host_path: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def masters(inventory: Inventory, cluster: str = "k8s-etcd") -> list[Master]:
    """The etcd members of a hadrill Kubernetes cluster, as containers (``docker://`` nodes only)."""
    c = inventory.cluster(cluster)
    out = []
    for m in c.members:
        url = inventory.node(m.node).url
        if not url.startswith("docker://"):
            raise TargetError(f"the restore drill needs docker:// control-plane nodes, {m.node} is {url}")
        peer = m.endpoints.get("peer") or m.endpoints.get("client", "")
        ip = peer.split("//", 1)[-1].rsplit(":", 1)[0]
        out.append(Master(m.name, url.removeprefix("docker://").split("?", 1)[0], ip))
    return out


# -- container commands ------------------------------------------------------------------------------
def _client() -> docker.DockerClient:
    try:
        return docker.from_env(timeout=60)
    except DockerException as e:
        raise TargetError(f"cannot reach the Docker engine: {e}") from e


def _container(name: str) -> Any:
    try:
        return _client().containers.get(name)
    except NotFound as e:
        raise TargetError(f"no container named {name}") from e
    except DockerException as e:
        raise TargetError(f"container {name}: {e}") from e


def _sh(container: str, command: str, *, timeout: float = 60.0, check: bool = True) -> tuple[int, str]:
    """Run a shell command in a container, killed there after ``timeout`` s; (rc, output)."""
    try:
        rc, out = _container(container).exec_run(
            ["timeout", "-k", "2", f"{timeout:g}", "sh", "-c", command], demux=False
        )
    except DockerException as e:
        raise TargetError(f"{container}: cannot run {command!r}: {e}") from e
    text = (out or b"").decode(errors="replace")
    if check and rc != 0:
        raise TargetError(f"{container}: {command[:120]!r} exited {rc}: {text.strip()[-500:]}")
    return int(rc or 0), text


def _running(container: str) -> bool:
    try:
        return str(_container(container).status) == "running"
    except TargetError:
        return False


def _pids(daemon: str) -> str:
    """Shell: the pids of a daemon that are not zombies (by argv[0]: ``comm`` is cut at 15 characters)."""
    return f"ps -eo pid=,stat=,args= | awk '$3 == \"{daemon}\" && $2 !~ /^Z/ {{print $1}}'"


_SUPERVISORS = "pgrep -f '^/bin/bash /usr/local/bin/[k]ube-node'"  # the script and its per-daemon subshells


def _pause_and_kill(container: str, *, unless: str = "") -> None:
    """Stop the supervisor's restarts (SIGSTOP of the supervisor script and its per-daemon shells, the
    kubelet's role in the lab), then kill the daemons, until none runs (bounded). Skipped when the file
    ``unless`` exists (the member is already restored)."""
    kill = "; ".join(f"for p in $({_pids(d)}); do kill -KILL $p; done" for d in DAEMONS)
    alive = " ".join(f"$({_pids(d)})" for d in DAEMONS)
    skip = f"[ -e {unless} ] && exit 0; " if unless else ""
    cmd = (
        f"{skip}for p in $({_SUPERVISORS}); do kill -STOP $p; done; "
        f"for i in $(seq 1 30); do {kill}; sleep 0.2; [ -z \"$(echo {alive} | tr -d ' ')\" ] && exit 0; done; exit 1"
    )
    _sh(container, cmd, timeout=30)


def _resume(container: str) -> None:
    """Resume every stopped process (the supervising shells): they restart their daemons after 1 s."""
    cmd = "for p in $(ps -eo pid=,stat= | awk '$2 ~ /^T/ {print $1}'); do kill -CONT $p; done; true"
    _sh(container, cmd, timeout=20)


def _alive(container: str) -> list[str]:
    _, out = _sh(container, "; ".join(f'[ -n "$({_pids(d)})" ] && echo {d}' for d in DAEMONS) + "; true")
    return out.split()


# -- backup --------------------------------------------------------------------------------------------
def backup_cronjob(
    *, schedule: str = "0 */6 * * *", image: str = "registry.k8s.io/etcd:3.6.5-0", host_dir: str = "/var/backups/etcd"
) -> dict[str, Any]:
    """The site's backup CronJob (batch/v1): ``etcdctl snapshot save`` on a master, to a hostPath volume."""
    script = (
        "set -eu; f=/backup/etcd-$(date -u +%Y%m%dT%H%M%SZ).db; "
        "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/pki/ca.crt --cert=/pki/client.crt "
        '--key=/pki/client.key snapshot save "$f"; '
        "find /backup -name 'etcd-*.db' -mtime +7 -delete"
    )
    pod = {
        "hostNetwork": True,
        "restartPolicy": "OnFailure",
        "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [
            {
                "name": "snapshot",
                "image": image,
                "command": ["/bin/sh", "-c", script],
                "volumeMounts": [
                    {"name": "pki", "mountPath": "/pki", "readOnly": True},
                    {"name": "backup", "mountPath": "/backup"},
                ],
            }
        ],
        "volumes": [
            {"name": "pki", "hostPath": {"path": f"{PKI}/etcd", "type": "Directory"}},
            {"name": "backup", "hostPath": {"path": host_dir, "type": "DirectoryOrCreate"}},
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": BACKUP_NAME,
            "namespace": BACKUP_NAMESPACE,
            "labels": {"app.kubernetes.io/name": "etcd-backup"},
        },
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": {"spec": pod}}},
        },
    }


def apply_backup_cronjob(api: KubeApi, **kwargs: Any) -> dict[str, Any]:
    """Create (or keep) the backup CronJob; returns the object as the API has it."""
    body = backup_cronjob(**kwargs)
    path = f"/apis/batch/v1/namespaces/{BACKUP_NAMESPACE}/cronjobs"
    api.create(path, body)
    return api.get(f"{path}/{BACKUP_NAME}")


def _snapshot_dir() -> Path:
    d = state_dir() / "restore"
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o700)
    return d


def take_snapshot(source: Master, targets: list[Master], host_name: str) -> Snapshot:
    """``etcdctl snapshot save`` on ``source``; the file copied to the host and to every target master."""
    _sh(source.container, f"mkdir -p {WORK_DIR} && rm -f {SNAPSHOT}.part && {_ETCDCTL} snapshot save {SNAPSHOT}.part "
        f">/dev/null && mv {SNAPSHOT}.part {SNAPSHOT}", timeout=60)  # fmt: skip
    taken = time.time()
    _, out = _sh(source.container, f"etcdutl snapshot status {SNAPSHOT} -w json", timeout=30)
    status = json.loads(out.strip().splitlines()[-1])
    try:
        stream, _ = _container(source.container).get_archive(SNAPSHOT)
        tar_bytes = b"".join(stream)
    except DockerException as e:
        raise TargetError(f"{source.container}: cannot copy {SNAPSHOT}: {e}") from e
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        member = tar.getmembers()[0]
        fh = tar.extractfile(member)
        data = fh.read() if fh else b""
    host = _snapshot_dir() / f"{host_name}.db"
    tmp = host.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    tmp.replace(host)
    for m in targets:
        if m.container != source.container:
            _put_snapshot(m.container, data)
    return Snapshot(
        revision=int(status["revision"]), taken_at=taken, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        host_path=str(host), source=source.name,
    )  # fmt: skip


def _put_snapshot(container: str, data: bytes) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("snapshot.db")
        info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    _sh(container, f"mkdir -p {WORK_DIR}", timeout=10)
    try:
        if not _container(container).put_archive(WORK_DIR, buf.getvalue()):
            raise TargetError(f"{container}: could not write {SNAPSHOT}")
    except DockerException as e:
        raise TargetError(f"{container}: cannot write {SNAPSHOT}: {e}") from e


def _restore_member(m: dict[str, str], members: list[dict[str, str]], token: str, marker: str) -> None:
    """Restore one member's data dir from the snapshot (idempotent: skipped once ``marker`` exists)."""
    initial = ",".join(f"{x['name']}=https://{x['ip']}:2380" for x in members)
    cmd = (
        f"[ -e {marker} ] && exit 0; rm -rf {DATA_DIR} && etcdutl snapshot restore {SNAPSHOT} "
        f"--name={shlex.quote(m['name'])} --initial-cluster={shlex.quote(initial)} "
        f"--initial-cluster-token={shlex.quote(token)} --initial-advertise-peer-urls=https://{m['ip']}:2380 "
        f"--data-dir={DATA_DIR} --bump-revision={BUMP_REVISION} --mark-compacted >/dev/null 2>&1 && touch {marker}"
    )
    _sh(m["container"], cmd, timeout=60)


# -- the fault -----------------------------------------------------------------------------------------
@dataclass
class EtcdRestoreFault(Fault):
    """Destroy etcd's data on every master (daemons killed, restarts paused); revert = restore every member.

    ``snapshot_on_host`` is the snapshot's copy on the host: revert puts it back on a master that lost it.
    """

    masters: tuple[Master, ...] = ()
    snapshot_on_host: str = ""
    token: str = ""
    kind: ClassVar[str] = "etcd-restore"

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "masters": [m.to_dict() for m in self.masters],
            "snapshot_on_host": self.snapshot_on_host,
            "token": self.token or f"hadrill-restore-{uuid.uuid4().hex[:8]}",
        }

    def inject(self, record: FaultRecord) -> None:
        record.params["injected_at"] = time.time()
        for m in record.params["masters"]:
            _sh(m["container"], f"test -s {SNAPSHOT}", timeout=10)  # never destroy without a snapshot in place
        for m in record.params["masters"]:
            _pause_and_kill(m["container"])
        for m in record.params["masters"]:
            _sh(m["container"], f"rm -rf {DATA_DIR} {WORK_DIR}/restored-*", timeout=30)

    def prove(self, record: FaultRecord) -> str:
        seen = []
        for m in record.params["masters"]:
            deadline = time.monotonic() + 15
            alive = _alive(m["container"])
            while alive and time.monotonic() < deadline:
                time.sleep(0.2)
                alive = _alive(m["container"])
            if alive:
                raise InjectionFailed(f"{m['container']}: still running after the kill: {', '.join(alive)}")
            rc, _ = _sh(m["container"], f"test -e {DATA_DIR}", check=False, timeout=10)
            if rc == 0:
                raise InjectionFailed(f"{m['container']}: {DATA_DIR} still exists")
            seen.append(m["name"])
        return f"etcd data destroyed and control plane down on {', '.join(seen)}"

    @classmethod
    def restore(cls, record: FaultRecord) -> None:
        """Restore every member (skipping those already restored for this record), then resume them."""
        ms = record.params["masters"]
        marker = f"{WORK_DIR}/restored-{record.id}"
        host = Path(record.params.get("snapshot_on_host") or "")
        for m in ms:
            if not _running(m["container"]):
                _container(m["container"]).start()
            rc, _ = _sh(m["container"], f"test -s {SNAPSHOT}", check=False, timeout=10)
            if rc != 0:
                if not host.is_file():
                    raise RevertFailed(f"{m['container']}: no snapshot at {SNAPSHOT} and none on the host ({host})")
                _put_snapshot(m["container"], host.read_bytes())
        for m in ms:  # a master restarted meanwhile runs its daemons again (on an empty data dir): stop them
            _pause_and_kill(m["container"], unless=marker)
        for m in ms:
            _restore_member(m, ms, record.params["token"], marker)
        for m in ms:
            _resume(m["container"])
        record.params["restored_at"] = time.time()

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        cls.restore(record)


# -- the drill -----------------------------------------------------------------------------------------
@dataclass
class RestoreResult:
    snapshot: Snapshot
    disaster_at: float
    api_ready_at: float | None
    acked_before: list[dict[str, Any]]
    acked_after: list[dict[str, Any]]
    expected_lost: list[str]
    lost: list[str]
    missing_before: list[str]
    verdicts: list[slo.Verdict] = field(default_factory=list)
    fault_events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rto_s(self) -> float | None:
        return None if self.api_ready_at is None else self.api_ready_at - self.disaster_at

    @property
    def ok(self) -> bool:
        return bool(self.verdicts) and all(v.ok for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.to_dict(),
            "disaster_at": self.disaster_at,
            "api_ready_at": self.api_ready_at,
            "rto_s": self.rto_s,
            "acked_before": len(self.acked_before),
            "acked_after": len(self.acked_after),
            "expected_lost": len(self.expected_lost),
            "lost": len(self.lost),
            "missing_before": self.missing_before,
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def wait_api(api: KubeApi, timeout: float) -> float | None:
    """When /readyz first answered "ok" (through ``api``'s address), or None within ``timeout``."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.25) + 2):
        try:
            if api.readyz(timeout=2.0) == "ok":
                return time.time()
        except KubeApiError:
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.25)
    return None


def _write(probe: KubeWriteProbe, count: int) -> list[dict[str, Any]]:
    """``count`` acknowledged writes (each retried a few times: only acknowledged ones count)."""
    acked = []
    for _ in range(count):
        for attempt in range(5):
            try:
                acked.append(probe.sample())
                break
            except Exception:
                if attempt == 4:
                    raise
                time.sleep(0.5)
    return acked


def pki_verdicts(m: Master) -> list[slo.Verdict]:
    """The CA keys are 0600 (or stricter) and the CA certificates 0644 (or stricter), owned by root."""
    files = {f"{PKI}/ca.key": key_files, f"{PKI}/etcd/ca.key": key_files,
             f"{PKI}/ca.crt": ca_cert_file, f"{PKI}/etcd/ca.crt": ca_cert_file}  # fmt: skip
    _, out = _sh(m.container, "stat -c '%a|%u|%U|%s|%Y|%n' " + " ".join(files), timeout=10)
    stats = {s.path: s for s in (parse_stat_line(line) for line in out.strip().splitlines() if "|" in line)}
    verdicts = []
    for path, check in files.items():
        want = 600.0 if path.endswith(".key") else 644.0  # octal digits as a number: the report shows 600, 644
        st = stats.get(path)
        if st is None:
            verdicts.append(slo.Verdict(f"pki {path}", want, None, "mode", False, f"{path}: missing"))
            continue
        v = check(st)
        verdicts.append(slo.Verdict(f"pki {path}", want, float(f"{st.mode:o}"), "mode", bool(v.ok), v.message))
    return verdicts


def run_restore_drill(
    inventory: Inventory,
    *,
    cluster: str = "kubernetes",
    etcd_cluster: str = "k8s-etcd",
    writes_before: int = 20,
    writes_after: int = 10,
    rto_objective_s: float = 180.0,
    time_limit: float = 600.0,
    fault_context: Callable[[Fault], Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> RestoreResult:
    """Backup, write, disaster, restore, verify (module docstring); the fault goes through ``fault_context``
    (``Run.fault``: ledger, journal window), else :func:`hadrill.faults.base.injected`."""
    from hadrill.faults.base import injected

    say = log or (lambda _text: None)
    k8s: Cluster = inventory.cluster(cluster)
    api = cluster_api(k8s, timeout=10.0)
    ms = masters(inventory, etcd_cluster)
    run_id = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
    apply_backup_cronjob(api)
    say(f"backup CronJob {BACKUP_NAMESPACE}/{BACKUP_NAME} applied")
    probe = KubeWriteProbe(api, namespace="hadrill-restore", prefix=f"r{run_id[-6:]}", name="restore-write")
    probe.prepare()
    before = _write(probe, writes_before)
    snap = take_snapshot(ms[0], ms, f"{cluster}-{run_id}")
    say(f"snapshot from {snap.source} at revision {snap.revision} ({snap.size} bytes, sha256 {snap.sha256[:12]})")
    after = _write(probe, writes_after)
    acked = before + after
    expected = sorted(str(d["key"]) for d in acked if int(d.get("resource_version") or 0) > snap.revision)
    say(
        f"{len(before)} writes acknowledged before the snapshot, {len(after)} after "
        f"({len(expected)} above its revision)"
    )
    fault = EtcdRestoreFault(
        target=f"docker://{ms[0].container}", time_limit=time_limit, cluster=etcd_cluster,
        members=tuple(m.name for m in ms), force=True, masters=tuple(ms), snapshot_on_host=snap.host_path,
        token=f"hadrill-restore-{run_id[-6:]}",
        description=f"destroy etcd data on {len(ms)} masters, restore from the snapshot at revision {snap.revision}",
    )  # fmt: skip
    ctx = fault_context(fault) if fault_context is not None else injected(fault)
    ready_at: float | None = None
    with ctx as record:
        disaster_at = float(record.params.get("injected_at") or record.created)
        say("disaster: etcd data destroyed on every master; restoring")
        EtcdRestoreFault.restore(record)
        ready_at = wait_api(api, max(1.0, disaster_at + time_limit - time.time()))
    say(f"API ready through the load balancer after {(ready_at or time.time()) - disaster_at:.1f} s")
    present = probe.read_back(attempts=60, timeout=10.0)
    lost = slo.acked_writes_lost([str(d["key"]) for d in acked], present)
    missing_before = sorted(str(d["key"]) for d in before if d["key"] not in present)
    rto = None if ready_at is None else ready_at - disaster_at
    verdicts = [
        slo.Verdict(
            "kube-restore max_outage", rto_objective_s, rto, "s", rto is not None and rto <= rto_objective_s,
            f"disaster to /readyz ok through the load balancer: "
            f"{'never within the time limit' if rto is None else f'{rto:.1f} s'} (objective {rto_objective_s:.0f} s)",
        ),
        slo.Verdict(
            "kube-restore acked_writes_lost", float(len(expected)), float(len(lost)), "writes",
            lost == expected,
            f"{len(lost)} acknowledged writes lost; known answer {len(expected)} (writes acknowledged after the "
            f"snapshot's revision {snap.revision}): {'equal' if lost == expected else 'DIFFERENT'}"
            + ("" if lost == expected else f"; lost {lost[:5]}, expected {expected[:5]}"),
        ),
        slo.Verdict(
            "restored objects before the snapshot", float(len(before)), float(len(before) - len(missing_before)),
            "objects", not missing_before,
            f"{len(before) - len(missing_before)}/{len(before)} objects written before the snapshot are back"
            + (f"; missing {missing_before[:5]}" if missing_before else ""),
        ),
        *pki_verdicts(ms[0]),
    ]  # fmt: skip
    return RestoreResult(
        snapshot=snap, disaster_at=disaster_at, api_ready_at=ready_at, acked_before=before, acked_after=after,
        expected_lost=expected, lost=lost, missing_before=missing_before, verdicts=verdicts,
    )  # fmt: skip
