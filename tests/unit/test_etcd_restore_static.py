"""The pure parts of the restore drill on kubeadm static-pod masters (:mod:`hadrill.faults.etcd_restore_static`):
the member read from kubeadm's etcd manifest, the etcdutl command line per member (expected strings written
by hand from Kubernetes' "Restoring an etcd cluster" and etcdutl's flags), and the manifest moves, run for
real in a shell on temporary directories."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from hadrill.errors import TargetError
from hadrill.faults import etcd_restore_static as s

# the shape kubeadm 1.34 writes for a joined master (trimmed to the flags read, plus two around them)
MANIFEST = """apiVersion: v1
kind: Pod
metadata: {name: etcd, namespace: kube-system}
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls=https://10.1.0.102:2379
    - --data-dir=/var/lib/etcd
    - --initial-advertise-peer-urls=https://10.1.0.102:2380
    - --initial-cluster=cp1=https://10.1.0.101:2380,cp2=https://10.1.0.102:2380
    - --initial-cluster-state=existing
    - --name=cp2
    image: registry.k8s.io/etcd:3.6.5-0
    name: etcd
"""

MEMBERS = [
    {"name": "cp1", "peer_url": "https://10.1.0.101:2380"},
    {"name": "cp2", "peer_url": "https://10.1.0.102:2380"},
    {"name": "cp3", "peer_url": "https://10.1.0.103:2380"},
]


def test_the_member_is_read_from_kubeadm_s_etcd_manifest() -> None:
    assert s.member_from_manifest(MANIFEST) == {
        "name": "cp2", "peer_url": "https://10.1.0.102:2380", "data_dir": "/var/lib/etcd",
        "image": "registry.k8s.io/etcd:3.6.5-0",
    }  # fmt: skip


def test_a_manifest_without_the_member_s_name_is_refused() -> None:
    with pytest.raises(TargetError, match="--name"):
        s.member_from_manifest(MANIFEST.replace("    - --name=cp2\n", ""))


def test_initial_cluster_names_every_member_not_only_the_manifest_s() -> None:
    # the first master's manifest lists only itself (kubeadm init): the restore needs all three
    assert (
        s.initial_cluster(MEMBERS)
        == "cp1=https://10.1.0.101:2380,cp2=https://10.1.0.102:2380,cp3=https://10.1.0.103:2380"
    )


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (0, "etcdutl snapshot restore /var/lib/hadrill-restore/snapshot.db --name=cp1 "
            "--initial-cluster=cp1=https://10.1.0.101:2380,cp2=https://10.1.0.102:2380,cp3=https://10.1.0.103:2380 "
            "--initial-cluster-token=hadrill-restore-ab12cd --initial-advertise-peer-urls=https://10.1.0.101:2380 "
            "--data-dir=/var/lib/hadrill-restore/restore-f1 --bump-revision=1000000000 --mark-compacted"),
        (2, "etcdutl snapshot restore /var/lib/hadrill-restore/snapshot.db --name=cp3 "
            "--initial-cluster=cp1=https://10.1.0.101:2380,cp2=https://10.1.0.102:2380,cp3=https://10.1.0.103:2380 "
            "--initial-cluster-token=hadrill-restore-ab12cd --initial-advertise-peer-urls=https://10.1.0.103:2380 "
            "--data-dir=/var/lib/hadrill-restore/restore-f1 --bump-revision=1000000000 --mark-compacted"),
    ],
)  # fmt: skip
def test_the_etcdutl_restore_command_of_each_member(member: int, expected: str) -> None:
    cmd = s.restore_command(MEMBERS[member], MEMBERS, "hadrill-restore-ab12cd", "/var/lib/hadrill-restore/restore-f1")
    assert cmd == expected


def test_a_member_name_with_a_space_is_quoted() -> None:
    odd = {"name": "cp one", "peer_url": "https://10.1.0.101:2380"}
    assert "'--name=cp one'" in s.restore_command(odd, [odd], "t", "/d")


def test_ctr_run_clears_a_leftover_container_and_binds_the_paths() -> None:
    assert s.ctr_run("hadrill.local/etcd:3.6.16-0", "hadrill-x", "etcdutl version", (("/a", "ro"), ("/b", "rw")),
                     net_host=True) == (
        "ctr -n k8s.io task rm -f hadrill-x >/dev/null 2>&1; ctr -n k8s.io container rm hadrill-x >/dev/null 2>&1; "
        "ctr -n k8s.io run --rm --net-host --mount type=bind,src=/a,dst=/a,options=rbind:ro "
        "--mount type=bind,src=/b,dst=/b,options=rbind:rw hadrill.local/etcd:3.6.16-0 hadrill-x etcdutl version"
    )  # fmt: skip


def _sh(script: str) -> None:
    subprocess.run(["sh", "-c", script], check=True, timeout=10)


def test_park_and_unpark_move_only_etcd_and_the_api_server_and_are_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests, parked = tmp_path / "manifests", tmp_path / "parked"
    manifests.mkdir()
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        (manifests / f"{name}.yaml").write_text(name)
    monkeypatch.setattr(s, "MANIFESTS", str(manifests))
    monkeypatch.setattr(s, "PARKED", str(parked))

    _sh(s.park_script("f1"))
    _sh(s.park_script("f1"))  # again (a retried inject, the revert parking again): nothing lost
    assert sorted(p.name for p in manifests.iterdir()) == ["kube-controller-manager.yaml", "kube-scheduler.yaml"]
    assert sorted(p.name for p in Path(f"{parked}-f1").iterdir()) == ["etcd.yaml", "kube-apiserver.yaml"]

    _sh(s.unpark_script("f1"))
    _sh(s.unpark_script("f1"))  # the deadman and the revert both ran: fine
    assert sorted(p.name for p in manifests.iterdir()) == [
        "etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml",
    ]  # fmt: skip
    assert (manifests / "etcd.yaml").read_text() == "etcd"
    assert not Path(f"{parked}-f1").exists()


def test_the_restore_script_skips_a_member_already_restored_for_this_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s, "WORK_DIR", str(tmp_path))
    monkeypatch.setattr(s, "MANIFESTS", str(tmp_path / "manifests"))
    (tmp_path / "restored-f1").touch()
    member = {**MEMBERS[0], "data_dir": str(tmp_path / "data"), "image": "e:1"}
    _sh(s.restore_member_script("f1", member, MEMBERS, "t"))  # exits 0 at once: no ctr, no data touched
    assert not (tmp_path / "data").exists() and not (tmp_path / "manifests").exists()


def test_the_snapshot_travels_through_the_shell_on_a_target_that_is_no_container(tmp_path: Path) -> None:
    """The path ssh:// masters take (base64 through the shell both ways, a .part renamed into place), here
    on local://: every byte value, and more than one 60 kB chunk of Target.put_file."""
    from hadrill.clients.targets import target

    data = bytes(range(256)) * 1000  # 256 kB
    path = str(tmp_path / "snapshot.db")
    t = target("local://")
    s.write_file(t, path, data)
    assert Path(path).read_bytes() == data
    assert oct(Path(path).stat().st_mode & 0o777) == "0o600"
    assert not Path(f"{path}.part").exists()
    assert s.read_file(t, path) == data


def test_the_restore_script_waits_for_the_other_restore_on_the_same_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadman and the revert meeting on one host: the second waits for the first's lock, then finds
    the member restored (the marker the first left) and does nothing."""
    monkeypatch.setattr(s, "WORK_DIR", str(tmp_path))
    member = {**MEMBERS[0], "data_dir": str(tmp_path / "data"), "image": "e:1"}
    holder = subprocess.Popen(["sh", "-c", f"exec 9>>{tmp_path}/.lock; flock 9; sleep 1; touch {tmp_path}/restored-f1"])
    time.sleep(0.3)  # the holder has the lock
    start = time.monotonic()
    _sh(s.restore_member_script("f1", member, MEMBERS, "t"))
    assert holder.wait(timeout=10) == 0
    assert time.monotonic() - start >= 0.5  # it waited for the lock rather than restoring beside it
    assert not (tmp_path / "data").exists()
