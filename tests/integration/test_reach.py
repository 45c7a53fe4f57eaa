"""hadrill reaches a Kubernetes cluster the way kubectl does (#19): the lab's real API server reached through
kubeconfigs holding a client certificate, a static ServiceAccount token, and an exec credential plugin
(a script printing an ExecCredential) that hands out a new token on each call; the commands run under
exactly the ClusterRoles shipped in ``deploy/rbac/`` and fail clearly (exit 3, naming verb and resource)
under a role that reads nothing; no token appears in anything hadrill writes.

One lab for the module (only ``kubernetes``); its admin client (the lab's kubeconfig) creates the
ServiceAccounts, their Secret-based tokens, the roles and the bindings.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hadrill.clients.kube import KubeApi, KubeApiError, kube_api
from hadrill.experiment import failure_report, run_experiment_file
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data
from hadrill.probes.kube import KubeWriteProbe
from hadrill.probes.sampler import Sampler

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
LAB_NAME = f"hdt-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-reach"
NS = "hadrill-reach"
ROLES = {"preflight": ["hadrill-preflight"], "compliance": ["hadrill-compliance"], "prober": ["hadrill-probes"],
         "nothing": [], "operator": ["cluster-admin"]}  # fmt: skip  (the experiments' own roles: not shipped yet)

PLUGIN = r"""
import json, pathlib, sys, datetime
d = pathlib.Path(sys.argv[1]); n = int((d / "calls").read_text()) + 1 if (d / "calls").exists() else 1
(d / "calls").write_text(str(n))
tokens = sorted(d.glob("token-*"))
token = tokens[min(n, len(tokens)) - 1].read_text()
ttl = float((d / "ttl").read_text())  # seconds: the client's loader renews 5 minutes before the expiry
exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=ttl)
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                  "status": {"token": token, "expirationTimestamp": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}}))
"""


@pytest.fixture(scope="module")
def lab(module_lab_factory: Any, state_dir: Path) -> Iterator[Lab]:
    kind = str(REPO / "kind-configs" / "ha.yaml")
    spec = parse_lab_data({"name": LAB_NAME, "etcd": None, "kubernetes": {"kind_config": kind}}, "<test lab reach>")
    lab = Lab(spec, owner="pytest", client=module_lab_factory.client, base_dir=REPO)
    module_lab_factory.labs.append(lab)
    lab.down()
    lab.up(timeout=300)
    yield lab


@pytest.fixture(scope="module")
def inv(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture(scope="module")
def admin(inv: Inventory) -> KubeApi:
    """The lab's admin: its kubeconfig (a client certificate) through the one builder."""
    return kube_api(inv.cluster("kubernetes"), timeout=10.0)


def _apply_cluster_role(admin: KubeApi, doc: dict[str, Any]) -> None:
    path = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
    if not admin.create(path, doc):
        admin.request("PUT", f"{path}/{doc['metadata']['name']}", doc)


def _token(admin: KubeApi, sa: str, name: str) -> str:
    """A Secret-based (static, revocable) token of ServiceAccount ``sa``, filled in by the token controller."""
    admin.create(f"/api/v1/namespaces/{NS}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": name, "annotations": {"kubernetes.io/service-account.name": sa}},
    })  # fmt: skip
    for _ in range(60):
        data = admin.get(f"/api/v1/namespaces/{NS}/secrets/{name}").get("data") or {}
        if data.get("token"):
            return base64.b64decode(data["token"]).decode()
        time.sleep(0.5)
    pytest.fail(f"the token controller did not fill Secret {name} in 30 s")


class Tokens(dict[str, str]):
    """Kept out of pytest's failure reports."""

    def __repr__(self) -> str:
        return f"<{len(self)} tokens>"


@pytest.fixture(scope="module")
def tokens(admin: KubeApi) -> dict[str, str]:
    """One static token per ServiceAccount, each bound to exactly the shipped roles it is named for."""
    for f in sorted((REPO / "deploy" / "rbac").glob("*.yaml")):
        _apply_cluster_role(admin, yaml.safe_load(f.read_text()))
    admin.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    out = Tokens()
    for sa, roles in ROLES.items():
        admin.create(f"/api/v1/namespaces/{NS}/serviceaccounts", {"metadata": {"name": sa}})
        for role in roles:
            admin.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
                "metadata": {"name": f"{role}-{sa}"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole", "name": role}, "subjects": [{"kind": "ServiceAccount", "name": sa,
                "namespace": NS}],
            })  # fmt: skip
        out[sa] = _token(admin, sa, f"{sa}-static")
    return out


def _kubeconfig(inv: Inventory, path: Path, user: dict[str, Any]) -> Path:
    """The lab's kubeconfig with its user replaced by ``user`` (server and CA kept), context ``reach``."""
    doc = yaml.safe_load(Path(inv.cluster("kubernetes").settings["kubeconfig"]).read_text())
    doc["users"] = [{"name": "u", "user": user}]
    doc["contexts"] = [{"name": "reach", "context": {"cluster": doc["clusters"][0]["name"], "user": "u"}}]
    doc["current-context"] = "other-context-not-used"
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def _inventory(inv: Inventory, kubeconfig: Path, path: Path) -> Path:
    """The lab's inventory whose kubernetes cluster has only ``settings.kubeconfig`` + ``context`` (no tls)."""
    doc = json.loads(inv.model_dump_json())
    for c in doc["clusters"]:
        if c["type"] == "kubernetes":
            c["settings"] = {"kubeconfig": str(kubeconfig), "context": "reach"}
            c["tls"] = None
    path.write_text(yaml.safe_dump(doc))
    return path


def _exec_user(plugin_dir: Path) -> dict[str, Any]:
    (plugin_dir / "plugin.py").write_text(PLUGIN)
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
                     "args": [str(plugin_dir / "plugin.py"), str(plugin_dir)], "interactiveMode": "Never"}}  # fmt: skip


def _hadrill(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "hadrill.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip


def _no_secret_in(paths: list[Path], texts: list[str], secrets: list[str]) -> None:
    """No token in any file under ``paths`` (recursively) nor in ``texts``."""
    blobs = list(texts)
    for p in paths:
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
        blobs += [f.read_bytes().decode("utf-8", "replace") for f in files]
    for s in secrets:
        assert all(s not in b and s[-40:] not in b for b in blobs), "a token leaked into hadrill's output"


def test_a_client_certificate_and_a_static_token(inv: Inventory, admin: KubeApi, tokens: dict[str, str],
                                                 tmp_path: Path) -> None:  # fmt: skip
    assert admin.credentials.cert_file and admin.get("/version")["gitVersion"].startswith("v1.34")
    kc = _kubeconfig(inv, tmp_path / "kc", {"token": tokens["preflight"]})
    inv_path = _inventory(inv, kc, tmp_path / "inv.yaml")
    api = kube_api(load_inventory(inv_path).cluster("kubernetes"))
    names = {n["metadata"]["name"] for n in api.list_all("/api/v1/nodes")}
    assert names == set(inv.cluster("kubernetes").settings["workers"])  # the kwok workers are the lab's nodes
    (tmp_path / "tok").write_text(tokens["nothing"])
    kc2 = _kubeconfig(inv, tmp_path / "kc2", {"tokenFile": str(tmp_path / "tok")})
    nothing = kube_api(load_inventory(_inventory(inv, kc2, tmp_path / "inv2.yaml")).cluster("kubernetes"))
    with pytest.raises(KubeApiError) as e:
        nothing.list_all("/api/v1/nodes")
    msg = str(e.value)
    assert e.value.status == 403 and "\n" not in msg
    assert "cluster kubernetes (context reach)" in msg and "RBAC forbids list nodes" in msg
    _no_secret_in([], [msg], list(tokens.values()))


def test_preflight_and_check_through_an_exec_plugin_under_exactly_their_roles(
    inv: Inventory, admin: KubeApi, tokens: dict[str, str], tmp_path: Path
) -> None:
    written = [tmp_path / "out"]
    secrets = list(tokens.values())
    for sa in ("preflight", "compliance", "nothing"):
        d = tmp_path / sa
        d.mkdir()
        (d / "token-1").write_text(tokens[sa])
        (d / "ttl").write_text("3600")
        inv_path = _inventory(inv, _kubeconfig(inv, d / "kc", _exec_user(d)), d / "inv.yaml")
        if sa != "compliance":
            pf = _hadrill("preflight", "--target-version", "1.35", "--inventory", str(inv_path),
                          "--json", str(tmp_path / "out" / f"{sa}.json"), cwd=tmp_path)  # fmt: skip
        if sa != "preflight":
            ck = _hadrill("check", "--suite", "pss,workloads", "--inventory", str(inv_path),
                          "--out", str(tmp_path / "out" / sa), cwd=tmp_path)  # fmt: skip
        if sa == "preflight":
            assert pf.returncode in (0, 1), pf.stderr
            result = json.loads((tmp_path / "out" / "preflight.json").read_text())
            checks = {c["name"]: c for c in result["checks"]}
            removed = checks["deprecated APIs: removed"]
            assert removed["ok"], removed  # every list the scan makes is in the role: nothing "not scanned"
            assert checks["nodes Ready"]["ok"] if "nodes Ready" in checks else True
            assert (d / "calls").read_text() == "1"  # the plugin ran once, its token cached until expiry
        if sa == "compliance":
            assert ck.returncode in (0, 1), ck.stdout + ck.stderr
            assert " 0 error;" in ck.stdout and "HD-WL-009" in ck.stdout, ck.stdout  # every check ran and judged
        if sa == "nothing":
            assert pf.returncode == 3, pf.stdout + pf.stderr
            line = pf.stderr.strip()
            assert len(line.splitlines()) == 1, line
            assert "cluster kubernetes (context reach)" in line and "RBAC forbids list" in line, line
            assert ck.returncode == 3, ck.stdout + ck.stderr
            assert "RBAC forbids list" in ck.stdout + ck.stderr
            _no_secret_in([], [pf.stdout, pf.stderr, ck.stdout, ck.stderr], secrets)
    _no_secret_in(written, [], secrets)


def test_a_token_renewed_by_the_plugin_mid_run_and_a_revoked_one(
    inv: Inventory, admin: KubeApi, tokens: dict[str, str], tmp_path: Path
) -> None:
    """The kube-write probe samples every 100 ms for 12 s through an exec plugin whose tokens expire (to the
    loader) 3 s after they are handed out; each old token is revoked (its Secret deleted) once the next
    one is out. Then a token revoked before its expiry: the next call gets 401, reloads, and succeeds."""
    names = [f"prober-rot-{i}" for i in range(1, 11)]
    for i, name in enumerate(names, 1):
        (tmp_path / f"token-{i:02d}").write_text(_token(admin, "prober", name))
    (tmp_path / "ttl").write_text(str(300 + 3))
    kc = _kubeconfig(inv, tmp_path / "kc", _exec_user(tmp_path))
    api = kube_api(load_inventory(_inventory(inv, kc, tmp_path / "inv.yaml")).cluster("kubernetes"), timeout=1.0)
    probe = KubeWriteProbe(api, namespace="hadrill-reach-probe", prefix="rot")
    probe.prepare()
    revoked = 0
    with Sampler(probe, interval=0.1, timeout=1.0, max_duration=12.0) as sampler:
        deadline = time.monotonic() + 13
        while sampler.running and time.monotonic() < deadline:
            time.sleep(0.5)
            calls = int((tmp_path / "calls").read_text())
            while revoked < calls - 1:  # every token but the one in use
                admin.request("DELETE", f"/api/v1/namespaces/{NS}/secrets/{names[revoked]}")
                revoked += 1
        history = sampler.stop()
    samples = history.samples()
    bad = [s.error for s in samples if not s.ok]
    assert len(samples) >= 100 and not bad, bad[:3]
    assert revoked >= 2, revoked  # at least three tokens served the run, the first two revoked during it
    assert len(probe.read_back()) == len(samples)
    # revoked before its expiry: kubectl's answer is to run the plugin again on a 401, so is hadrill's
    (tmp_path / "ttl").write_text("3600")
    calls = int((tmp_path / "calls").read_text())
    api = kube_api(load_inventory(_inventory(inv, kc, tmp_path / "inv.yaml")).cluster("kubernetes"), timeout=2.0)
    assert api.readyz() == "ok"
    admin.request("DELETE", f"/api/v1/namespaces/{NS}/secrets/{names[calls]}")
    revoked_at = time.monotonic()
    static = _kubeconfig(inv, tmp_path / "kc-static", {"token": (tmp_path / f"token-{calls + 1:02d}").read_text()})
    old = kube_api(load_inventory(_inventory(inv, static, tmp_path / "inv-s.yaml")).cluster("kubernetes"))
    for _ in range(40):  # an API server caches a token it accepted for 10 s
        try:
            old.get("/version")
        except KubeApiError as e:
            if e.status == 401:
                break
        time.sleep(0.5)
    else:
        pytest.fail("the deleted token was still accepted after 20 s")
    time.sleep(max(0.0, revoked_at + 11 - time.monotonic()))  # each of the 3 API servers has its own cache
    assert api.list_all("/api/v1/namespaces/hadrill-reach-probe/configmaps", label_selector="hadrill.dev/probe=rot")
    assert int((tmp_path / "calls").read_text()) == calls + 2
    _no_secret_in([], [s.error or "" for s in samples], [p.read_text() for p in tmp_path.glob("token-*")])


def test_a_missing_or_failing_plugin_says_so(inv: Inventory, tmp_path: Path) -> None:
    missing = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "no-such-plugin-xyz"}}
    failing = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "/bin/false"}}
    for name, user, words in (("m", missing, "plugin is missing"), ("f", failing, "plugin failed")):
        inv_path = _inventory(inv, _kubeconfig(inv, tmp_path / f"kc-{name}", user), tmp_path / f"inv-{name}.yaml")
        r = _hadrill("preflight", "--target-version", "1.35", "--inventory", str(inv_path), cwd=tmp_path)
        assert r.returncode == 3, r.stdout + r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "cluster kubernetes (context reach)" in r.stderr
        assert words in r.stderr, r.stderr


def test_kill_a_master_and_drain_through_an_exec_plugin(
    inv: Inventory, tokens: dict[str, str], state_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "token-1").write_text(tokens["operator"])
    (tmp_path / "ttl").write_text("3600")
    inv_path = _inventory(inv, _kubeconfig(inv, tmp_path / "kc", _exec_user(tmp_path)), tmp_path / "inv.yaml")
    for name in ("kube-kill-master.yaml", "kube-drain-worker-pdb.yaml"):
        result = run_experiment_file(REPO / "experiments" / name, inventory=inv_path, journal_dir=tmp_path / "j")
        assert result.ok, failure_report(result.journal)
        assert all(v["ok"] for v in result.hadrill["verdicts"]), result.hadrill["verdicts"]
    assert int((tmp_path / "calls").read_text()) >= 1
    _no_secret_in([tmp_path / "j", state_dir / "ledger.jsonl"], [], list(tokens.values()))
