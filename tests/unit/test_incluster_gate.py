"""The in-cluster gate's pure parts: which files a report ConfigMap keeps, the namespace opt-in rule,
what an inventory provides to ``requires``, and the shipped manifests' own consistency. Expected values
are worked out by hand here."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hadrill.ctk.opt_in import opt_in_rule, opted_in, targeted_namespace
from hadrill.errors import ConfigError
from hadrill.inventory import Inventory
from hadrill.report.configmap import configmap_body, parse_ref

ROOT = Path(__file__).resolve().parents[2]
NIGHTLY = ROOT / "deploy" / "in-cluster" / "hadrill-nightly.yaml"


def test_files_are_kept_in_order_while_they_fit_and_the_rest_is_named(tmp_path: Path) -> None:
    a, b, c = tmp_path / "report.md", tmp_path / "report.json", tmp_path / "junit.xml"
    a.write_text("x" * 600)
    b.write_text("é" * 300)  # 600 bytes in UTF-8: 600 + 600 > 1000, left out
    c.write_text("y" * 400)  # 600 + 400 = 1000: fits exactly
    body = configmap_body("hadrill", "r", [a, b, c], budget=1000, now=0.0)
    assert sorted(body["data"]) == ["junit.xml", "omitted.txt", "report.md"]
    assert "report.json (600 bytes)" in body["data"]["omitted.txt"]
    assert body["metadata"] == {
        "name": "r", "namespace": "hadrill",
        "labels": {"app.kubernetes.io/name": "hadrill", "app.kubernetes.io/component": "report"},
        "annotations": {"hadrill.io/written": "1970-01-01T00:00:00Z"},
    }  # fmt: skip


def test_nothing_is_omitted_when_everything_fits(tmp_path: Path) -> None:
    f = tmp_path / "report.md"
    f.write_text("ok\n")
    assert configmap_body("ns", "n", [f], budget=3)["data"] == {"report.md": "ok\n"}


@pytest.mark.parametrize("ref", ["name", "/name", "ns/", "a/b/c", ""])
def test_a_configmap_reference_is_namespace_slash_name(ref: str) -> None:
    with pytest.raises(ConfigError, match="NAMESPACE/NAME"):
        parse_ref(ref)
    assert parse_ref("hadrill/hadrill-nightly-drill") == ("hadrill", "hadrill-nightly-drill")


def test_the_opt_in_rule_is_one_key_and_its_value() -> None:
    assert opt_in_rule("hadrill.io/chaos=enabled", "k") == ("hadrill.io/chaos", "enabled")
    for bad in ("hadrill.io/chaos", "=enabled", "a=b=c", 3):
        with pytest.raises(ConfigError, match=r"clusters\[k\].settings.chaos_opt_in_label"):
            opt_in_rule(bad, "k")
    rule = ("hadrill.io/chaos", "enabled")
    assert opted_in({"hadrill.io/chaos": "enabled", "team": "a"}, rule)
    assert not opted_in({"hadrill.io/chaos": "disabled"}, rule)
    assert not opted_in({}, rule) and not opted_in(None, rule)


def test_only_chaosk8s_actions_target_a_namespace() -> None:
    kill = {"type": "action", "name": "k", "provider": {"module": "chaosk8s.pod.actions", "arguments": {"ns": "app"}}}
    assert targeted_namespace(kill) == "app"
    no_ns = {"type": "action", "provider": {"module": "chaosk8s.pod.actions", "arguments": {}}}
    assert targeted_namespace(no_ns) == "default"  # chaosk8s's own default
    probe = {"type": "probe", "provider": {"module": "chaosk8s.deployment.probes", "arguments": {"ns": "app"}}}
    ours = {"type": "action", "provider": {"module": "hadrill.ctk.actions", "arguments": {"ns": "app"}}}
    assert targeted_namespace(probe) is None and targeted_namespace(ours) is None


def _nightly() -> list[dict]:
    return [d for d in yaml.safe_load_all(NIGHTLY.read_text()) if d]


def test_the_shipped_inventory_provides_what_kube_kill_app_pod_requires() -> None:
    [config] = [d for d in _nightly() if d["kind"] == "ConfigMap"]
    inv = Inventory.model_validate(yaml.safe_load(config["data"]["inventory.yaml"]))
    assert {"kubernetes", "kubernetes:app_url", "kubernetes:chaos_opt_in_label"} <= inv.provides
    assert "kubernetes:kubeconfig" not in inv.provides  # in-cluster: the service account
    experiment = yaml.safe_load((ROOT / "experiments" / "kube-kill-app-pod.yaml").read_text())
    [ext] = experiment["extensions"]
    assert set(ext["requires"]) <= inv.provides
    plan = yaml.safe_load(config["data"]["plan.yaml"])
    assert [Path(s["experiment"]).name for s in plan["scenarios"]] == ["kube-kill-app-pod.yaml"]


def test_the_gate_may_write_only_its_two_report_configmaps() -> None:
    docs = _nightly()
    [role] = [d for d in docs if d["kind"] == "Role"]
    update = [r for r in role["rules"] if "update" in r["verbs"]]
    names = ["hadrill-nightly-drill", "hadrill-nightly-compliance"]
    assert update == [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": names, "verbs": ["update"]}]
    [config] = [d for d in docs if d["kind"] == "ConfigMap"]
    run = config["data"]["run.sh"]
    assert all(f"--configmap hadrill/{n}" in run for n in names)
    # nothing cluster-wide can delete or read a Secret
    for d in docs:
        if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "hadrill-nightly-read":
            assert all(set(r["verbs"]) <= {"get", "list"} for r in d["rules"])
            assert not any("secrets" in r.get("resources", []) for r in d["rules"])
    cluster_wide = [d["roleRef"]["name"] for d in docs if d["kind"] == "ClusterRoleBinding"]
    assert cluster_wide == ["hadrill-nightly-read"]  # delete pods: granted per namespace only


def test_the_cronjob_runs_the_image_hadrill_lab_image_tags() -> None:
    import tomllib

    from hadrill.lab.hadrill_image import HADRILL_IMAGE, HADRILL_UID

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    [cron] = [d for d in _nightly() if d["kind"] == "CronJob"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == f"{HADRILL_IMAGE}:{version}"
    assert pod["securityContext"]["runAsUser"] == HADRILL_UID  # the image's own user
