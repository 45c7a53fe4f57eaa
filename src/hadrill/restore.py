"""The etcd backup and restore drill (the master-restore procedure), against a hadrill Kubernetes cluster.

What real sites do, and what the drill proves:

1. **Backup.** A backup CronJob (batch/v1; ``etcdctl snapshot save`` to a backup volume on the masters)
   is applied, as sites run it. In the lab the workers are kwok's (no container runs for real), so the
   drill itself takes the snapshot from a master with ``etcdctl snapshot save`` and the etcd client
   certificate inside the control-plane container, and notes the snapshot's revision
   (``etcdutl snapshot status``). A copy is kept on the host (``state_dir()/restore/<fault>.db``).
2. **Writes.** Sequence-numbered ConfigMaps are written (and acknowledged) before the snapshot, and
   more after it. Each acknowledgement carries the object's resourceVersion (etcd's mod revision).
3. **Disaster** (:class:`hadrill.faults.etcd_restore.EtcdRestoreFault`, recorded in the ledger like any
   fault): on every master the supervisor's restart of the control-plane daemons is paused (SIGSTOP of
   the supervising shell, the kubelet's role), etcd, kube-apiserver, kube-controller-manager and
   kube-scheduler are killed, and etcd's data directory is destroyed.
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

The fault (:mod:`hadrill.faults.etcd_restore`) has no deadman, but its revert is idempotent and needs
only the record, so ``hadrill recover`` finishes a drill that died midway.

On kubeadm masters (systemd hosts whose kubelet runs etcd as a static pod, asked of the first master)
the same drill follows kubeadm's procedure instead (:mod:`hadrill.faults.etcd_restore_static`: the etcd
and kube-apiserver manifests moved out, etcdutl run from the etcd image, the manifests put back; a
systemd-timer deadman on each master), and where the cluster runs an application (``settings.app_url``)
the time until the API and the application both answer is judged too.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hadrill import slo
from hadrill.clients import docker
from hadrill.clients.kube import KubeApi, KubeApiError, api_reference, kube_api
from hadrill.clients.nodes import parse_stat_line
from hadrill.clients.targets import target
from hadrill.compliance.pki import ca_cert_file, key_files
from hadrill.faults.base import Fault
from hadrill.faults.etcd_restore import (
    _ETCDCTL,
    DAEMONS,
    PKI,
    SNAPSHOT,
    WORK_DIR,
    DrillObjects,
    EtcdRestoreFault,
    Master,
    _put_snapshot,
    masters,
)
from hadrill.faults.etcd_restore_static import (
    StaticDrillObjects,
    StaticEtcdRestoreFault,
    StaticMaster,
    save_snapshot,
    static_masters,
)
from hadrill.faults.ledger import Ledger
from hadrill.inventory import Cluster, Inventory
from hadrill.paths import state_dir
from hadrill.probes.kube import KubeWriteProbe
from hadrill.recovery.restore import wait_app, wait_etcd

__all__ = [
    "DAEMONS",  # re-exported from hadrill.faults.etcd_restore, where the fault lives
    "EtcdRestoreFault",
    "Master",
    "RestoreResult",
    "Snapshot",
    "backup_cronjob",
    "masters",
    "run_restore_drill",
    "take_snapshot",
]

AnyMaster = Master | StaticMaster  # the lab's container masters, or kubeadm's static-pod hosts
BACKUP_NAMESPACE = "kube-system"
BACKUP_NAME = "etcd-backup"
PROBE_NAMESPACE = "hadrill-restore"


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


# -- backup --------------------------------------------------------------------------------------------
def backup_cronjob(
    *, schedule: str = "0 */6 * * *", image: str = "registry.k8s.io/etcd:3.6.5-0", host_dir: str = "/var/backups/etcd"
) -> dict[str, Any]:
    """The site's backup CronJob (batch/v1): ``etcdctl snapshot save`` on a master, to a hostPath volume.

    The etcd image is distroless (no ``/bin/sh``): the container runs ``etcdctl`` itself, with no shell,
    to one file the next run replaces (``etcdctl`` writes ``<file>.part`` and renames it only when the
    snapshot is complete). Keeping several generations is the backup volume's job (the site's backup
    agent copies it away).
    """
    command = [
        "etcdctl", "--endpoints=https://127.0.0.1:2379", "--cacert=/pki/ca.crt", "--cert=/pki/client.crt",
        "--key=/pki/client.key", "--command-timeout=60s", "snapshot", "save", "/backup/etcd-snapshot.db",
    ]  # fmt: skip
    pod = {
        "hostNetwork": True,
        "restartPolicy": "OnFailure",
        "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [
            {
                "name": "snapshot",
                "image": image,
                "command": command,
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


def take_snapshot(source: AnyMaster, targets: list[AnyMaster], host_name: str) -> Snapshot:
    """``etcdctl snapshot save`` on ``source``; the file copied to the host and to every target master
    (static-pod masters: :func:`hadrill.faults.etcd_restore_static.save_snapshot`)."""
    if isinstance(source, StaticMaster):
        data, revision, taken = save_snapshot(source, [m for m in targets if isinstance(m, StaticMaster)])
    else:
        data, revision, taken = _take_container_snapshot(source, [m for m in targets if isinstance(m, Master)])
    host = _snapshot_dir() / f"{host_name}.db"
    tmp = host.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    tmp.replace(host)
    return Snapshot(
        revision=revision, taken_at=taken, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        host_path=str(host), source=source.name,
    )  # fmt: skip


def _take_container_snapshot(source: Master, targets: list[Master]) -> tuple[bytes, int, float]:
    save = f"{_ETCDCTL} snapshot save {SNAPSHOT}.part >/dev/null && mv {SNAPSHOT}.part {SNAPSHOT}"
    docker.sh(source.container, f"mkdir -p {WORK_DIR} && rm -f {SNAPSHOT}.part && {save}", timeout=60)
    taken = time.time()
    _, out = docker.sh(source.container, f"etcdutl snapshot status {SNAPSHOT} -w json", timeout=30)
    status = json.loads(out.strip().splitlines()[-1])
    data = docker.get_file(source.container, SNAPSHOT)
    for m in targets:
        if m.container != source.container:
            _put_snapshot(m.container, data)
    return data, int(status["revision"]), taken


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


def pki_verdicts(m: AnyMaster) -> list[slo.Verdict]:
    """The CA keys are 0600 (or stricter) and the CA certificates 0644 (or stricter), owned by root."""
    files = {f"{PKI}/ca.key": key_files, f"{PKI}/etcd/ca.key": key_files,
             f"{PKI}/ca.crt": ca_cert_file, f"{PKI}/etcd/ca.crt": ca_cert_file}  # fmt: skip
    out = target(m.url).check("stat -c '%a|%u|%U|%s|%Y|%n' " + " ".join(files), timeout=10)
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
    keep_snapshot: Path | None = None,
    ledger: Ledger | None = None,
) -> RestoreResult:
    """Backup, write, disaster, restore, verify (module docstring); the fault goes through ``fault_context``
    (``Run.fault``: ledger, journal window), else :func:`hadrill.faults.base.injected`.

    Everything the drill creates (the backup CronJob, the probe namespace and its ConfigMaps, the
    snapshots on the host and the masters) is recorded in ``ledger`` first, as a :class:`DrillObjects`
    fault, and removed when the drill ends, however it ends (or by ``hadrill recover``); the host's
    snapshot is moved to ``keep_snapshot`` instead of deleted when that is given.
    """
    from hadrill.faults.base import injected

    k8s: Cluster = inventory.cluster(cluster)
    api = kube_api(k8s, timeout=10.0)
    # kubeadm masters (static pods on systemd hosts) or the lab's container masters: asked of the hosts
    static = static_masters(inventory, etcd_cluster)
    ms: list[AnyMaster] = list(static) if static is not None else list(masters(inventory, etcd_cluster))
    run_id = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
    leftovers = (StaticDrillObjects if static is not None else DrillObjects)(
        target=ms[0].url, time_limit=60, force=True,  # no deadman: recover removes them
        api=api.server, api_access=api_reference(k8s),  # reached again the way kube_api reached it
        objects=(f"/apis/batch/v1/namespaces/{BACKUP_NAMESPACE}/cronjobs/{BACKUP_NAME}",
                 f"/api/v1/namespaces/{PROBE_NAMESPACE}"),
        host_files=(str(_snapshot_dir() / f"{cluster}-{run_id}.db"),),
        containers=tuple(m.container for m in ms if isinstance(m, Master)), keep_dir=str(keep_snapshot or ""),
        description=f"what the restore drill {run_id} creates: backup CronJob, namespace {PROBE_NAMESPACE}, snapshots",
    )  # fmt: skip
    if isinstance(leftovers, StaticDrillObjects):
        leftovers.hosts = tuple(m.url for m in ms)
    with injected(leftovers, ledger=ledger):
        return _drill(inventory, k8s, api, ms, run_id, cluster=cluster, writes_before=writes_before,
                      writes_after=writes_after, rto_objective_s=rto_objective_s, time_limit=time_limit,
                      etcd_cluster=etcd_cluster, fault_context=fault_context, log=log)  # fmt: skip


def _drill(
    inventory: Inventory, k8s: Cluster, api: KubeApi, ms: list[AnyMaster], run_id: str, *, cluster: str,
    etcd_cluster: str, writes_before: int, writes_after: int, rto_objective_s: float, time_limit: float,
    fault_context: Callable[[Fault], Any] | None, log: Callable[[str], None] | None,
) -> RestoreResult:  # fmt: skip
    from hadrill.faults.base import injected

    say = log or (lambda _text: None)
    apply_backup_cronjob(api)
    say(f"backup CronJob {BACKUP_NAMESPACE}/{BACKUP_NAME} applied")
    probe = KubeWriteProbe(api, namespace=PROBE_NAMESPACE, prefix=f"r{run_id[-6:]}", name="restore-write")
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
    static = isinstance(ms[0], StaticMaster)
    fault_cls: type[EtcdRestoreFault] | type[StaticEtcdRestoreFault] = (
        StaticEtcdRestoreFault if static else EtcdRestoreFault
    )
    fault = fault_cls(
        target=ms[0].url, time_limit=time_limit, cluster=etcd_cluster,
        members=tuple(m.name for m in ms), force=True, masters=tuple(ms), snapshot_on_host=snap.host_path,  # type: ignore[arg-type]
        token=f"hadrill-restore-{run_id[-6:]}",
        description=f"{'stop the etcd and API static pods, ' if static else ''}destroy etcd data on {len(ms)} masters, "
        f"restore from the snapshot at revision {snap.revision}",
    )  # fmt: skip
    ctx = fault_context(fault) if fault_context is not None else injected(fault)
    ready_at: float | None = None
    app_url = str(k8s.settings.get("app_url") or "")
    app_at: float | None = None
    etcd_at: tuple[float | None, str] = (None, "")
    with ctx as record:
        disaster_at = float(record.params.get("injected_at") or record.created)
        say(f"disaster: {'control plane stopped, ' if static else ''}etcd data destroyed on every master; restoring")
        fault_cls.restore(record)
        ready_at = wait_api(api, max(1.0, disaster_at + time_limit - time.time()))
        # timed here, not after the fault's window closes (its revert check and disarming take seconds)
        app_at = wait_app(app_url, max(1.0, disaster_at + time_limit - time.time())) if app_url else None
        if static:
            etcd_at = wait_etcd(inventory.cluster(etcd_cluster), max(1.0, disaster_at + time_limit - time.time()))
    say(f"API ready through the load balancer after {(ready_at or time.time()) - disaster_at:.1f} s")
    if app_url:
        say(
            f"application answering through its Service {(app_at or time.time()) - disaster_at:.1f} s "
            "after the disaster"
        )
    present = probe.read_back(attempts=60, timeout=10.0)
    lost = slo.acked_writes_lost([str(d["key"]) for d in acked], present)
    missing_before = sorted(str(d["key"]) for d in before if d["key"] not in present)
    verdicts = [
        _timed("kube-restore max_outage", rto_objective_s, disaster_at, ready_at,
               "disaster to /readyz ok through the load balancer"),
        slo.Verdict(
            # a check of hadrill's loss accounting against a known answer, not an RPO objective: named so
            # the report counts it among the checks, not under "RPO (acknowledged writes lost)"
            "kube-restore loss accounting = known answer", float(len(expected)), float(len(lost)), "writes",
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
    if static:  # kubeadm's procedure ends when etcd is healthy on every master, not only behind one API server
        verdicts.insert(1, _timed("kube-restore etcd members healthy", rto_objective_s, disaster_at, etcd_at[0],
                                  "disaster to every etcd member answering with one leader", f"{etcd_at[1]}; "))
    if app_url:  # the kubeadm lab's application (settings.app_url): users' side of the RTO
        verdicts.insert(1, _timed(
            "kube-restore API and application answer", rto_objective_s, disaster_at, app_at,
            f"disaster to the API ready and the application answering through its Service ({app_url})",
        ))  # fmt: skip
    return RestoreResult(
        snapshot=snap, disaster_at=disaster_at, api_ready_at=ready_at, acked_before=before, acked_after=after,
        expected_lost=expected, lost=lost, missing_before=missing_before, verdicts=verdicts,
    )  # fmt: skip


def _timed(name: str, objective_s: float, since: float, at: float | None, what: str, note: str = "") -> slo.Verdict:
    """A time from the disaster to ``at`` (None: never within the time limit) against ``objective_s``."""
    took = None if at is None else at - since
    shown = "never within the time limit" if took is None else f"{took:.1f} s"
    return slo.Verdict(
        name, objective_s, took, "s", took is not None and took <= objective_s,
        f"{what}: {shown} ({note}objective {objective_s:.0f} s)",
    )  # fmt: skip
