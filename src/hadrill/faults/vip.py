"""Virtual-IP faults: take down the server that holds a keepalived VIP.

:class:`FailVip` (kind ``nfs.fail_vip``, the name it was born with) aims at whichever server of a pair
holding a keepalived VIP holds it when the fault is injected: the NFS servers (an ``nfs`` cluster), the
kubeadm lab's API load balancers (a ``keepalived`` cluster, :mod:`hadrill.lab.kubeadm_lb`). The served
process is the cluster's ``settings.process`` (default ganesha), restarted by ``settings.restart``. Three ways:

- ``kill``: SIGKILL its container (revert: start it; ``nopreempt`` makes it rejoin as BACKUP);
  the deadman runs on the engine's host. On a systemd host (``ssh://``) it is a power cut, off over
  SSH and on through the lab's engine (:mod:`hadrill.faults.vip_host`);
- ``stop-service`` (``stop-nfs`` on NFS servers): stop the served process inside it (keepalived's track
  script then gives the VIP up; revert: start it again); deadman in the target;
- ``link-down``: ``ip link set <iface> down`` on the interface carrying the VIP, a silent death (no
  RST reaches the clients; revert: link up); deadman in the target.

The proof of effect is the mode's own, seen on the holder (container exited, no ganesha process, link
not UP): a fraction of a second. The VIP's move to the other server is the platform's recovery, not the
injection: a watcher thread notes when it is first seen there (``vip_moved_at``) and
:func:`~hadrill.recovery.nfs.vip_moved` waits for it and judges it against its objective. The verdicts after the fault
(:func:`~hadrill.recovery.nfs.vip_moved`, :func:`~hadrill.recovery.nfs.rejoined_as_backup`) are in
:mod:`hadrill.recovery.nfs`; the VIP and server state reads in :mod:`hadrill.clients.nfs`.
"""

from __future__ import annotations

import ipaddress
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from hadrill.clients.docker import container as _container
from hadrill.clients.nfs import NFS_PROCESS, holds_vip, vip_holder, vip_iface
from hadrill.clients.targets import target
from hadrill.errors import ConfigError, InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import DEFAULT_TIME_LIMIT, Fault, wait_for
from hadrill.faults.container import ContainerFault
from hadrill.faults.container_kill import kill, kill_witness, killed
from hadrill.faults.deadman import (
    arm_in_target,
    arm_on_host,
    disarm_in_target,
    disarm_on_host,
    fired_in_target,
    fired_on_host,
)
from hadrill.faults.ledger import FaultRecord
from hadrill.faults.picking import gate
from hadrill.faults.power import lab_powered_off_at, ssh_power_off, wait_answers
from hadrill.faults.systemd_timer import arm_timer, disarm_timer, has_systemd
from hadrill.faults.vip_host import DEFAULT_UNITS, back_check, inject_command, revert_command
from hadrill.inventory import Cluster, Inventory

__all__ = [
    "MODES",
    "FailVip",
    "Mode",
    "fail_vip",
]

Mode = Literal["kill", "stop-service", "stop-nfs", "link-down"]
MODES: tuple[Mode, ...] = ("kill", "stop-service", "link-down")
_STOPS = ("stop-service", "stop-nfs")  # the same fault; stop-nfs is its older name, on NFS servers only
RESTART_NFS = "/usr/local/bin/hadrill-ganesha-start"
_PROVE_S = 10.0  # the mode's own effect (container exited, ganesha gone, link down) shows within this


def _stop_command(process: str) -> str:
    """TERM the process, KILL it if still there after 5 s (a bounded wait)."""
    p = shlex.quote(process)
    return (
        f"pkill -TERM -x {p}; for i in $(seq 1 50); do pgrep -x {p} >/dev/null || exit 0; sleep 0.1; done; "
        f"pkill -KILL -x {p}; true"
    )


@dataclass
class FailVip(Fault):
    """Take down the server holding ``vip`` (``servers``: (member, node URL) of both servers)."""

    mode: Mode = "kill"
    vip: str = ""
    servers: tuple[tuple[str, str], ...] = ()
    restart_nfs: str = RESTART_NFS  # the served process's start command (ganesha's on NFS servers)
    process: str = NFS_PROCESS  # the process keepalived's track script watches
    units: tuple[str, str] = DEFAULT_UNITS  # (nfs, keepalived) units on a systemd host
    systemd_units: bool = False  # the inventory names the units (settings.units): the servers are systemd hosts
    power_container: str = ""  # a host's power-on driver: the lab's container (kill on a host is a power cut)
    move_timeout: float = 30.0  # seconds the VIP may take to move before the injection counts as failed
    kind: ClassVar[str] = "nfs.fail_vip"

    def _holders(self) -> dict[str, str]:
        """The servers holding the VIP and the interface that carries it on each, asked at once (one
        round trip, not one per server)."""
        with ThreadPoolExecutor(max_workers=len(self.servers) or 1) as pool:
            ifaces = list(pool.map(lambda server: vip_iface(server[1], self.vip), self.servers))
        return {name: iface for (name, _), iface in zip(self.servers, ifaces, strict=True) if iface is not None}

    def params(self) -> dict[str, Any]:
        if self.mode not in (*MODES, "stop-nfs"):
            raise InjectionFailed(f"fail_vip: mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        try:
            ipaddress.ip_address(self.vip)
        except ValueError as e:
            raise InjectionFailed(f"fail_vip: vip {self.vip!r} is not an IP address") from e
        holders = self._holders()
        if list(holders) != list(self.members):
            raise InjectionFailed(
                f"VIP {self.vip} is held by {list(holders) or 'no server'}, not by {', '.join(self.members)} "
                "as when the fault was planned: plan it again"
            )
        t = target(self.target)
        params: dict[str, Any] = {
            **super().params(),
            "mode": self.mode,
            "vip": self.vip,
            "servers": [list(s) for s in self.servers],
            "container": t.container,
            "restart_nfs": self.restart_nfs,
            "process": self.process,
        }
        # A host: the service manager does it all (faults/vip_host.py). Reached as docker:// it is still one
        # when the inventory says its services are units (``settings.units``): a unit with Restart= would
        # bring a pkill'd daemon back at once, so a stop goes through systemd.
        if t.container is None or (self.mode != "kill" and self.systemd_units):
            if t.container is None and not has_systemd(t):
                raise NotImplementedError(f"fail_vip on {self.target}: no container and no systemd to act through")
            params["host"] = True
            params["units"] = list(self.units)
            if self.mode == "kill":  # only on ssh:// (a container's kill is the engine's, below)
                if not self.power_container:
                    raise InjectionFailed(
                        f"fail_vip kill on {self.target}: killing a host is a power cut, and no driver can power it "
                        "on again (the lab's engine can; a real fleet needs a BMC driver): use stop-nfs or link-down"
                    )
                params["container"] = self.power_container
        if self.mode == "link-down":  # the interface the holders check saw carrying the VIP
            params["iface"] = holders[self.members[0]]
        return params

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        if record.params["mode"] == "kill":  # a container, or a host's power-on driver: the engine's host
            arm_on_host(record, [{"op": "start", "container": record.params["container"]}])
        elif record.params.get("host"):
            t = target(record.target)
            record.params["deadman"] = arm_timer(t, record, revert_command(record.params))
        else:
            arm_in_target(target(record.target), record, _revert_command(record.params))

    @classmethod
    def disarm(cls, record: FaultRecord) -> None:
        if record.params["mode"] == "kill":
            disarm_on_host(record.id)
        elif record.params.get("host"):
            disarm_timer(target(record.target), record.id)
        else:
            disarm_in_target(target(record.target), record.id)

    @classmethod
    def fired(cls, record: FaultRecord) -> bool:
        if record.params["mode"] == "kill":
            return fired_on_host(record.id)
        if record.params.get("host"):  # a systemd timer leaves no marker: it fires at the deadline
            return time.time() > record.deadline
        return fired_in_target(target(record.target), record.id)

    def inject(self, record: FaultRecord) -> None:
        record.params["injected_at"] = time.time()
        try:
            if record.params.get("host") and self.mode == "kill":
                # the failover is timed from the moment the power went off (the power driver's record),
                # not from the command: the poweroff first syncs every filesystem (seconds, under load)
                record.params["command_at"] = ssh_power_off(record.target)
                record.params["injected_at"] = lab_powered_off_at(record.params["container"])
            elif record.params.get("host"):
                target(record.target).check(inject_command(record.params), timeout=30)
            elif self.mode == "kill":
                c = _container(record.params["container"])
                record.params["witness"] = kill_witness(c)
                kill(c, record.params["witness"])
            elif self.mode in _STOPS:
                target(record.target).check(_stop_command(self.process), timeout=15)
            else:
                target(record.target).check(f"ip link set {shlex.quote(record.params['iface'])} down", timeout=10)
        except Exception as e:
            raise InjectionFailed(f"fail_vip {self.mode} on {record.target}: {e}") from e

    def prove(self, record: FaultRecord) -> str:
        """The holder is down as the mode says, seen on it (not the VIP's move: that is the platform's
        recovery, timed by a watcher from here and judged by :func:`~hadrill.recovery.nfs.vip_moved`)."""
        p = record.params
        former = self.members[0]
        if self.mode == "kill":

            def down() -> str | None:  # a host's power cut has no process witness: the engine's state
                return killed(p["container"], p.get("witness") or {})

        else:
            t = target(record.target)
            probe, said = (
                (f"pgrep -x {shlex.quote(self.process)}", f"{self.process} gone")
                if self.mode in _STOPS
                else (f"ip -o link show {shlex.quote(p['iface'])} | grep -q '[<,]UP[,>]'", f"{p['iface']} down")
            )

            def down() -> str | None:
                res = t.run(probe, timeout=5)
                return f"{said} on {former}" if res.rc == 1 else None  # 1: not found; else an error

        seen = wait_for(down, timeout=_PROVE_S, what=f"{self.mode} of {former}", interval=0.02)
        _watch_move(self, record)
        return f"{seen} ({self.mode}); the VIP {self.vip} must move off {former}"

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        params = record.params
        if params["mode"] == "kill":
            ContainerFault.revert(record)  # a container, or a host's power-on driver
            if params.get("host"):  # powered on: booted, and its units up again
                wait_answers(record.target, record.target.split("?", 1)[0], back_check(params))
            return
        t = target(record.target)
        try:
            if params.get("host"):
                t.check(revert_command(params), timeout=60)
                check = back_check(params)
            else:
                t.check(_revert_command(params), timeout=30)
                check = (
                    f"pgrep -x {shlex.quote(params.get('process', NFS_PROCESS))}"
                    if params["mode"] in _STOPS
                    else f"ip -o link show {shlex.quote(params['iface'])} | grep -q '[<,]UP[,>]'"
                )
            wait_for(
                lambda: "back" if t.run(check, timeout=5).ok else None, timeout=20, what=f"{params['mode']} reverted"
            )
        except (TargetError, InjectionFailed) as e:
            if _stopped(params.get("container")):
                return  # a stopped container comes back with its daemons and links
            raise RevertFailed(f"{record.kind} {params['mode']} on {record.target}: {e}") from e


def _watch_move(fault: FailVip, record: FaultRecord) -> None:
    """Note in ``record.params["vip_moved_at"]`` when the VIP is first seen on the other server(s),
    polling for at most ``move_timeout``: a daemon thread, so the injection is proven without waiting."""
    others = [url for name, url in fault.servers if name != fault.members[0]]
    former = dict(fault.servers)[fault.members[0]]
    deadline = time.monotonic() + fault.move_timeout

    def watch() -> None:
        while time.monotonic() < deadline:
            # The others first, timed at once: asking a powered-off host over SSH waits out a timeout.
            # holds_vip never raises: a node that does not answer holds nothing.
            if all(holds_vip(url, fault.vip) for url in others):
                seen = time.time()
                if not holds_vip(former, fault.vip):
                    record.params["vip_moved_at"] = seen
                    return
            time.sleep(0.05)

    threading.Thread(target=watch, name=f"vip-move-{record.id}", daemon=True).start()


def _revert_command(params: dict[str, Any]) -> str:
    if params["mode"] in _STOPS:
        process = shlex.quote(params.get("process", NFS_PROCESS))
        return f"pgrep -x {process} >/dev/null || sh -c {shlex.quote(params['restart_nfs'])}"
    return f"ip link set {shlex.quote(params['iface'])} up"


def _stopped(container: str | None) -> bool:
    """True only when the engine says the container is stopped or gone (it comes back with its daemons
    and links); an engine that does not answer is no proof of anything."""
    if not container:
        return False
    try:
        return bool(_container(container).status in ("created", "exited", "dead"))
    except TargetError as e:
        return "no container named" in str(e)


def _host_units(cluster: Cluster) -> tuple[str, str]:
    """The (nfs, keepalived) units of a host cluster: ``settings.units``, else Debian's names."""
    units = cluster.settings.get("units", DEFAULT_UNITS)
    if not isinstance(units, list | tuple) or len(units) != 2 or not all(isinstance(u, str) and u for u in units):
        raise ConfigError("inventory", f"clusters[{cluster.name}].settings.units", "[NFS unit, keepalived unit]", units)
    return (units[0], units[1])


def fail_vip(
    inv: Inventory,
    cluster: Cluster,
    *,
    mode: Mode = "kill",
    time_limit: float = DEFAULT_TIME_LIMIT,
    force: bool = False,
) -> FailVip:
    """Plan a FailVip against the server holding the cluster's VIP now (re-checked at injection)."""
    process = str(cluster.settings.get("process", NFS_PROCESS))
    if mode == "stop-nfs" and process != NFS_PROCESS:
        raise ConfigError(
            "experiment", "fail_vip.mode", f"stop-service ({cluster.name} serves {process}, not NFS)", mode
        )
    holder = vip_holder(inv, cluster)
    if holder is None:
        raise TargetError(
            f"{cluster.type} cluster {cluster.name}: VIP {cluster.settings.get('vip')} held by no single server"
        )
    advert = float(cluster.settings.get("advert_int", 1.0))
    return FailVip(
        target=inv.member_node(cluster, holder.name).url,
        mode=mode,
        vip=str(cluster.settings["vip"]),
        servers=tuple((m.name, inv.member_node(cluster, m.name).url) for m in cluster.members),
        restart_nfs=str(cluster.settings.get("restart", cluster.settings.get("restart_nfs", RESTART_NFS))),
        process=process,
        units=_host_units(cluster),
        systemd_units="units" in cluster.settings,
        power_container=holder.node if inv.source == "lab" else "",
        move_timeout=max(15.0, 10 * advert + 5),
        time_limit=time_limit,
        **gate(inv, cluster, [holder], force=force),
        description=f"fail the VIP: {mode} {holder.name}",
    )
