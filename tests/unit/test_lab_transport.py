"""`hadrill lab up --transport`: the option overrides the lab file, and ssh makes every node a host."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from hadrill.cli import main
from hadrill.lab.labfile import parse_lab_data


def test_ssh_transport_makes_the_nodes_hosts() -> None:
    spec = parse_lab_data({"name": "x", "etcd": {"members": 3}, "nfs": {}, "gluster": {}}, "<t>")
    assert (spec.nodes, spec.transport) == ("container", "docker")
    ssh = spec.with_transport("ssh")
    assert (ssh.nodes, ssh.transport) == ("host", "ssh")
    assert ssh.nfs == spec.nfs and ssh.gluster == spec.gluster and ssh.name == "x"
    back = ssh.with_transport("docker")
    assert (back.nodes, back.transport) == ("host", "docker")  # the nodes stay hosts, reached through the engine


def test_ssh_on_a_lab_with_kubernetes_is_refused_naming_the_option(tmp_path: Path) -> None:
    # the default lab has a Kubernetes part, which has no host nodes yet
    result = CliRunner().invoke(main, ["lab", "up", "--transport", "ssh"], env={"HADRILL_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "--transport ssh" in line and "nodes" in line and "kubernetes" in line, line
    assert len(line.splitlines()) == 1


def test_lab_file_transport_is_overridden(tmp_path: Path) -> None:
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text("name: t1\netcd: {members: 1}\nnodes: host\ntransport: ssh\n")
    result = CliRunner().invoke(
        main,
        ["lab", "up", "--lab-file", str(lab_file), "--transport", "bogus"],
        env={"HADRILL_STATE_DIR": str(tmp_path)},
    )
    assert result.exit_code == 2
    assert "bogus" in result.output
