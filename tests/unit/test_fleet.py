"""Ansible hosts files and SSH node maps → hadrill nodes; every expected URL written out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hadrill.cli import main
from hadrill.errors import ConfigError
from hadrill.fleet import inventory_from_ansible, load_ssh_map, parse_ansible
from hadrill.inventory import load_inventory

INI = """\
# staging fleet
[etcd]
etcd[1:3] ansible_host=10.0.0.1   # replaced per host below
[etcd:vars]
ansible_user=admin

[nfs]
nfs-a ansible_host=10.0.1.21 ansible_port=2222
nfs-b ansible_host=10.0.1.22 ansible_user=ops

[storage:children]
nfs

[storage:vars]
ansible_ssh_private_key_file=/keys/storage

[all:vars]
ansible_user=root
"""

YAML = """\
all:
  vars:
    ansible_user: root
  children:
    masters:
      hosts:
        m01: {ansible_host: 192.168.5.11}
        m02: {ansible_host: 192.168.5.12, ansible_port: 2200}
      vars:
        ansible_user: kube
    workers:
      hosts:
        w[01:02]:
  hosts:
    bastion: {ansible_host: 192.168.5.2}
"""


def urls(text: str) -> dict[str, tuple[str, list[str]]]:
    return {n.name: (n.url, n.roles) for n in parse_ansible(text, "hosts")}


def test_ini_hosts_groups_vars_children_and_ranges() -> None:
    got = urls(INI)
    assert got == {
        # the range's hosts share the line's host var; group vars beat all:vars
        "etcd1": ("ssh://admin@10.0.0.1", ["etcd"]),
        "etcd2": ("ssh://admin@10.0.0.1", ["etcd"]),
        "etcd3": ("ssh://admin@10.0.0.1", ["etcd"]),
        # a child group's hosts take the parent's vars (the key, by path) and its name as a role
        "nfs-a": ("ssh://root@10.0.1.21:2222?ssh_identity_file=/keys/storage", ["nfs", "storage"]),
        "nfs-b": ("ssh://ops@10.0.1.22?ssh_identity_file=/keys/storage", ["nfs", "storage"]),
    }


def test_yaml_inventory_with_zero_padded_ranges() -> None:
    assert urls(YAML) == {
        "m01": ("ssh://kube@192.168.5.11", ["masters"]),
        "m02": ("ssh://kube@192.168.5.12:2200", ["masters"]),
        "w01": ("ssh://root@w01", ["workers"]),
        "w02": ("ssh://root@w02", ["workers"]),
        "bastion": ("ssh://root@192.168.5.2", []),
    }


def test_addresses_only_for_ip_hosts() -> None:
    nodes = {n.name: n for n in parse_ansible(YAML, "hosts")}
    assert nodes["m01"].addresses == {"mgmt": "192.168.5.11"}
    assert nodes["w01"].addresses == {}


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("[etcd\nhost1\n", "line 1", "a section"),
        ("[etcd]\nhost1 ansible_host\n", "line 2", "key=value"),
        ("[etcd]\nnode[3:1]\n", "line 2", "start is not after its end"),
        ("[etcd]\nnode[a:c]\n", "line 2", "numeric range"),
        ("[etcd]\nh1 ansible_port=99999\n", "h1.ansible_port", "a TCP port"),
        ("[k8s:children]\nmasters\n", "k8s:children", "a group defined in the file"),
        ("[etcd]\n", "", "at least one host"),
        ("all:\n  hostz: {}\n", "all", "a group: a map with hosts, vars and children"),
        ("[etcd]\nh1 hadrill_bmc_password=hunter2\n", "h1.hadrill_bmc_password", "no inline password"),
        ("[etcd]\nh1 hadrill_bmc_driver=ilo hadrill_bmc_address=b1\n", "h1.hadrill_bmc_driver", "'ipmi' or 'redfish'"),
        ("[etcd]\nh1 hadrill_bmc_driver=ipmi hadrill_bmc_address=b1 hadrill_bmc_username=u\n",
         "h1.hadrill_bmc_password_file", "a value: the host's other hadrill_bmc_* vars name a BMC"),
        ("[etcd]\nh1 hadrill_bmc_pasword_file=/p\n", "h1.hadrill_bmc_pasword_file", "one of hadrill_bmc_driver, "),
        ("[etcd]\nh1 hadrill_bmc_driver=redfish hadrill_bmc_address=b1 hadrill_bmc_username=u "
         "hadrill_bmc_password_file=/p\n", "h1.hadrill_bmc_*", "a redfish BMC address that is a URL"),
    ],
)
def test_bad_hosts_files_name_the_line_or_key(text: str, field: str, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_ansible(text, "hosts.ini")
    assert (e.value.file, e.value.field) == ("hosts.ini", field)
    assert expected in e.value.expected


def test_ssh_map_from_yaml_or_from_an_ansible_file(tmp_path: Path) -> None:
    plain = tmp_path / "nodes.yaml"
    plain.write_text("cp-1: ssh://root@10.0.0.11\nworker-1: ssh://admin@10.0.0.21:2222\n")
    assert load_ssh_map(plain) == {"cp-1": "ssh://root@10.0.0.11", "worker-1": "ssh://admin@10.0.0.21:2222"}
    ini = tmp_path / "hosts"
    ini.write_text("[masters]\ncp-1 ansible_host=10.0.0.11\n")
    assert load_ssh_map(ini) == {"cp-1": "ssh://root@10.0.0.11"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("cp-1: docker://cp-1\n")
    with pytest.raises(ConfigError) as e:
        load_ssh_map(bad)
    assert e.value.field == "cp-1" and "ssh://" in e.value.expected


def test_cli_writes_an_inventory_that_loads(tmp_path: Path) -> None:
    hosts = tmp_path / "staging.ini"
    hosts.write_text(INI)
    out = tmp_path / "inv.yaml"
    result = CliRunner().invoke(main, ["inventory", "ansible", str(hosts), "-o", str(out)])
    assert result.exit_code == 0, result.output
    inv = load_inventory(out)
    assert (inv.platform, inv.source, len(inv.nodes)) == ("staging", "ansible", 5)
    assert "PRIVATE" not in out.read_text()
    assert inventory_from_ansible(hosts).nodes == inv.nodes


def test_cli_bad_file_is_exit_2_with_one_line(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("[etcd]\nh1 ansible_host\n")
    result = CliRunner().invoke(main, ["inventory", "ansible", str(hosts)])
    assert result.exit_code == 2
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and str(hosts) in line and "line 2" in line and "key=value" in line, line


def test_cli_kubeconfig_refuses_a_missing_context_before_any_request(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {}}]\ncontexts: [{name: staging, context: {cluster: c, user: u}}]\n"
        "current-context: staging\n"
    )
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text("cp-1: ssh://root@10.0.0.11\n")
    args = ["inventory", "kubeconfig", "--context", "prod", "--ssh-map", str(nodes), "--kubeconfig", str(kubeconfig)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "prod" in result.output and "staging" in result.output


def test_a_hosts_bmc_comes_from_its_hadrill_bmc_vars_and_holds_only_the_password_files_path() -> None:
    text = """\
[etcd]
e1 ansible_host=10.0.0.11 hadrill_bmc_address=10.0.1.11
e2 ansible_host=10.0.0.12 hadrill_bmc_address=10.0.1.12 hadrill_bmc_cipher_suite=17
[etcd:vars]
hadrill_bmc_driver=ipmi
hadrill_bmc_username=admin
hadrill_bmc_password_file=/etc/hadrill/bmc.pass
[web]
w1 hadrill_bmc_driver=redfish hadrill_bmc_address=https://w1-bmc.example hadrill_bmc_username=ops \
"""
    text = text.rstrip(" \\\n") + " hadrill_bmc_password_file=/etc/hadrill/w1.pass hadrill_bmc_port=8443\n"
    nodes = {n.name: n for n in parse_ansible(text, "hosts.ini")}
    e1 = nodes["e1"].bmc
    assert e1 is not None
    assert (e1.driver, e1.address, e1.port, e1.username, e1.password_file) == (
        "ipmi", "10.0.1.11", None, "admin", "/etc/hadrill/bmc.pass"
    )
    e2 = nodes["e2"].bmc
    assert e2 is not None and (e2.address, e2.cipher_suite, e2.username) == ("10.0.1.12", 17, "admin")
    assert nodes["e1"].bmc.cipher_suite == 3  # type: ignore[union-attr]  # the default
    w1 = nodes["w1"].bmc
    assert w1 is not None and (w1.driver, w1.address, w1.port) == ("redfish", "https://w1-bmc.example", 8443)
