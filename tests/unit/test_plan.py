"""The plan file: it must parse, every mistake must name the file and the field, and nothing but a
ConfigError may come out of it whatever it holds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hadrill.errors import ConfigError
from hadrill.experiment import load_experiment_file
from hadrill.plan import Plan, default_plan, load_plan, parse_plan

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GOOD = {
    "title": "Yearly PRA exercise",
    "platform": "prod-eu1",
    "date": "2026-11-23",
    "coordinator": "Alice Martin",
    "participants": [{"name": "Bob Durand", "role": "etcd on-call"}, {"name": "Chloé Petit"}],
    "scenarios": [
        {
            "experiment": "experiments/etcd-kill-leader.yaml",
            "objectives": {"max_outage_s": 3.0, "acked_writes_lost": 0},
        },
        {"experiment": "experiments/etcd-partition-member.yaml", "name": "partition", "description": "cut one"},
    ],
}


def _write(tmp_path: Path, data: Any, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def _error(tmp_path: Path, data: Any) -> ConfigError:
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    assert str(info.value).startswith(f"{path}:"), "the error must name the plan file first"
    return info.value


def _with(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    """A folder holding a copy of experiments/ (plans name experiments relative to themselves)."""
    (tmp_path / "experiments").mkdir()
    for p in EXPERIMENTS.glob("*.yaml"):
        (tmp_path / "experiments" / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_a_good_plan_loads_and_resolves_experiments_relative_to_itself(plan_dir: Path) -> None:
    plan = load_plan(_write(plan_dir, GOOD))
    assert plan.platform == "prod-eu1" and plan.coordinator == "Alice Martin"
    assert plan.date == dt.date(2026, 11, 23)
    assert [s.key for s in plan.scenarios] == ["etcd-kill-leader", "partition"]
    assert plan.experiment_path(plan.scenarios[0]) == plan_dir / "experiments" / "etcd-kill-leader.yaml"
    assert plan.scenarios[0].objectives.overrides() == {"max_outage_s": 3.0, "acked_writes_lost": 0}
    assert plan.scenarios[1].objectives.overrides() == {}
    assert plan.participants[1].role == ""


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"coordinator": None}, "coordinator", "a string"),
        ({"platform": ""}, "platform", "at least 1 character"),
        ({"scenarios": []}, "scenarios", "at least 1 item"),
        ({"date": "23/11/2026"}, "date", "date"),
        ({"date": 20261123}, "date", "a date such as 2026-11-23"),
        ({"participants": [{"role": "auditor"}]}, "participants[0].name", "this field to be present"),
        ({"kind": "Lab"}, "kind", "'Plan'"),
        ({"colour": "red"}, "colour", "no such field"),
        ({"scenarios": [{"experiment": "x.yaml", "objectives": {"availability": 1.5}}]},
         "scenarios[0].objectives.availability", "less than or equal to 1"),
        ({"scenarios": [{"experiment": "x.yaml", "objectives": {"max_outage": 3}}]},
         "scenarios[0].objectives.max_outage", "no such field"),
        ({"scenarios": [{"experiment": "x.yaml", "objectives": {"acked_writes_lost": 0.5}}]},
         "scenarios[0].objectives.acked_writes_lost", "an integer"),
        ({"scenarios": [{"experiment": "x.yaml", "objectives": {"max_outage_s": "fast"}}]},
         "scenarios[0].objectives.max_outage_s", "a number"),
        ({"scenarios": [{"name": "a"}]}, "scenarios[0].experiment", "this field to be present"),
    ],
)  # fmt: skip
def test_mistakes_name_the_file_and_the_field(
    plan_dir: Path, changes: dict[str, Any], field: str, expected: str
) -> None:
    e = _error(plan_dir, _with(**changes))
    assert e.field == field, str(e)
    assert expected in str(e), str(e)


def test_a_missing_experiment_names_the_scenario(tmp_path: Path) -> None:
    e = _error(tmp_path, _with(scenarios=[{"experiment": str(EXPERIMENTS / "etcd-kill-leader.yaml")},
                                          {"experiment": "no-such.yaml"}]))  # fmt: skip
    assert e.field == "scenarios[1].experiment"
    assert "no-such.yaml" in str(e) and "relative to the plan file" in str(e)


def test_duplicate_scenario_names_are_refused(tmp_path: Path) -> None:
    same = {"experiment": str(EXPERIMENTS / "etcd-kill-leader.yaml")}
    e = _error(tmp_path, _with(scenarios=[same, same]))
    assert e.field == "scenarios[1].name" and "unique" in str(e)


def test_an_invalid_experiment_names_the_experiment_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\nmethod: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_plan(_write(tmp_path, _with(scenarios=[{"experiment": "bad.yaml"}])))
    assert info.value.file == str(bad) and info.value.field == "method"


def test_yaml_syntax_and_missing_file(tmp_path: Path) -> None:
    e = _error(tmp_path, "platform: [x\n")
    assert "line" in e.field
    with pytest.raises(ConfigError, match="an existing plan file"):
        load_plan(tmp_path / "absent.yaml")


def test_default_plan_covers_every_experiment_sorted() -> None:
    plan = default_plan(EXPERIMENTS, platform="lab:x")
    expected = sorted(p.name for p in EXPERIMENTS.glob("*.yaml"))
    assert [Path(s.experiment).name for s in plan.scenarios] == expected
    assert all(plan.experiment_path(s).is_file() for s in plan.scenarios)
    assert all(s.objectives.overrides() == {} for s in plan.scenarios)
    assert plan.platform == "lab:x"


def test_default_plan_lists_what_it_left_out() -> None:
    # no kubernetes, swarm or monitoring cluster: the kube-* and swarm-* experiments and the alert ones (they
    # declare what they need in extensions.requires) are left out
    plan = default_plan(EXPERIMENTS, platform="lab:x", clusters={"etcd", "nfs", "gluster"})
    names = {Path(s.experiment).name for s in plan.scenarios}
    left = {n.experiment: n.reason for n in plan.not_run}
    needing = {p.name for p in [*EXPERIMENTS.glob("kube-*.yaml"), *EXPERIMENTS.glob("swarm-*.yaml")]}
    alerts = {"alert-etcd-member-down.yaml", "alert-nfs-ganesha-down.yaml"}
    assert set(left) == needing | alerts
    assert left["swarm-kill-leader.yaml"].startswith("not run: needs cluster(s) swarm")
    assert left["alert-etcd-member-down.yaml"] == "not run: needs cluster(s) monitoring"
    assert left["alert-nfs-ganesha-down.yaml"] == "not run: needs cluster(s) monitoring"
    with_monitoring = default_plan(EXPERIMENTS, platform="lab:x", clusters={"etcd", "nfs", "gluster", "monitoring"})
    assert alerts <= {Path(s.experiment).name for s in with_monitoring.scenarios}
    assert names == {p.name for p in EXPERIMENTS.glob("*.yaml")} - set(left)
    assert left["kube-kill-master.yaml"].startswith("not run: needs cluster(s) kubernetes")
    assert "every experiment" not in plan.title and f"{len(left)} not run" in plan.title
    assert default_plan(EXPERIMENTS, platform="lab:x").title.endswith("(default plan: every experiment)")


def test_default_plan_on_a_kubeadm_inventory_leaves_out_the_standalone_etcd_nfs_and_gluster_experiments() -> None:
    # the kubeadm lab's clusters: its stacked etcd is k8s-etcd (static pods), never the "etcd" these
    # experiments kill as a unit or a container; no NFS or Gluster at all (a drill there once ran them)
    clusters = {"kubernetes", "k8s-etcd", "kube-api-lb", "monitoring", "kubernetes:app_url"}
    plan = default_plan(EXPERIMENTS, platform="lab:k", clusters=clusters)
    left = {n.experiment: n.reason for n in plan.not_run}
    for name, needs in (("etcd-kill-leader.yaml", "etcd"), ("etcd-partition-member.yaml", "etcd"),
                        ("nfs-fail-vip.yaml", "nfs"), ("gluster-stop-brick.yaml", "gluster"),
                        ("gluster-lose-quorum.yaml", "gluster")):  # fmt: skip
        assert left[name] == f"not run: needs cluster(s) {needs}", (name, left.get(name))
    ran = {Path(s.experiment).name for s in plan.scenarios}
    assert {"kube-kill-master.yaml", "kube-etcd-restore.yaml", "kube-fail-api-vip.yaml"} <= ran, ran
    # chaosk8s's one-shot drain would meet the application's own budget there: excluded, with why
    assert left["kube-drain-worker-pdb.yaml"] == (
        "not run: excludes kubernetes:app_url, which the inventory has (see its file)"
    )
    # the default lab's Kubernetes (kwok workers, no application): it runs
    kwok = default_plan(EXPERIMENTS, platform="lab:d", clusters={"kubernetes", "k8s-etcd", "kubernetes:api"})
    assert "kube-drain-worker-pdb.yaml" in {Path(s.experiment).name for s in kwok.scenarios}


def test_excludes_must_be_a_list_of_names(tmp_path: Path) -> None:
    text = (EXPERIMENTS / "kube-drain-worker-pdb.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("excludes: [kubernetes:app_url]", "excludes: kubernetes:app_url"))
    with pytest.raises(ConfigError, match=r"extensions\[0\]\.excludes.*a list of cluster names"):
        load_experiment_file(bad)


def test_default_plan_needs_experiments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least one experiment file"):
        default_plan(tmp_path)
    with pytest.raises(ConfigError, match="a directory of experiment files"):
        default_plan(tmp_path / "absent")


# -- fuzz ----------------------------------------------------------------------------------------------
_scalar = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.dates()
_json = st.recursive(
    _scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=3), max_leaves=12
)
_objectives = st.dictionaries(
    st.sampled_from(["max_outage_s", "availability", "acked_writes_lost", "steady_state_s", "rto"]), _scalar, max_size=4
)
_scenario = st.fixed_dictionaries(
    {"experiment": st.sampled_from(["x.yaml", "", "\x00", "../..", "etcd.yaml"]) | st.text(max_size=8) | _scalar},
    optional={"name": _scalar, "description": _scalar, "objectives": _objectives | _json},
)
_plan = st.fixed_dictionaries(
    {},
    optional={
        "platform": _scalar, "coordinator": _scalar, "date": _scalar, "title": _scalar, "kind": _scalar,
        "participants": st.lists(st.dictionaries(st.sampled_from(["name", "role", "x"]), _scalar), max_size=3) | _json,
        "scenarios": st.lists(_scenario, max_size=3) | _json,
    },
)  # fmt: skip


@FUZZ
@given(data=_json | _plan)
def test_arbitrary_data_gives_a_plan_or_a_config_error(tmp_path_factory: pytest.TempPathFactory, data: Any) -> None:
    base = tmp_path_factory.getbasetemp() / "fuzz"
    base.mkdir(exist_ok=True)
    (base / "etcd.yaml").write_text((EXPERIMENTS / "etcd-kill-leader.yaml").read_text(), encoding="utf-8")
    try:
        plan = parse_plan(data, "plan.yaml", base)
    except ConfigError as e:
        assert str(e).startswith("plan.yaml") or e.file.endswith(".yaml"), str(e)
        return
    assert isinstance(plan, Plan) and plan.scenarios
    assert all(plan.experiment_path(s).is_file() for s in plan.scenarios)


@FUZZ
@given(text=st.text(max_size=200))
def test_arbitrary_text_gives_a_plan_or_a_config_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz-plan.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_plan(path)
    except ConfigError as e:
        assert str(e).startswith(str(path))
