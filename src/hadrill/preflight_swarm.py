"""Pre-upgrade validation for a Docker Swarm engine upgrade: go or no-go, with reasons.

A rolling engine upgrade restarts one node at a time; while a manager restarts, the swarm runs with one
manager fewer. The checks, read from a manager (every call bounded, :mod:`hadrill.clients.swarm`):

- **target version**: not older than any node's engine (a downgrade is not an upgrade);
- **version skew**: the nodes run one engine version before starting (a mixed swarm is an upgrade
  left half done; it warns, the upgrade may be how it gets finished);
- **quorum**: one leader, every manager Reachable, and the swarm keeps its Raft majority with one
  manager down (3 managers: 2 of 3 left, fine; 2 managers: 1 of 2, no quorum while it restarts);
- **nodes Ready**: every node Ready (a node already down plus one restarting is two);
- **services**: every replicated service runs its desired replicas (an upgrade drains nodes: a
  service already short has nothing left to lose).

Exit codes of ``hadrill preflight --swarm``: 0 go, 1 no-go, 2 bad input, 3 the swarm could not be reached.
"""

from __future__ import annotations

import re
import time

from hadrill.clients.swarm import SwarmCli, SwarmNode, SwarmService
from hadrill.errors import ConfigError, TargetError
from hadrill.inventory import Inventory
from hadrill.preflight import Check, PreflightResult

__all__ = ["engine_version", "run_swarm_preflight", "swarm_checks"]


def engine_version(text: str) -> tuple[int, ...]:
    """The numeric part of an engine version: ``20.10.24+dfsg1`` -> (20, 10, 24).

    >>> engine_version("24.0.7"), engine_version("20.10.24+dfsg1")
    ((24, 0, 7), (20, 10, 24))
    """
    m = re.match(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text.strip())
    if not m:
        raise ValueError(f"not an engine version: {text!r}")
    return tuple(int(g) for g in m.groups() if g is not None)


def swarm_checks(nodes: list[SwarmNode], services: dict[str, SwarmService], target: str) -> list[Check]:
    """Every check from what a manager reported (pure: unit-tested on fixtures)."""
    wanted = engine_version(target)
    checks: list[Check] = []
    versions = {n.hostname: n.engine for n in nodes}
    older = [f"{h} runs {v}" for h, v in sorted(versions.items()) if engine_version(v)[: len(wanted)] > wanted]
    checks.append(
        Check("target version", not older, True, f"{len(older)} node(s) newer than {target}" if older else
              f"every node runs {target} or older", older)
    )  # fmt: skip
    distinct = sorted(set(versions.values()))
    checks.append(
        Check("version skew", len(distinct) <= 1, False, f"{len(distinct)} engine versions: {', '.join(distinct)}",
              [f"{h}: {v}" for h, v in sorted(versions.items())])
    )  # fmt: skip
    managers = [n for n in nodes if n.role == "manager"]
    reachable = [n for n in managers if n.manager_status in ("Leader", "Reachable")]
    leaders = [n.hostname for n in managers if n.leader]
    majority = len(managers) // 2 + 1
    problems = [f"{n.hostname}: {n.manager_status or '?'}" for n in managers if n not in reachable]
    if len(leaders) != 1:
        problems.append(f"leaders: {leaders or 'none'}")
    survives = len(reachable) - 1 >= majority
    if not survives:
        problems.append(
            f"with one manager restarting, {len(reachable) - 1} of {len(managers)} left < majority {majority}"
        )
    checks.append(
        Check("quorum", not problems, True,
              f"{len(reachable)}/{len(managers)} managers reachable, leader {leaders[0] if leaders else 'none'}, "
              f"majority {majority}" + ("" if survives else ": a manager restart loses quorum"), problems)
    )  # fmt: skip
    down = [f"{n.hostname}: {n.status}" for n in nodes if n.status != "Ready"]
    checks.append(Check("nodes Ready", not down, True, f"{len(nodes) - len(down)}/{len(nodes)} Ready", down))
    short = [
        f"{s.name}: {s.running}/{s.desired}" for s in services.values()
        if s.mode == "replicated" and s.running < s.desired
    ]  # fmt: skip
    checks.append(
        Check("services at replicas", not short, True,
              f"{len(services) - len(short)}/{len(services)} services at their replica count", short)
    )  # fmt: skip
    return checks


def run_swarm_preflight(inventory: Inventory, target_version: str, *, cluster: str = "swarm") -> PreflightResult:
    """Every check against the inventory's swarm, read from the first manager that answers."""
    try:
        engine_version(target_version)
    except ValueError as e:
        raise ConfigError("command line", "--target-version", "an engine version such as 24.0", target_version) from e
    c = inventory.cluster(cluster)
    managers = [str(n) for n in c.settings.get("managers", [])]
    if not managers:
        raise ConfigError("inventory", f"clusters[{c.name}].settings.managers", "the managers' node names")
    errors = []
    for name in managers:
        cli = SwarmCli(inventory.member_node(c, name).url, timeout=10.0)
        try:
            nodes, services, current = cli.nodes(), cli.services(), cli.engine_version()
        except TargetError as e:
            errors.append(str(e)[-160:])
            continue
        return PreflightResult(target_version, current, time.time(), swarm_checks(nodes, services, target_version))
    raise TargetError(f"swarm {c.name}: no manager answered: {' | '.join(errors)}")
