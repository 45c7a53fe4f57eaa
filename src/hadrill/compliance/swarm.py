"""Docker Swarm at rest: the promises a swarm's operators make, read from its managers.

Per manager node (``roles: [swarm-manager]``): its own node certificate
(``/var/lib/docker/swarm/certificates/swarm-node.crt``, parsed here with ``cryptography``) is not
expiring within the window, and it is drained when the policy says managers run no workloads. The
cluster-wide promises are read once, on the manager that is the Raft leader (so a 3-manager swarm
reports them once, not three times): an odd number of managers, at least 3 (Raft tolerates
(n-1)/2 losses; an even count adds a member that can fail without adding tolerance); autolock on (the
Raft keys on disk are encrypted, so a stolen manager disk does not give the swarm's secrets); one
engine version on every node (a mixed swarm is an upgrade left half done).
"""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hadrill.clients.nodes import as_node
from hadrill.compliance.pki import parse_certificate
from hadrill.compliance.policy import SwarmPolicy
from hadrill.compliance.registry import CHECKS, Finding, Verdict, register
from hadrill.errors import TargetError

__all__ = ["SwarmFacts", "check_swarm", "swarm_facts"]

SUITE = "swarm"
NODE_CERT = "swarm/certificates/swarm-node.crt"
_SEP = "=====hadrill====="


@dataclass(frozen=True)
class SwarmFacts:
    """What one manager says about itself and (when it leads) about its swarm."""

    node: str
    leader: bool
    managers: int
    autolock: bool | None
    engines: dict[str, str] = field(default_factory=dict)  # hostname -> engine version
    availability: str = ""
    drain_managers: bool = False
    cert_not_after: datetime | None = None
    cert_problem: str = ""
    min_days: int = 30
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def swarm_facts(node_like: Any, policy: SwarmPolicy, now: datetime | None = None) -> SwarmFacts:
    """Gather the facts on one manager with three bounded commands (``docker info``, ``node ls``, the cert)."""
    node = as_node(node_like)
    cert = f"{policy.data_root.rstrip('/')}/{NODE_CERT}"
    res = node.run(
        f"docker info --format '{{{{json .Swarm}}}}' && echo {_SEP} && "
        f"docker node ls --format '{{{{json .}}}}' && echo {_SEP} && cat {shlex.quote(cert)}",
        timeout=20,
    )
    if not res.ok:
        raise TargetError(f"{node.url}: cannot read the swarm: {(res.stderr or res.stdout).strip()[-200:]}")
    info_text, nodes_text, pem = ([*res.stdout.split(_SEP + "\n"), "", ""])[:3]
    info = json.loads(info_text)
    if info.get("LocalNodeState") != "active" or not info.get("ControlAvailable"):
        raise TargetError(f"{node.url}: not an active swarm manager (state {info.get('LocalNodeState')!r})")
    rows = [json.loads(line) for line in nodes_text.splitlines() if line.strip()]
    me: dict[str, Any] = next((r for r in rows if r.get("Self")), {})
    spec = (info.get("Cluster") or {}).get("Spec") or {}
    autolock = (spec.get("EncryptionConfig") or {}).get("AutoLockManagers")
    try:
        not_after, problem = parse_certificate(pem)[0], ""
    except ValueError as e:
        not_after, problem = None, f"{cert}: {e}"
    return SwarmFacts(
        node=str(me.get("Hostname", "")),
        leader=me.get("ManagerStatus") == "Leader",
        managers=int(info.get("Managers") or sum(1 for r in rows if r.get("ManagerStatus"))),
        autolock=bool(autolock) if autolock is not None else False,
        engines={str(r["Hostname"]): str(r.get("EngineVersion", "")) for r in rows},
        availability=str(me.get("Availability", "")),
        drain_managers=policy.drain_managers,
        cert_not_after=not_after,
        cert_problem=problem,
        min_days=policy.cert_min_days,
        now=now or datetime.now(UTC),
    )


def check_swarm(
    node_like: Any, policy: SwarmPolicy | None = None, *, name: str = "", now: datetime | None = None
) -> list[Finding]:
    """Every swarm check on one manager; the cluster-wide ones only when it is the leader."""
    policy = policy or SwarmPolicy()
    node = as_node(node_like)
    label = name or node.url
    ids = ("HD-SWARM-001", "HD-SWARM-002", "HD-SWARM-003", "HD-SWARM-004", "HD-SWARM-005")
    try:
        facts = swarm_facts(node, policy, now)
    except (TargetError, ValueError) as e:  # ValueError: JSON the engine did not mean to print
        return [CHECKS[i].error(label, str(e)) for i in ids]
    return [f for i in ids for f in CHECKS[i].evaluate(label, facts)]


def _swarm_wide(check: Callable[[SwarmFacts], list[Verdict]]) -> Callable[[SwarmFacts], list[Verdict]]:
    """A check of the whole swarm: only the leader's facts answer it, so the swarm is reported once."""

    @functools.wraps(check)
    def on_leader(f: SwarmFacts) -> list[Verdict]:
        return check(f) if f.leader else []

    return on_leader


@register(
    "HD-SWARM-001", suite=SUITE, severity="high",
    reference="Docker docs, Administer and maintain a swarm: maintain an odd number of managers",
    title="The swarm has an odd number of managers, at least 3",
    remediation="docker node promote / demote until 3 (or 5) managers; spread them over failure domains.",
)  # fmt: skip
@_swarm_wide
def odd_managers(f: SwarmFacts) -> list[Verdict]:
    ok = f.managers >= 3 and f.managers % 2 == 1
    tolerance = (f.managers - 1) // 2
    return [Verdict(ok, f"{f.managers} managers (tolerates {tolerance} lost)", "an odd number >= 3")]


@register(
    "HD-SWARM-002", suite=SUITE, severity="high",
    reference="Docker docs, Lock your swarm to protect its encryption key",
    title="Autolock is on (the Raft keys on the managers' disks are encrypted)",
    remediation="docker swarm update --autolock=true, and keep the unlock key in the secrets vault.",
)  # fmt: skip
@_swarm_wide
def autolock_on(f: SwarmFacts) -> list[Verdict]:
    return [Verdict(bool(f.autolock), f"autolock {'on' if f.autolock else 'off'}", "autolock on")]


@register(
    "HD-SWARM-003", suite=SUITE, severity="medium",
    reference="platform rule: every node of a swarm runs the same engine version outside an upgrade window",
    title="Every node of the swarm runs the same engine version",
    remediation="Finish the rolling upgrade: upgrade the nodes listed with another version.",
)  # fmt: skip
@_swarm_wide
def engines_consistent(f: SwarmFacts) -> list[Verdict]:
    versions: dict[str, list[str]] = {}
    for host, version in sorted(f.engines.items()):
        versions.setdefault(version, []).append(host)
    observed = "; ".join(f"{v or '?'}: {', '.join(h)}" for v, h in sorted(versions.items()))
    return [Verdict(len(versions) == 1, observed, "one engine version")]


@register(
    "HD-SWARM-004", suite=SUITE, severity="medium",
    reference="Docker docs, Administer and maintain a swarm: run manager-only nodes",
    title="Managers are drained when the policy says managers run no workloads",
    remediation="docker node update --availability drain MANAGER",
)  # fmt: skip
def manager_drained(f: SwarmFacts) -> list[Verdict]:
    if not f.drain_managers:
        return []
    return [Verdict(f.availability == "Drain", f"availability {f.availability}", "Drain")]


@register(
    "HD-SWARM-005", suite=SUITE, severity="high",
    reference="Docker docs, Manage swarm security with PKI: node certificates rotate (default every 90 days)",
    title="The node's swarm certificate does not expire within the window",
    remediation="docker swarm ca --rotate, or check why the node cannot renew (it must reach a manager).",
)  # fmt: skip
def node_cert(f: SwarmFacts) -> list[Verdict]:
    expected = f">= {f.min_days} days left"
    if f.cert_not_after is None:
        return [Verdict(False, f.cert_problem, expected, object=NODE_CERT)]
    days = (f.cert_not_after - f.now).total_seconds() / 86400
    observed = f"notAfter {f.cert_not_after:%Y-%m-%d %H:%M} UTC ({days:.1f} days left)"
    return [Verdict(days >= f.min_days, observed, expected, object=NODE_CERT)]
