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
