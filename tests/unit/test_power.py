"""Power faults: which drivers a plan picks, and the refusals that keep a power cut revertible."""

from __future__ import annotations

import pytest

from hadrill.errors import ConfigError, InjectionFailed
from hadrill.faults.kinds import fault_class
from hadrill.faults.power import PowerOff, power_off
from hadrill.inventory import Cluster, Inventory, Member, Node

SSH = "ssh://root@10.0.0.11?ssh_config=/k/config&ssh_identity_file=/k/id"


def fleet(source: str) -> Inventory:
    nodes = [
        Node(name="m1", url=SSH, roles=["etcd"]),
        Node(name="m2", url="docker://m2", roles=["etcd"]),
        Node(name="m3", url="ssh://root@10.0.0.13", roles=["etcd"]),
    ]
    members = [Member(name=f"e{i}", node=f"m{i}") for i in (1, 2, 3)]
    return Inventory(
        platform="p",
        source=source,
        nodes=nodes,
        clusters=[Cluster(name="etcd", type="etcd", members=members, failure_budget=1)],
    )


def test_a_lab_node_over_ssh_is_cut_over_ssh_and_powered_on_by_the_engine() -> None:
    fault = power_off(fleet("lab"), "m1", time_limit=30)
    assert (fault.off, fault.on, fault.container, fault.target) == ("ssh", "lab", "m1", SSH)
    # the safety gate counts the etcd member on that node as lost
    assert (fault.members, fault.nodes, fault.failure_budget) == (("e1",), ("m1",), 1)
    assert fault_class("power.off") is PowerOff


def test_a_docker_node_uses_the_lab_driver_both_ways() -> None:
    fault = power_off(fleet("lab"), "m2")
    assert (fault.off, fault.on, fault.container) == ("lab", "lab", "m2")


def test_a_real_fleet_without_an_on_driver_is_refused_with_how_to_bring_it_back() -> None:
    fault = power_off(fleet("manual"), "m3")
    assert (fault.off, fault.on, fault.container) == ("ssh", None, "")
    with pytest.raises(InjectionFailed, match="no driver can power it on again") as e:
        fault.params()  # refused before anything touches the node
    assert "systemctl poweroff --force --force" in str(e.value) and "console" in str(e.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"off": "ipmi", "on": "lab", "container": "m1"}, "off driver 'ipmi'"),
        ({"off": "ssh", "on": "ssh", "container": "m1"}, "only lab can power a node on"),
        ({"off": "lab", "on": "lab", "container": ""}, "needs the node's container"),
    ],
)
def test_bad_driver_combinations_are_refused(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(InjectionFailed, match=message):
        PowerOff(target=SSH, **kwargs).params()  # type: ignore[arg-type]


def test_ssh_off_needs_an_ssh_node() -> None:
    with pytest.raises(InjectionFailed, match="needs an ssh:// node"):
        PowerOff(target="docker://m2", off="ssh", on="lab", container="m2").params()


def test_an_unknown_node_names_the_field() -> None:
    with pytest.raises(ConfigError) as e:
        power_off(fleet("lab"), "nope")
    assert e.value.field == "nodes" and "m1" in e.value.expected
