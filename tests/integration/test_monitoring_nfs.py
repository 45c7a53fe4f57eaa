"""The lab's NFS alert rules against real Prometheus and Alertmanager: NfsGaneshaDown fires when
nfs-ganesha dies on a live server (the VIP holder: clients hang until keepalived moves the VIP) and
resolves when it is back; it stays inactive on a healthy lab and when the whole server is killed
(that is KeepalivedDown's page, not this one).

One lab for the module (``hdt-<worker>-monnfs``: the NFS part and the monitoring container, no etcd)
and one isolated ledger. Every test leaves the servers healthy and the ledger empty.
"""

from __future__ import annotations

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
from hadrill.lab.exporter_files import EXPORTER_PORT
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data

pytestmark = [pytest.mark.lab, pytest.mark.chaos]

ROOT = Path(__file__).resolve().parents[2]
GANESHA_EXPERIMENT = ROOT / "experiments" / "alert-nfs-ganesha-down.yaml"
KILL_EXPERIMENT = ROOT / "experiments" / "nfs-fail-vip.yaml"
# The physical floor of detection with the lab's rules: scrape 1 s + evaluation 1 s + for 2 s.
FLOOR_WORST_S = 4.0


@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    yield from fresh_lab(
        parse_lab_data(
            {"name": lab_name("monnfs"), "etcd": None, "nfs": {"advert_int": 1.0}, "monitoring": {}},
            "<test lab monnfs>",
        )
    )


@pytest.fixture(scope="module")
def inv(lab: Lab) -> Inventory:
    return lab.inventory()


@pytest.fixture(scope="module")
def prom(inv: Inventory) -> PrometheusClient:
    assert inv.monitoring is not None
    return PrometheusClient(inv.monitoring.prometheus)


def _instances(inv: Inventory) -> dict[str, str]:
    """The exporter's scrape address of each NFS server (what Prometheus calls its instance) -> node name."""
    names = {m.node for m in inv.cluster("nfs").members}
    return {
        f"{ip}:{EXPORTER_PORT}": node.name for node in inv.nodes if node.name in names for ip in node.addresses.values()
    }


def _rule(prom: PrometheusClient, name: str) -> dict[str, object]:
    body = prom.call("GET", "/api/v1/rules")
    rules = {r["name"]: r for g in body["data"]["groups"] for r in g["rules"] if r.get("type") == "alerting"}
    return rules[name]


def test_ganesha_rule_is_loaded_and_inactive_while_both_servers_serve(inv: Inventory, prom: PrometheusClient) -> None:
    instances = _instances(inv)
    # both servers' exporters answer and each sees its ganesha.nfsd: the series the rule reads exist
    seen = {labels["instance"]: value for labels, value in prom.query('hadrill_lab_check{check="ganesha"}')}
    assert set(seen) & set(instances) and len(seen) == 2, (seen, instances)
    assert set(seen.values()) == {1.0}, seen
    rule = _rule(prom, "NfsGaneshaDown")
    assert rule["health"] == "ok", rule.get("lastError")
    assert rule["state"] == "inactive", rule.get("alerts")


def test_stopping_ganesha_on_the_vip_holder_fires_and_resolves(
    lab: Lab, inv: Inventory, prom: PrometheusClient, ledger: Ledger, tmp_path: Path
) -> None:
    result = run_experiment_file(GANESHA_EXPERIMENT, inventory=lab.inventory_path, journal_dir=tmp_path)
    assert result.ok, failure_report(result.journal)
    verdicts = {v["name"]: v for v in result.hadrill["verdicts"]}
    ttd = verdicts["NfsGaneshaDown time_to_detect"]["measured"]
    ttr = verdicts["NfsGaneshaDown time_to_resolve"]["measured"]
    # detection cannot beat the rule's ``for`` (2 s); the worst case is the floor plus one 0.5 s poll,
    # plus the time pkill takes to end ganesha after the injection was recorded
    assert 2.0 <= ttd <= FLOOR_WORST_S + 0.5 + 2.0, verdicts
    assert 0.0 <= ttr <= 15.0, verdicts
    # the node stayed up (keepalived ran on) and the failover worked: those pages stay silent
    assert verdicts["KeepalivedDown silent"]["ok"] and verdicts["NfsVipOnNoNode silent"]["ok"], verdicts
    assert result.hadrill["alerts"]["source"] == "alertmanager"
    # Prometheus's own record: the alert fired for the server whose ganesha was stopped, and only for it
    fault = result.hadrill["faults"][0]
    stopped = fault["params"]["members"][0]
    node = inv.cluster("nfs").member(stopped).node
    series = prom.call(
        "GET",
        "/api/v1/query_range",
        params={
            "query": 'ALERTS{alertname="NfsGaneshaDown", alertstate="firing"}',
            "start": fault["start"] - 5,
            "end": time.time(),
            "step": 1,
        },
    )["data"]["result"]
    fired_for = {_instances(inv)[s["metric"]["instance"]] for s in series}
    assert fired_for == {node}, (fired_for, stopped)
    assert ledger.open_faults() == []
    outage = verdicts["nfs-write max_outage"]["detail"]
    print(f"\nNfsGaneshaDown: detected {ttd:.1f} s, resolved {ttr:.1f} s after the heal; {outage}")


def test_a_killed_server_pages_keepalived_down_not_ganesha_down(lab: Lab, ledger: Ledger, tmp_path: Path) -> None:
    result = run_experiment_file(KILL_EXPERIMENT, inventory=lab.inventory_path, journal_dir=tmp_path)
    assert result.ok, failure_report(result.journal)
    verdicts = {v["name"]: v for v in result.hadrill["verdicts"]}
    # a dead node runs no exporter: its series go stale and match nothing in NfsGaneshaDown
    assert verdicts["NfsGaneshaDown silent"]["ok"], verdicts["NfsGaneshaDown silent"]
    assert verdicts["KeepalivedDown time_to_detect"]["ok"], verdicts["KeepalivedDown time_to_detect"]
    assert ledger.open_faults() == []
    print(f"\n{verdicts['NfsGaneshaDown silent']['detail']}; {verdicts['KeepalivedDown time_to_detect']['detail']}")
