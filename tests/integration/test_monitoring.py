"""The lab's monitoring against real Prometheus and Alertmanager: scraping, alert verdicts (time to
detect and to resolve), a planted silent failure, and hadrill's own results scraped back.

One lab for the module (``hdt-<worker>-mon``: etcd and the monitoring container) and one isolated
ledger. Every test leaves the cluster healthy, the rules as shipped and the ledger empty.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import lab_name
from labtools import fresh_lab

from hadrill.clients.prometheus import PrometheusClient
from hadrill.experiment import failure_report, run_experiment_file
from hadrill.faults.ledger import Ledger
from hadrill.inventory import Inventory
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data
from hadrill.lab.monitoring import RULES_DIR
from hadrill.lab.monitoring_files import LAB_RULES

pytestmark = [pytest.mark.lab, pytest.mark.chaos]

ROOT = Path(__file__).resolve().parents[2]
ALERT_EXPERIMENT = ROOT / "experiments" / "alert-etcd-member-down.yaml"
# The physical floor of detection with the lab's rules: scrape 1 s + evaluation 1 s + for 2 s.
FLOOR_WORST_S = 4.0


@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    yield from fresh_lab(
        parse_lab_data({"name": lab_name("mon"), "etcd": {"members": 3}, "monitoring": {}}, "<test lab mon>")
    )


@pytest.fixture(scope="module")
def inv(lab: Lab) -> Inventory:
    return lab.inventory()


@pytest.fixture(scope="module")
def prom(inv: Inventory) -> PrometheusClient:
    assert inv.monitoring is not None
    return PrometheusClient(inv.monitoring.prometheus)


def _put_rules(lab: Lab, text: str) -> None:
    """Replace the lab's rule file in the running container (what a careless change to a rule does)."""
    data = text.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("lab.yml")
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
        tar.addfile(info, io.BytesIO(data))
    lab.client.containers.get(f"{lab.name}-monitoring").put_archive(RULES_DIR, buf.getvalue())


def _alert_rules(prom: PrometheusClient) -> set[str]:
    body = prom.call("GET", "/api/v1/rules")
    return {r["name"] for g in body["data"]["groups"] for r in g["rules"] if r.get("type") == "alerting"}


def test_prometheus_scrapes_every_etcd_member_with_the_rules_loaded(inv: Inventory, prom: PrometheusClient) -> None:
    members = {m.endpoints["client"].removeprefix("http://") for m in inv.cluster("etcd").members}
    up = {labels["instance"]: value for labels, value in prom.query('up{service="etcd"}')}
    assert up == dict.fromkeys(members, 1.0)
    # each member says it has a leader: the series the EtcdNoLeader rule reads exists
    assert len(prom.query('etcd_server_has_leader{service="etcd"} == 1')) == 3
    assert {"EtcdMemberDown", "EtcdNoLeader", "EtcdInsufficientMembers"} <= _alert_rules(prom)


def _expected_alerts() -> dict[str, set[str]]:
    """Every alert an experiment file expects to fire or stay silent (its own words, read as YAML)."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / "experiments").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        for probe in data.get("steady-state-hypothesis", {}).get("probes", []):
            objectives = (probe.get("provider", {}).get("arguments") or {}).get("objectives") or {}
            for block in (objectives, objectives.get("with_monitoring") or {}):
                fires = block.get("alert_fires") or []
                for item in fires if isinstance(fires, list) else [fires]:
                    out.setdefault(item["name"], set()).add(path.name)
                for name in block.get("alerts_silent") or []:
                    out.setdefault(name, set()).add(path.name)
    return out


def test_every_alert_the_experiments_expect_is_a_loaded_healthy_rule(prom: PrometheusClient) -> None:
    expected = _expected_alerts()
    # by hand: the default drill's scenarios and the alert experiment name these (a renamed or dropped
    # rule would leave a scenario that can only fail, or a silent check that always passes)
    named = {"EtcdMemberDown", "EtcdNoLeader", "KeepalivedDown", "NfsGaneshaDown", "NfsVipOnNoNode", "GlusterBrickDown"}
    assert named <= set(expected)
    body = prom.call("GET", "/api/v1/rules")
    rules = {r["name"]: r for g in body["data"]["groups"] for r in g["rules"] if r.get("type") == "alerting"}
    missing = {name: files for name, files in expected.items() if name not in rules}
    assert not missing, f"alerts expected by experiments but not among the lab's rules: {missing}"
    # every rule evaluates without error (a bad vector match is health "err", not a quiet no-alert)
    unhealthy = {n: r.get("lastError") for n, r in rules.items() if r.get("health") != "ok"}
    assert not unhealthy
    # this lab has no NFS, Gluster or API server: their rules must not page for parts that are absent
    for name in ("KeepalivedDown", "NfsGaneshaDown", "NfsVipOnNoNode", "GlusterBrickDown", "KubeApiServerDown"):
        assert rules[name]["state"] == "inactive", (name, rules[name].get("alerts"))


def test_alert_fires_and_resolves_with_measured_time_to_detect(lab: Lab, ledger: Ledger, tmp_path: Path) -> None:
    result = run_experiment_file(ALERT_EXPERIMENT, inventory=lab.inventory_path, journal_dir=tmp_path)
    assert result.ok, failure_report(result.journal)
    verdicts = {v["name"]: v for v in result.hadrill["verdicts"]}
    ttd = verdicts["EtcdMemberDown time_to_detect"]["measured"]
    ttr = verdicts["EtcdMemberDown time_to_resolve"]["measured"]
    # detection cannot beat the rule's ``for`` (2 s); the worst case is the floor plus one 0.5 s poll,
    # plus the time docker takes to kill the container after the injection was recorded
    assert 2.0 <= ttd <= FLOOR_WORST_S + 0.5 + 2.0, verdicts
    assert 0.0 <= ttr <= 15.0, verdicts
    assert verdicts["EtcdInsufficientMembers silent"]["ok"]
    observations = result.hadrill["alerts"]["observations"]
    assert result.hadrill["alerts"]["source"] == "alertmanager"
    assert any("EtcdMemberDown" in (o["firing"] or []) for o in observations)
    assert ledger.open_faults() == []


def test_a_removed_alert_rule_fails_its_scenario(lab: Lab, prom: PrometheusClient, tmp_path: Path) -> None:
    planted = LAB_RULES.replace("alert: EtcdMemberDown", "alert: EtcdMemberDownRenamedAway")
    assert planted != LAB_RULES
    _put_rules(lab, planted)
    try:
        prom.reload()
        assert "EtcdMemberDown" not in _alert_rules(prom)
        result = run_experiment_file(ALERT_EXPERIMENT, inventory=lab.inventory_path, journal_dir=tmp_path)
    finally:
        _put_rules(lab, LAB_RULES)
        prom.reload()
    assert "EtcdMemberDown" in _alert_rules(prom)
    assert not result.ok
    report = failure_report(result.journal)
    assert "EtcdMemberDown time_to_detect: EtcdMemberDown did not fire within 15.0 s" in report, report
    # the platform itself survived: only the alert objective failed
    failing = [v["name"] for v in result.hadrill["verdicts"] if not v["ok"]]
    assert failing == ["EtcdMemberDown time_to_detect", "EtcdMemberDown time_to_resolve"], failing


GUARDED = """\
version: 1.0.0
title: A guard stops a kill that hurts more than allowed
controls:
  - name: hadrill
    provider: {type: python, module: hadrill.ctk.control}
method:
  - type: action
    name: start-probes
    provider: {type: python, module: hadrill.ctk.actions, func: start_probes, arguments: {cluster: etcd}}
  - type: action
    name: arm-guards
    provider:
      type: python
      module: hadrill.ctk.actions
      func: arm_guards
      arguments:
        guards:
          - {name: every-member-up, promql: 'count(up{service="etcd"} == 0) > 0'}
  - type: action
    name: kill-a-follower
    provider:
      type: python
      module: hadrill.ctk.actions
      func: kill_member
      arguments: {cluster: etcd, member: follower, action: kill, time_limit: 60}
    pauses: {after: 20}
  - type: action
    name: never-reached
    provider: {type: python, module: hadrill.ctk.actions, func: stop_probes, arguments: {settle: 0}}
rollbacks:
  - type: action
    name: heal
    provider: {type: python, module: hadrill.ctk.actions, func: heal}
"""


def test_a_guard_trips_reverts_everything_and_stops_the_run(
    lab: Lab, inv: Inventory, ledger: Ledger, tmp_path: Path
) -> None:
    path = tmp_path / "guarded.yaml"
    path.write_text(GUARDED, encoding="utf-8")
    result = run_experiment_file(path, inventory=lab.inventory_path, journal_dir=tmp_path / "journals")
    h = result.hadrill
    assert not result.ok
    stopped = h["stopped_by"]
    assert stopped["guard"] == "every-member-up", h["events"]
    fault = h["faults"][0]
    # the guard saw the member down within a few scrapes (1 s each; generous bounds: the CI host is
    # loaded), and the revert began at once, not after the 20 s pause: the window is shorter than it
    assert stopped["at"] - fault["start"] < 10.0, (stopped, fault)
    assert fault["revert_start"] - stopped["at"] < 2.0, (stopped, fault)
    assert fault["end"] - fault["start"] < 18.0, fault
    reasons = result.judgement.reasons
    assert reasons[0].startswith("stopped by guard every-member-up at "), reasons
    assert "never-reached" not in [a["activity"]["name"] for a in result.journal["run"]]
    # nothing left behind: no open fault, every member running and answering
    assert ledger.open_faults() == []
    states = {c.name: c.status for c in lab.ctx.containers("etcd")}
    assert set(states.values()) == {"running"}, states
    assert {s.health for s in lab.status()} == {"healthy"}


def test_promql_probe_and_objective_over_the_fault_window(
    lab: Lab, inv: Inventory, ledger: Ledger, tmp_path: Path
) -> None:
    from hadrill.faults.etcd import kill_member, pick_member
    from hadrill.probes.promql import PromqlProbe
    from hadrill.run import Run

    cluster = inv.cluster("etcd")
    run = Run(inv, title="promql", journal_dir=tmp_path, ledger=ledger)
    try:
        prom = run.prometheus()
        assert prom is not None
        run.start_probe(PromqlProbe(prom, 'sum(up{service="etcd"}) >= 3', name="all-up"), interval=1.0)
        time.sleep(2.5)
        with run.fault(kill_member(inv, cluster, pick_member(inv, cluster, "follower"), time_limit=60)):
            time.sleep(6.0)
        time.sleep(4.0)  # the restarted member answers its next scrape
        run.stop_probes()
        wanted = {
            "promql": [
                {"name": "members-up", "expr": 'sum(up{service="etcd"})', "min": 2},
                {"name": "all-members-up", "expr": 'sum(up{service="etcd"})', "min": 3},
            ]
        }
        verdicts = {v.name: v for v in run.evaluate(wanted)}
    finally:
        run.close()
    # one member of three down during the fault: the lowest sum is exactly 2
    assert verdicts["members-up promql"].ok and verdicts["members-up promql"].measured == 2.0
    assert not verdicts["all-members-up promql"].ok and verdicts["all-members-up promql"].measured == 2.0
    samples = run.samplers["all-up"].history.samples()
    bad = [s for s in samples if not s.ok]
    # the probe saw the member missing (as a failed sample saying why) and the cluster whole before and after
    assert bad and all("is false" in (s.error or "") for s in bad), [s.error for s in bad]
    assert samples[0].ok and samples[-1].ok
    assert ledger.open_faults() == []


def test_exported_results_are_scraped_back_and_drive_the_results_alerts(
    lab: Lab, inv: Inventory, prom: PrometheusClient
) -> None:
    from hadrill.alerting import Observation
    from hadrill.lab.monitoring import TEXTFILE_DIR
    from hadrill.probes.alerts import AlertWatcher
    from hadrill.report.metrics import push_metrics, report_metrics

    now = time.time()
    ended = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))
    report = {
        "title": "nightly gate",
        "platform": f"lab:{lab.name}",
        "ok": False,
        "scenarios": [
            {"name": "kill leader", "status": "passed", "ended": ended, "duration_s": 30.5,
             "measured": {"max_outage_s": {"measured": 1.25}, "alert_fires": {"measured": 2.75}}},
            {"name": "partition", "status": "failed", "ended": ended, "measured": {}},
        ],
    }  # fmt: skip
    text = report_metrics(report)
    assert inv.monitoring is not None and inv.monitoring.pushgateway is not None
    push_metrics(inv.monitoring.pushgateway, text, instance=report["platform"])
    data = text.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hadrill.prom")
        info.size, info.mtime, info.mode = len(data), int(now), 0o644
        tar.addfile(info, io.BytesIO(data))
    lab.client.containers.get(f"{lab.name}-monitoring").put_archive(TEXTFILE_DIR, buf.getvalue())

    def scraped() -> dict[str, float]:
        return {
            labels["job"]: value for labels, value in prom.query('hadrill_scenario_rto_seconds{scenario="kill leader"}')
        }

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and set(scraped()) != {"hadrill", "node"}:
        time.sleep(0.5)
    # both ways back: through the Pushgateway (honor_labels keeps the pushed group's job=hadrill, plan and
    # platform) and through the node exporter's textfile collector (job=node)
    assert scraped() == {"hadrill": 1.25, "node": 1.25}
    ttd = prom.query('hadrill_scenario_time_to_detect_seconds{job="hadrill",plan="nightly gate"}')
    assert [v for _, v in ttd] == [2.75]
    stamp = prom.query('hadrill_drill_timestamp_seconds{job="hadrill"}')
    assert [int(v) for _, v in stamp] == [int(now)]  # the report keeps whole seconds
    # the shipped results rules: a failed nightly gate fires; a fresh exercise is not overdue
    watcher = AlertWatcher(inv.monitoring).start()
    try:

        def gate_failed(obs: list[Observation]) -> bool:
            return bool(obs) and obs[-1].firing is not None and "NightlyGateFailed" in obs[-1].firing

        assert watcher.wait_until(gate_failed, time.time() + 20), watcher.observations()[-3:]
        assert "PraExerciseOverdue" not in (watcher.observations()[-1].firing or ())
    finally:
        watcher.stop()
