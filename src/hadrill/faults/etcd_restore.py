"""The etcd restore fault: destroy etcd's data on every master of a hadrill Kubernetes cluster, and restore
every member from a snapshot to revert it (the disaster of :mod:`hadrill.restore`'s drill).

Inject: on every master the supervisor's restart of the control-plane daemons is paused (SIGSTOP of the
supervising shell, the kubelet's role), etcd, kube-apiserver, kube-controller-manager and kube-scheduler
are killed, and etcd's data directory is destroyed. Revert: every member is restored from the snapshot
with ``etcdutl snapshot restore`` (a new ``--initial-cluster-token``, the same member names and peer URLs,
the revision bumped and marked compacted so informers relist), then the supervisors resume.

The fault has no deadman (a dead harness cannot be replaced by a timer that restores a cluster), but
its revert is idempotent and needs only the record: it restores every member whose data directory is
not a restore of this fault's snapshot, and resumes the supervisors, so ``hadrill recover`` finishes a
drill that died midway.
"""

from __future__ import annotations

import shlex
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hadrill.clients import docker
from hadrill.errors import InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import Fault
from hadrill.faults.ledger import FaultRecord
from hadrill.inventory import Inventory

__all__ = [
    "DAEMONS", "DATA_DIR", "PKI", "SNAPSHOT", "WORK_DIR", "DrillObjects", "EtcdRestoreFault", "Master", "masters",
]  # fmt: skip

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


@dataclass(frozen=True)
class Master:
    """A control-plane node: its container, its etcd member name and address."""

    name: str
    container: str
    ip: str

    @property
    def peer_url(self) -> str:
        return f"https://{self.ip}:2380"

    @property
    def url(self) -> str:
        return f"docker://{self.container}"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "container": self.container, "ip": self.ip}


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
    docker.sh(container, cmd, timeout=30)


def _resume(container: str) -> None:
    """Resume every stopped process (the supervising shells): they restart their daemons after 1 s."""
    cmd = "for p in $(ps -eo pid=,stat= | awk '$2 ~ /^T/ {print $1}'); do kill -CONT $p; done; true"
    docker.sh(container, cmd, timeout=20)


def _alive(container: str) -> list[str]:
    _, out = docker.sh(container, "; ".join(f'[ -n "$({_pids(d)})" ] && echo {d}' for d in DAEMONS) + "; true")
    return out.split()


def _put_snapshot(container: str, data: bytes) -> None:
    docker.put_file(container, WORK_DIR, SNAPSHOT.rsplit("/", 1)[1], data)


def _restore_member(m: dict[str, str], members: list[dict[str, str]], token: str, marker: str) -> None:
    """Restore one member's data dir from the snapshot (idempotent: skipped once ``marker`` exists)."""
    initial = ",".join(f"{x['name']}=https://{x['ip']}:2380" for x in members)
    peer = shlex.quote(f"https://{m['ip']}:2380")
    cmd = (
        f"[ -e {marker} ] && exit 0; rm -rf {DATA_DIR} && etcdutl snapshot restore {SNAPSHOT} "
        f"--name={shlex.quote(m['name'])} --initial-cluster={shlex.quote(initial)} "
        f"--initial-cluster-token={shlex.quote(token)} --initial-advertise-peer-urls={peer} "
        f"--data-dir={DATA_DIR} --bump-revision={BUMP_REVISION} --mark-compacted >/dev/null 2>&1 && touch {marker}"
    )
    docker.sh(m["container"], cmd, timeout=60)


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
            docker.sh(m["container"], f"test -s {SNAPSHOT}", timeout=10)  # never destroy without a snapshot in place
        for m in record.params["masters"]:
            _pause_and_kill(m["container"])
        for m in record.params["masters"]:
            docker.sh(m["container"], f"rm -rf {DATA_DIR} {WORK_DIR}/restored-*", timeout=30)

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
            rc, _ = docker.sh(m["container"], f"test -e {DATA_DIR}", check=False, timeout=10)
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
            if not docker.running(m["container"]):
                docker.container(m["container"]).start()
            rc, _ = docker.sh(m["container"], f"test -s {SNAPSHOT}", check=False, timeout=10)
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


# -- what the drill creates ------------------------------------------------------------------------------
@dataclass
class DrillObjects(Fault):
    """Everything the restore drill creates, recorded in the ledger *before* it is created, so that the
    drill's end (this "fault"'s revert) or ``hadrill recover`` removes it: API objects (``objects``:
    paths to DELETE, e.g. the backup CronJob with the PKI mounted, the probe namespace and its
    ConfigMaps), the snapshot on the host (``host_files``; moved to ``keep_dir`` instead when given) and
    the snapshot and restore markers on the masters (under ``WORK_DIR``). Every snapshot holds every
    Secret of the cluster: none is kept unless asked for.
    """

    api: str = ""
    api_access: dict[str, Any] = field(default_factory=dict)  # clients.kube.api_reference: never a credential
    objects: tuple[str, ...] = ()
    host_files: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    keep_dir: str = ""
    kind: ClassVar[str] = "etcd-restore.objects"

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "api": self.api,
            **self.api_access,
            "objects": list(self.objects),
            "host_files": list(self.host_files),
            "containers": list(self.containers),
            "keep_dir": self.keep_dir,
        }

    def inject(self, record: FaultRecord) -> None:
        """Nothing: the drill creates the objects; the record exists so that they are removed."""

    def prove(self, record: FaultRecord) -> str:
        return f"{len(record.params['objects'])} object(s) and the snapshots recorded for removal"

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        p = record.params
        problems = []
        if p["objects"]:
            from hadrill.clients.kube import KubeApiError, member_api

            try:  # the way the drill reached the API: TLS files, a kubeconfig at its context, in-cluster
                api = member_api(p, timeout=10.0)
            except TargetError as e:  # a kubeconfig's exec plugin failing now
                api, problems = None, [f"API {p['api']}: {e}"]
            if api is None and not problems:
                problems.append(f"API objects {p['objects']}: no credentials recorded to reach {p['api'] or '?'}")
            for path in p["objects"]:  # newest first: a namespace last
                if api is None:
                    break
                try:
                    api.request("DELETE", path, {"propagationPolicy": "Background"})
                except KubeApiError as e:
                    if e.status != 404:
                        problems.append(f"DELETE {path}: {e}")
        for name in p["containers"]:
            try:
                if docker.running(name):
                    docker.sh(name, f"rm -f {SNAPSHOT} {SNAPSHOT}.part {WORK_DIR}/restored-*", timeout=20)
            except TargetError as e:
                problems.append(str(e))
        for f in map(Path, p["host_files"]):
            if p["keep_dir"] and f.is_file():
                keep = Path(p["keep_dir"])
                keep.mkdir(mode=0o700, parents=True, exist_ok=True)
                shutil.move(str(f), keep / f.name)
            f.unlink(missing_ok=True)
        if problems:
            raise RevertFailed(f"restore drill leftovers not removed: {'; '.join(problems)}")
