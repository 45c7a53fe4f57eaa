"""Network faults inside a target: partition it from some peers (both directions), or isolate it.

Rules live in two chains of the fault's own (``HDI-<id>`` from INPUT, ``HDO-<id>`` from OUTPUT), so
revert removes exactly this fault's rules and nothing an operator put there. The kernel has no netem
here, so latency and loss are out of scope: a partition drops every packet.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, ClassVar

from hadrill.clients import docker
from hadrill.clients.targets import target
from hadrill.errors import InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import Fault, wait_for
from hadrill.faults.deadman import arm_in_target, disarm_in_target
from hadrill.faults.ledger import FaultRecord

__all__ = ["Partition", "revert_script"]


def _chains(record_id: str) -> tuple[str, str]:
    return f"HDI-{record_id}", f"HDO-{record_id}"


def _match(port: int | None) -> list[str]:
    """iptables matches for traffic on ``port`` (either end), or all traffic."""
    if port is None:
        return [""]
    return [f"-p tcp --dport {port}", f"-p tcp --sport {port}"]


def inject_script(record: FaultRecord) -> str:
    cin, cout = _chains(record.id)
    port = record.params.get("port")
    lines = [f"iptables -N {cin}", f"iptables -N {cout}"]
    for peer in record.params["peers"]:
        for m in _match(port):
            lines.append(f"iptables -A {cin} -s {peer} {m} -j DROP")
        for m in _match(port):
            lines.append(f"iptables -A {cout} -d {peer} {m} -j DROP")
    lines += [f"iptables -I INPUT 1 -j {cin}", f"iptables -I OUTPUT 1 -j {cout}"]
    return " && ".join(lines)


def revert_script(record_id: str) -> str:
    """Idempotent: every step tolerates the rule or chain being gone already."""
    cin, cout = _chains(record_id)
    return "; ".join(
        [
            f"while iptables -D INPUT -j {cin} 2>/dev/null; do :; done",
            f"while iptables -D OUTPUT -j {cout} 2>/dev/null; do :; done",
            f"iptables -F {cin} 2>/dev/null",
            f"iptables -X {cin} 2>/dev/null",
            f"iptables -F {cout} 2>/dev/null",
            f"iptables -X {cout} 2>/dev/null",
            "true",
        ]
    )


@dataclass
class Partition(Fault):
    """Drop traffic between the target and ``peers`` (addresses), optionally only on ``port``.

    ``check_port``: a TCP port open on every peer; the proof of effect is that the target can no
    longer connect to it (the peers are really unreachable from the target).
    """

    peers: tuple[str, ...] = ()
    port: int | None = None
    check_port: int | None = None
    kind: ClassVar[str] = "network.partition"

    def params(self) -> dict[str, Any]:
        if not self.peers:
            raise InjectionFailed(f"partition of {self.target}: no peers given")
        return {**super().params(), "peers": list(self.peers), "port": self.port, "check_port": self.check_port}

    def arm_deadman(self, record: FaultRecord) -> None:
        arm_in_target(target(record.target), record, revert_script(record.id))

    def inject(self, record: FaultRecord) -> None:
        try:
            target(record.target).check(inject_script(record), timeout=20)
        except TargetError as e:
            raise InjectionFailed(f"partition of {record.target}: {e}") from e

    def prove(self, record: FaultRecord) -> str:
        t = target(record.target)
        rules = t.check(f"iptables -S {_chains(record.id)[0]} | grep -c DROP", timeout=10).strip()
        seen = f"{rules} DROP rules in {_chains(record.id)[0]}"
        port = self.check_port or self.port
        if port is None:
            return seen
        checks = " ".join(
            f"(timeout 1 bash -c '</dev/tcp/{p}/{port}' 2>/dev/null && echo reachable {p}) &" for p in self.peers
        )

        def cut() -> str | None:  # every peer at once: one connect timeout, not one per peer
            return None if "reachable" in t.run(f"{checks} wait", timeout=5).stdout else "cut"

        wait_for(cut, timeout=5, what=f"{record.target} cut from {', '.join(self.peers)} on tcp/{port}")
        return f"{seen}; {len(self.peers)} peer(s) unreachable on tcp/{port}"

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        t = target(record.target)
        try:
            disarm_in_target(t, record.id)
            t.check(revert_script(record.id), timeout=20)
            left = t.run(f"iptables -S {_chains(record.id)[0]} 2>/dev/null", timeout=10)
        except TargetError as e:
            if t.container is not None and docker.stopped(t.container):
                return  # a stopped container's network namespace, and its rules, are gone
            raise RevertFailed(f"partition of {record.target}: {e}") from e
        if left.ok:
            raise RevertFailed(f"partition of {record.target}: chain still present: {shlex.quote(left.stdout[:200])}")
