"""Kubernetes PKI on control-plane nodes: private keys locked down, CA certificate readable, nothing expiring.

kube-bench (CIS Kubernetes 1.1.19-1.1.21) checks modes and owners of ``/etc/kubernetes/pki``; an HA
platform also dies of certificates that expire unnoticed (the API server, etcd peers). Modes and
owners come from ``stat`` on the node; certificates are read through the node and parsed here with the
``cryptography`` package (a hadrill dependency), so the node needs no openssl.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from hadrill.clients.nodes import STAT_FORMAT, FileStat, as_node, parse_stat_line
from hadrill.compliance.policy import PkiPolicy
from hadrill.compliance.registry import CHECKS, Finding, Verdict, register
from hadrill.errors import TargetError

__all__ = ["CertFacts", "check_pki", "parse_certificate"]

SUITE = "pki"
_MARK = "==> hadrill-cert "


@dataclass(frozen=True)
class CertFacts:
    path: str
    not_after: datetime | None
    subject: str
    min_days: int
    now: datetime
    problem: str = ""

    @property
    def days_left(self) -> float | None:
        return None if self.not_after is None else (self.not_after - self.now).total_seconds() / 86400


def parse_certificate(pem: str) -> tuple[datetime, str]:
    """(notAfter, subject) of the first certificate of a PEM file; ValueError when there is none."""
    start = pem.find("-----BEGIN CERTIFICATE-----")
    if start < 0:
        raise ValueError("no PEM certificate in the file")
    cert = x509.load_pem_x509_certificate(pem[start:].encode())
    return cert.not_valid_after_utc, cert.subject.rfc4514_string()


def _list_files(node: Any, pki_dir: str) -> list[FileStat]:
    q = shlex.quote(pki_dir)
    res = node.run(
        f"[ -d {q} ] || exit 44; find {q} -maxdepth 3 -type f \\( -name '*.key' -o -name '*.crt' \\) "
        f"-exec stat -c '{STAT_FORMAT}' {{}} +",
        timeout=20,
    )
    if res.rc == 44:
        raise TargetError(f"{node.url}: {pki_dir} does not exist")
    if not res.ok:
        raise TargetError(f"{node.url}: cannot list {pki_dir}: {res.stderr.strip()[-200:]}")
    return sorted((parse_stat_line(line) for line in res.stdout.splitlines() if line.strip()), key=lambda s: s.path)


def _read_certs(node: Any, paths: list[str]) -> dict[str, str]:
    if not paths:
        return {}
    quoted = " ".join(shlex.quote(p) for p in paths)
    res = node.run(f'for f in {quoted}; do echo "{_MARK}$f"; cat "$f"; echo; done', timeout=20)
    if not res.ok:
        raise TargetError(f"{node.url}: cannot read certificates: {res.stderr.strip()[-200:]}")
    out: dict[str, str] = {}
    current = None
    for line in res.stdout.splitlines():
        if line.startswith(_MARK):
            current = line[len(_MARK) :]
            out[current] = ""
        elif current is not None:
            out[current] += line + "\n"
    return out


def check_pki(
    node_like: Any, policy: PkiPolicy | None = None, *, name: str = "", now: datetime | None = None
) -> list[Finding]:
    """Key modes and owners, ca.crt modes, and the expiry of every certificate under the PKI dir."""
    policy = policy or PkiPolicy()
    node = as_node(node_like)
    label = name or node.url
    now = now or datetime.now(UTC)
    key_check, ca_check, expiry = CHECKS["HD-PKI-001"], CHECKS["HD-PKI-002"], CHECKS["HD-PKI-003"]
    try:
        files = _list_files(node, policy.dir)
        certs = _read_certs(node, [f.path for f in files if f.path.endswith(".crt")])
    except (TargetError, ValueError) as e:
        return [c.error(label, str(e), object=policy.dir) for c in (key_check, ca_check, expiry)]
    findings: list[Finding] = []
    for f in files:
        if f.path.endswith(".key"):
            findings += key_check.evaluate(label, f)
        elif f.path.rsplit("/", 1)[-1] == "ca.crt":
            findings += ca_check.evaluate(label, f)
    for path, pem in certs.items():
        try:
            not_after, subject = parse_certificate(pem)
            facts = CertFacts(path, not_after, subject, policy.min_days, now)
        except ValueError as e:
            facts = CertFacts(path, None, "", policy.min_days, now, problem=f"unreadable certificate: {e}")
        findings += expiry.evaluate(label, facts)
    return findings


@register(
    "HD-PKI-001", suite=SUITE, severity="critical", reference="CIS Kubernetes Benchmark 1.1.19, 1.1.21",
    title="Private keys are mode 0600 (or stricter) and owned by root",
    remediation="chown root:root /etc/kubernetes/pki/*.key /etc/kubernetes/pki/etcd/*.key; chmod 0600 them.",
)  # fmt: skip
def key_files(f: FileStat) -> Verdict:
    ok = f.uid == 0 and not f.mode & 0o177
    observed = f"mode {f.mode_text}, owner {f.owner}"
    return Verdict(ok, observed, "mode 0600 or stricter, owner root", f"{f.path}: {observed}", object=f.path)


@register(
    "HD-PKI-002", suite=SUITE, severity="medium", reference="CIS Kubernetes Benchmark 1.1.19, 1.1.20",
    title="ca.crt is mode 0644 (or stricter) and owned by root",
    remediation="chown root:root /etc/kubernetes/pki/ca.crt; chmod 0644 /etc/kubernetes/pki/ca.crt",
)  # fmt: skip
def ca_cert_file(f: FileStat) -> Verdict:
    ok = f.uid == 0 and not f.mode & 0o133
    observed = f"mode {f.mode_text}, owner {f.owner}"
    return Verdict(ok, observed, "mode 0644 or stricter, owner root", f"{f.path}: {observed}", object=f.path)


@register(
    "HD-PKI-003", suite=SUITE, severity="high",
    reference="platform rule: certificates are renewed before the declared window (kubeadm certs check-expiration)",
    title="Certificates do not expire within the declared window",
    remediation="Renew before expiry (kubeadm certs renew all, then restart the control-plane static pods) and "
    "schedule renewal well inside the window.",
)  # fmt: skip
def cert_expiry(c: CertFacts) -> Verdict:
    expected = f">= {c.min_days} days left"
    if c.not_after is None:
        return Verdict(False, c.problem, expected, f"{c.path}: {c.problem}", object=c.path)
    days = c.days_left or 0.0
    observed = f"notAfter {c.not_after:%Y-%m-%d %H:%M} UTC ({days:.1f} days left)"
    return Verdict(days >= c.min_days, observed, expected, f"{c.path} ({c.subject}): {observed}", object=c.path)
