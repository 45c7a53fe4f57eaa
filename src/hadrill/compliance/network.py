"""Jumbo frames on storage networks: the setting on every interface, and the path between peers.

A storage network (``storage: true`` in the inventory) promises an MTU (its ``mtu``, else the policy's,
9000). Two things can break that promise: an interface left at 1500 (found by the node's address on
that network, so interface names do not matter), and a path that drops big frames although both ends
are set (a switch port, a bridge, a tunnel). The second is only seen by sending one: a
don't-fragment ICMP echo of (MTU - 28) bytes of payload, which is exactly one full-size IP packet.

The probe runs on the sending node: ``ping -M do`` when iputils' ping is there, else a raw-socket echo
with ``IP_PMTUDISC_DO`` in the node's python3. For ``docker://`` nodes that have neither, the same
Python probe runs from the engine's host inside the container's network namespace (``nsenter``): the
very same interface and path, without installing anything in the container.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from hadrill.clients.nodes import Node, as_node
from hadrill.compliance.policy import NetworkPolicy
from hadrill.compliance.registry import CHECKS, Finding, Verdict, register
from hadrill.errors import TargetError
from hadrill.inventory import Inventory, Network
from hadrill.inventory import Node as InventoryNode

__all__ = ["LinkFacts", "ProbeFacts", "check_node_networks", "check_storage_networks", "storage_networks"]

SUITE = "network"
_NO_TOOL = 45
PROBE_SCRIPT = r"""
import os, socket, struct, sys, time
dst, size = sys.argv[1], int(sys.argv[2])
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF
ident, payload = os.getpid() & 0xFFFF, bytes(bytearray(size))
head = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
packet = struct.pack("!BBHHH", 8, 0, csum(head + payload), ident, 1) + payload
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER = IP_PMTUDISC_DO: never fragment
try:
    s.sendto(packet, (dst, 0))
except OSError as e:
    print("local error: %s" % e.strerror)
    sys.exit(2)
deadline = time.time() + 1.0
while time.time() < deadline:
    s.settimeout(max(deadline - time.time(), 0.01))
    try:
        data, addr = s.recvfrom(65535)
    except socket.timeout:
        break
    ihl = (data[0] & 15) * 4
    kind, _, _, rid, seq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
    if kind == 0 and addr[0] == dst and rid == ident and seq == 1:
        print("reply: %d bytes from %s" % (len(data) - ihl, dst))
        sys.exit(0)
    if kind == 3 and data[ihl + 1] == 4:
        print("fragmentation needed (ICMP from %s)" % addr[0])
        sys.exit(1)
print("no reply within 1 s")
sys.exit(1)
"""


def storage_networks(inventory: Inventory, policy: NetworkPolicy) -> list[Network]:
    """The networks the checks look at: marked ``storage``, optionally narrowed by the policy."""
    nets = [n for n in inventory.networks if n.storage]
    return [n for n in nets if n.name in policy.networks] if policy.networks else nets


@dataclass(frozen=True)
class LinkFacts:
    network: str
    address: str
    expected_mtu: int
    interface: str | None
    mtu: int | None


@dataclass(frozen=True)
class ProbeFacts:
    network: str
    peer: str
    peer_address: str
    size: int
    method: str
    ok: bool
    detail: str


def _links(node: Node) -> dict[str, tuple[str, int]]:
    """IPv4 address → (interface, MTU) on the node, from iproute2."""
    res = node.run("ip -o -4 addr show && echo ---- && ip -o link show", timeout=15)
    if not res.ok:
        raise TargetError(f"{node.url}: cannot list interfaces (iproute2 needed): {res.stderr.strip()[-200:]}")
    addrs, _, links = res.stdout.partition("----")
    mtus = {}
    for line in links.splitlines():
        m = re.match(r"\d+:\s+([^:@\s]+)(?:@\S+)?:.*\smtu\s+(\d+)", line)
        if m:
            mtus[m.group(1)] = int(m.group(2))
    out = {}
    for line in addrs.splitlines():
        m = re.match(r"\d+:\s+([^\s@]+)\s+inet\s+([\d.]+)/", line)
        if m and m.group(1) in mtus:
            out[m.group(2)] = (m.group(1), mtus[m.group(1)])
    return out


def _probe(node: Node, dst: str, size: int) -> tuple[str, bool, str]:
    """(method, got through, detail) of one don't-fragment echo from ``node`` to ``dst``."""
    q = shlex.quote(dst)
    cmd = (
        f"if ping -V 2>&1 | grep -q iputils; then ping -n -M do -s {size} -c 1 -W 1 {q}; exit $?; fi; "
        f"if command -v python3 >/dev/null; then python3 -c {shlex.quote(PROBE_SCRIPT)} {q} {size}; "
        f"exit $?; fi; exit {_NO_TOOL}"
    )
    res = node.run(cmd, timeout=10)
    text = (res.stdout + res.stderr).strip()
    if res.rc != _NO_TOOL:
        method = "ping -M do" if "PING" in res.stdout or "ping:" in text else "python raw socket"
        return method, res.ok, text.splitlines()[-1] if text else f"exit {res.rc}"
    if node.url.startswith("docker://"):
        return _probe_in_container_netns(node.url.removeprefix("docker://"), dst, size)
    return "none", False, "neither iputils ping nor python3 on the node: install one to probe the path"


def _probe_in_container_netns(container: str, dst: str, size: int) -> tuple[str, bool, str]:
    """The Python probe from the engine's host, inside the container's network namespace."""
    method = "python raw socket in the container's netns"
    if os.geteuid() != 0:
        return method, False, "entering a container's network namespace needs root on the engine host"
    try:
        pid = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Pid}}", container], capture_output=True, text=True, timeout=20
        ).stdout.strip()
        if not pid.isdigit() or pid == "0":
            return method, False, f"container {container} is not running"
        res = subprocess.run(
            ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", PROBE_SCRIPT, dst, str(size)],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        return method, False, f"probe failed to run: {e}"
    text = (res.stdout + res.stderr).strip()
    return method, res.returncode == 0, text.splitlines()[-1] if text else f"exit {res.returncode}"


def check_node_networks(
    node_like: Any, node: InventoryNode, inventory: Inventory, policy: NetworkPolicy | None = None
) -> list[Finding]:
    """MTU of ``node``'s interfaces on every storage network, and probes from it to each peer."""
    policy = policy or NetworkPolicy()
    mtu_check, path_check = CHECKS["HD-NET-001"], CHECKS["HD-NET-002"]
    findings: list[Finding] = []
    nets = [n for n in storage_networks(inventory, policy) if n.name in node.addresses]
    if not nets:
        return findings
    target_node = as_node(node_like)
    try:
        links = _links(target_node)
    except TargetError as e:
        return [mtu_check.error(node.name, str(e), object=n.name) for n in nets]
    for net in nets:
        expected = net.mtu or policy.mtu
        address = node.addresses[net.name]
        iface, mtu = links.get(address, (None, None))
        findings += mtu_check.evaluate(node.name, LinkFacts(net.name, address, expected, iface, mtu))
        if not policy.probe:
            continue
        for peer in inventory.nodes:
            if peer.name == node.name or net.name not in peer.addresses:
                continue
            size = expected - 28
            try:
                method, ok, detail = _probe(target_node, peer.addresses[net.name], size)
            except TargetError as e:
                findings.append(path_check.error(node.name, str(e), object=f"{net.name}: to {peer.name}"))
                continue
            facts = ProbeFacts(net.name, peer.name, peer.addresses[net.name], size, method, ok, detail)
            findings += path_check.evaluate(node.name, facts)
    return findings


def check_storage_networks(inventory: Inventory, policy: NetworkPolicy | None = None) -> list[Finding]:
    """The network suite for every node attached to a storage network."""
    policy = policy or NetworkPolicy()
    names = {n.name for n in storage_networks(inventory, policy)}
    findings: list[Finding] = []
    for node in inventory.nodes:
        if names.intersection(node.addresses):
            findings += check_node_networks(node.url, node, inventory, policy)
    return findings


@register(
    "HD-NET-001", suite=SUITE, severity="high", target_kind="network",
    reference="platform rule: storage networks run jumbo frames (inventory networks[].mtu)",
    title="Interfaces on storage networks have the declared MTU",
    remediation="Set the interface's MTU (ip link set dev IFACE mtu 9000, and in the host's network "
    "configuration so it survives a reboot) on every node of the storage network.",
)  # fmt: skip
def interface_mtu(f: LinkFacts) -> Verdict:
    where = f"{f.network}:{f.interface or '?'}"
    if f.interface is None:
        return Verdict(False, None, f.expected_mtu, f"no interface holds {f.address} on {f.network}", object=where)
    msg = f"{f.interface} ({f.address}) on {f.network} has MTU {f.mtu}, expected {f.expected_mtu}"
    return Verdict(f.mtu == f.expected_mtu, f.mtu, f.expected_mtu, msg, object=where)


@register(
    "HD-NET-002", suite=SUITE, severity="high", target_kind="network",
    reference="platform rule: storage paths carry full-size frames unfragmented",
    title="Full-size don't-fragment packets cross the storage network between peers",
    remediation="Find the hop that drops large frames (interface, bridge, bond, switch port, tunnel) and raise "
    "its MTU; `ping -M do -s 8972 PEER` must get a reply.",
)  # fmt: skip
def df_probe(f: ProbeFacts) -> Verdict:
    obj = f"{f.network}: to {f.peer}"
    msg = f"{f.size}-byte don't-fragment echo to {f.peer} ({f.peer_address}) via {f.method}: {f.detail}"
    observed = "reply" if f.ok else f.detail
    return Verdict(f.ok, observed, f"a reply to a {f.size}-byte DF echo", msg, object=obj)
