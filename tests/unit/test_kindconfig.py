"""kind configs are kind's format: hadrill reads the shipped ones, keeps kind's extras, names kind's fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hadrill.config import load_yaml, parse_model
from hadrill.errors import ConfigError
from hadrill.lab.kindconfig import KindCluster, load_kind_config

KIND_CONFIGS = Path(__file__).resolve().parents[2] / "kind-configs"
SOURCE = "x.yaml"
HEADER = {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4"}

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse(data: Any) -> KindCluster:
    return parse_model(KindCluster, data, SOURCE)


def _error(data: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        _parse(data)
    assert info.value.file == SOURCE
    assert str(info.value).startswith(SOURCE)
    return info.value


# --- the shipped configs -------------------------------------------------------------------------


def test_shipped_configs_exist() -> None:
    assert {p.name for p in KIND_CONFIGS.glob("*.yaml")} >= {"ha.yaml", "single.yaml"}


@pytest.mark.parametrize("path", sorted(KIND_CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    cluster = load_kind_config(path)
    assert cluster.kind == "Cluster"
    assert cluster.api_version == "kind.x-k8s.io/v1alpha4"
    assert cluster.control_planes >= 1
    assert cluster.control_planes + cluster.workers == len(cluster.nodes)


def test_ha_config() -> None:
    cluster = load_kind_config(KIND_CONFIGS / "ha.yaml")
    assert cluster.name == "hadrill-ha"
    assert cluster.control_planes == 3
    assert cluster.workers == 3
    assert cluster.networking.pod_subnet == "10.244.0.0/16"
    assert cluster.networking.service_subnet == "10.96.0.0/16"


def test_single_config() -> None:
    cluster = load_kind_config(KIND_CONFIGS / "single.yaml")
    assert cluster.name == "hadrill-single"
    assert cluster.control_planes == 1
    assert cluster.workers == 1


def test_load_missing_kind_config(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_kind_config(path)
    assert info.value.file == str(path)
    assert str(path) in str(info.value)


def test_load_kind_config_error_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "bad-kind.yaml"
    path.write_text(yaml.safe_dump({**HEADER, "nodes": [{"role": "control-plane"}, {"role": "master"}]}))
    with pytest.raises(ConfigError) as info:
        load_kind_config(path)
    assert info.value.field == "nodes[1].role"
    assert str(path) in str(info.value)


# --- defaults and camelCase ----------------------------------------------------------------------


def test_minimal_config_defaults() -> None:
    cluster = _parse(dict(HEADER))
    assert cluster.name is None
    assert cluster.control_planes == 1
    assert cluster.workers == 0
    assert cluster.networking.pod_subnet == "10.244.0.0/16"
    assert cluster.networking.service_subnet == "10.96.0.0/16"
    assert cluster.networking.ip_family == "ipv4"


def test_camel_case_fields_map() -> None:
    cluster = _parse(
        {
            **HEADER,
            "networking": {
                "ipFamily": "dual",
                "apiServerAddress": "127.0.0.1",
                "apiServerPort": 6443,
                "podSubnet": "10.250.0.0/16",
                "serviceSubnet": "10.97.0.0/16",
                "disableDefaultCNI": True,
                "kubeProxyMode": "ipvs",
            },
        }
    )
    net = cluster.networking
    assert net.ip_family == "dual"
    assert net.api_server_address == "127.0.0.1"
    assert net.api_server_port == 6443
    assert net.pod_subnet == "10.250.0.0/16"
    assert net.service_subnet == "10.97.0.0/16"
    assert net.disable_default_cni is True
    assert net.kube_proxy_mode == "ipvs"
    assert net.model_extra == {}  # every camelCase key landed on its field, none was kept as an extra


def test_node_fields() -> None:
    cluster = _parse(
        {
            **HEADER,
            "nodes": [
                {"role": "control-plane", "image": "kindest/node:v1.30.0", "labels": {"tier": "cp"}},
                {"role": "worker"},
            ],
        }
    )
    assert cluster.nodes[0].image == "kindest/node:v1.30.0"
    assert cluster.nodes[0].labels == {"tier": "cp"}
    assert cluster.nodes[1].role == "worker"


def test_unknown_kind_fields_allowed() -> None:
    extras = {
        "featureGates": {"SomeGate": True},
        "runtimeConfig": {"api/alpha": "false"},
        "kubeadmConfigPatches": ["kind: ClusterConfiguration\n"],
        "containerdConfigPatches": ["[plugins]\n"],
    }
    node_extras = {
        "extraPortMappings": [{"containerPort": 80, "hostPort": 8080}],
        "extraMounts": [{"hostPath": "/tmp", "containerPath": "/host"}],
        "kubeadmConfigPatches": ["kind: InitConfiguration\n"],
    }
    cluster = _parse(
        {
            **HEADER,
            **extras,
            "nodes": [{"role": "control-plane", **node_extras}],
            "networking": {"dnsSearch": ["example.org"]},
        }
    )
    assert cluster.model_extra == extras
    assert cluster.nodes[0].model_extra == node_extras
    assert cluster.networking.model_extra == {"dnsSearch": ["example.org"]}


# --- errors name the field the user wrote --------------------------------------------------------


def test_bad_role_names_the_node() -> None:
    err = _error({**HEADER, "nodes": [{"role": "control-plane"}, {"role": "master"}]})
    assert err.field == "nodes[1].role"
    assert err.got == "master"
    assert "nodes[1].role" in str(err)


def test_node_must_be_a_mapping() -> None:
    err = _error({**HEADER, "nodes": [{"role": "control-plane"}, "worker"]})
    assert err.field == "nodes[1]"


@pytest.mark.parametrize(("key", "value"), [("podSubnet", "bogus"), ("serviceSubnet", "10.96.0.0/33")])
def test_bad_subnet_names_the_camel_case_field(key: str, value: str) -> None:
    err = _error({**HEADER, "networking": {key: value}})
    assert err.field == f"networking.{key}"
    assert err.got == value
    assert "CIDR" in err.expected


@pytest.mark.parametrize(
    ("key", "value"),
    [("apiServerPort", 70000), ("apiServerPort", "http"), ("ipFamily", "ipv5"), ("kubeProxyMode", "userspace")],
)
def test_bad_networking_value_names_the_camel_case_field(key: str, value: object) -> None:
    assert _error({**HEADER, "networking": {key: value}}).field == f"networking.{key}"


@pytest.mark.parametrize("nodes", [[{"role": "worker"}], [{"role": "worker"}, {"role": "worker"}], []])
def test_no_control_plane_rejected(nodes: list[dict[str, str]]) -> None:
    err = _error({**HEADER, "nodes": nodes})
    assert err.field == "nodes"
    assert "control-plane" in str(err)


@pytest.mark.parametrize("api_version", ["kind.x-k8s.io/v1alpha3", "v1", "kind.x-k8s.io/v1beta1"])
def test_wrong_api_version_rejected(api_version: str) -> None:
    err = _error({**HEADER, "apiVersion": api_version})
    assert err.field == "apiVersion"
    assert err.got == api_version


def test_missing_api_version_rejected() -> None:
    err = _error({"kind": "Cluster"})
    assert err.field == "apiVersion"
    assert "present" in err.expected


@pytest.mark.parametrize("kind", ["Lab", "cluster", None])
def test_wrong_kind_rejected(kind: str | None) -> None:
    assert _error({**HEADER, "kind": kind}).field == "kind"


@pytest.mark.parametrize("name", ["Hadrill", "-ha", "ha-", "h_a", "a" * 51])
def test_bad_cluster_name_rejected(name: str) -> None:
    assert _error({**HEADER, "name": name}).field == "name"


def test_top_level_must_be_a_mapping() -> None:
    err = _error(["kind", "Cluster"])
    assert err.field == ""
    assert "mapping" in err.expected


# --- fuzzing: nothing but ConfigError escapes ----------------------------------------------------

KIND_KEYS = ["kind", "apiVersion", "name", "nodes", "networking", "role", "podSubnet", "serviceSubnet", "apiServerPort"]

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
yaml_data = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KIND_KEYS) | st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
near_valid = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["Cluster"]) | scalars,
        "apiVersion": st.sampled_from(["kind.x-k8s.io/v1alpha4"]) | scalars,
        "name": st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True) | scalars,
        "nodes": st.lists(
            st.fixed_dictionaries({}, optional={"role": st.sampled_from(["control-plane", "worker"]) | scalars})
            | yaml_data,
            max_size=5,
        )
        | yaml_data,
        "networking": st.dictionaries(
            st.sampled_from(["podSubnet", "serviceSubnet", "apiServerPort", "ipFamily", "kubeProxyMode"]),
            st.sampled_from(["10.244.0.0/16", "fd00::/64", "ipv4", "ipvs"]) | scalars,
        )
        | yaml_data,
    },
)


def _parse_or_error(data: Any) -> KindCluster | ConfigError:
    try:
        cluster = _parse(data)
    except ConfigError as e:
        assert e.file == SOURCE
        return e
    assert cluster.control_planes >= 1
    assert cluster.control_planes + cluster.workers == len(cluster.nodes)
    return cluster


@FUZZ
@given(st.text())
def test_arbitrary_text_raises_only_config_error(text: str) -> None:
    try:
        data = load_yaml(text, SOURCE)
    except ConfigError as e:
        assert e.file == SOURCE
        return
    _parse_or_error(data)


@FUZZ
@given(yaml_data)
def test_arbitrary_data_raises_only_config_error(data: Any) -> None:
    _parse_or_error(data)


@FUZZ
@given(yaml_data)
def test_arbitrary_yaml_document_raises_only_config_error(data: Any) -> None:
    _parse_or_error(load_yaml(yaml.safe_dump(data), SOURCE))


@FUZZ
@given(near_valid)
def test_near_valid_config_gives_cluster_or_named_field(data: dict[str, Any]) -> None:
    result = _parse_or_error(data)
    if isinstance(result, ConfigError):
        assert result.field
        assert result.field in str(result)
