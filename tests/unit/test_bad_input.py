"""Issue #18: the ways bad input crashed, hung or passed, one named test each.

Every test here failed before the fix (checked on the commit before it). The oracle is the rule the
README states: a bad file gives exit 2 and one line naming the file (and the line or field); a mistake
is never a pass.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hadrill.cli import main
from hadrill.compliance.baseline import load_baseline
from hadrill.compliance.policy import load_policy
from hadrill.compliance.pss_scan import scan_manifest_text
from hadrill.config import load_yaml, parse_model
from hadrill.errors import ConfigError
from hadrill.experiment import load_experiment_file
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.kindconfig import load_kind_config
from hadrill.plan import load_plan

GOOD_INVENTORY: dict[str, Any] = {
    "platform": "manual",
    "networks": [{"name": "net", "subnet": "10.0.0.0/24", "mtu": 1500}],
    "nodes": [{"name": f"n{i}", "url": f"ssh://n{i}", "addresses": {"net": f"10.0.0.{i}"}} for i in (1, 2, 3)],
    "clusters": [
        {
            "name": "etcd",
            "type": "etcd",
            "failure_budget": 1,
            "members": [
                {"name": f"m{i}", "node": f"n{i}", "endpoints": {"client": f"http://10.0.0.{i}:2379"}}
                for i in (1, 2, 3)
            ],
            "objectives": {"rto_s": 5.0, "availability": 0.99},
        }
    ],
}

NODES = GOOD_INVENTORY["nodes"]
EXPERIMENT = """\
title: Kill the etcd leader
method:
  - type: action
    name: kill
    provider: {type: python, module: hadrill.ctk.actions, func: heal}
"""


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _inventory_error(change: dict[str, Any] | None = None, **cluster: Any) -> ConfigError:
    doc = yaml.safe_load(yaml.safe_dump(GOOD_INVENTORY))
    doc.update(change or {})
    doc["clusters"][0].update(cluster)
    with pytest.raises(ConfigError) as info:
        parse_model(Inventory, doc, "inv.yaml")
    return info.value


def _cli(args: list[str]) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, args)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output.strip().splitlines()


# -- silent passes ------------------------------------------------------------------------------------
def test_pod_whose_containers_is_a_mapping_is_an_error_finding_not_compliant() -> None:
    manifest = (
        "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    name: c\n    securityContext: {privileged: true}\n"
    )
    findings = scan_manifest_text(manifest, "pod.yaml", level="baseline")
    assert [(f.status, f.target) for f in findings] == [("error", "Pod/p")]
    assert "spec.containers is not a list" in findings[0].message
    assert findings[0].failing


def test_infinite_backup_age_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "policy.yaml", "compliance:\n  etcd_backup: {max_age_hours: .inf}\n")
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert info.value.field == "compliance.etcd_backup.max_age_hours"


def test_duplicate_keys_are_rejected_with_both_lines() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("platform: a\nnodes: []\nplatform: b\n", "inv.yaml")
    assert str(info.value) == "inv.yaml: line 3: expected each key once: 'platform' is also on line 1"


@pytest.mark.parametrize(
    ("change", "cluster", "field"),
    [
        ({"networks": [{"name": "net", "subnet": "10.0.0.0/24", "mtu": -1}]}, {}, "networks[0].mtu"),
        ({}, {"objectives": {"availability": 1.5}}, "clusters[0].objectives.availability"),
        ({}, {"objectives": {"availability": float("nan")}}, "clusters[0].objectives.availability"),
        ({}, {"objectives": {"rto_s": float("inf")}}, "clusters[0].objectives.rto_s"),
        ({"nodes": [*GOOD_INVENTORY["nodes"], {"name": "n1", "url": "ssh://x"}]}, {}, "nodes"),
        ({"clusters": [GOOD_INVENTORY["clusters"][0]] * 2}, {}, "clusters"),
        ({"nodes": [{"name": "n1", "url": "://"}, *GOOD_INVENTORY["nodes"][1:]]}, {}, "nodes[0].url"),
        ({"nodes": [{"name": "n1", "url": "ssh://n1", "addresses": {"net": "10.0.0.300"}}, *NODES[1:]]}, {},
         "nodes[0].addresses"),
        ({}, {"members": [{"name": "m1", "node": "n1", "endpoints": {"client": "http://h:99999"}}]},
         "clusters[0].members[0].endpoints"),
        ({"nodes": [{"name": "n 1\n", "url": "ssh://n1"}, *GOOD_INVENTORY["nodes"][1:]]}, {}, "nodes[0].name"),
    ],
)  # fmt: skip
def test_inventory_values_that_break_their_meaning_are_rejected(
    change: dict[str, Any], cluster: dict[str, Any], field: str
) -> None:
    assert _inventory_error(change, **cluster).field == field


# -- tracebacks ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["!!int x", "!!bool maybe", "!!timestamp 2020-02-30", "9" * 5000, "!!float .", "!!set {a}"]
)
def test_odd_scalars_in_a_manifest_name_the_file_and_line(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        scan_manifest_text(f"kind: Pod\nmetadata:\n  name: x\n  labels: {{a: {value}}}\n", "m.yaml")
    assert str(info.value).startswith("m.yaml: line 4: expected valid YAML (")


def test_an_impossible_date_in_a_manifest_stays_a_string() -> None:
    pod = "kind: Pod\nmetadata:\n  name: x\n  labels: {a: 2020-02-30}\nspec: {containers: [{name: c}]}\n"
    assert [f.check_id for f in scan_manifest_text(pod, "m.yaml", level="baseline")] == []


def test_a_volume_with_a_non_string_key_is_bad_input() -> None:
    with pytest.raises(ConfigError) as info:
        scan_manifest_text("kind: Pod\nspec:\n  containers: [{name: c}]\n  volumes:\n    - {1: x, name: v}\n", "m.yaml")
    assert str(info.value).startswith("m.yaml: line 5: expected keys that are strings")


@pytest.mark.parametrize(
    "text", ["kind: List\nitems: &i [{kind: Pod, spec: {containers: *i}}]\n", "a: &a {b: *a}\n", "a: &a [*a]\n"]
)
def test_self_referencing_aliases_are_rejected(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        scan_manifest_text(text, "m.yaml")
    assert "does not contain itself" in str(info.value)


def test_a_policy_that_is_not_utf8_is_bad_input(tmp_path: Path) -> None:
    path = _write(tmp_path, "policy.yaml", b"compliance:\n  pki: {dir: /etc/\xe9}\n")
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert str(info.value) == f"{path}: line 2: expected UTF-8 text (byte 0xe9 is not)"


def test_an_error_about_a_huge_integer_prints() -> None:
    err = ConfigError("f.yaml", "x", "a small number", 10**5000)
    assert str(err) == "f.yaml: x: expected a small number, got an integer of about 5001 digits"


def test_a_deeply_nested_baseline_is_bad_input(tmp_path: Path) -> None:
    path = _write(tmp_path, "baseline.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError) as info:
        load_baseline(path)
    assert info.value.file == str(path)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("rollbacks: 3\n", "rollbacks"),
        ("extensions: hadrill\n", "extensions"),
        ("extensions: [{name: hadrill, requires: kubernetes}]\n", "extensions[0].requires"),
        ("rollbacks:\n  - {type: action, name: r, provider: {type: python, module: hadrill.ctk.actions, "
         "func: __all__}}\n", "rollbacks[0].provider.func"),
    ],
)  # fmt: skip
def test_experiment_structure_is_validated(tmp_path: Path, extra: str, field: str) -> None:
    path = _write(tmp_path, "exp.yaml", EXPERIMENT + extra)
    with pytest.raises(ConfigError) as info:
        load_experiment_file(path)
    assert info.value.field == field
    code, lines = _cli(["validate", str(path)])
    assert code == 2 and len(lines) == 1 and field in lines[0]


@pytest.mark.parametrize("subnet", ["10.96.0.0/32", "10.96.0.0/31", "10.0.0.0/8", "fd00::/108"])
def test_a_kind_service_subnet_that_cannot_host_a_lab_is_rejected(tmp_path: Path, subnet: str) -> None:
    path = _write(
        tmp_path,
        "kind.yaml",
        f"kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: {{serviceSubnet: '{subnet}'}}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_kind_config(path)
    assert info.value.field == "networking" and "serviceSubnet" in str(info.value)


def test_a_file_name_with_brackets_is_printed_as_is(tmp_path: Path) -> None:
    path = _write(tmp_path, "[red]bad[red].yaml", "title: [\n")
    code, lines = _cli(["validate", str(path)])
    assert (code, lines) == (2, [f"error: {path}: line 2: expected valid YAML (did not find expected node content)"])


def test_a_file_name_too_long_for_the_os_is_bad_input(tmp_path: Path) -> None:
    name = str(tmp_path / ("x" * 300 + ".yaml"))
    for args in (["validate", name], ["check", "--inventory", name], ["report", "--journal-dir", name]):
        code, lines = _cli(args)
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "x" * 100 in lines[0], args


# -- hangs and runaway reads --------------------------------------------------------------------------
def _bounded(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a child with 1 GiB of memory and 30 s: a hang or a runaway read fails, not the host."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    try:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, preexec_fn=limit
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung: {code}")


def test_a_fifo_never_blocks(tmp_path: Path) -> None:
    fifo = tmp_path / "input.yaml"
    os.mkfifo(fifo)
    done = _bounded(f"from pathlib import Path\nfrom hadrill.plan import load_plan\nload_plan(Path({str(fifo)!r}))")
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].endswith(
        "expected a regular plan file, got a FIFO"
    )
    code, lines = _cli(["check", "--inventory", str(fifo)])
    assert (code, lines) == (2, [f"error: {fifo}: expected a regular inventory, got a FIFO"])


def test_dev_zero_is_not_read() -> None:
    done = _bounded(
        "from pathlib import Path\nfrom hadrill.inventory import load_inventory\nload_inventory(Path('/dev/zero'))"
    )
    assert done.stderr.strip().splitlines()[-1].endswith("/dev/zero: expected a regular inventory, got a device")


def test_an_alias_bomb_in_inventory_settings_is_rejected(tmp_path: Path) -> None:
    # 9**6 = 531,441 leaves from about 400 bytes: written into every journal before the fix
    bomb = "".join(f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 7))
    settings = "  settings:\n    l0: &l0 [x]\n" + bomb
    text = yaml.safe_dump(GOOD_INVENTORY, sort_keys=False).replace("  objectives:\n", settings + "  objectives:\n", 1)
    assert settings in text and len(text.encode()) < 2000
    with pytest.raises(ConfigError) as info:
        load_inventory(_write(tmp_path, "inv.yaml", text))
    assert "aliases that add at most" in str(info.value)


# -- messages -----------------------------------------------------------------------------------------
def test_a_control_character_names_its_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("platform: a\nnodes: []\nsource: \x07\n", "inv.yaml")
    assert str(info.value).startswith("inv.yaml: line 3: ")


def test_keys_with_newlines_and_escapes_are_printed_escaped(tmp_path: Path) -> None:
    path = _write(tmp_path, "inv.yaml", 'platform: a\n"bad\\nkey\\e[2J": 1\n')
    code, lines = _cli(["check", "--inventory", str(path)])
    assert (code, lines) == (
        2,
        [f"error: {path}: bad\\nkey\\u001b[2J: expected no such field (check its spelling), got 1"],
    )


@pytest.mark.parametrize(("text", "field"), [("date: 2020-02-30\n", "date")])
def test_an_invalid_date_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    _write(tmp_path, "e.yaml", EXPERIMENT)
    path = _write(tmp_path, "plan.yaml", f"platform: p\ncoordinator: c\nscenarios: [{{experiment: e.yaml}}]\n{text}")
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    assert info.value.field == field


def test_a_union_field_is_named_without_its_type_tag(tmp_path: Path) -> None:
    path = _write(tmp_path, "policy.yaml", "compliance:\n  nfs_mounts:\n    options: {timeo: [1]}\n")
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert info.value.field == "compliance.nfs_mounts.options.timeo"


def test_a_missing_kind_config_is_reported_against_itself(tmp_path: Path) -> None:
    from hadrill.lab.kube import KubeService
    from hadrill.lab.labfile import KubernetesPart

    with pytest.raises(ConfigError) as info:
        KubeService(KubernetesPart(kind_config="/nowhere/kind.yaml"), base_dir=tmp_path)
    assert info.value.file == "/nowhere/kind.yaml"


@pytest.mark.parametrize(
    "command", [["validate"], ["check", "--inventory"], ["drill", "--plan"], ["compare", "x.json"]]
)
def test_a_directory_given_as_a_file_is_one_line_and_exit_2(tmp_path: Path, command: list[str]) -> None:
    args = [*command, str(tmp_path)] if command[0] != "compare" else ["compare", str(tmp_path), str(tmp_path)]
    code, lines = _cli(args)
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {tmp_path}: expected a regular ")


def test_every_loader_message_is_one_line() -> None:
    text = textwrap.dedent("""\
        platform: "a\\nb"
        nodes: [{name: n1, url: "ssh://x\\n\\ty"}]
        kind: "Inventory\\r"
    """)
    with pytest.raises(ConfigError) as info:
        parse_model(Inventory, load_yaml(text, "inv\nfile.yaml"), "inv\nfile.yaml")
    assert "\n" not in str(info.value) and "\r" not in str(info.value)
