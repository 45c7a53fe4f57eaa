"""Swarm's documented disaster procedure as a fault pair: ``--force-new-cluster`` on the survivor, and
its revert, re-joining the managers it dropped.

After quorum is lost for good, Docker's admin guide ("Recover from disaster") has the operator run
``docker swarm init --force-new-cluster --advertise-addr ADDR`` on a surviving manager: it becomes the
only manager of a single-node Raft group that keeps the services, tasks and worker nodes. The lost
managers are no longer members: they must get a fresh swarm state (``docker swarm leave --force``),
their old node entries are removed (``docker node rm --force``, after a demote if still a manager) and
they join again as managers with a token read from the new leader ("Troubleshoot a manager node").

:class:`ForceNewCluster` injects the procedure (it is what the drill measures) and its revert restores
the three-manager swarm. A lost manager restarted while still connected could meet the other with
the old membership, 2 of 3, and elect a leader of the old swarm beside the new one: the revert (and
its deadman, on this host) therefore starts each one disconnected from the lab's networks, has it
leave, and only then connects it again at its own address. The deadman cannot join (no join token is
ever stored); it leaves the old managers out of any swarm, safe, and a later revert (``hadrill
recover``) joins them. Join tokens travel only in a ``docker exec`` environment, never in a command
line, a record, a log or an error message.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import docker
from docker.errors import DockerException

from hadrill.clients.docker import container
from hadrill.clients.swarm import SwarmCli, SwarmUnavailable
from hadrill.clients.targets import target
from hadrill.errors import InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import Fault, wait_for
from hadrill.faults.container import start_container
from hadrill.faults.deadman import OnHostDeadman, arm_on_host
from hadrill.faults.ledger import FaultRecord

__all__ = ["ForceNewCluster", "lost_manager"]

_ENGINE_UP_S = 90.0  # a restarted node boots systemd, then dockerd (LAB-NOTES: 5-20 s on this VM)
_JOIN_S = 120.0
# wait for the node's engine, then leave: what the deadman runs in a restarted, disconnected manager
_LEAVE = (
    "for i in $(seq 90); do docker info >/dev/null 2>&1 && break; sleep 1; done; timeout 30 docker swarm leave --force"
)


def lost_manager(name: str, url: str, address: str) -> dict[str, Any]:
    """What the revert needs of one lost manager: its container and its address on each network."""
    name_in_engine = target(url).container
    if name_in_engine is None:
        raise NotImplementedError(f"re-join of swarm manager {name}: {url} is no container (needs a power driver)")
    c = container(name_in_engine)
    networks = c.attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
    nets = {
        net: (cfg.get("IPAMConfig") or {}).get("IPv4Address") or cfg.get("IPAddress") or ""
        for net, cfg in networks.items()
    }
    return {"name": name, "url": url, "container": c.name, "address": address, "networks": nets}


def _networks(name: str, nets: dict[str, str], *, connect: bool) -> None:
    """Disconnect ``name`` from its networks, or connect it again at its fixed addresses (idempotent)."""
    try:
        client = docker.from_env(timeout=60)
        c = client.containers.get(name)
        attached = set((c.attrs.get("NetworkSettings", {}).get("Networks") or {}).keys())
        for net, ip in nets.items():
            if connect and net not in attached:
                client.networks.get(net).connect(c, ipv4_address=ip or None)
            elif not connect and net in attached:
                client.networks.get(net).disconnect(c, force=True)
    except DockerException as e:
        raise TargetError(f"{'connect' if connect else 'disconnect'} {name}: {e}") from e


def _engine_state(url: str) -> str:
    try:
        return SwarmCli(url, timeout=15.0).local_state()
    except TargetError:
        return ""


def _join(name: str, address: str, remote: str, token: str) -> None:
    """Join ``name`` as a manager; the token is in the exec's environment only and scrubbed from errors."""
    cmd = (
        f'docker swarm join --token "$HADRILL_JOIN_TOKEN" --advertise-addr {shlex.quote(address)} '
        f"--listen-addr {shlex.quote(address)}:2377 {shlex.quote(remote)}"
    )
    try:
        rc, out = container(name).exec_run(
            ["timeout", f"{_JOIN_S:g}", "sh", "-c", cmd], environment={"HADRILL_JOIN_TOKEN": token}, demux=False
        )
    except DockerException as e:
        raise RevertFailed(f"{name}: swarm join: {type(e).__name__}") from e
    if rc != 0:
        text = (out or b"").decode(errors="replace").replace(token, "<token>").strip()[-240:]
        raise RevertFailed(f"{name} could not join the swarm as a manager: {text}")


def _old_entries(leader: SwarmCli, hostname: str) -> list[dict[str, Any]]:
    """The leader's entries for ``hostname`` that are not Ready (ID, role, labels): a lost manager's stale ones."""
    out = leader.check("docker node ls --format '{{.ID}} {{.Hostname}}'")
    ids = [line.split()[0] for line in out.splitlines() if line.split()[1:] == [hostname]]
    entries = []
    for node_id in ids:
        data = json.loads(leader.check(f"docker node inspect {node_id}"))[0]
        spec = data.get("Spec", {})
        if (data.get("Status") or {}).get("State") == "ready" or data.get("ManagerStatus"):
            continue  # the node as it joined again, or a Raft member: never removed
        entries.append({"id": node_id, "role": spec.get("Role", ""), "labels": spec.get("Labels") or {}})
    return entries


def _rejoined(leader: SwarmCli, hostnames: list[str]) -> str | None:
    """A detail when every lost manager is listed once, Ready, Reachable (or Leader), else None."""
    nodes = leader.nodes()
    for h in hostnames:
        mine = [n for n in nodes if n.hostname == h]
        if len(mine) != 1 or mine[0].status != "Ready" or mine[0].manager_status not in ("Reachable", "Leader"):
            return None
    managers = [n for n in nodes if n.manager_status in ("Leader", "Reachable")]
    return f"{len(managers)} managers Ready ({', '.join(sorted(n.hostname for n in managers))})"


@dataclass
class ForceNewCluster(OnHostDeadman, Fault):
    """``docker swarm init --force-new-cluster`` on the survivor; revert: the lost managers re-join."""

    survivor: str = ""  # node name (its hostname in the swarm)
    survivor_url: str = ""
    advertise: str = ""  # the survivor's own address
    lost: list[dict[str, Any]] = field(default_factory=list)  # lost_manager() of each
    kind: ClassVar[str] = "swarm.force_new_cluster"

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "survivor": self.survivor,
            "survivor_url": self.survivor_url,
            "advertise": self.advertise,
            "lost": list(self.lost),
        }

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        actions: list[dict[str, Any]] = []
        for m in record.params["lost"]:
            nets = m["networks"]
            actions += [{"op": "disconnect", "container": m["container"], "network": n} for n in nets]
            actions += [
                {"op": "start", "container": m["container"]},
                {"op": "exec", "container": m["container"], "cmd": ["sh", "-c", _LEAVE]},
            ]
            actions += [
                {"op": "connect", "container": m["container"], "network": n, "ip": ip} for n, ip in nets.items()
            ]
        arm_on_host(record, actions)

    def inject(self, record: FaultRecord) -> None:
        cli = SwarmCli(self.survivor_url, timeout=90.0)
        if cli.run("docker info --format '{{.Swarm.ControlAvailable}}'").stdout.strip() != "true":
            raise InjectionFailed(f"{self.survivor} is not a swarm manager: it cannot force a new cluster")
        addr = shlex.quote(self.advertise)
        # the command prints the worker join token on stdout: it goes nowhere
        res = cli.run(
            f"docker swarm init --force-new-cluster --advertise-addr {addr} --listen-addr {addr}:2377 >/dev/null"
        )
        if not res.ok:
            raise InjectionFailed(f"{self.survivor}: swarm init --force-new-cluster: {res.stderr.strip()[-240:]}")

    def prove(self, record: FaultRecord) -> str:
        cli = SwarmCli(self.survivor_url, timeout=8.0)

        def single_manager() -> str | None:
            nodes = cli.nodes()
            managers = [n.hostname for n in nodes if n.manager_status in ("Leader", "Reachable")]
            if managers != [self.survivor] or not any(n.leader and n.hostname == self.survivor for n in nodes):
                return None
            workers = [n.hostname for n in nodes if n.role == "worker"]
            services = ", ".join(f"{s.name} {s.running}/{s.desired}" for s in cli.services().values())
            return (
                f"{self.survivor} leads a single-manager swarm that kept {len(workers)} other node(s) "
                f"and its services ({services or 'none'})"
            )

        return wait_for(single_manager, timeout=60, what=f"{self.survivor} leading a new single-manager swarm")

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        """Idempotent, and safe to retry from any point: every step is decided from the leader's view.

        A node the leader counts as a Raft member (Reachable, Unreachable or Leader, or Ready under a
        new ID) is never made to leave: in a two-member group that would cost the quorum. The lost
        managers are prepared first (cut off, left, reconnected), then joined back to back, so the
        fragile two-member group lasts one join."""
        p = record.params
        leader = SwarmCli(p["survivor_url"], timeout=20.0)
        remote = f"{p['advertise']}:2377"
        hostnames = [m["name"] for m in p["lost"]]
        _survivor_leads(leader, p["advertise"])
        if _rejoined(leader, hostnames) is not None:
            return  # an earlier revert finished
        pending = [m for m in p["lost"] if not _member(leader, m["name"])]
        for m in pending:
            _prepare(m)
        labels = {m["name"]: _remove_stale(leader, m["name"]) for m in p["lost"]}
        for m in pending:
            if _engine_state(m["url"]) == "inactive":
                token = leader.check("docker swarm join-token -q manager").strip()
                _join(m["container"], m["address"], remote, token)
        try:
            wait_for(lambda: _rejoined(leader, hostnames), timeout=90, what="the lost managers Ready and Reachable")
        except InjectionFailed as e:
            raise RevertFailed(str(e)) from e
        for name, wanted in labels.items():
            _label(leader, name, wanted)


def _survivor_leads(leader: SwarmCli, advertise: str) -> None:
    """The survivor answers as the leader; if it lost its leadership (a two-member group that lost a
    member: the procedure's own failure mode), the procedure is run again on it."""
    try:
        leader.nodes()
        return
    except SwarmUnavailable as e:
        if "does not have a leader" not in str(e) or _engine_state(leader.url) != "active":
            raise RevertFailed(f"the new leader {leader.url} does not answer: {e}") from e
    addr = shlex.quote(advertise)
    res = SwarmCli(leader.url, timeout=90.0).run(
        f"docker swarm init --force-new-cluster --advertise-addr {addr} --listen-addr {addr}:2377 >/dev/null"
    )
    if not res.ok:
        raise RevertFailed(f"{leader.url}: force-new-cluster again: {res.stderr.strip()[-200:]}")
    try:
        wait_for(lambda: "leads" if leader.leader() else None, timeout=60, what=f"{leader.url} leading again")
    except InjectionFailed as e:
        raise RevertFailed(str(e)) from e


def _member(leader: SwarmCli, hostname: str) -> bool:
    """Whether the leader counts ``hostname`` in its Raft group (or Ready: it joined again)."""
    return any(
        n.hostname == hostname and (n.manager_status in ("Leader", "Reachable", "Unreachable") or n.status == "Ready")
        for n in leader.nodes()
    )


def _prepare(m: dict[str, Any]) -> None:
    """A lost manager, not a member of the new swarm: restarted cut off, its old swarm left, reconnected."""
    name, url = m["container"], m["url"]
    _networks(name, m["networks"], connect=False)
    try:
        start_container(name)
    except TargetError as e:
        raise RevertFailed(f"start {name}: {e}") from e
    deadline = time.monotonic() + _ENGINE_UP_S
    while _engine_state(url) == "" and time.monotonic() < deadline:
        time.sleep(1.0)
    state = _engine_state(url)
    if state == "":
        raise RevertFailed(f"{name}: its engine did not answer within {_ENGINE_UP_S:g} s of the start")
    if state != "inactive":
        res = SwarmCli(url, timeout=30.0).run("docker swarm leave --force")
        if not res.ok and _engine_state(url) != "inactive":
            raise RevertFailed(f"{name}: swarm leave --force: {(res.stderr or res.stdout).strip()[-200:]}")
    _networks(name, m["networks"], connect=True)


def _remove_stale(leader: SwarmCli, hostname: str) -> dict[str, str]:
    """Remove the stale entries of ``hostname`` (after the demote rm asks for); their labels."""
    labels: dict[str, str] = {}
    for entry in _old_entries(leader, hostname):
        labels.update(entry["labels"])
        # force-new-cluster dropped it from the Raft members (a demote then says "can't find manager in
        # raft memberlist"), though its spec may still say manager: demote only when rm asks for it
        res = leader.run(f"docker node rm --force {entry['id']}")
        if not res.ok and "demote" in (res.stderr + res.stdout):
            leader.check(f"docker node demote {entry['id']}")
            leader.check(f"docker node rm --force {entry['id']}")
        elif not res.ok:
            raise RevertFailed(f"docker node rm --force {entry['id']} ({hostname}): {res.stderr.strip()[-200:]}")
    return labels


def _label(leader: SwarmCli, hostname: str, labels: dict[str, str]) -> None:
    """Carry the old entry's labels over; retried: a node update races the join's own ("out of sequence")."""
    if not labels:
        return
    adds = " ".join(f"--label-add {shlex.quote(f'{k}={v}')}" for k, v in sorted(labels.items()))
    last = ""
    for _ in range(5):
        res = leader.run(f"docker node update {adds} {shlex.quote(hostname)}")
        if res.ok:
            return
        last = (res.stderr or res.stdout).strip()[-200:]
        time.sleep(2.0)
    raise RevertFailed(f"labels of {hostname} not carried over: {last}")
