"""The Kubernetes lab's PKI, made by the harness the way kubeadm lays it out (ECDSA P-256, one year).

Files (under ``state_dir()/labs/<lab>/pki``, keys 0600, mounted read-only at /etc/kubernetes/pki)::

    ca.crt ca.key                       cluster CA (client certs, kubeconfigs)
    apiserver.crt apiserver.key         serving cert: LB and node addresses, kubernetes.default.svc, 10.96.0.1
    apiserver-etcd-client.crt .key      kube-apiserver → etcd
    sa.key sa.pub                       service-account token signing pair
    admin.crt admin.key                 O=system:masters (the harness, the host kubeconfig)
    controller-manager.conf scheduler.conf kwok.conf   kubeconfigs with embedded credentials
    etcd/ca.crt etcd/ca.key             etcd CA
    etcd/server.crt .key  etcd/peer.crt .key           every member's address in the SANs
    etcd/client.crt .key                etcd clients (probes, faults, etcdctl)

The lab's Prometheus gets a client certificate of its own, in ``state_dir()/labs/<lab>/prometheus-kube``
(:func:`write_scrape_client`): CN ``hadrill-prometheus`` in the group ``system:monitoring``, which the
API server's built-in ClusterRole of that name lets read ``/metrics`` and nothing else.

Making it again with the same inputs (recorded in ``pki.json``) keeps every file: ``lab up`` is idempotent.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hadrill.inventory import TLSFiles
from hadrill.paths import state_dir

__all__ = ["SCRAPE_GROUP", "SCRAPE_USER", "KubePKI", "ensure_pki", "kubeconfig", "scrape_dir", "write_scrape_client"]

_VALID = dt.timedelta(days=365)
_SERVER = [ExtendedKeyUsageOID.SERVER_AUTH]
_CLIENT = [ExtendedKeyUsageOID.CLIENT_AUTH]
_BOTH = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
_Key = ec.EllipticCurvePrivateKey
SCRAPE_USER = "hadrill-prometheus"
SCRAPE_GROUP = "system:monitoring"  # bound by the API server itself to the role that allows GET /metrics


@dataclass(frozen=True)
class KubePKI:
    """Where the files are; ``path("etcd/client.crt")`` on the host."""

    dir: Path

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def admin_tls(self) -> TLSFiles:
        return TLSFiles(ca=self.path("ca.crt"), cert=self.path("admin.crt"), key=self.path("admin.key"))

    def etcd_tls(self) -> TLSFiles:
        return TLSFiles(
            ca=self.path("etcd/ca.crt"), cert=self.path("etcd/client.crt"), key=self.path("etcd/client.key")
        )

    def write_kubeconfig(self, path: Path, cluster: str, server: str) -> None:
        """The admin kubeconfig (embedded credentials, 0600), for kubectl and client libraries on the host."""
        tls = self.admin_tls()
        ca, cert, key = (Path(p).read_bytes() for p in (tls.ca, tls.cert, tls.key))
        _write(path, kubeconfig(cluster, server, ca, cert, key, "kubernetes-admin").encode(), secret=True)


def _write(path: Path, data: bytes, secret: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _key() -> _Key:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: _Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _ca(cn: str) -> tuple[_Key, x509.Certificate]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + 10 * _VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, True, True, False, False), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    ca: tuple[_Key, x509.Certificate], cn: str, usages: list[x509.ObjectIdentifier], *, org: str | None = None,
    dns: list[str] | None = None, ips: list[str] | None = None,
) -> tuple[_Key, x509.Certificate]:  # fmt: skip
    ca_key, ca_cert = ca
    key = _key()
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, org))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns or []]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips or []]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, b.sign(ca_key, hashes.SHA256())


def _save(dir: Path, stem: str, pair: tuple[_Key, x509.Certificate]) -> None:
    _write(dir / f"{stem}.key", _key_pem(pair[0]), secret=True)
    _write(dir / f"{stem}.crt", pair[1].public_bytes(serialization.Encoding.PEM))


def kubeconfig(cluster: str, server: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, user: str) -> str:
    """A kubeconfig with embedded credentials (one cluster, one user, one context)."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}],
        "contexts": [{"name": f"{user}@{cluster}", "context": {"cluster": cluster, "user": user}}],
        "current-context": f"{user}@{cluster}",
    }
    return yaml.safe_dump(doc, sort_keys=False)


def _client_conf(
    ca: tuple[_Key, x509.Certificate], cluster: str, server: str, cn: str, org: str | None
) -> tuple[bytes, bytes, str]:
    key, cert = _leaf(ca, cn, _CLIENT, org=org)
    ca_pem = ca[1].public_bytes(serialization.Encoding.PEM)
    cert_pem, key_pem = cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)
    return cert_pem, key_pem, kubeconfig(cluster, server, ca_pem, cert_pem, key_pem, cn)


def ensure_pki(
    dir: Path,
    *,
    cluster: str,
    lb: str,
    nodes: dict[str, str],
    kubernetes_service_ip: str = "10.96.0.1",
    api_port: int = 6443,
) -> KubePKI:
    """Make the PKI for control-plane ``nodes`` ({name: address}) behind load balancer ``lb``, unless made."""
    inputs = {"v": 1, "cluster": cluster, "lb": lb, "nodes": nodes, "svc": kubernetes_service_ip, "port": api_port}
    stamp = dir / "pki.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == inputs and (dir / "etcd" / "client.key").is_file():
        return KubePKI(dir)
    dir.mkdir(parents=True, exist_ok=True)
    dir.chmod(0o700)
    stamp.unlink(missing_ok=True)
    local = ["localhost"], ["127.0.0.1"]
    ca, etcd_ca = _ca("kubernetes"), _ca("etcd-ca")
    _save(dir, "ca", ca)
    _save(dir / "etcd", "ca", etcd_ca)
    svc_dns = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
    _save(dir, "apiserver", _leaf(
        ca, "kube-apiserver", _SERVER, dns=[*svc_dns, *nodes, *local[0]],
        ips=[kubernetes_service_ip, lb, *nodes.values(), *local[1]],
    ))  # fmt: skip
    _save(dir, "apiserver-etcd-client", _leaf(etcd_ca, "kube-apiserver-etcd-client", _CLIENT))
    for stem in ("server", "peer"):
        pair = _leaf(etcd_ca, f"etcd-{stem}", _BOTH, dns=[*nodes, *local[0]], ips=[*nodes.values(), *local[1]])
        _save(dir / "etcd", stem, pair)
    _save(dir / "etcd", "client", _leaf(etcd_ca, "hadrill-etcd-client", _CLIENT))
    sa = _key()
    _write(dir / "sa.key", _key_pem(sa), secret=True)
    pub = sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _write(dir / "sa.pub", pub)
    lb_url = f"https://{lb}:{api_port}"
    cert, key, _ = _client_conf(ca, cluster, lb_url, "kubernetes-admin", "system:masters")
    _write(dir / "admin.crt", cert)
    _write(dir / "admin.key", key, secret=True)
    # Every control-plane daemon talks to the API server of its own node, as kubeadm's do.
    local_url = f"https://127.0.0.1:{api_port}"
    for conf, cn, org, url in (
        ("controller-manager.conf", "system:kube-controller-manager", None, local_url),
        ("scheduler.conf", "system:kube-scheduler", None, local_url),
        ("kwok.conf", "system:kwok", "system:masters", lb_url),
    ):
        _write(dir / conf, _client_conf(ca, cluster, url, cn, org)[2].encode(), secret=True)
    _write(stamp, json.dumps(inputs).encode())
    return KubePKI(dir)


def scrape_dir(lab: str) -> Path:
    """Where the lab's Prometheus finds its Kubernetes client credentials (mounted read-only)."""
    return state_dir() / "labs" / lab / "prometheus-kube"


def write_scrape_client(dir: Path, ca_cert_pem: bytes, ca_key_pem: bytes) -> None:
    """The monitoring's client certificate, signed by the cluster CA: ``ca.crt``, ``client.key`` and,
    last (the monitoring waits for it), ``client.crt``. Only the CA's certificate is kept here."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, None)
    dir.mkdir(parents=True, exist_ok=True)
    dir.chmod(0o700)
    _write(dir / "ca.crt", ca_cert_pem)
    _save(dir, "client", _leaf((ca_key, ca_cert), SCRAPE_USER, _CLIENT, org=SCRAPE_GROUP))  # type: ignore[arg-type]
