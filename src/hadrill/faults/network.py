"""Network faults inside a target: partition it from some peers (both directions), or isolate it.

Rules live in two chains of the fault's own (``HDI-<id>`` from INPUT, ``HDO-<id>`` from OUTPUT), so
revert removes exactly this fault's rules and nothing an operator put there. The kernel has no netem
here, so latency and loss are out of scope: a partition drops every packet.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hadrill.clients import docker
from hadrill.clients.targets import target
from hadrill.errors import InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import Fault, wait_for
from hadrill.faults.deadman import arm_in_target, disarm_in_target, fired_in_target
from hadrill.faults.ledger import FaultRecord
from hadrill.faults.systemd_timer import arm_timer, disarm_timer, has_systemd

__all__ = ["Partition", "dropped_packets", "revert_script"]

_SETTLE_S = 0.02  # from the proof's connection attempts to reading the counters: their SYNs are sent by then


_CHAIN = re.compile(r"^[A-Za-z0-9_-]{1,28}$")  # iptables chain names: at most 28 characters
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


_NONE_REACHABLE = 7  # the inject script's exit status when no peer answered before the rules
_PROOF = "--proof--"  # in inject's output: the reachability check above, the proof's evidence below


def _attempt(peer: str, port: int, timeout_s: float) -> str:
    """Shell that tries one TCP connection to ``peer`` in the background, printing ``reachable PEER``."""
    connect = shlex.quote(f"</dev/tcp/{peer}/{port}")
    return f"(timeout {timeout_s} bash -c {connect} 2>/dev/null && echo reachable {_peer(peer)}) &"


def _detached_attempt(peer: str, port: int, found: str) -> str:
    """Like :func:`_attempt`, but ``reachable PEER`` goes to the file ``found`` and nothing holds the
    command's output open: the call returns without waiting for an attempt the rules hold (``$!`` is
    ``timeout`` itself, which passes a kill on to the attempt)."""
    inner = f"</dev/tcp/{peer}/{port} 2>/dev/null && echo reachable {peer} >>{found}"
    return f"timeout 1 bash -c {shlex.quote(inner)} >/dev/null 2>&1 &"


def _match(port: int | None) -> list[str]:
    """iptables matches for traffic on ``port`` (either end), or all traffic."""
    if port is None:
        return [""]
    return [f"-p tcp --dport {port}", f"-p tcp --sport {port}"]


def inject_script(record: FaultRecord) -> str:
    """Both chains, their DROP rules and the two jumps in one ``iptables-restore --noflush``: one atomic
    commit instead of a dozen iptables processes (each a round trip to the kernel: most of the inject
    time). Like ``iptables -N``, it refuses a chain that already exists."""
    cin, cout = (f"HDI-{record.id}", f"HDO-{record.id}")
    if not all(_CHAIN.match(c) for c in (cin, cout)):
        raise InjectionFailed(f"partition: fault id {record.id!r} does not make a chain name")
    port = _port(record.params.get("port"))
    peers = [p for p in record.params["peers"] if _peer(p)]  # validated: no space, quote or newline
    lines = ["*filter", f":{cin} - [0:0]", f":{cout} - [0:0]"]
    for peer in peers:
        lines += [f"-A {cin} -s {peer} {m} -j DROP".replace("  ", " ") for m in _match(port)]
        lines += [f"-A {cout} -d {peer} {m} -j DROP".replace("  ", " ") for m in _match(port)]
    lines += [f"-I INPUT 1 -j {cin}", f"-I OUTPUT 1 -j {cout}", "COMMIT"]
    rules = " ".join(shlex.quote(line) for line in lines)
    return f"! iptables -S {shlex.quote(cin)} >/dev/null 2>&1 && printf '%s\\n' {rules} | iptables-restore --noflush"


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


def dropped_packets(listing: str) -> dict[str, int]:
    """Packets each destination's DROP rules counted, from ``iptables -L CHAIN -n -v -x``.

    >>> dropped_packets('''Chain HDO-x (1 references)
    ...     pkts      bytes target     prot opt in     out     source               destination
    ...        3      180 DROP       6    --  *      *       0.0.0.0/0            10.0.0.3             tcp dpt:2380
    ...        0        0 DROP       6    --  *      *       0.0.0.0/0            10.0.0.3             tcp spt:2380
    ...        0        0 DROP       0    --  *      *       0.0.0.0/0            10.0.0.4''')
    {'10.0.0.3': 3, '10.0.0.4': 0}
    """
    out: dict[str, int] = {}
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 9 and fields[2] == "DROP" and fields[0].isdigit():
            out[fields[8]] = out.get(fields[8], 0) + int(fields[0])
    return out


@dataclass
class Partition(Fault):
    """Drop traffic between the target and ``peers`` (addresses), optionally only on ``port``.

    ``check_port``: a TCP port open on every peer; the proof of effect is that the target can no
    longer connect to it and that this fault's rules dropped the attempt (see :meth:`prove`).
    """

    peers: tuple[str, ...] = ()
    port: int | None = None
    check_port: int | None = None
    kind: ClassVar[str] = "network.partition"
    _evidence: str | None = field(default=None, init=False, repr=False, compare=False)  # read by inject()

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

    def _proof_script(self, record: FaultRecord, port: int | None) -> str:
        """Shell printing this fault's evidence: its chains' OUTPUT counters and, with a port, any peer
        that still answers. The attempts run in the background: a dropped SYN is counted when sent, so
        the counters are read _SETTLE_S later and the attempts then stopped (a peer that answers does so
        well within it)."""
        cin, cout = _chains(record.id)
        script = f"iptables -S {cin} >/dev/null && iptables -L {cout} -n -v -x"
        if port is None:
            return script
        found = f"/tmp/hadrill-prove-{record.id}"  # the id is a chain name: no space, quote or slash
        attempts = " ".join(f'{_detached_attempt(_peer(p), port, found)} a="$a $!";' for p in self.peers)
        return (
            f"a=''; : >{found}; {attempts} sleep {_SETTLE_S}; {script}; rc=$?; kill $a 2>/dev/null; "
            f"cat {found}; rm -f {found}; exit $rc"
        )

    def _judge(self, record: FaultRecord, port: int | None, rc: int, out: str) -> str | None:
        """What the evidence proves, or None: a rule missing, a peer answering, nothing dropped."""
        if rc != 0 or "reachable" in out:
            return None
        dropped = dropped_packets(out)
        if not all(p in dropped for p in self.peers):
            return None  # a rule is missing: no partition
        cin, cout = _chains(record.id)
        if port is None:
            return f"DROP rules for {len(self.peers)} peer(s) in {cin} and {cout}"
        if not all(dropped[p] > 0 for p in self.peers):
            return None
        counts = ", ".join(f"{p}: {dropped[p]}" for p in self.peers)
        before = record.params.get("reachable_before") or []
        return f"tcp/{port} to {', '.join(before)}: reachable before, cut now; packets dropped by {cout} ({counts})"

    def inject(self, record: FaultRecord) -> None:
        """One call: with a port to check, the peers reachable now (all at once, one connect each), the
        rules only if at least one is (the proof must show a change: reachable before, cut after), then
        the proof's evidence at once (:meth:`prove` judges it, and asks again only if it falls short)."""
        port = _port(self.check_port or self.port)
        script = f"{inject_script(record)} || exit $?; echo {_PROOF}; {self._proof_script(record, port)}; true"
        if port is not None:
            checks = " ".join(_attempt(p, port, 1) for p in self.peers)
            # "$( (": with no space, "$((" would open an arithmetic expansion
            script = f'before=$( {checks} wait); echo "$before"; [ -n "$before" ] || exit {_NONE_REACHABLE}; {script}'
        try:
            res = target(record.target).run(script, timeout=20)
        except TargetError as e:
            raise InjectionFailed(f"partition of {record.target}: {e}") from e
        head, _, evidence = res.stdout.partition(f"{_PROOF}\n")
        if port is not None:
            before = {line.split()[1] for line in head.splitlines() if line.startswith("reachable ")}
            record.params["reachable_before"] = sorted(before)
            if res.rc == _NONE_REACHABLE:
                raise InjectionFailed(
                    f"partition of {record.target}: no peer reachable on tcp/{port} before the fault, "
                    "so cutting them would prove nothing (is another fault holding them?)"
                )
        if not res.ok:
            why = (res.stderr or res.stdout).strip()[-300:]
            raise InjectionFailed(f"partition of {record.target}: exit {res.rc}: {why}")
        self._evidence = evidence

    def prove(self, record: FaultRecord) -> str:
        """The rules' own evidence, plus one attempt per peer, all peers at once, in one call.

        Proven when this fault's chains hold a DROP rule for every peer and, with a ``check_port``,
        no connection to a peer succeeds while this fault's OUTPUT rule for each peer counts the packets
        it dropped (the peers answered before the fault: ``reachable_before``).
        A peer that answers, or a failed attempt the rules did not drop (a slow peer is not a cut one),
        proves nothing: checked again until 5 s, then InjectionFailed. No client timeout is waited out.
        The first evidence is the one :meth:`inject` read right after the rules went in.
        """
        t = target(record.target)
        port = _port(self.check_port or self.port)
        evidence, self._evidence = self._evidence, None
        if evidence is not None:
            seen = self._judge(record, port, 0, evidence)
            if seen is not None:
                return seen
        script = self._proof_script(record, port)

        def cut() -> str | None:
            res = t.run(script, timeout=5)
            return self._judge(record, port, res.rc, res.stdout)

        where = f" on tcp/{port}" if port else ""
        return wait_for(cut, timeout=5, interval=0.05, what=f"{record.target} cut from {', '.join(self.peers)}{where}")

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
