"""Network faults inside a target: partition it from some peers (both directions), or isolate it.

Rules live in two chains of the fault's own (``HDI-<id>`` from INPUT, ``HDO-<id>`` from OUTPUT), so
revert removes exactly this fault's rules and nothing an operator put there. The kernel has no netem
here, so latency and loss are out of scope: a partition drops every packet.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from hadrill.clients import docker
from hadrill.clients.targets import target
from hadrill.errors import InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import Fault, wait_for
from hadrill.faults.deadman import arm_in_target, disarm_in_target, fired_in_target
from hadrill.faults.ledger import FaultRecord
from hadrill.faults.systemd_timer import arm_timer, disarm_timer, has_systemd

__all__ = ["Partition", "revert_script"]


_ADDRESS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:/_-]{0,252}$")  # an IP, a CIDR or a host name


def _chains(record_id: str) -> tuple[str, str]:
    q = shlex.quote
    return q(f"HDI-{record_id}"), q(f"HDO-{record_id}")


def _port(value: object) -> int | None:
    """A TCP port, or None; anything else is refused before it can reach a root shell."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise InjectionFailed(f"partition: port {value!r} is not a TCP port (1-65535)")
    return value


def _peer(value: object) -> str:
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise InjectionFailed(f"partition: peer {value!r} is not an address or host name")
    return shlex.quote(value)


def _match(port: int | None) -> list[str]:
    """iptables matches for traffic on ``port`` (either end), or all traffic."""
    if port is None:
        return [""]
    return [f"-p tcp --dport {port}", f"-p tcp --sport {port}"]


def inject_script(record: FaultRecord) -> str:
    cin, cout = _chains(record.id)
    port = _port(record.params.get("port"))
    lines = [f"iptables -N {cin}", f"iptables -N {cout}"]
    for peer in map(_peer, record.params["peers"]):
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
        for peer in self.peers:
            _peer(peer)
        _port(self.check_port)
        return {**super().params(), "peers": list(self.peers), "port": _port(self.port), "check_port": self.check_port}

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        t = target(record.target)
        if t.container is None and has_systemd(t):  # a host: its own systemd outlives SSH sessions
            record.params["deadman"] = arm_timer(t, record, revert_script(record.id))
        else:
            arm_in_target(t, record, revert_script(record.id))

    @classmethod
    def disarm(cls, record: FaultRecord) -> None:
        t = target(record.target)
        disarm_in_target(t, record.id)
        if t.container is None:  # the ledger's copy of the record predates arming: try the timer too
            disarm_timer(t, record.id)

    @classmethod
    def fired(cls, record: FaultRecord) -> bool:
        t = target(record.target)
        if record.params.get("deadman"):  # a systemd timer leaves no marker: it fires at the deadline
            return time.time() > record.deadline
        return fired_in_target(t, record.id)

    def _reachable(self, port: int) -> set[str]:
        """The peers the target can connect to on ``port`` now (every peer at once: one timeout)."""
        checks = " ".join(
            f"(timeout 1 bash -c {shlex.quote(f'</dev/tcp/{p}/{port}')} 2>/dev/null && echo reachable {_peer(p)}) &"
            for p in self.peers
        )
        out = target(self.target).run(f"{checks} wait", timeout=5).stdout
        return {line.split()[1] for line in out.splitlines() if line.startswith("reachable ")}

    def inject(self, record: FaultRecord) -> None:
        port = _port(self.check_port or self.port)
        if port is not None:  # the proof must show a change: peers reachable before, cut after
            before = self._reachable(port)
            record.params["reachable_before"] = sorted(before)
            if not before:
                raise InjectionFailed(
                    f"partition of {record.target}: no peer reachable on tcp/{port} before the fault, "
                    "so cutting them would prove nothing (is another fault holding them?)"
                )
        try:
            target(record.target).check(inject_script(record), timeout=20)
        except TargetError as e:
            raise InjectionFailed(f"partition of {record.target}: {e}") from e

    def prove(self, record: FaultRecord) -> str:
        t = target(record.target)
        rules = t.check(f"iptables -S {_chains(record.id)[0]} | grep -c DROP", timeout=10).strip()
        seen = f"{rules} DROP rules in {_chains(record.id)[0]}"
        port = _port(self.check_port or self.port)
        if port is None:
            return seen
        before = record.params.get("reachable_before") or []

        def cut() -> str | None:
            return None if self._reachable(port) else "cut"

        wait_for(cut, timeout=5, what=f"{record.target} cut from {', '.join(self.peers)} on tcp/{port}")
        return f"{seen}; tcp/{port} to {', '.join(before)}: reachable before, cut now"

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        t = target(record.target)
        try:
            t.check(revert_script(record.id), timeout=20)
            left = t.run(f"iptables -S {_chains(record.id)[0]} 2>/dev/null", timeout=10)
        except TargetError as e:
            if t.container is not None and docker.stopped(t.container):
                return  # a stopped container's network namespace, and its rules, are gone
            raise RevertFailed(f"partition of {record.target}: {e}") from e
        if left.ok:
            raise RevertFailed(f"partition of {record.target}: chain still present: {shlex.quote(left.stdout[:200])}")
