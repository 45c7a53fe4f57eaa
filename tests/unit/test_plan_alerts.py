"""Alert objectives overridden per scenario in the plan: strict validation (the file and the field),
and the override lands where the experiment declared the objective, so it is judged with the bound
the plan gives (expected values worked out by hand below)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hadrill.alerting import Observation, alert_verdicts, apply_overrides, parse_alert_objectives, split_monitored
from hadrill.errors import ConfigError
from hadrill.inventory import Inventory
from hadrill.plan import load_plan
from hadrill.run import Run

ROOT = Path(__file__).resolve().parents[2]
# nfs-fail-vip's own objectives (read from the file: the experiment as shipped is what a plan overrides)
NFS_FAIL_VIP = ROOT / "experiments" / "nfs-fail-vip.yaml"

PLAN = """\
platform: prod-eu1
coordinator: Alice Martin
scenarios:
  - experiment: {experiment}
    objectives:
      max_outage_s: 5.0
{objectives}
"""


def _plan(tmp_path: Path, objectives: str) -> Path:
    path = tmp_path / "plan.yaml"
    indented = "\n".join(f"      {line}" for line in objectives.splitlines())
    path.write_text(PLAN.format(experiment=NFS_FAIL_VIP, objectives=indented), encoding="utf-8")
    return path


def _experiment_objectives() -> dict[str, object]:
    data = yaml.safe_load(NFS_FAIL_VIP.read_text())
    for probe in data["steady-state-hypothesis"]["probes"]:
        if probe["provider"].get("func") == "objectives_met":
            return dict(probe["provider"]["arguments"]["objectives"])
    raise AssertionError("nfs-fail-vip.yaml has no objectives_met probe")


def test_alert_overrides_read_from_the_plan(tmp_path: Path) -> None:
    plan = load_plan(
        _plan(
            tmp_path,
            "alert_fires: {name: KeepalivedDown, within_s: 60}\n"
            "alert_resolves: {within_s: 120, names: [KeepalivedDown]}\n"
            "alerts_silent: [NfsVipOnNoNode, NfsGaneshaDown, TargetDown]",
        )
    )
    # a single {name, within_s} becomes a list of one; bounds as floats; nothing unset appears
    assert plan.scenarios[0].objectives.overrides() == {
        "max_outage_s": 5.0,
        "alert_fires": [{"name": "KeepalivedDown", "within_s": 60.0}],
        "alert_resolves": {"within_s": 120.0, "names": ["KeepalivedDown"]},
        "alerts_silent": ["NfsVipOnNoNode", "NfsGaneshaDown", "TargetDown"],
    }
    two = load_plan(_plan(tmp_path, "alert_fires: [{name: A, within_s: 6}, {name: 'b:c_d', within_s: 7.5}]"))
    assert two.scenarios[0].objectives.overrides()["alert_fires"] == [
        {"name": "A", "within_s": 6.0},
        {"name": "b:c_d", "within_s": 7.5},
    ]


@pytest.mark.parametrize(
    ("objectives", "field", "expected"),
    [
        ("alert_fires: {name: KeepalivedDown, within_s: -1}", "alert_fires.within_s", "expected greater than 0"),
        ("alert_fires: {name: KeepalivedDown, within_s: 0}", "alert_fires.within_s", "expected greater than 0"),
        ("alert_fires: {name: K, within_s: 3601}", "alert_fires.within_s", "expected less than or equal to 3600"),
        ("alert_fires: {name: K, within_s: 60s}", "alert_fires.within_s", "expected a number, got '60s'"),
        ("alert_fires: {name: K, within_s: true}", "alert_fires.within_s", "expected a number, got True"),
        ("alert_fires: {name: K, within_s: .nan}", "alert_fires.within_s", "expected a finite number"),
        ("alert_fires: {name: K}", "alert_fires.within_s", "expected this field to be present"),
        ("alert_fires: {name: K, within_s: 5, for: 2}", "alert_fires.for", "expected no such field"),
        ("alert_fires: {name: Keepalived Down, within_s: 5}", "alert_fires.name", "an alert name such as"),
        ("alert_fires: [{name: A, within_s: 5}, {nam: B, within_s: 5}]", "alert_fires[1].name", "to be present"),
        ("alert_fires: [{name: A, within_s: 5}, {name: A, within_s: 9}]", "alert_fires", "each alert once (twice: A)"),
        ("alert_fires: []", "alert_fires", "expected at least one alert"),
        ("alert_fires: KeepalivedDown", "alert_fires", "expected a list, got 'KeepalivedDown'"),
        ("alert_resolves: {within_s: -5}", "alert_resolves.within_s", "expected greater than 0"),
        ("alert_resolves: {names: [A]}", "alert_resolves.within_s", "expected this field to be present"),
        ("alert_resolves: {within_s: 5, names: []}", "alert_resolves.names", "expected at least one alert"),
        ("alert_resolves: {within_s: 5, name: A}", "alert_resolves.name", "expected no such field"),
        ("alert_resolves: 120", "alert_resolves", "expected a mapping"),
        ("alerts_silent: [A, 'no such']", "alerts_silent[1]", "an alert name such as EtcdMemberDown"),
        ("alerts_silent: NfsVipOnNoNode", "alerts_silent", "expected a list"),
        ("alert_fire: {name: K, within_s: 5}", "alert_fire", "expected no such field"),
    ],
)
def test_a_bad_alert_override_names_the_file_and_the_field(
    tmp_path: Path, objectives: str, field: str, expected: str
) -> None:
    path = _plan(tmp_path, objectives)
    with pytest.raises(ConfigError) as err:
        load_plan(path)
    assert err.value.file == str(path)
    assert err.value.field == f"scenarios[0].objectives.{field}"
    assert expected in str(err.value), str(err.value)


def test_an_override_replaces_the_objective_where_the_experiment_declares_it(tmp_path: Path) -> None:
    objectives = _experiment_objectives()
    plan = load_plan(_plan(tmp_path, "alert_fires: {name: KeepalivedDown, within_s: 3}\nalert_resolves: {within_s: 1}"))
    merged = apply_overrides(objectives, plan.scenarios[0].objectives.overrides())
    # by hand: max_outage_s from 8.0 to the plan's 5.0 at the top; the two alert objectives replaced
    # inside with_monitoring; the experiment's alerts_silent and acked_writes_lost kept
    assert merged == {
        "max_outage_s": 5.0,
        "acked_writes_lost": 0,
        "with_monitoring": {
            "alert_fires": [{"name": "KeepalivedDown", "within_s": 3.0}],
            "alert_resolves": {"within_s": 1.0},
            "alerts_silent": ["NfsVipOnNoNode", "NfsGaneshaDown"],
        },
    }
    assert objectives["with_monitoring"]["alert_fires"] == {"name": "KeepalivedDown", "within_s": 15}  # type: ignore[index]
    # still under with_monitoring: without monitoring the plan's bounds are not asked either
    assert split_monitored(merged, False)[1] == ["alert_fires", "alert_resolves", "alerts_silent"]
    # an objective the experiment does not declare goes at the top: asked outright
    assert apply_overrides({"max_outage_s": 3.0}, {"alert_resolves": {"within_s": 9}}) == {
        "max_outage_s": 3.0,
        "alert_resolves": {"within_s": 9},
    }
    assert apply_overrides({"alerts_silent": ["A"]}, {"alerts_silent": ["B"]}) == {"alerts_silent": ["B"]}


def test_the_plans_bounds_are_the_ones_judged(tmp_path: Path) -> None:
    # injected at 100.0; polls every 0.5 s; KeepalivedDown listed from 104.0 to 121.0; healed at 120.0
    polls = [100.0 + 0.5 * i for i in range(1, 51)]
    obs = [Observation(t, frozenset({"KeepalivedDown"} if 104.0 <= t <= 121.0 else set())) for t in polls]
    experiment = _experiment_objectives()
    plan = load_plan(_plan(tmp_path, "alert_fires: {name: KeepalivedDown, within_s: 3}\nalert_resolves: {within_s: 1}"))

    def judged(objectives: dict[str, object]) -> dict[str, tuple[bool, float | None, float]]:
        wanted, _ = split_monitored(objectives, True)
        verdicts = alert_verdicts(parse_alert_objectives(wanted), obs, 100.0, 120.0)
        return {v.name: (v.ok, v.measured, v.objective) for v in verdicts}

    # detected 104.0 - 100.0 = 4.0 s; resolved at the first poll without it, 121.5 - 120.0 = 1.5 s
    assert judged(experiment) == {
        "KeepalivedDown time_to_detect": (True, 4.0, 15.0),
        "KeepalivedDown time_to_resolve": (True, 1.5, 20.0),
        "NfsVipOnNoNode silent": (True, 0.0, 0.0),
        "NfsGaneshaDown silent": (True, 0.0, 0.0),
    }
    # the plan's tighter bounds fail the same record: 4.0 > 3.0 and 1.5 > 1.0
    assert judged(apply_overrides(experiment, plan.scenarios[0].objectives.overrides())) == {
        "KeepalivedDown time_to_detect": (False, 4.0, 3.0),
        "KeepalivedDown time_to_resolve": (False, 1.5, 1.0),
        "NfsVipOnNoNode silent": (True, 0.0, 0.0),
        "NfsGaneshaDown silent": (True, 0.0, 0.0),
    }


def test_a_run_given_the_plans_overrides_judges_them_under_with_monitoring(tmp_path: Path) -> None:
    plan = load_plan(_plan(tmp_path, "alert_fires: [{name: TargetDown, within_s: 30}]"))
    inv = Inventory(platform="unit", monitoring={"prometheus": "http://127.0.0.1:9"})  # type: ignore[arg-type]
    overrides = plan.scenarios[0].objectives.overrides()
    run = Run(inv, title="unit", journal_dir=tmp_path, interval=1.0, objectives=overrides)
    verdicts = {v.name: v for v in run.evaluate(_experiment_objectives())}
    # the plan's alert (bound 30 s) stands where the experiment's KeepalivedDown (15 s) was, and the
    # experiment's alert_resolves (20 s) now defaults to it; nothing was watched, so none passes
    assert sorted(verdicts) == [
        "NfsGaneshaDown silent",
        "NfsVipOnNoNode silent",
        "TargetDown time_to_detect",
        "TargetDown time_to_resolve",
        "acked_writes_lost",
        "max_outage",
    ]
    assert verdicts["TargetDown time_to_detect"].objective == 30.0
    assert verdicts["TargetDown time_to_resolve"].objective == 20.0
    assert verdicts["max_outage"].objective == 5.0
    assert not any(v.ok for v in verdicts.values())
