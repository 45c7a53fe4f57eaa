"""The lab file is the first thing a user edits: it must parse, and every mistake must name the field."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hadrill.config import load_yaml
from hadrill.errors import ConfigError, printable
from hadrill.lab.labfile import LAB_NAME_PATTERN, LabFile, default_lab_file, load_lab_file, parse_lab_file

SOURCE = "my-lab.yaml"
DEFAULT_TEXT = resources.files("hadrill.lab").joinpath("default-lab.yaml").read_text()
DEFAULT_DOC: dict[str, Any] = load_yaml(DEFAULT_TEXT, "default-lab.yaml")
LAB_FIELDS = set(LabFile.model_fields)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _error(text: str, source: str = SOURCE) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_lab_file(text, source)
    return info.value


def _assert_valid(lab: LabFile) -> None:
    """Invariants every LabFile that parsed must hold, whatever the input was."""
    assert re.fullmatch(LAB_NAME_PATTERN, lab.name)
    assert lab.network.subnet == "auto" or lab.network.subnet.endswith("/24")
    if lab.etcd is not None:
        assert lab.etcd.members in (1, 3, 5, 7)
        assert 0 <= lab.etcd.budget <= (lab.etcd.members - 1) // 2
    # A parsed lab file survives a dump and re-parse unchanged (with_name relies on it).
    assert parse_lab_file(yaml.safe_dump(lab.model_dump()), "<roundtrip>") == lab


# --- the shipped default -------------------------------------------------------------------------


def test_default_lab_file_parses() -> None:
    lab = default_lab_file()
    assert lab.name == "hadrill"
    assert lab.api_version == "hadrill/v1"
    assert lab.kind == "Lab"
    assert lab.network.subnet == "auto"
    assert lab.etcd is not None
    assert lab.etcd.members == 3
    assert lab.etcd.failure_budget is None
    assert lab.etcd.budget == 1
    assert lab.monitoring is not None  # Prometheus and Alertmanager: alert verdicts need them
    _assert_valid(lab)


def test_default_lab_file_matches_shipped_text() -> None:
    assert parse_lab_file(DEFAULT_TEXT, "x.yaml") == default_lab_file()


def test_name_alone_takes_every_default() -> None:
    lab = parse_lab_file("name: solo\n", SOURCE)
    assert lab.name == "solo"
    assert lab.network.subnet == "auto"
    assert lab.etcd is not None
    assert (lab.etcd.members, lab.etcd.budget) == (3, 1)


def test_null_etcd_runs_no_etcd() -> None:
    assert parse_lab_file("name: x\netcd: null\n", SOURCE).etcd is None
    assert parse_lab_file("name: x\netcd:\n", SOURCE).etcd is None


# --- network.subnet ------------------------------------------------------------------------------


@pytest.mark.parametrize("subnet", ["auto", "10.213.40.0/24", "192.168.7.0/24", "10.0.0.0/24"])
def test_explicit_subnet_accepted(subnet: str) -> None:
    lab = parse_lab_file(f"name: x\nnetwork:\n  subnet: {subnet}\n", SOURCE)
    assert lab.network.subnet == subnet


@pytest.mark.parametrize(
    "subnet",
    [
        "10.213.0.0/16",  # not a /24
        "10.213.40.0/25",
        "garbage",
        "10.213.40.1/24",  # host bits set
        "fd00::/24",  # IPv6
        "Auto",
        "''",
    ],
)
def test_bad_subnet_rejected(subnet: str) -> None:
    err = _error(f"name: x\nnetwork:\n  subnet: {subnet}\n")
    assert err.field == "network.subnet"
    assert err.file == SOURCE
    assert SOURCE in str(err)
    assert "network.subnet" in str(err)
    assert "/24" in err.expected


def test_non_string_subnet_rejected() -> None:
    err = _error("name: x\nnetwork:\n  subnet: 24\n")
    assert err.field == "network.subnet"
    assert err.expected == "a string"


# --- unknown and missing fields ------------------------------------------------------------------


def test_unknown_nested_field_named() -> None:
    err = _error("name: x\netcd: {member: 3}\n")
    assert err.field == "etcd.member"
    assert "no such field" in str(err)
    assert SOURCE in str(err)


def test_unknown_top_level_field_named() -> None:
    err = _error("name: x\nnetworks: {subnet: auto}\n")
    assert err.field == "networks"
    assert "no such field" in str(err)


def test_missing_name_named() -> None:
    err = _error("etcd: {members: 3}\n")
    assert err.field == "name"
    assert "present" in err.expected


@pytest.mark.parametrize("text", ["", "~\n", "# just a comment\n"])
def test_empty_document_is_missing_name(text: str) -> None:
    assert _error(text).field == "name"


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    err = _error(text)
    assert err.field == ""
    assert "mapping" in err.expected
    assert str(err).startswith(SOURCE)


@pytest.mark.parametrize(("field", "value"), [("api_version", "hadrill/v2"), ("kind", "Inventory")])
def test_fixed_fields_checked(field: str, value: str) -> None:
    assert _error(f"name: x\n{field}: {value}\n").field == field


# --- etcd ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("members", [1, 3, 5, 7])
def test_allowed_member_counts(members: int) -> None:
    lab = parse_lab_file(f"name: x\netcd: {{members: {members}}}\n", SOURCE)
    assert lab.etcd is not None
    assert lab.etcd.members == members
    assert lab.etcd.budget == (members - 1) // 2


@pytest.mark.parametrize("members", ["2", "0", "4", "9", "-1", "three"])
def test_bad_member_count_rejected(members: str) -> None:
    err = _error(f"name: x\netcd: {{members: {members}}}\n")
    assert err.field == "etcd.members"
    assert SOURCE in str(err)


@pytest.mark.parametrize(("members", "budget"), [(3, 0), (3, 1), (5, 2), (7, 3), (1, 0)])
def test_failure_budget_within_minority_accepted(members: int, budget: int) -> None:
    lab = parse_lab_file(f"name: x\netcd: {{members: {members}, failure_budget: {budget}}}\n", SOURCE)
    assert lab.etcd is not None
    assert lab.etcd.budget == budget


@pytest.mark.parametrize(("members", "budget"), [(3, 2), (3, 3), (1, 1), (5, 3), (7, 4)])
def test_failure_budget_too_high_rejected(members: int, budget: int) -> None:
    err = _error(f"name: x\netcd: {{members: {members}, failure_budget: {budget}}}\n")
    assert err.field.startswith("etcd")
    assert f"at most {(members - 1) // 2}" in str(err)
    assert "failure_budget" in str(err)


def test_negative_failure_budget_rejected() -> None:
    err = _error("name: x\netcd: {members: 3, failure_budget: -1}\n")
    assert err.field == "etcd.failure_budget"


# --- name ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "lab-2", "hadrill", "a" * 24, "x0-"])
def test_good_names_accepted(name: str) -> None:
    assert parse_lab_file(f"name: {name}\n", SOURCE).name == name


@pytest.mark.parametrize("name", ["Hadrill", "HADRILL", "a" * 25, "1lab", "-lab", "lab_x", "lab.x", "lab x", "''"])
def test_bad_names_rejected(name: str) -> None:
    err = _error(f"name: {name}\n")
    assert err.field == "name"
    assert SOURCE in str(err)


def test_with_name() -> None:
    lab = parse_lab_file(
        "name: first\nnetwork: {subnet: 10.213.40.0/24}\netcd: {members: 5, failure_budget: 1}\n", SOURCE
    )
    other = lab.with_name("second")
    assert other.name == "second"
    assert lab.name == "first"  # the original is untouched
    assert other.network == lab.network
    assert other.etcd == lab.etcd
    assert other.model_dump() == {**lab.model_dump(), "name": "second"}


def test_with_bad_name_rejected() -> None:
    with pytest.raises(ConfigError) as info:
        default_lab_file().with_name("Not-Valid")
    assert info.value.field == "name"
    assert "Not-Valid" in str(info.value)


# --- files and YAML ------------------------------------------------------------------------------


def test_load_lab_file(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text("name: fromfile\netcd: {members: 1}\n", encoding="utf-8")
    lab = load_lab_file(path)
    assert lab.name == "fromfile"
    assert lab.etcd is not None
    assert lab.etcd.members == 1


def test_load_lab_file_errors_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken-lab.yaml"
    path.write_text("name: x\netcd: {members: 2}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_lab_file(path)
    assert info.value.file == str(path)
    assert info.value.field == "etcd.members"
    assert str(path) in str(info.value)


def test_load_missing_lab_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "lab.yaml"
    with pytest.raises(ConfigError) as info:
        load_lab_file(path)
    assert info.value.file == str(path)
    assert str(path) in str(info.value)
    assert "existing lab file" in str(info.value)


def test_load_lab_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        load_lab_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("name: x\nnetwork:\n  subnet: [auto\netcd:\n  members: 3\n", 4),
        ("name: x\netcd:\n  members: 3\n  failure_budget: 1: 2\n", 4),
        ("name: x\n\tetcd: 1\n", 2),
        ("name: x\netcd:\n  members: 3\n    failure_budget: 1\n", 4),
    ],
)
def test_yaml_syntax_error_names_a_line(text: str, line: int) -> None:
    err = _error(text)
    assert err.field == f"line {line}"
    assert f"line {line}" in str(err)
    assert "valid YAML" in str(err)
    assert SOURCE in str(err)


# --- explicit YAML tags on bad scalars ----------------------------------------------------------

# PyYAML's constructors for these tags index, look up or match the scalar without checking it, so an
# empty or odd value raises IndexError / KeyError / AttributeError; load_yaml must convert those too.
BAD_TAGGED_SCALARS = [
    "name: !!int",
    "name: !!int ''",
    "name: !!int +",
    "name: !!int _",
    "name: !!float",
    "name: !!bool ''",
    "name: !!bool x",
    "name: !!timestamp x",
    "name: !!int 0x",
    "name: !!float .",
]


@pytest.mark.parametrize("text", BAD_TAGGED_SCALARS)
def test_bad_tagged_scalar_is_config_error(text: str) -> None:
    err = _error(text)
    assert "valid YAML" in str(err)
    assert isinstance(err.__cause__, Exception)


# --- fuzzing: nothing but ConfigError escapes ----------------------------------------------------

YAML_TOKENS = [
    *sorted(LAB_FIELDS),
    "subnet",
    "members",
    "failure_budget",
    "auto",
    "hadrill",
    "Lab",
    "hadrill/v1",
    "10.213.40.0/24",
    "3",
    "2",
    "-1",
    "1e400",
    "2001-02-30",
    "yes",
    "null",
    "~",
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "\t",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    '"',
    "&a ",
    "*a",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!timestamp ",
    "!!binary ",
    "!!str ",
    "!!set ",
    "!!omap ",
    "!!python/object ",
    "<<: ",
    "? ",
    "#",
    "|",
    ">",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
]

yamlish_text = st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=3), max_size=30).map("".join)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
yaml_data = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(sorted(LAB_FIELDS)) | st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


def _parse_or_error(text: str) -> LabFile | ConfigError:
    try:
        lab = parse_lab_file(text, SOURCE)
    except ConfigError as e:
        assert e.file == SOURCE
        assert str(e).startswith(SOURCE)
        return e
    _assert_valid(lab)
    return lab


@FUZZ
@given(st.text())
def test_arbitrary_text_raises_only_config_error(text: str) -> None:
    _parse_or_error(text)


@FUZZ
@given(yamlish_text)
def test_yamlish_text_raises_only_config_error(text: str) -> None:
    _parse_or_error(text)


@FUZZ
@given(yaml_data)
def test_arbitrary_data_raises_only_config_error(data: Any) -> None:
    _parse_or_error(yaml.safe_dump(data))


def _paths(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    return out


def _mutate(doc: Any, path: tuple[str, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    new = dict(doc)
    if delete and len(path) == 1:
        new.pop(path[0], None)
    else:
        new[path[0]] = _mutate(doc[path[0]], path[1:], value, delete)
    return new


DEFAULT_PATHS = _paths(DEFAULT_DOC)


@FUZZ
@given(path=st.sampled_from(DEFAULT_PATHS), value=yaml_data, delete=st.booleans())
def test_mutated_default_gives_lab_or_named_field(path: tuple[str, ...], value: Any, delete: bool) -> None:
    mutated = _mutate(DEFAULT_DOC, path, value, delete)
    result = _parse_or_error(yaml.safe_dump(mutated))
    if isinstance(result, ConfigError) and isinstance(mutated, dict):
        assert result.field, f"no field named for {mutated!r}: {result}"
        assert printable(result.field, 120) in str(result)
        if path:  # the top level kept its own keys, so the dotted path starts at one of them
            assert re.split(r"[.\[]", result.field)[0] in LAB_FIELDS


def test_host_nodes_reached_over_ssh_parse() -> None:
    lab = parse_lab_file("name: fleet\nnodes: host\ntransport: ssh\n", SOURCE)
    assert (lab.nodes, lab.transport) == ("host", "ssh")
    assert parse_lab_file("name: fleet\n", SOURCE).nodes == "container"  # the default lab is unchanged


def test_ssh_transport_needs_host_nodes() -> None:
    err = _error("name: fleet\ntransport: ssh\n")
    assert (err.file, err.field) == (SOURCE, "transport")
    assert "nodes is host" in err.expected


def test_host_nodes_refuse_parts_without_a_host_role() -> None:
    err = _error("name: fleet\nnodes: host\nkubernetes: {}\n")
    assert err.field == "nodes"
    assert "kubernetes" in err.expected


def test_a_kubeadm_lab_is_reached_over_ssh_without_nodes_host() -> None:
    """kubeadm's nodes and load balancers are systemd hosts with sshd whatever ``nodes`` says."""
    lab = parse_lab_file("name: k\netcd: null\nkubernetes: {mode: kubeadm}\ntransport: ssh\n", SOURCE)
    assert (lab.nodes, lab.transport) == ("container", "ssh")
    both = parse_lab_file("name: k\netcd: null\nnodes: host\ntransport: ssh\nkubernetes: {mode: kubeadm}\n", SOURCE)
    assert (both.nodes, both.transport) == ("host", "ssh")


def test_ssh_is_refused_when_a_part_beside_kubeadm_runs_in_containers() -> None:
    # the default etcd part is there (no "etcd: null"): its container nodes run no sshd
    err = _error("name: k\nkubernetes: {mode: kubeadm}\ntransport: ssh\n")
    assert err.field == "transport" and "nodes is host" in err.expected


def test_a_swarm_lab_is_reached_over_ssh_without_nodes_host() -> None:
    """Swarm's nodes are systemd hosts running dockerd and sshd whatever ``nodes`` says."""
    lab = parse_lab_file("name: s\netcd: null\nswarm: {}\ntransport: ssh\n", SOURCE)
    assert (lab.nodes, lab.transport) == ("container", "ssh") and lab.swarm is not None
    kubeadm = parse_lab_file("name: s\netcd: null\nswarm: {}\nkubernetes: {mode: kubeadm}\ntransport: ssh\n", SOURCE)
    assert kubeadm.transport == "ssh"
    # beside a part whose nodes are containers (no sshd): refused; etcd's part is there unless "etcd: null"
    for beside in ("etcd: {}", "etcd: null\ngluster: {}", "etcd: null\nkubernetes: {mode: binaries}"):
        err = _error(f"name: s\nswarm: {{}}\n{beside}\ntransport: ssh\n")
        assert err.field == "transport" and "nodes is host" in err.expected, beside


def test_host_nodes_refuse_the_binaries_kubernetes_but_take_kubeadm() -> None:
    err = _error("name: fleet\nnodes: host\nkubernetes: {mode: binaries}\n")
    assert err.field == "nodes" and "binaries" in err.expected
    lab = parse_lab_file("name: fleet\nnodes: host\netcd: null\nkubernetes: {mode: kubeadm}\n", SOURCE)
    assert lab.kubernetes is not None and lab.kubernetes.mode == "kubeadm"


def test_host_nodes_run_the_storage_parts() -> None:
    lab = parse_lab_file("name: fleet\nnodes: host\ntransport: ssh\nnfs: {}\ngluster: {}\n", SOURCE)
    assert (lab.nodes, lab.transport) == ("host", "ssh") and lab.nfs is not None and lab.gluster is not None


def test_unknown_node_kind_named() -> None:
    err = _error("name: fleet\nnodes: vm\n")
    assert err.field == "nodes"
    assert "'container' or 'host'" in err.expected


def test_monitoring_part_is_a_mapping_or_null_with_container_or_host_nodes() -> None:
    assert parse_lab_file("name: x\nmonitoring: {}\n", "m.yaml").monitoring is not None
    assert parse_lab_file("name: x\nmonitoring: null\n", "m.yaml").monitoring is None
    assert parse_lab_file("name: x\n", "m.yaml").monitoring is None  # a lab file without it runs none
    with pytest.raises(ConfigError, match="monitoring"):
        parse_lab_file("name: x\nmonitoring: {scrape: 1}\n", "m.yaml")
    # host nodes run exporters as units: the monitoring container scrapes them beside the hosts
    hosts = parse_lab_file("name: x\nmonitoring: {}\nnodes: host\ntransport: ssh\n", "m.yaml")
    assert hosts.monitoring is not None and hosts.nodes == "host"


def test_kubeadm_mode_with_real_workers() -> None:
    lab = parse_lab_file("name: x\nkubernetes: {mode: kubeadm, workers: 2}\n", SOURCE)
    assert lab.kubernetes is not None and (lab.kubernetes.mode, lab.kubernetes.workers) == ("kubeadm", 2)
    assert parse_lab_file("name: x\nkubernetes: {}\n", SOURCE).kubernetes.mode == "binaries"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        ("{mode: kubeadm, workers: kwok}", "real worker nodes from 0 to 6"),
        ("{mode: kubeadm, workers: 9}", "real worker nodes from 0 to 6"),
        ("{workers: 2}", '"kwok" or nothing'),
        ("{mode: kind}", "binaries"),
    ],
)
def test_kubeadm_mode_mistakes_name_the_field(part: str, expected: str) -> None:
    err = _error(f"name: x\nkubernetes: {part}\n")
    assert err.field.startswith("kubernetes."), err.field
    assert expected in str(err), str(err)
