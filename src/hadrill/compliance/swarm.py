"""Docker Swarm at rest: the promises a swarm's operators make, read from its managers.

Per manager node (``roles: [swarm-manager]``): its own node certificate
(``/var/lib/docker/swarm/certificates/swarm-node.crt``, parsed here with ``cryptography``) is not
expiring within the window, and it is drained when the policy says managers run no workloads. The
cluster-wide promises are read once, on the manager that is the Raft leader (so a 3-manager swarm
reports them once, not three times): an odd number of managers, at least 3 (Raft tolerates
(n-1)/2 losses; an even count adds a member that can fail without adding tolerance); autolock on (the
Raft keys on disk are encrypted, so a stolen manager disk does not give the swarm's secrets); one
engine version on every node (a mixed swarm is an upgrade left half done).

Per manager too: the newest backup of ``data_root/swarm`` in the policy's ``backup_dir`` (a tar named
``backup_pattern``, Docker's documented backup: stop the engine, tar ``/var/lib/docker/swarm``) holds
the Raft state (a ``raft/`` directory) and is younger than ``backup_max_age_hours`` by the node's own
clock. Asked of every manager: whichever one survives a disaster is where ``--force-new-cluster``
restores from, so its own backup must be at hand.
"""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hadrill.clients.nodes import STAT_FORMAT, FileStat, as_node, parse_stat_line
from hadrill.compliance.pki import parse_certificate
from hadrill.compliance.policy import SwarmPolicy
from hadrill.compliance.registry import CHECKS, Finding, Verdict, register
from hadrill.errors import TargetError

__all__ = [
    "SwarmBackupFacts",
    "SwarmFacts",
    "check_swarm",
    "parse_backup_listing",
    "raft_entries",
    "swarm_backup_facts",
    "swarm_facts",
]

SUITE = "swarm"
NODE_CERT = "swarm/certificates/swarm-node.crt"
_SEP = "=====hadrill====="
_NO_DIR = 44  # the backup directory does not exist
_TAR_LINES = 5000  # a backup's listing is read this far: the raft/ directory comes early in a tar of swarm/


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


@dataclass(frozen=True)
class SwarmBackupFacts:
    """The newest Raft backup on one manager, and what its tar holds."""

    dir: str
    pattern: str
    newest: FileStat | None
    node_time: float
    max_age_hours: float
    raft_entries: int = 0  # entries under a raft/ directory in the tar's listing
    problem: str = ""  # the directory is missing, or the tar cannot be read

    @property
    def age_hours(self) -> float | None:
        return None if self.newest is None else (self.node_time - self.newest.mtime) / 3600


def parse_backup_listing(text: str) -> tuple[float, list[FileStat]]:
    """``date +%s`` then one ``stat -c STAT_FORMAT`` line per file: (the node's time, the files)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("no output (expected the node's date +%s first)")
    return float(lines[0]), [parse_stat_line(line) for line in lines[1:]]


def raft_entries(listing: str) -> int:
    """Entries of ``tar -tf`` under a ``raft/`` directory (``swarm/raft/wal-v3-encrypted/…``, ``./raft/…``)."""
    count = 0
    for line in listing.splitlines():
        parts = [p for p in line.strip().split("/") if p not in ("", ".")]
        count += "raft" in parts[:-1] or (parts[-1:] == ["raft"] and line.rstrip().endswith("/"))
    return count


def swarm_backup_facts(node_like: Any, policy: SwarmPolicy) -> SwarmBackupFacts:
    """List the backup directory (node clock, bounded), then read the newest tar's listing."""
    node = as_node(node_like)
    q = shlex.quote(policy.backup_dir)
    res = node.run(
        f"date +%s; [ -d {q} ] || exit {_NO_DIR}; find {q} -maxdepth 1 -type f -name "
        f"{shlex.quote(policy.backup_pattern)} -exec stat -c '{STAT_FORMAT}' {{}} +",
        timeout=20,
    )
    where, pattern, max_age = policy.backup_dir, policy.backup_pattern, policy.backup_max_age_hours
    if res.rc == _NO_DIR:
        now = float(res.stdout.split()[0]) if res.stdout.split() else 0.0
        return SwarmBackupFacts(where, pattern, None, now, max_age, problem=f"{where} does not exist")
    if not res.ok:
        raise TargetError(f"{node.url}: cannot list {where}: {(res.stderr or res.stdout).strip()[-200:]}")
    node_time, files = parse_backup_listing(res.stdout)
    newest = max(files, key=lambda f: f.mtime, default=None)
    if newest is None:
        return SwarmBackupFacts(where, pattern, None, node_time, max_age)
    listing = node.run(f"tar -tf {shlex.quote(newest.path)} | head -n {_TAR_LINES}", timeout=60)
    problem = "" if listing.ok else f"tar -tf: {(listing.stderr or listing.stdout).strip()[-160:]}"
    return SwarmBackupFacts(
        where, pattern, newest, node_time, max_age, raft_entries=raft_entries(listing.stdout), problem=problem
    )


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
        return [CHECKS[i].error(label, str(e)) for i in (*ids, "HD-SWARM-006")]
    found = [f for i in ids for f in CHECKS[i].evaluate(label, facts)]
    try:
        backup = swarm_backup_facts(node, policy)
    except (TargetError, ValueError) as e:
        return [*found, CHECKS["HD-SWARM-006"].error(label, str(e), object=policy.backup_dir)]
    return [*found, *CHECKS["HD-SWARM-006"].evaluate(label, backup)]


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


@register(
    "HD-SWARM-006", suite=SUITE, severity="high",
    reference="Docker docs, Administer and maintain a swarm: back up the swarm (a tar of /var/lib/docker/swarm)",
    title="A fresh backup of the swarm's Raft state is on the manager",
    remediation="On a manager: systemctl stop docker; tar -czf BACKUP_DIR/swarm-$(date +%F-%H%M).tar.gz -C "
    "/var/lib/docker swarm; systemctl start docker (one manager at a time, quorum kept); schedule it.",
)  # fmt: skip
def raft_backup_fresh(f: SwarmBackupFacts) -> list[Verdict]:
    expected = f"a tar holding raft/, <= {f.max_age_hours:g} h old"
    if f.newest is None:
        observed = f.problem or f"no backup (no file matching {f.pattern} in {f.dir})"
        return [Verdict(False, observed, expected, object=f.dir)]
    hours = f.age_hours or 0.0
    if f.raft_entries == 0:
        why = f.problem or "no raft/ directory in it: not a backup of the swarm's state"
        return [Verdict(False, f"{hours:.1f} h old, {why}", expected, object=f.newest.path)]
    observed = f"{hours:.1f} h old, {f.newest.size} bytes, {f.raft_entries} raft/ entries"
    return [Verdict(hours <= f.max_age_hours, observed, expected, object=f.newest.path)]
