"""The etcd restore fault on kubeadm masters: etcd and the API server are static pods the kubelet runs.

This is the master-restore procedure of a kubeadm cluster (Kubernetes' "Restoring an etcd cluster"),
on every master, reached through :func:`hadrill.clients.targets.target` (``docker://`` host nodes of the
lab and ``ssh://`` hosts alike):

Inject (the disaster): the etcd and kube-apiserver manifests are moved out of
``/etc/kubernetes/manifests`` (to ``/etc/kubernetes/hadrill-parked-<fault>``) so the kubelet stops
both pods; once their processes are gone, etcd's data (``<data-dir>/member``) is destroyed.
Revert: every member is restored from the snapshot with ``etcdutl snapshot restore`` (a new
``--initial-cluster-token``, each member's ``--name`` and ``--initial-advertise-peer-urls`` as its
manifest has them, the revision bumped and marked compacted so informers relist), run from the etcd
image the manifest names (``ctr run``: the image holds etcdutl, the host needs none), then the
manifests go back and the kubelet starts the pods again.

Unlike the lab's container masters, a host can run its own deadman: a transient systemd timer
(:mod:`hadrill.faults.systemd_timer`) on each master runs that master's half of the revert at the
deadline (restore its member unless already done, put the manifests back), so a killed harness never
leaves a cluster with its control plane moved out. The revert is idempotent: a member restored for
this fault (marker ``restored-<fault>``) is never restored again, and the restored data is kept.
"""

from __future__ import annotations

import base64
import json
import shlex
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from hadrill.clients import docker
from hadrill.clients.targets import Target, target
from hadrill.errors import InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import Fault
from hadrill.faults.etcd_restore import BUMP_REVISION, DrillObjects
from hadrill.faults.ledger import FaultRecord
from hadrill.faults.systemd_timer import arm_timer, disarm_timer, has_systemd
from hadrill.inventory import Inventory

__all__ = [
    "MANIFESTS", "PARKED", "SNAPSHOT", "STOPPED_PODS", "WORK_DIR", "StaticDrillObjects", "StaticEtcdRestoreFault",
    "StaticMaster", "ctr_run", "initial_cluster", "is_static_pod_master", "member_from_manifest",
    "restore_command", "save_snapshot", "static_masters",
]  # fmt: skip

MANIFESTS = "/etc/kubernetes/manifests"
PARKED = "/etc/kubernetes/hadrill-parked"  # + "-<fault id>": outside the directory the kubelet watches
STOPPED_PODS = ("etcd", "kube-apiserver")  # their manifests are moved; the processes the kubelet stops
WORK_DIR = "/var/lib/hadrill-restore"  # outside etcd's data dir: survives the disaster
SNAPSHOT = f"{WORK_DIR}/snapshot.db"
PKI = "/etc/kubernetes/pki"
_CTR = "ctr -n k8s.io"
_STOP_WAIT_S = 90  # the kubelet stops a static pod within its grace period (30 s) after its manifest goes


@dataclass(frozen=True)
class StaticMaster:
    """A kubeadm master: its inventory node, how to reach it, and its etcd member as its manifest says."""

    name: str  # the etcd member name (--name)
    node: str
    url: str
    peer_url: str
    data_dir: str
    image: str

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def member_from_manifest(text: str) -> dict[str, str]:
    """The etcd member a kubeadm ``etcd.yaml`` static pod runs: name, peer URL, data dir and image.

    >>> m = member_from_manifest('spec: {containers: [{name: etcd, image: "e:1", command: [etcd, '
    ...     '--name=m1, --data-dir=/var/lib/etcd, "--initial-advertise-peer-urls=https://10.0.0.1:2380"]}]}')
    >>> (m["name"], m["peer_url"], m["data_dir"], m["image"])
    ('m1', 'https://10.0.0.1:2380', '/var/lib/etcd', 'e:1')
    """
    pod = yaml.safe_load(text) or {}
    containers = (pod.get("spec") or {}).get("containers") or []
    etcd = next((c for c in containers if c.get("name") == "etcd"), containers[0] if containers else {})
    flags: dict[str, str] = {}
    for arg in [*(etcd.get("command") or []), *(etcd.get("args") or [])]:
        key, sep, value = str(arg).partition("=")
        if sep and key.startswith("--"):
            flags[key[2:]] = value
    wanted = {"name": "name", "peer_url": "initial-advertise-peer-urls", "data_dir": "data-dir"}
    missing = [f"--{flag}" for flag in wanted.values() if not flags.get(flag)]
    if missing or not etcd.get("image"):
        raise TargetError(f"etcd manifest without {', '.join(missing or ['image'])}")
    out = {key: flags[flag].split(",")[0] for key, flag in wanted.items()}
    return {**out, "image": str(etcd["image"])}


def is_static_pod_master(t: Target) -> bool:
    """A systemd host whose kubelet runs etcd as a static pod (kubeadm's stacked etcd)."""
    return has_systemd(t) and t.run(f"test -f {MANIFESTS}/etcd.yaml", timeout=10).ok


def static_masters(inventory: Inventory, cluster: str = "k8s-etcd") -> list[StaticMaster] | None:
    """The etcd members of a kubeadm cluster, read from each master's manifest; None when the first
    member's node is not a static-pod master (the lab's container masters: :func:`etcd_restore.masters`)."""
    c = inventory.cluster(cluster)
    out = []
    for i, m in enumerate(c.members):
        url = inventory.node(m.node).url
        t = target(url)
        if not is_static_pod_master(t):
            if i == 0:
                return None
            raise TargetError(f"{m.node} ({url}) has no {MANIFESTS}/etcd.yaml, unlike {c.members[0].node}")
        member = member_from_manifest(t.check(f"cat {MANIFESTS}/etcd.yaml", timeout=10))
        if member["name"] != m.name:
            raise TargetError(f"{url}: the etcd manifest names the member {member['name']}, the inventory {m.name}")
        out.append(StaticMaster(node=m.node, url=url, **member))
    return out


# -- commands (pure: unit-tested) ----------------------------------------------------------------------
def initial_cluster(members: list[dict[str, str]]) -> str:
    """``--initial-cluster``: every member's name and peer URL, in the inventory's order."""
    return ",".join(f"{m['name']}={m['peer_url']}" for m in members)


def restore_command(member: dict[str, str], members: list[dict[str, str]], token: str, out_dir: str) -> str:
    """The etcdutl command line restoring ``member`` from the snapshot into ``out_dir``."""
    return shlex.join([
        "etcdutl", "snapshot", "restore", SNAPSHOT, f"--name={member['name']}",
        f"--initial-cluster={initial_cluster(members)}", f"--initial-cluster-token={token}",
        f"--initial-advertise-peer-urls={member['peer_url']}", f"--data-dir={out_dir}",
        f"--bump-revision={BUMP_REVISION}", "--mark-compacted",
    ])  # fmt: skip


def ctr_run(image: str, name: str, command: str, mounts: tuple[tuple[str, str], ...], *, net_host: bool = False) -> str:
    """Shell: run ``command`` (already quoted) once in a throwaway container of ``image`` in the node's
    containerd, the host paths ``mounts`` (path, "ro"|"rw") bound at the same place. A container of the
    same name left by a killed run is removed first."""
    binds = " ".join(f"--mount type=bind,src={p},dst={p},options=rbind:{mode}" for p, mode in mounts)
    net = " --net-host" if net_host else ""
    clear = f"{_CTR} task rm -f {name} >/dev/null 2>&1; {_CTR} container rm {name} >/dev/null 2>&1"
    return f"{clear}; {_CTR} run --rm{net} {binds} {shlex.quote(image)} {name} {command}"


def _parked(record_id: str) -> str:
    return f"{PARKED}-{record_id}"


def _marker(record_id: str) -> str:
    return f"{WORK_DIR}/restored-{record_id}"


def _running_check() -> str:
    """Shell: the names of the stopped pods' processes still running (empty when none)."""
    return "; ".join(f"pgrep -x {p} >/dev/null && echo {p}" for p in STOPPED_PODS) + "; true"


def park_script(record_id: str) -> str:
    """Shell: move the etcd and kube-apiserver manifests out of the kubelet's directory (idempotent)."""
    parked = _parked(record_id)
    moves = "; ".join(
        f"if [ -e {MANIFESTS}/{p}.yaml ]; then mv -f {MANIFESTS}/{p}.yaml {parked}/{p}.yaml; fi" for p in STOPPED_PODS
    )
    return f"mkdir -p {parked} && chmod 700 {parked} && {moves}"


def wait_stopped_script(seconds: int = _STOP_WAIT_S) -> str:
    """Shell: wait (bounded) until no etcd or kube-apiserver process runs; exit 1 if one still does."""
    alive = " ".join(f"$(pgrep -x {p})" for p in STOPPED_PODS)
    return (
        f'for i in $(seq 1 {seconds * 4}); do [ -z "$(echo {alive} | tr -d " ")" ] && exit 0; sleep 0.25; done; '
        f'[ -z "$(echo {alive} | tr -d " ")" ]'
    )


def unpark_script(record_id: str) -> str:
    """Shell: the parked manifests back where the kubelet reads them (idempotent)."""
    parked = _parked(record_id)
    moves = "; ".join(
        f"if [ -e {parked}/{p}.yaml ]; then mv -f {parked}/{p}.yaml {MANIFESTS}/{p}.yaml; fi" for p in STOPPED_PODS
    )
    return f"if [ -d {parked} ]; then {moves}; rmdir {parked}; fi"


def restore_member_script(record_id: str, member: dict[str, str], members: list[dict[str, str]], token: str) -> str:
    """Shell: restore one member's data dir from the snapshot, once per fault (marker), with its pods
    stopped first (a master whose manifests came back meanwhile runs an empty etcd), under a lock (the
    deadman and the revert never restore the same host at once)."""
    data, marker = member["data_dir"], _marker(record_id)
    staging = f"{WORK_DIR}/restore-{record_id}"
    run = ctr_run(
        member["image"], f"hadrill-restore-{record_id}", restore_command(member, members, token, staging),
        ((WORK_DIR, "rw"),),
    )  # fmt: skip
    log = f"{WORK_DIR}/restore-{record_id}.log"
    return "\n".join([
        # one restore at a time per host: the deadman's timer and the harness's revert may meet here
        f"mkdir -p {WORK_DIR} && exec 9>>{WORK_DIR}/.lock && flock -w {_STOP_WAIT_S + 120} 9 || exit 7",
        f"[ -e {marker} ] && exit 0",
        f"test -s {SNAPSHOT} || {{ echo no snapshot at {SNAPSHOT}; exit 3; }}",
        f"{park_script(record_id)} || exit 4",
        f"( {wait_stopped_script()} ) || {{ echo etcd or kube-apiserver still runs; exit 4; }}",
        f"rm -rf {staging}",
        f"{{ {run}; }} >{log} 2>&1 || {{ tail -5 {log}; exit 5; }}",
        # the data dir itself may be a mount point: replace what is in it, not the directory
        f"mkdir -p {data} && rm -rf {data}/member && mv {staging}/member {data}/member || exit 6",
        f"rm -rf {staging} {log}; touch {marker}",
    ])  # fmt: skip


# -- moving the snapshot -------------------------------------------------------------------------------
def read_file(t: Target, path: str) -> bytes:
    """A file's bytes from a node (the engine's archive API for ``docker://``, base64 over the shell else)."""
    if t.container:
        return docker.get_file(t.container, path)
    return base64.b64decode(t.check(f"base64 -w0 {shlex.quote(path)}", timeout=60))


def write_file(t: Target, path: str, data: bytes) -> None:
    """Write a file (0600) on a node, through a ``.part`` renamed into place."""
    directory, name = path.rsplit("/", 1)
    if t.container:
        docker.put_file(t.container, directory, f"{name}.part", data, mode=0o600)
    else:
        t.put_file(f"{path}.part", data, mode="0600")
    t.check(f"mv -f {shlex.quote(path)}.part {shlex.quote(path)}", timeout=10)


def save_snapshot(source: StaticMaster, targets: list[StaticMaster]) -> tuple[bytes, int, float]:
    """``etcdctl snapshot save`` on ``source`` (from its etcd image, on the host's network, with
    kubeadm's etcd health-check client certificate); (bytes, revision, when taken). The file is put in
    place on every target master, ready for the restore."""
    t = target(source.url)
    pki = f"{PKI}/etcd"
    save = shlex.join([
        "etcdctl", "--endpoints=https://127.0.0.1:2379", f"--cacert={pki}/ca.crt",
        f"--cert={pki}/healthcheck-client.crt", f"--key={pki}/healthcheck-client.key", "--command-timeout=60s",
        "snapshot", "save", f"{SNAPSHOT}.new",
    ])  # fmt: skip
    run = ctr_run(source.image, "hadrill-snapshot", save, ((pki, "ro"), (WORK_DIR, "rw")), net_host=True)
    log = f"{WORK_DIR}/snapshot.log"
    t.check(
        f"mkdir -p {WORK_DIR} && chmod 700 {WORK_DIR} && rm -f {SNAPSHOT}.new {SNAPSHOT}.new.part && "
        f"{{ {run}; }} >{log} 2>&1 && mv -f {SNAPSHOT}.new {SNAPSHOT} && rm -f {log} || {{ tail -5 {log}; exit 1; }}",
        timeout=90,
    )
    taken = time.time()
    status = ctr_run(source.image, "hadrill-snapshot-status", f"etcdutl snapshot status {SNAPSHOT} -w json",
                     ((WORK_DIR, "ro"),))  # fmt: skip
    out = t.check(f"{{ {status}; }} 2>/dev/null", timeout=60)
    line = next((x for x in out.splitlines() if '"revision"' in x), "")
    if not line:
        raise TargetError(f"{source.url}: etcdutl snapshot status printed no revision: {out[-300:]!r}")
    revision = int(json.loads(line[line.index("{") : line.index("}") + 1])["revision"])
    data = read_file(t, SNAPSHOT)
    for m in targets:
        if m.url != source.url:
            other = target(m.url)
            other.check(f"mkdir -p {WORK_DIR} && chmod 700 {WORK_DIR}", timeout=10)
            write_file(other, SNAPSHOT, data)
    return data, revision, taken


# -- the fault -----------------------------------------------------------------------------------------
def _each(record: FaultRecord) -> list[tuple[dict[str, str], Target]]:
    return [(m, target(m["url"])) for m in record.params["masters"]]


def _host_revert(record: FaultRecord, m: dict[str, str]) -> str:
    """Shell: this master's half of the revert (what its deadman timer runs): restore, manifests back."""
    p = record.params
    return f"( {restore_member_script(record.id, m, p['masters'], p['token'])} ); {unpark_script(record.id)}"


@dataclass
class StaticEtcdRestoreFault(Fault):
    """Stop etcd and the API server on every master (manifests moved out) and destroy etcd's data;
    revert = restore every member and put the manifests back. ``snapshot_on_host``: the snapshot's copy
    on the harness's machine, put back on a master that lost its own."""

    masters: tuple[StaticMaster, ...] = ()
    snapshot_on_host: str = ""
    token: str = ""
    kind: ClassVar[str] = "etcd-restore-static"

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "masters": [m.to_dict() for m in self.masters],
            "snapshot_on_host": self.snapshot_on_host,
            "token": self.token or f"hadrill-restore-{uuid.uuid4().hex[:8]}",
        }

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        record.params["deadman"] = "; ".join(
            f"{m['node']}: {arm_timer(t, record, _host_revert(record, m))}" for m, t in _each(record)
        )

    @classmethod
    def disarm(cls, record: FaultRecord) -> None:
        for _, t in _each(record):
            disarm_timer(t, record.id)

    def inject(self, record: FaultRecord) -> None:
        for m, t in _each(record):  # never destroy without a snapshot in place
            if not t.run(f"test -s {SNAPSHOT}", timeout=10).ok:
                raise InjectionFailed(f"{m['url']}: no snapshot at {SNAPSHOT}")
        record.params["injected_at"] = time.time()
        for _, t in _each(record):
            t.check(park_script(record.id), timeout=20)
        for m, t in _each(record):
            if not t.run(wait_stopped_script(), timeout=_STOP_WAIT_S + 10).ok:
                raise InjectionFailed(f"{m['url']}: etcd or kube-apiserver still runs {_STOP_WAIT_S} s after "
                                      "its manifest was moved out")  # fmt: skip
            record.params.setdefault("stopped_at", {})[m["node"]] = time.time()
        for m, t in _each(record):
            t.check(f"rm -rf {shlex.quote(m['data_dir'])}/member", timeout=60)

    def prove(self, record: FaultRecord) -> str:
        seen = []
        for m, t in _each(record):
            alive = t.run(_running_check(), timeout=10).stdout.split()
            if alive:
                raise InjectionFailed(f"{m['url']}: still running after the manifests moved: {', '.join(alive)}")
            if t.run(f"test -e {shlex.quote(m['data_dir'])}/member", timeout=10).ok:
                raise InjectionFailed(f"{m['url']}: {m['data_dir']}/member still exists")
            if t.run(f"test -e {MANIFESTS}/etcd.yaml || test -e {MANIFESTS}/kube-apiserver.yaml", timeout=10).ok:
                raise InjectionFailed(f"{m['url']}: a manifest is still in {MANIFESTS}")
            seen.append(m["node"])
        stopped = record.params.get("stopped_at", {})
        slowest = max(stopped.values(), default=record.params["injected_at"]) - record.params["injected_at"]
        return (
            f"etcd and kube-apiserver static pods stopped (manifests moved, processes gone within {slowest:.1f} s) "
            f"and etcd data destroyed on {', '.join(seen)}; deadman {record.params.get('deadman', '?')}"
        )

    @classmethod
    def restore(cls, record: FaultRecord) -> None:
        """Restore every member not yet restored for this record, then put every master's manifests back."""
        host = Path(record.params.get("snapshot_on_host") or "")
        try:
            for m, t in _each(record):
                has = t.run(f"test -e {_marker(record.id)} || test -s {SNAPSHOT}", timeout=10).ok
                if not has:
                    if not host.is_file():
                        raise RevertFailed(f"{m['url']}: no snapshot at {SNAPSHOT} and none on the host ({host})")
                    t.check(f"mkdir -p {WORK_DIR} && chmod 700 {WORK_DIR}", timeout=10)
                    write_file(t, SNAPSHOT, host.read_bytes())
            for m, t in _each(record):
                res = t.run(restore_member_script(record.id, m, record.params["masters"], record.params["token"]),
                            timeout=_STOP_WAIT_S + 120)  # fmt: skip
                if not res.ok:
                    raise RevertFailed(f"{m['url']}: restore of member {m['name']} failed (exit {res.rc}): "
                                       f"{(res.stdout + res.stderr).strip()[-400:]}")  # fmt: skip
            for _, t in _each(record):
                t.check(unpark_script(record.id), timeout=20)
            for m, t in _each(record):
                missing = t.run(
                    "; ".join(f"test -e {MANIFESTS}/{p}.yaml || echo {p}" for p in STOPPED_PODS) + "; true", timeout=10
                ).stdout.split()
                if missing:
                    raise RevertFailed(f"{m['url']}: manifests not back in {MANIFESTS}: {', '.join(missing)}")
        except TargetError as e:
            raise RevertFailed(f"etcd restore on static-pod masters: {e}") from e
        record.params["restored_at"] = time.time()

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        cls.restore(record)


# -- what the drill creates ------------------------------------------------------------------------------
@dataclass
class StaticDrillObjects(DrillObjects):
    """:class:`DrillObjects` of a drill on static-pod masters: also the snapshot (and restore markers)
    under ``WORK_DIR`` on each host in ``hosts`` (URLs). Nothing is removed while a master still has
    parked manifests (a restore not finished): its snapshot is what finishes it."""

    hosts: tuple[str, ...] = ()
    kind: ClassVar[str] = "etcd-restore-static.objects"

    def params(self) -> dict[str, Any]:
        return {**super().params(), "hosts": list(self.hosts)}

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        try:
            for url in record.params["hosts"]:
                if target(url).run(f"ls -d {PARKED}-* >/dev/null 2>&1", timeout=10).ok:
                    raise RevertFailed(f"{url}: manifests still parked (a restore not finished): snapshot kept")
            problems = []
            try:
                DrillObjects.revert(record)
            except RevertFailed as e:
                problems.append(str(e))
            for url in record.params["hosts"]:
                target(url).check(f"rm -rf {WORK_DIR}", timeout=20)
        except TargetError as e:
            raise RevertFailed(f"restore drill leftovers on the masters: {e}") from e
        if problems:
            raise RevertFailed("; ".join(problems))
