"""Power faults: which drivers a plan picks, and the refusals that keep a power cut revertible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from hadrill.clients import bmc as bmc_client
from hadrill.errors import ConfigError, InjectionFailed
from hadrill.faults.kinds import fault_class
from hadrill.faults.power import PowerOff, power_off
from hadrill.inventory import Bmc, Cluster, Inventory, Member, Node

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
        ({"off": "ipmi", "on": "lab", "container": "m1"}, "the ipmi driver needs the node's ipmi BMC.*it has no bmc"),
        ({"off": "sysrq", "on": "lab", "container": "m1"}, "off driver 'sysrq'"),
        ({"off": "ssh", "on": "ssh", "container": "m1"}, "on driver 'ssh': one of lab, ipmi, redfish"),
        ({"off": "redfish", "on": "redfish", "bmc": {"driver": "ipmi"}}, "needs the node's redfish BMC.*an ipmi BMC"),
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


# -- BMC drivers ---------------------------------------------------------------------------------------
def bmc_fleet(tmp_path: Path, driver: str = "ipmi") -> Inventory:
    secret = tmp_path / "bmc.pass"
    secret.write_text("s3cret-pw\n")
    secret.chmod(0o600)
    address = "10.0.9.11" if driver == "ipmi" else "https://10.0.9.11"
    bmc = Bmc(driver=driver, address=address, username="admin", password_file=str(secret))  # type: ignore[arg-type]
    inv = fleet("manual")
    nodes = [n.model_copy(update={"bmc": bmc}) if n.name == "m3" else n for n in inv.nodes]
    return inv.model_copy(update={"nodes": nodes})


@pytest.mark.parametrize("driver", ["ipmi", "redfish"])
def test_a_node_with_a_bmc_is_cut_and_powered_on_by_it_and_the_record_holds_no_password(
    tmp_path: Path, driver: str
) -> None:
    fault = power_off(bmc_fleet(tmp_path, driver), "m3")
    assert (fault.off, fault.on, fault.container) == (driver, driver, "")
    params = fault.params()
    assert params["bmc"]["password_file"] == str(tmp_path / "bmc.pass")
    assert "s3cret-pw" not in json.dumps(params)  # what the ledger records


def test_ipmitool_gets_the_password_by_file_and_a_cipher_suite_most_bmcs_speak(tmp_path: Path) -> None:
    spec = bmc_fleet(tmp_path).node("m3").bmc.model_dump()  # type: ignore[union-attr]
    argv = bmc_client.ipmitool_argv(spec, "chassis", "power", "off")
    assert argv[:3] == ["ipmitool", "-I", "lanplus"] and argv[-3:] == ["chassis", "power", "off"]
    assert argv[argv.index("-f") + 1] == str(tmp_path / "bmc.pass") and argv[argv.index("-C") + 1] == "3"
    assert "s3cret-pw" not in " ".join(argv) and "-P" not in argv


@pytest.mark.parametrize(
    ("text", "state"),
    [("Chassis Power is on\n", "on"), ("Chassis Power is off\n", "off"), ("Chassis Power is ON", "on")],
)
def test_ipmitool_power_status_is_read(text: str, state: str) -> None:
    assert bmc_client.parse_ipmi_power(text) == state


@pytest.mark.parametrize("text", ["", "Chassis Power Control: Down/Off", "Chassis Power is unknown"])
def test_an_unexpected_ipmitool_answer_is_an_error_not_a_state(text: str) -> None:
    with pytest.raises(bmc_client.BmcError, match="unexpected ipmitool power status"):
        bmc_client.parse_ipmi_power(text)


def test_a_password_file_others_can_read_is_refused_before_any_request(tmp_path: Path) -> None:
    spec = bmc_fleet(tmp_path, "redfish").node("m3").bmc.model_dump()  # type: ignore[union-attr]
    (tmp_path / "bmc.pass").chmod(0o644)
    with pytest.raises(bmc_client.BmcError, match="readable by others \\(mode 644\\): chmod 600"):
        bmc_client.power_state(spec)


@pytest.mark.parametrize(
    ("bmc", "message"),
    [
        ({"driver": "redfish", "address": "10.0.9.11"}, "redfish BMC address that is a URL"),
        ({"driver": "ipmi", "address": "https://10.0.9.11"}, "ipmi BMC address that is a host name or IP"),
        ({"driver": "ipmi", "address": "h", "password_file": "bmc.pass"}, "absolute password_file path"),
        ({"driver": "ipmi", "address": "h", "password": "x"}, "Extra inputs are not permitted"),
        ({"driver": "ilo", "address": "h"}, "'ipmi' or 'redfish'"),
    ],
)
def test_bad_bmc_entries_are_refused_with_what_was_expected(bmc: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Bmc.model_validate({"username": "admin", "password_file": "/etc/hadrill/bmc.pass", **bmc})
