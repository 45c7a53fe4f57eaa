"""The monitoring's client certificate for Kubernetes (kube_pki.write_scrape_client), checked by
openssl, not by the code that made it: signed by the cluster CA (an ECDSA CA as the binaries lab makes,
an RSA one as kubeadm makes), for client authentication only, in the group system:monitoring."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from hadrill.lab.kube_pki import write_scrape_client


def _ca(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> tuple[bytes, bytes]:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), pem


def _openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("key", [ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)],
                         ids=["ecdsa-ca", "rsa-ca"])  # fmt: skip
def test_signed_by_the_cluster_ca_for_clients_in_system_monitoring(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    ca_pem, ca_key_pem = _ca(key)
    out = tmp_path / "prometheus-kube"
    write_scrape_client(out, ca_pem, ca_key_pem)
    assert sorted(p.name for p in out.iterdir()) == ["ca.crt", "client.crt", "client.key"]  # no CA key here
    assert (out / "ca.crt").read_bytes() == ca_pem
    assert out.stat().st_mode & 0o777 == 0o700 and (out / "client.key").stat().st_mode & 0o777 == 0o600
    crt = str(out / "client.crt")
    assert _openssl("verify", "-purpose", "sslclient", "-CAfile", str(out / "ca.crt"), crt).strip().endswith("OK")
    subject = _openssl("x509", "-in", crt, "-noout", "-subject", "-nameopt", "RFC2253")
    assert subject.strip() == "subject=CN=hadrill-prometheus,O=system:monitoring"
    text = _openssl("x509", "-in", crt, "-noout", "-ext", "extendedKeyUsage")
    assert "TLS Web Client Authentication" in text and "Server" not in text
    # the key is the certificate's own
    pub_of_key = _openssl("pkey", "-in", str(out / "client.key"), "-pubout")
    assert pub_of_key == _openssl("x509", "-in", crt, "-noout", "-pubkey")
