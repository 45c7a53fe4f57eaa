"""The inventory is the contract between the lab (or a user) and everything else: exact round trips,
references checked, lookups that fail with the names that do exist."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hadrill.config import load_yaml, parse_model
from hadrill.errors import ConfigError
from hadrill.inventory import Cluster, Inventory, Member, Network, Node, Objectives, TLSFiles, load_inventory

SOURCE = "inv.yaml"
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _node(i: int) -> Node:
    return Node(
        name=f"lab-etcd-{i}",
        url=f"docker://lab-etcd-{i}",
        roles=["etcd"],
        addresses={"lab-net": f"10.213.45.{10 + i}", "lab-storage": f"10.213.46.{10 + i}"},
    )


def _member(i: int) -> Member:
    return Member(
        name=f"etcd-{i}",
        node=f"lab-etcd-{i}",
        endpoints={"client": f"http://10.213.45.{10 + i}:2379", "peer": f"http://10.213.45.{10 + i}:2380"},
    )


def _inventory() -> Inventory:
    return Inventory(
        platform="lab:lab",
        source="lab",
        networks=[
            Network(name="lab-net", subnet="10.213.45.0/24"),
            Network(name="lab-storage", subnet="10.213.46.0/24", storage=True, mtu=9000),
        ],
        nodes=[*(_node(i) for i in (1, 2, 3)), Node(name="nfs-1", url="ssh://root@nfs-1", roles=["nfs"])],
        clusters=[
            Cluster(
                name="main-etcd",
                type="etcd",
                members=[_member(i) for i in (1, 2, 3)],
                failure_budget=1,
                tls=TLSFiles(ca="/etc/ca.pem", cert="/etc/c.pem", key="/etc/c.key"),
                objectives=Objectives(rto_s=12.5, rpo_writes=0, availability=0.999),
                settings={"quota_bytes": 2**31, "flags": ["--a", "--b"], "nested": {"x": None, "y": 1.5}},
            ),
            Cluster(name="exports", type="nfs", members=[Member(name="nfs-1", node="nfs-1")], failure_budget=0),
        ],
    )


def _doc(**cluster: Any) -> dict[str, Any]:
    """A small inventory document with one etcd cluster; keyword arguments override cluster fields."""
    return {
        "platform": "manual",
        "nodes": [{"name": f"n{i}", "url": f"ssh://n{i}"} for i in (1, 2, 3)],
        "clusters": [
            {
                "name": "etcd",
                "type": "etcd",
                "failure_budget": 1,
                "members": [{"name": f"m{i}", "node": f"n{i}"} for i in (1, 2, 3)],
                **cluster,
            }
        ],
    }


def _error(data: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_model(Inventory, data, SOURCE)
    assert info.value.file == SOURCE
    assert str(info.value).startswith(SOURCE)
    return info.value


# --- round trip ----------------------------------------------------------------------------------


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    inv = _inventory()
    path = tmp_path / "state" / "inventory.yaml"  # dump creates missing parents
    inv.dump(path)
    assert load_inventory(path) == inv
    assert [p.name for p in path.parent.iterdir()] == ["inventory.yaml"]  # no .tmp left behind


def test_dump_writes_plain_yaml(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    _inventory().dump(path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(doc)[:3] == ["api_version", "kind", "platform"]
    assert doc["kind"] == "Inventory"
    assert doc["clusters"][0]["members"][0]["endpoints"]["client"] == "http://10.213.45.11:2379"


def test_dump_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    _inventory().dump(path)
    smaller = Inventory(platform="other")
    smaller.dump(path)
    assert load_inventory(path) == smaller


def test_load_missing_inventory(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    assert info.value.file == str(path)
    assert str(path) in str(info.value)


# --- validation ----------------------------------------------------------------------------------


def test_small_document_valid() -> None:
    inv = parse_model(Inventory, _doc(), SOURCE)
    assert inv.cluster("etcd").failure_budget == 1
    assert inv.source == "manual"


def test_member_on_unknown_node_rejected(tmp_path: Path) -> None:
    doc = _doc(members=[{"name": "m1", "node": "n1"}, {"name": "m9", "node": "ghost"}])
    err = _error(doc)
    assert "ghost" in str(err)
    assert "m9" in str(err)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("budget", [3, 4, 100])
def test_failure_budget_not_below_member_count_rejected(budget: int) -> None:
    err = _error(_doc(failure_budget=budget))
    assert err.field == "clusters[0]"
    assert "member count (3)" in str(err)


def test_failure_budget_just_below_member_count_accepted() -> None:
    assert parse_model(Inventory, _doc(failure_budget=2), SOURCE).clusters[0].failure_budget == 2


@pytest.mark.parametrize(("value", "expected"), [(-1, "greater than or equal to 0"), ("one", "an integer")])
def test_bad_failure_budget_rejected(value: object, expected: str) -> None:
    err = _error(_doc(failure_budget=value))
    assert err.field == "clusters[0].failure_budget"
    assert expected in err.expected


def test_missing_failure_budget_rejected() -> None:
    doc = _doc()
    del doc["clusters"][0]["failure_budget"]
    assert _error(doc).field == "clusters[0].failure_budget"


@pytest.mark.parametrize("kind", ["etcd3", "zookeeper", "Etcd", ""])
def test_unknown_cluster_type_rejected(kind: str) -> None:
    err = _error(_doc(type=kind))
    assert err.field == "clusters[0].type"
    assert err.got == kind


@pytest.mark.parametrize("url", ["lab-etcd-1", "docker:lab-etcd-1", "", "/var/run/docker.sock"])
def test_node_url_without_scheme_rejected(url: str) -> None:
    doc = _doc()
    doc["nodes"][1]["url"] = url
    err = _error(doc)
    assert err.field == "nodes[1].url"
    assert "docker://" in err.expected


@pytest.mark.parametrize("url", ["docker://c", "ssh://root@host", "local://"])
def test_node_urls_with_scheme_accepted(url: str) -> None:
    doc = _doc()
    doc["nodes"][0]["url"] = url
    assert parse_model(Inventory, doc, SOURCE).nodes[0].url == url


def test_bad_network_subnet_rejected() -> None:
    err = _error({"platform": "p", "networks": [{"name": "n", "subnet": "10.0.0.0/8"}, {"name": "m", "subnet": "x"}]})
    assert err.field == "networks[1].subnet"


def test_unknown_field_rejected() -> None:
    err = _error(_doc(failure_bugdet=1))
    assert err.field == "clusters[0].failure_bugdet"
    assert "no such field" in str(err)


def test_platform_required() -> None:
    assert _error({}).field == "platform"


@pytest.mark.parametrize(("field", "value"), [("api_version", "hadrill/v0"), ("kind", "Lab")])
def test_fixed_fields_checked(field: str, value: str) -> None:
    assert _error({**_doc(), field: value}).field == field


# --- lookups -------------------------------------------------------------------------------------


def test_cluster_by_name_and_by_type() -> None:
    inv = _inventory()
    assert inv.cluster("main-etcd").type == "etcd"
    assert inv.cluster("etcd").name == "main-etcd"  # the only cluster of that type
    assert inv.cluster("nfs").name == "exports"
    assert inv.cluster("exports").type == "nfs"


def test_cluster_name_wins_over_type() -> None:
    doc = _doc()
    doc["clusters"][0]["name"] = "nfs"  # an etcd cluster unluckily named nfs
    doc["clusters"].append(
        {"name": "real-nfs", "type": "nfs", "failure_budget": 0, "members": [{"name": "x", "node": "n1"}]}
    )
    inv = parse_model(Inventory, doc, SOURCE)
    assert inv.cluster("nfs").type == "etcd"
    assert inv.cluster("etcd").name == "nfs"


def test_unknown_cluster_lists_known_clusters() -> None:
    with pytest.raises(ConfigError) as info:
        _inventory().cluster("gluster")
    message = str(info.value)
    assert "'gluster'" in message
    assert "main-etcd (etcd)" in message
    assert "exports (nfs)" in message
    assert info.value.field == "clusters"


def test_unknown_cluster_in_empty_inventory() -> None:
    with pytest.raises(ConfigError) as info:
        Inventory(platform="p").cluster("etcd")
    assert "none" in str(info.value)


def test_type_shared_by_two_clusters_is_ambiguous() -> None:
    doc = _doc()
    doc["clusters"].append({**doc["clusters"][0], "name": "etcd-b"})
    doc["clusters"][0]["name"] = "etcd-a"
    inv = parse_model(Inventory, doc, SOURCE)
    assert inv.cluster("etcd-b").name == "etcd-b"
    with pytest.raises(ConfigError) as info:
        inv.cluster("etcd")
    assert "etcd-a (etcd)" in str(info.value)
    assert "etcd-b (etcd)" in str(info.value)


def test_node_and_member_lookups() -> None:
    inv = _inventory()
    cluster = inv.cluster("etcd")
    assert inv.node("lab-etcd-2").url == "docker://lab-etcd-2"
    assert cluster.member("etcd-2").node == "lab-etcd-2"
    assert cluster.member("lab-etcd-3").name == "etcd-3"  # by node name too
    assert inv.member_node(cluster, "etcd-1").name == "lab-etcd-1"
    with pytest.raises(ConfigError, match="lab-etcd-9"):
        inv.node("lab-etcd-9")
    with pytest.raises(ConfigError) as info:
        cluster.member("etcd-9")
    assert "etcd-1, etcd-2, etcd-3" in str(info.value)


def test_node_address() -> None:
    inv = _inventory()
    node = inv.node("lab-etcd-1")
    assert node.address() == "10.213.45.11"  # the first one
    assert node.address("lab-storage") == "10.213.46.11"
    with pytest.raises(ConfigError):
        inv.node("nfs-1").address()


# --- fuzzing -------------------------------------------------------------------------------------

INVENTORY_KEYS = [
    "platform",
    "nodes",
    "clusters",
    "networks",
    "name",
    "url",
    "type",
    "members",
    "node",
    "failure_budget",
]

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
yaml_data = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(INVENTORY_KEYS) | st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

names = st.sampled_from(["a", "b", "c", "d"])


@st.composite
def inventories(draw: st.DrawFn) -> dict[str, Any]:
    """Inventory documents that are often valid: dangling nodes and oversized budgets happen."""
    node_names = draw(st.lists(names, max_size=4, unique=True))
    nodes = [{"name": n, "url": draw(st.sampled_from([f"docker://{n}", f"ssh://{n}", n]))} for n in node_names]
    clusters = []
    for i in range(draw(st.integers(0, 2))):
        members = [{"name": f"m{j}", "node": draw(names)} for j in range(draw(st.integers(0, 4)))]
        clusters.append(
            {
                "name": f"c{i}",
                "type": draw(st.sampled_from(["etcd", "nfs", "gluster", "kubernetes", "redis"])),
                "failure_budget": draw(st.integers(-1, 4)),
                "members": members,
                "objectives": draw(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "rto_s": st.floats(allow_nan=False),
                            "rpo_writes": st.integers(0, 10),
                            "availability": st.floats(0, 1),
                        },
                    )
                ),
                "settings": draw(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)),
            }
        )
    return {"platform": draw(st.text(min_size=1, max_size=10)), "nodes": nodes, "clusters": clusters}


def _parse_or_error(data: Any) -> Inventory | ConfigError:
    try:
        return parse_model(Inventory, data, SOURCE)
    except ConfigError as e:
        assert e.file == SOURCE
        return e


@FUZZ
@given(st.text())
def test_arbitrary_text_raises_only_config_error(text: str) -> None:
    try:
        data = load_yaml(text, SOURCE)
    except ConfigError:
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
@given(inventories())
def test_generated_inventory_valid_or_error_and_round_trips(doc: dict[str, Any]) -> None:
    result = _parse_or_error(doc)
    if isinstance(result, ConfigError):
        return
    node_names = {n.name for n in result.nodes}
    for cluster in result.clusters:
        assert cluster.failure_budget < max(len(cluster.members), 1)
        assert all(m.node in node_names for m in cluster.members)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inventory.yaml"
        result.dump(path)
        assert load_inventory(path) == result


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://10.0.0.1:2379", True),  # etcd client URL
        ("nfs://10.213.66.21/export", True),  # the lab's NFS export (no port: NFS's own)
        ("gluster-1:/bricks/b", True),  # a Gluster brick, HOST:/PATH
        ("http://10.0.0.1", False),  # http needs its port
        ("://", False),
        ("https://[::1]:99999", False),  # port out of range
        ("a b", False),
    ],
)
def test_member_endpoints_take_urls_and_bricks(url: str, ok: bool) -> None:
    from hadrill.inventory import Member

    if ok:
        assert Member(name="m", node="n", endpoints={"e": url}).endpoints == {"e": url}
    else:
        with pytest.raises(ValueError, match="endpoint URLs such as"):
            Member(name="m", node="n", endpoints={"e": url})
