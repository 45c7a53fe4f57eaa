"""The lab's Kubernetes against a real Docker engine: an HA control plane built from the Go module proxy.

One lab for the module (only ``kubernetes``: three control-plane containers with stacked etcd, haproxy
in front, kwok workers). The first run on a machine builds the Go binaries (tens of minutes, cached in
``cache_dir()/bin`` afterwards); with them cached the lab is up in about a minute. Tests talk only to the
lab's containers (10.213.0.0/16) and loopback; every loop is bounded.
"""

from __future__ import annotations

import ipaddress
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException
from labtools import assert_kube_scraped

from hadrill.clients.kube import kube_api
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.kube import KIND_CLUSTER_LABEL, KIND_ROLE_LABEL, KubeService
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data
from hadrill.probes.etcd import EtcdReadProbe, EtcdWriteProbe
from hadrill.probes.kube import KubeReadyProbe, KubeWriteProbe
from hadrill.probes.sampler import Sampler

pytestmark = [pytest.mark.lab, pytest.mark.timeout(3600)]  # the first run builds Kubernetes from source

REPO = Path(__file__).resolve().parents[2]
LAB_NAME = f"hdt-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-k8s"  # conftest's naming; at most 24 chars
LAB_POOL = ipaddress.IPv4Network("10.213.0.0/16")
UP_TIMEOUT = 300.0
CALL = 10  # seconds, every API call


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0, interval: float = 1.0) -> Any:
    """Poll ``check`` until it returns something truthy; bounded in time and attempts."""
    deadline = time.monotonic() + timeout
    last: Any = None
    for _ in range(int(timeout / interval) + 1):
        try:
            last = check()
            if last:
                return last
        except ApiException as e:
            last = f"{e.status} {e.reason}"
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    pytest.fail(f"{what}: not true after {timeout:.0f} s (last: {last})")


@pytest.fixture(scope="module")
def lab(module_lab_factory: Any) -> Iterator[Lab]:
    spec = parse_lab_data({"name": LAB_NAME, "etcd": None, "kubernetes": {}, "monitoring": {}}, "<test lab k8s>")
    lab = Lab(spec, owner="pytest", client=module_lab_factory.client, base_dir=REPO)
    module_lab_factory.labs.append(lab)  # taken down when the module ends, pass or fail
    lab.down()
    lab.up(timeout=UP_TIMEOUT)
    yield lab


@pytest.fixture(scope="module")
def kube(lab: Lab) -> KubeService:
    return next(s for s in lab.services if isinstance(s, KubeService))


@pytest.fixture(scope="module")
def inv(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture(scope="module")
def api(inv: Inventory) -> Iterator[k8s.ApiClient]:
    """The kubernetes client, configured only from the kubeconfig the lab wrote."""
    path = inv.cluster("kubernetes").settings["kubeconfig"]
    api_client = k8s_config.new_client_from_config(config_file=path)
    yield api_client
    api_client.close()


@pytest.fixture
def namespace(api: k8s.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"t-{request.node.name[5:25].replace('_', '-')}-{uuid.uuid4().hex[:5]}".lower()
    core = k8s.CoreV1Api(api)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)), _request_timeout=CALL)
    yield name
    core.delete_namespace(name, _request_timeout=CALL)


def test_inventory_describes_the_cluster(lab: Lab, inv: Inventory, kube: KubeService) -> None:
    k = inv.cluster("kubernetes")
    assert k.type == "kubernetes" and k.failure_budget == 1
    assert [m.name for m in k.members] == [f"{lab.name}-control-plane", f"{lab.name}-control-plane2",
                                           f"{lab.name}-control-plane3"]  # fmt: skip
    assert k.settings["workers"] == [f"{lab.name}-worker", f"{lab.name}-worker2", f"{lab.name}-worker3"]
    assert ipaddress.ip_address(k.settings["api"].split("//")[1].split(":")[0]) in LAB_POOL
    assert k.tls is not None and Path(k.tls.key).stat().st_mode & 0o077 == 0
    e = inv.cluster("k8s-etcd")
    assert e.type == "etcd" and e.tls is not None and len(e.members) == 3
    assert all(m.endpoints["client"].startswith("https://") for m in e.members)
    for node in inv.nodes:
        if "control-plane" in node.roles:
            assert node.roles == ["control-plane", "etcd"]


def test_prometheus_scrapes_every_api_server_with_a_certificate_that_reads_only_metrics(
    lab: Lab, inv: Inventory
) -> None:
    """The API servers' /metrics, scraped over TLS with the monitoring's own certificate (group
    system:monitoring): allowed /metrics, refused the cluster's Secrets."""
    masters = {m.endpoints["api"].removeprefix("https://") for m in inv.cluster("kubernetes").members}
    assert len(masters) == 3, masters
    assert_kube_scraped(
        inv, lab.name, "kube-apiserver", masters, "apiserver_request_total",
        allowed="/metrics", denied="/api/v1/namespaces/kube-system/secrets", ca=True,
    )  # fmt: skip


def test_containers_carry_kind_labels(lab: Lab, engine: docker.DockerClient) -> None:
    found = engine.containers.list(filters={"label": f"{KIND_CLUSTER_LABEL}={lab.name}"})
    roles = sorted((c.name, c.labels[KIND_ROLE_LABEL]) for c in found)
    assert roles == [
        (f"{lab.name}-control-plane", "control-plane"),
        (f"{lab.name}-control-plane2", "control-plane"),
        (f"{lab.name}-control-plane3", "control-plane"),
        (f"{lab.name}-external-load-balancer", "external-load-balancer"),
    ]


def test_api_answers_with_the_written_kubeconfig(api: k8s.ApiClient) -> None:
    names = {ns.metadata.name for ns in k8s.CoreV1Api(api).list_namespace(_request_timeout=CALL).items}
    assert {"default", "kube-system", "kube-public"} <= names
    assert k8s.VersionApi(api).get_code(_request_timeout=CALL).git_version.startswith("v1.34")


def test_deployment_runs_on_kwok_workers(api: k8s.ApiClient, inv: Inventory, namespace: str) -> None:
    workers = set(inv.cluster("kubernetes").settings["workers"])
    labels = {"app": "web"}
    container = k8s.V1Container(name="web", image="registry.invalid/web:1")  # kwok never pulls it
    deployment = k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name="web"),
        spec=k8s.V1DeploymentSpec(
            replicas=2,
            selector=k8s.V1LabelSelector(match_labels=labels),
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels=labels), spec=k8s.V1PodSpec(containers=[container])
            ),
        ),
    )
    k8s.AppsV1Api(api).create_namespaced_deployment(namespace, deployment, _request_timeout=CALL)
    core = k8s.CoreV1Api(api)

    def running() -> list[Any]:
        pods = core.list_namespaced_pod(namespace, label_selector="app=web", _request_timeout=CALL).items
        up = [p for p in pods if p.status.phase == "Running" and p.spec.node_name in workers]
        return up if len(up) == 2 else []

    pods = wait_for("2 pods Running on kwok workers", running, timeout=90)
    assert all(p.status.pod_ip for p in pods)
    ready = wait_for(
        "deployment available",
        lambda: k8s.AppsV1Api(api).read_namespaced_deployment(namespace=namespace, name="web", _request_timeout=CALL)
        .status.available_replicas == 2,
    )  # fmt: skip
    assert ready


def test_pod_security_rejects_a_privileged_pod(api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api)
    patch = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    core.patch_namespace(namespace, patch, _request_timeout=CALL)
    privileged = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="root"),
        spec=k8s.V1PodSpec(
            containers=[
                k8s.V1Container(
                    name="c", image="registry.invalid/x:1", security_context=k8s.V1SecurityContext(privileged=True)
                )
            ]
        ),
    )
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(namespace, privileged, _request_timeout=CALL)
    assert err.value.status == 403
    assert "violates PodSecurity" in str(err.value.body)


def test_leases_are_held_by_control_planes(api: k8s.ApiClient, inv: Inventory) -> None:
    masters = {m.name for m in inv.cluster("kubernetes").members}
    coord = k8s.CoordinationV1Api(api)
    for lease in ("kube-controller-manager", "kube-scheduler"):
        spec = coord.read_namespaced_lease(lease, "kube-system", _request_timeout=CALL).spec
        assert spec.holder_identity.split("_")[0] in masters, (lease, spec.holder_identity)


def test_status_shows_every_node(lab: Lab) -> None:
    rows = lab.status()
    masters = [r for r in rows if r.role == "control-plane"]
    assert len(masters) == 3 and all(r.health == "healthy" for r in masters), rows
    assert sum("etcd leader" in r.detail for r in masters) == 1, masters
    assert sum("holds kube-scheduler" in r.detail for r in masters) == 1, masters
    lb = next(r for r in rows if r.role == "load-balancer")
    assert lb.health == "healthy", lb


def test_k8s_etcd_answers_the_etcd_probes(inv: Inventory) -> None:
    c = inv.cluster("k8s-etcd")
    endpoints = [m.endpoints["client"] for m in c.members]
    prefix = f"/hadrill/test/{uuid.uuid4().hex[:8]}"
    write = EtcdWriteProbe(endpoints, prefix=prefix, tls=c.tls, timeout=2.0)
    keys = [write.sample()["key"] for _ in range(5)]
    assert set(keys) <= write.read_back()
    read = EtcdReadProbe(endpoints, key=f"{prefix}-read", tls=c.tls, timeout=2.0)
    read.prepare()
    assert read.sample()["endpoint"] in endpoints


def test_kube_probes_write_and_read_back(inv: Inventory) -> None:
    api = kube_api(inv.cluster("kubernetes"), timeout=5.0)
    assert KubeReadyProbe(api).sample()["status"] == 200
    write = KubeWriteProbe(api, namespace="hadrill-probe", prefix=f"t{uuid.uuid4().hex[:6]}")
    write.prepare()
    keys = {write.sample()["key"] for _ in range(5)}
    assert keys == write.read_back()


def test_killing_one_control_plane_keeps_the_api_available(
    lab: Lab, kube: KubeService, inv: Inventory, engine: docker.DockerClient
) -> None:
    """A simple check; the full "kill a master" experiment with objectives comes later."""
    victim = engine.containers.get(f"{lab.name}-control-plane2")
    api = kube_api(inv.cluster("kubernetes"), timeout=1.0)
    write = KubeWriteProbe(api, namespace="hadrill-probe", prefix=f"k{uuid.uuid4().hex[:6]}", name="kill-write")
    write.prepare()
    try:
        victim.kill()
        time.sleep(5)  # haproxy marks it down after two failed checks 1 s apart
        with Sampler(KubeReadyProbe(api), interval=0.2, timeout=1.0) as ready, Sampler(write, interval=0.5) as w:
            time.sleep(10)
        bad = ready.history.failures()
        assert len(bad) <= 1, f"/readyz through the LB failed {len(bad)} times with a master down: {bad[:3]}"
        assert len(w.history.oks()) >= 15, [s.error for s in w.history.failures()][:3]
    finally:
        victim.start()
    kube.wait_healthy(lab.ctx, timeout=UP_TIMEOUT)
    acked = {str(s.detail["key"]) for s in w.history.oks() if s.detail}
    assert acked <= write.read_back(), "acknowledged ConfigMaps lost after the master came back"
