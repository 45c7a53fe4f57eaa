"""Which Go binaries share one `go build`, and the file name `go build -o DIR` gives each."""

from __future__ import annotations

import pytest

from hadrill.lab import gobuild
from hadrill.lab.gobuild import GoBinary, build_groups, etcd_binaries, kubernetes_binaries, kwok_binaries


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        ("k8s.io/kubernetes/cmd/kube-apiserver", "kube-apiserver"),
        ("go.etcd.io/etcd/server/v3", "server"),  # a major-version suffix is skipped, as cmd/go does
        ("go.etcd.io/etcd/etcdctl/v3", "etcdctl"),
        ("example.com/tool/v1", "v1"),  # v0 and v1 are never major-version suffixes
        ("example.com/tool/v0", "v0"),
        ("example.com/tool/v10", "tool"),
        ("example.com/tool/v2x", "v2x"),
        ("tool", "tool"),
    ],
)
def test_exec_name(package: str, expected: str) -> None:
    assert GoBinary("x", package, "v1.0.0", ()).exec_name == expected


def test_default_lab_is_three_builds() -> None:
    binaries = [*kubernetes_binaries("v1.34.4"), *etcd_binaries("v3.6.16"), *kwok_binaries()]
    names = [[b.name for b in g] for g in build_groups(binaries)]
    assert names == [
        ["kube-apiserver", "kube-controller-manager", "kube-scheduler"],
        ["etcd", "etcdctl", "etcdutl"],
        ["kwok"],
    ]


def test_versions_and_ldflags_split_groups() -> None:
    binaries = [*etcd_binaries("v3.6.16"), *etcd_binaries("v3.5.21")]
    assert [len(g) for g in build_groups(binaries)] == [3, 3]
    a = GoBinary("a", "m/cmd/a", "v1", (("m", "v1"),), ldflags=("-X m.v=1",), group="m")
    b = GoBinary("b", "m/cmd/b", "v1", (("m", "v1"),), ldflags=("-X m.v=2",), group="m")
    c = GoBinary("c", "m/cmd/c", "v1", (("m", "v1"),), ldflags=("-X m.v=1",), group="m")
    assert [[x.name for x in g] for g in build_groups([a, b, c])] == [["a", "c"], ["b"]]


def test_same_output_name_builds_apart() -> None:
    one = GoBinary("one", "m/one/v3", "v3.0.0", (("m", "v3.0.0"),), group="m")
    two = GoBinary("two", "m/other/one", "v3.0.0", (("m", "v3.0.0"),), group="m")  # both write DIR/one
    assert [[x.name for x in g] for g in build_groups([one, two])] == [["one"], ["two"]]


def test_ungrouped_binaries_build_alone() -> None:
    a = GoBinary("a", "m/cmd/a", "v1", (("m", "v1"),))
    b = GoBinary("b", "m/cmd/b", "v1", (("m", "v1"),))
    assert [len(g) for g in build_groups([a, b])] == [1, 1]


def test_go_mod_of_a_group_requires_each_module_once() -> None:
    text = gobuild._go_mod([("m", "v1"), ("n", "v1"), ("m", "v1")], [("k8s.io/api", "v0.34")])
    assert text.splitlines()[4:] == ["require m v1", "require n v1", "replace k8s.io/api => k8s.io/api v0.34"]


@pytest.mark.parametrize(("env", "expected"), [("", "8"), ("3", "3"), ("0", "8"), ("x", "8")])
def test_jobs_default_to_every_core(monkeypatch: pytest.MonkeyPatch, env: str, expected: str) -> None:
    monkeypatch.setattr(gobuild.os, "cpu_count", lambda: 8)
    monkeypatch.setenv("HADRILL_GO_JOBS", env)
    assert gobuild._jobs() == expected


def test_kubeadm_node_binaries_join_the_control_planes_build() -> None:
    """kubelet, kubeadm, kubectl and kube-proxy share k8s.io/kubernetes' packages with the control plane:
    one `go build` for all seven when none is cached."""
    binaries = [*kubernetes_binaries("v1.34.4"), *kubernetes_binaries("v1.34.4", gobuild.KUBE_NODE)]
    names = [[b.name for b in g] for g in build_groups(binaries)]
    assert names == [
        ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubeadm", "kubectl", "kube-proxy"]
    ]
    assert {b.package for b in binaries} >= {"k8s.io/kubernetes/cmd/kubelet", "k8s.io/kubernetes/cmd/kube-proxy"}
