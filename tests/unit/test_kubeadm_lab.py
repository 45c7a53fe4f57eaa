"""The kubeadm lab's pure parts: the CA hash joins are pinned to, the CNI config, the application's objects."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from hadrill.lab.kube_app import APP_NODE_PORT, app_manifests
from hadrill.lab.kubeadm import ca_cert_hash, cni_conflist


def _ca() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM)


def test_ca_hash_is_kubeadms(tmp_path: Path) -> None:
    """The oracle is the pipeline kubeadm's documentation gives for --discovery-token-ca-cert-hash."""
    pem = _ca()
    (tmp_path / "ca.crt").write_bytes(pem)
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", str(tmp_path / "ca.crt")],
                         capture_output=True, check=True).stdout  # fmt: skip
    der = subprocess.run(["openssl", "rsa", "-pubin", "-outform", "der"], input=pub, capture_output=True,
                         check=True).stdout  # fmt: skip
    assert ca_cert_hash(pem) == "sha256:" + hashlib.sha256(der).hexdigest()


def test_cni_config_is_a_bridge_on_the_nodes_pod_cidr() -> None:
    conf = json.loads(cni_conflist("10.244.3.0/24"))
    bridge = conf["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["isGateway"] is True
    assert bridge["ipam"] == {
        "type": "host-local", "ranges": [[{"subnet": "10.244.3.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]
    }  # fmt: skip
    assert ipaddress.ip_network(bridge["ipam"]["ranges"][0][0]["subnet"]).num_addresses == 256


@pytest.mark.parametrize(("replicas", "min_available"), [(3, 2), (2, 1), (1, 1)])
def test_application_objects(replicas: int, min_available: int) -> None:
    objects = {body["kind"]: body for _, body in app_manifests("hadrill.local/web:1", replicas)}
    assert list(objects) == ["Namespace", "Deployment", "PodDisruptionBudget", "Service"]
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert objects["Deployment"]["spec"]["replicas"] == replicas
    assert pod["containers"][0]["imagePullPolicy"] == "Never"  # nothing is ever pulled in the lab
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    assert objects["PodDisruptionBudget"]["spec"]["minAvailable"] == min_available
    assert objects["Service"]["spec"]["ports"][0]["nodePort"] == APP_NODE_PORT == 30080
