"""Killing a master: a container fault where the master is a container, a power cut where it is a host
(``ssh://``), with the same checks recorded for the revert; and what such a mixed inventory provides to
experiments' requirements. Inventories are written by hand."""

from __future__ import annotations

import pytest

from hadrill.errors import ConfigError
from hadrill.faults.kinds import fault_class
from hadrill.faults.kube import ControlPlaneFault, ControlPlanePowerOff, kill_control_plane_node
from hadrill.inventory import Cluster, Inventory, Member, Node

SSH = "ssh://root@10.0.0.11?ssh_config=/k/config&ssh_identity_file=/k/id"


def cluster_of_two() -> Inventory:
    nodes = [Node(name="cp1", url=SSH, roles=["master"]), Node(name="cp2", url="docker://cp2", roles=["master"])]
    masters = [
        Member(name=n, node=n, endpoints={"api": f"https://10.0.0.1{i}:6443"}) for i, n in ((1, "cp1"), (2, "cp2"))
    ]
    kube = Cluster(
        name="kubernetes", type="kubernetes", members=masters, failure_budget=1,
        settings={"api": "https://10.0.0.100:6443", "kubeconfig": "/k/admin.conf"},
    )  # fmt: skip
    stacked = [Member(name=n, node=n) for n in ("cp1", "cp2")]
    etcd = Cluster(name="k8s-etcd", type="etcd", members=stacked, failure_budget=1)
    return Inventory(platform="lab:k", source="lab", nodes=nodes, clusters=[kube, etcd])


def test_a_master_reached_over_ssh_is_powered_off_with_the_masters_checks() -> None:
    fault = kill_control_plane_node(cluster_of_two(), which="cp1", time_limit=90)
    assert isinstance(fault, ControlPlanePowerOff)
    assert (fault.target, fault.off, fault.on, fault.container, fault.time_limit) == (SSH, "ssh", "lab", "cp1", 90)
    # gated as the Kubernetes cluster's member (the probes read members[0]), not the first cluster on the node
    assert (fault.cluster, fault.members, fault.nodes, fault.failure_budget) == (
        "lab:k/kubernetes", ("cp1",), ("cp1",), 1
    )
    p = fault.params()
    assert p["api"] == "https://10.0.0.11:6443" and p["api_kubeconfig"] == "/k/admin.conf" and p["chosen_by"] == "cp1"
    assert fault_class(fault.kind) is ControlPlanePowerOff


def test_a_master_container_is_still_a_container_fault() -> None:
    fault = kill_control_plane_node(cluster_of_two(), which="cp2", action="stop")
    assert type(fault) is ControlPlaneFault and fault.target == "docker://cp2" and fault.action == "stop"


@pytest.mark.parametrize("action", ["stop", "pause", "restart"])
def test_only_a_kill_is_a_power_cut(action: str) -> None:
    with pytest.raises(ConfigError, match=f"kill \\(a power cut\\) for master cp1 at ssh://root@10.0.0.11: {action}"):
        kill_control_plane_node(cluster_of_two(), which="cp1", action=action)  # type: ignore[arg-type]


