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
its deadman, on this host) therefore starts each one in turn cut off (a lab container off the lab's
networks; a host powered on by the driver that cut it, then Swarm's ports dropped by iptables), has it
leave, and only then connects it again at its own address. The deadman does the whole revert (a harness
killed mid-drill leaves a whole swarm): it reads a join token from the survivor when it fires, never
before, so none is stored. Join tokens travel only in a ``docker exec`` environment, never in a command
line, a record, a log or an error message (over SSH: in the script on ssh's standard input).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, ClassVar

import docker
from docker.errors import DockerException

from hadrill.clients.docker import container
from hadrill.clients.swarm import SwarmCli
from hadrill.clients.targets import target
from hadrill.errors import InjectionFailed, RevertFailed
from hadrill.faults.base import Fault, wait_for
from hadrill.faults.deadman import OnHostDeadman, arm_on_host, deadman_dir
from hadrill.faults.hostdeadman import power_on
from hadrill.faults.ledger import FaultRecord
from hadrill.faults.swarm_rejoin import CLIENT_TIMEOUT_S, RejoinError, needs_engine, rejoin

__all__ = ["ForceNewCluster", "lost_manager"]


def lost_manager(name: str, url: str, address: str, power: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the revert needs of one lost manager: its container and its address on each network; for a
    host (``ssh://``), its URL and ``power``, the action that powers it on (the power cut's driver)."""
    name_in_engine = target(url).container
    if name_in_engine is None:
        if power is None:
            raise InjectionFailed(f"re-join of swarm manager {name} at {url.split('?', 1)[0]}: no power cut to undo")
        return {"name": name, "url": url, "ssh": url, "address": address, "power": power}
    c = container(name_in_engine)
    networks = c.attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
    nets = {
        net: (cfg.get("IPAMConfig") or {}).get("IPv4Address") or cfg.get("IPAddress") or ""
        for net, cfg in networks.items()
    }
    return {"name": name, "url": url, "container": c.name, "address": address, "networks": nets}


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
        """At the deadline the host deadman runs this revert itself (``swarm_rejoin`` of
        :mod:`hadrill.faults.hostdeadman`): it reads a join token from the survivor then, never before."""
        arm_on_host(record, [_action(record)])

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
        """The lost managers re-join (:func:`hadrill.faults.swarm_rejoin.rejoin`, the deadman's own):
        idempotent and safe to retry from any point, every step decided from the leader's view."""
        action = _action(record)
        client: Any = None
        try:
            client = docker.from_env(timeout=CLIENT_TIMEOUT_S) if needs_engine(action) else None
            rejoin(client, action, power_on=lambda op: power_on(client, op))
        except (RejoinError, DockerException) as e:
            raise RevertFailed(f"re-join of the lost managers: {type(e).__name__}: {e}") from e
        except Exception as e:  # a power-on's own (the BMC's, the engine's start): the re-join stopped there
            raise RevertFailed(f"re-join of the lost managers: power on: {type(e).__name__}: {e}") from e
        finally:
            if client is not None:
                client.close()


def _action(record: FaultRecord) -> dict[str, Any]:
    """What :func:`~hadrill.faults.swarm_rejoin.rejoin` needs, from the record: containers or SSH URLs,
    addresses, power-on actions."""
    p = record.params
    survivor = target(p["survivor_url"]).container
    node = {"container": survivor} if survivor is not None else {"ssh": p["survivor_url"]}
    keys = ("name", "address", "container", "networks", "ssh", "power")
    lost = [{k: m[k] for k in keys if k in m} for m in p["lost"]]
    lock = str(deadman_dir() / f"{record.id}.rejoin.lock")  # shared with the deadmen: one re-join at a time
    return {"op": "swarm_rejoin", **node, "advertise": p["advertise"], "lost": lost, "lock": lock}
