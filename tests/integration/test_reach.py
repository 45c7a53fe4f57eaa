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
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from relays import ConnectProxy, TcpRelay

from hadrill.clients.kube import KubeApi, KubeApiError, api_reference, kube_api, node_problem
from hadrill.errors import SafetyRefused
from hadrill.experiment import failure_report, run_experiment_file
from hadrill.faults.base import injected
from hadrill.faults.etcd import kill_member
from hadrill.faults.etcd_restore import DrillObjects
from hadrill.faults.kube import kill_control_plane_node
from hadrill.faults.ledger import Ledger
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
         "nothing": [], "kill-master": ["hadrill-probes", "hadrill-kill-master"],
         "drain": ["hadrill-probes", "hadrill-drain"]}  # fmt: skip

PLUGIN = r"""
import json, os, pathlib, sys, datetime
d = pathlib.Path(sys.argv[1]); n = int((d / "calls").read_text()) + 1 if (d / "calls").exists() else 1
(d / "calls.tmp").write_text(str(n)); os.replace(d / "calls.tmp", d / "calls")  # the test reads it meanwhile
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


def _kubeconfig(inv: Inventory, path: Path, user: dict[str, Any], **cluster: str) -> Path:
    """The lab's kubeconfig with its user replaced by ``user`` (server and CA kept unless ``cluster`` gives
    other fields: server, tls-server-name, proxy-url), context ``reach``."""
    doc = yaml.safe_load(Path(inv.cluster("kubernetes").settings["kubeconfig"]).read_text())
    doc["clusters"][0]["cluster"].update(cluster)
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


def test_kill_a_master_and_drain_through_an_exec_plugin_under_exactly_their_roles(
    inv: Inventory, tokens: dict[str, str], state_dir: Path, tmp_path: Path
) -> None:
    """Each experiment passes under exactly its shipped roles (deploy/rbac/: hadrill-probes and its own), and
    fails with the RBAC error naming the verb and resource under hadrill-probes alone."""
    experiments = {"kill-master": "kube-kill-master.yaml", "drain": "kube-drain-worker-pdb.yaml"}
    failed: dict[str, Any] = {}
    for sa, name in [*experiments.items(), *(("prober", n) for n in experiments.values())]:
        d = tmp_path / f"{sa}-{name}"
        d.mkdir()
        (d / "token-1").write_text(tokens[sa])
        (d / "ttl").write_text("3600")
        inv_path = _inventory(inv, _kubeconfig(inv, d / "kc", _exec_user(d)), d / "inv.yaml")
        result = run_experiment_file(REPO / "experiments" / name, inventory=inv_path, journal_dir=tmp_path / "j")
        report = failure_report(result.journal)
        if sa != "prober":
            assert result.ok, report
            assert all(v["ok"] for v in result.hadrill["verdicts"]), result.hadrill["verdicts"]
            assert int((d / "calls").read_text()) >= 1
        else:
            assert not result.ok, report
            failed[name] = result
    # hadrill's own read (leases moved): one line naming the cluster, the context, the verb and the resource
    verdicts = {v["name"]: v for v in failed["kube-kill-master.yaml"].hadrill["verdicts"]}
    detail = verdicts["leases_moved_s"]["detail"]
    assert not verdicts["leases_moved_s"]["ok"] and "\n" not in detail, detail
    assert "cluster kubernetes (context reach)" in detail, detail
    assert "RBAC forbids get leases (API group coordination.k8s.io)" in detail, detail
    # chaosk8s's own call (its ApiException): the API server's reason names the verb and resource too
    text = json.dumps(failed["kube-drain-worker-pdb.yaml"].journal)
    assert re.search(r"cannot create resource \W*deployments\W* in API group \W*apps", text), text[-2000:]
    _no_secret_in([tmp_path / "j", state_dir / "ledger.jsonl"], [], list(tokens.values()))


def _load_balancer(inv: Inventory) -> tuple[str, int]:
    host, port = str(inv.cluster("kubernetes").settings["api"]).removeprefix("https://").rsplit(":", 1)
    return host, int(port)


def _sans(inv: Inventory) -> list[str]:
    """The names and addresses in the API server's certificate, read by openssl (not by hadrill)."""
    pem = Path(inv.cluster("kubernetes").settings["kubeconfig"]).parent / "pki" / "apiserver.crt"
    out = subprocess.run(["openssl", "x509", "-in", str(pem), "-noout", "-ext", "subjectAltName"],
                         capture_output=True, text=True, check=True, timeout=10).stdout  # fmt: skip
    return [n.split(":", 1)[1] for n in out.splitlines()[-1].replace(" ", "").split(",")]


def _cluster_of(inv: Inventory, kubeconfig: Path, tmp_path: Path) -> Any:
    return load_inventory(_inventory(inv, kubeconfig, tmp_path / f"{kubeconfig.name}.inv.yaml")).cluster("kubernetes")


def test_tls_server_name_is_the_name_the_certificate_is_checked_against(
    inv: Inventory, tokens: dict[str, str], tmp_path: Path
) -> None:
    """The API server dialled at 127.0.0.2 (a loopback relay to the load balancer): an address its certificate
    does not hold, while ``kubernetes`` is a name it does; kubectl connects with tls-server-name, so must hadrill."""
    sans = _sans(inv)
    assert "kubernetes" in sans and "127.0.0.2" not in sans, sans
    user = {"token": tokens["prober"]}
    with TcpRelay(_load_balancer(inv), host="127.0.0.2") as relay:
        server = f"https://{relay.host}:{relay.port}"
        plain = kube_api(_cluster_of(inv, _kubeconfig(inv, tmp_path / "kc-plain", user, server=server), tmp_path))
        with pytest.raises(KubeApiError) as e:
            plain.readyz()
        assert "does not name the address dialled" in str(e.value) and "tls-server-name" in str(e.value), e.value
        kc = _kubeconfig(inv, tmp_path / "kc-named", user, server=server, **{"tls-server-name": "kubernetes"})
        named = kube_api(_cluster_of(inv, kc, tmp_path))
        assert named.readyz() == "ok"
        assert relay.connections == 2  # both went through the relay: the address dialled was 127.0.0.2
        wrong = _kubeconfig(inv, tmp_path / "kc-wrong", user, server=server, **{"tls-server-name": "not-in-it"})
        with pytest.raises(KubeApiError):  # the name is checked, not the check switched off
            kube_api(_cluster_of(inv, wrong, tmp_path)).readyz()


def test_the_proxy_url_is_used_and_no_proxy_bypasses_it(
    inv: Inventory, tokens: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    host, port = _load_balancer(inv)
    with ConnectProxy() as proxy:
        kc = _kubeconfig(inv, tmp_path / "kc", {"token": tokens["prober"]}, **{"proxy-url": proxy.url})
        assert kube_api(_cluster_of(inv, kc, tmp_path)).readyz() == "ok"
        assert proxy.tunnels == [f"{host}:{port}"]  # through the proxy, to the load balancer
        monkeypatch.setenv("NO_PROXY", "example.invalid,10.0.0.0/8")  # the server, by a CIDR
        assert kube_api(_cluster_of(inv, kc, tmp_path)).readyz() == "ok"
        assert proxy.tunnels == [f"{host}:{port}"]  # bypassed: no new tunnel
        monkeypatch.setenv("NO_PROXY", "example.invalid")  # names another host only
        assert kube_api(_cluster_of(inv, kc, tmp_path)).readyz() == "ok"
        assert proxy.tunnels == [f"{host}:{port}"] * 2


def test_in_cluster_service_account(
    inv: Inventory, tokens: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hadrill in a pod: no kubeconfig, no TLS files; KUBERNETES_SERVICE_HOST/PORT and the pod's token and CA
    (the loader's paths pointed at files here). The token is the prober's: /readyz yes, nodes no."""
    from kubernetes.config import incluster_config

    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(tokens["prober"])
    (sa / "ca.crt").write_bytes(Path(str(inv.cluster("kubernetes").tls.ca)).read_bytes())  # type: ignore[union-attr]
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(sa / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(sa / "ca.crt"))
    host, port = _load_balancer(inv)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(port))
    cluster = inv.cluster("kubernetes").model_copy(update={"settings": {}, "tls": None})
    api = kube_api(cluster)
    assert (api.server, api.where) == (f"https://{host}:{port}", "cluster kubernetes (in-cluster service account)")
    assert api.readyz() == "ok"
    with pytest.raises(KubeApiError) as e:
        api.list_all("/api/v1/nodes")
    assert e.value.status == 403 and "RBAC forbids list nodes" in str(e.value)  # the prober spoke, not an admin
    reference = api_reference(cluster)
    assert reference == {"api_in_cluster": True}
    master = inv.cluster("kubernetes").members[1]  # a master's own API server, reached again from the record
    assert node_problem({"api": master.endpoints["api"], **reference}) is None


def test_the_drills_objects_are_removed_through_a_kubeconfig_only_cluster(
    inv: Inventory, admin: KubeApi, tokens: dict[str, str], ledger: Ledger, tmp_path: Path
) -> None:
    """What the restore drill creates is removed the way the drill reached the API: here a kubeconfig with an
    exec plugin (no TLS files in the inventory), recorded by path and context, never a credential."""
    ns = "hadrill-reach-drill"
    admin.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    (tmp_path / "token-1").write_text(tokens["drain"])  # may delete namespaces
    (tmp_path / "ttl").write_text("3600")
    k8s = _cluster_of(inv, _kubeconfig(inv, tmp_path / "kc", _exec_user(tmp_path)), tmp_path)
    api = kube_api(k8s)
    objects = DrillObjects(
        target="docker://none", time_limit=60, force=True, api=api.server, api_access=api_reference(k8s),
        objects=(f"/api/v1/namespaces/{ns}",), description="reach: a kubeconfig-only drill's objects",
    )  # fmt: skip
    with injected(objects, ledger=ledger) as record:
        assert record.params["api_kubeconfig"] == str(tmp_path / "kc") and record.params["api_context"] == "reach"
        assert not (set(record.params) & {"api_tls", "token"})
    try:
        meta = admin.get(f"/api/v1/namespaces/{ns}")["metadata"]
        gone = "deletionTimestamp" in meta  # terminating: its deletion was accepted
    except KubeApiError as e:
        gone = e.status == 404
    assert gone, f"namespace {ns} still there after the drill's objects were reverted"
    assert ledger.open_faults() == []
    _no_secret_in([ledger.path], [], list(tokens.values()))


def test_a_stacked_etcd_member_and_its_master_count_once(inv: Inventory, ledger: Ledger) -> None:
    """One master killed (budget 1 of kubernetes); a pause of ANOTHER master's stacked etcd member (budget 1 of
    k8s-etcd) would take 2 of 3 etcd members: refused unless forced. Container states read from the engine."""
    import docker

    engine = docker.from_env()
    etcd = inv.cluster("k8s-etcd")

    def state(node: str) -> str:
        return str(engine.containers.get(inv.node(node).url.removeprefix("docker://")).status)

    kill = kill_control_plane_node(inv, "kubernetes", "etcd-leader", action="kill", time_limit=120, ledger=ledger)
    with injected(kill, ledger=ledger):
        killed = kill.nodes[0]
        assert state(killed) == "exited"
        other = next(m for m in etcd.members if m.node != killed)
        with pytest.raises(SafetyRefused) as e, injected(kill_member(inv, etcd, other, action="pause"), ledger=ledger):
            pytest.fail("the gate let a second member of a 3-member etcd go")
        assert "would take 2 member(s)" in str(e.value) and "failure budget is 1" in str(e.value), e.value
        assert state(other.node) == "running" and len(ledger.open_faults()) == 1  # nothing done, nothing recorded
        forced = kill_member(inv, etcd, other, action="pause", time_limit=30, force=True)
        with injected(forced, ledger=ledger):
            assert state(other.node) == "paused"
        assert state(other.node) == "running"
    assert state(killed) == "running" and ledger.open_faults() == []


def test_an_auth_provider_oidc_id_token_is_sent(inv: Inventory, tokens: dict[str, str], tmp_path: Path) -> None:
    """A kubeconfig user with ``auth-provider: oidc``: the loader's id-token reaches the API server through
    hadrill's HTTP path. There is no OIDC issuer here, so the id-token is a ServiceAccount JWT (no ``exp``:
    never refreshed) that the API server checks as such: the issuer, the refresh and the API server's OIDC
    validation are not exercised."""
    token = tokens["prober"]
    assert token.count(".") == 2  # a JWT, as an id-token is
    user = {"auth-provider": {"name": "oidc", "config": {"id-token": token, "client-id": "hadrill",
                                                          "idp-issuer-url": "https://issuer.invalid"}}}  # fmt: skip
    api = kube_api(_cluster_of(inv, _kubeconfig(inv, tmp_path / "kc-oidc", user), tmp_path))
    assert api.readyz() == "ok"
    with pytest.raises(KubeApiError) as e:
        api.list_all("/api/v1/nodes")
    assert e.value.status == 403 and "system:serviceaccount:hadrill-reach:prober" in str(e.value)  # it was sent
    _no_secret_in([], [str(e.value)], [token])
