"""Node power faults: a node loses power (every process, every socket, no goodbye) and is powered on again.

A power fault is two acts that may need two drivers: powering a node off can be done from inside it
(over SSH), powering it on cannot (the node is off). So :class:`PowerOff` (kind ``power.off``) names an
``off`` driver and an ``on`` driver:

- ``lab``: the engine kills the node's container (SIGKILL of the whole machine, a pulled plug) and
  starts it again; systemd then boots the node as after a power cut (runtime state in /run is gone,
  enabled units start). Its deadman runs on the engine's host and starts the container at the deadline.
- ``ssh``: ``systemctl poweroff --force --force`` on the node (no unit is stopped, nothing is synced:
  the kernel powers off at once). It cannot power a node on: without an ``on`` driver the fault is
  refused at injection, because nothing could bring the node back by itself at the time limit; the
  refusal says how to bring it back by hand.

- ``ipmi`` and ``redfish``: the node's BMC (``bmc`` in its inventory entry: :mod:`hadrill.clients.bmc`)
  cuts the power (IPMI ``chassis power off``, Redfish ``ForceOff``) and powers it on; the deadman runs on
  this host and asks the BMC to power on at the deadline. Tested against BMC emulators (pyghmi's IPMI
  server, sushy-tools' Redfish emulator) wired to the lab's node containers (:mod:`hadrill.lab.bmc`).

``sysrq`` power-off is not here: in the lab it would reach the shared kernel.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

from docker.errors import APIError

from hadrill.clients import bmc as _bmc
from hadrill.clients.docker import NO_SUCH_CONTAINER
from hadrill.clients.docker import container as _container
from hadrill.clients.targets import target
from hadrill.errors import ConfigError, InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import DEFAULT_TIME_LIMIT, Fault, wait_for
from hadrill.faults.container import start_container
from hadrill.faults.deadman import OnHostDeadman, arm_on_host
from hadrill.faults.ledger import FaultRecord
from hadrill.faults.picking import gate
from hadrill.inventory import Inventory

__all__ = [
    "DRIVERS",
    "POWEROFF_DELAY",
    "Driver",
    "PowerOff",
    "lab_powered_off_at",
    "power_off",
    "power_on_action",
    "ssh_power_off",
    "wait_answers",
]

Driver = Literal["lab", "ssh", "ipmi", "redfish"]
DRIVERS: tuple[Driver, ...] = ("lab", "ssh", "ipmi", "redfish")
ON_DRIVERS: tuple[Driver, ...] = ("lab", "ipmi", "redfish")  # ssh cannot power a node on
BMC_DRIVERS = ("ipmi", "redfish")
_POWEROFF = "systemctl poweroff --force --force"
POWEROFF_DELAY = 0.5  # seconds between the SSH command returning and the power going off
_BOOT_S = 120.0  # a host node boots to a reachable sshd in ~10-20 s on a loaded machine


def _lab_off(container: str) -> None:
    try:
        _container(container).kill()
    except APIError as e:
        raise InjectionFailed(f"power off {container} (engine kill): {e.explanation or e}") from e


def ssh_power_off(url: str) -> float:
    """Power the node off from inside (over SSH): the kernel stops at once, nothing is stopped cleanly.

    The power-off is a transient unit of the node's own systemd, due ``POWEROFF_DELAY`` s later, so the
    SSH command returns first (a command that kills the node under its own session waits out the SSH
    keep-alive instead: ~10 s). Returns the epoch it is due at, by this machine's clock: the earliest
    moment the fault can have acted (a measurement from it never comes out shorter than the truth).
    """
    due = time.time() + POWEROFF_DELAY
    cmd = (
        f"systemd-run --quiet --collect --unit=hadrill-power-off --on-active={POWEROFF_DELAY:g}s "
        f"--timer-property=AccuracySec=10ms {_POWEROFF}"
    )
    try:
        target(url).check(cmd, timeout=15)
    except TargetError as e:
        raise InjectionFailed(f"power off {url} over ssh: {e}") from e
    return due


def lab_powered_off_at(container: str, timeout: float = 60.0) -> float:
    """The lab driver's record of when a node lost power (the container's end, by the engine's clock), as
    a BMC's event log would give it; waits (bounded) for it. ``systemctl poweroff --force --force`` syncs
    every filesystem before cutting, so the cut comes seconds after the command on a busy machine."""

    def ended() -> str | None:
        c = _container(container)
        return None if c.status not in ("exited", "dead") else str(c.attrs["State"].get("FinishedAt", ""))

    finished = wait_for(ended, timeout=timeout, what=f"node {container} off", interval=0.1)
    stamp = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", finished)
    if stamp is None:
        raise InjectionFailed(f"node {container}: the engine's power-off time {finished!r} is not RFC 3339 UTC")
    whole = datetime.strptime(stamp[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return whole + float(stamp[2] or 0.0)


def _answers(url: str) -> bool:
    try:
        return target(url).run("true", timeout=5).ok
    except TargetError:
        return False


@dataclass
class PowerOff(OnHostDeadman, Fault):
    """Power the node at ``target`` off with the ``off`` driver; the revert powers it on with ``on``.

    ``container``: the node's container, for the ``lab`` driver (a lab's node names its container; with
    a BMC driver on a lab it is the engine's witness of the cut). ``bmc``: the node's BMC (inventory
    ``bmc``, password by file path only), for the ``ipmi`` and ``redfish`` drivers.
    """

    off: Driver = "lab"
    on: Driver | None = "lab"
    container: str = ""
    node: str = ""
    bmc: dict[str, Any] | None = None
    kind: ClassVar[str] = "power.off"

    def params(self) -> dict[str, Any]:
        if self.off not in DRIVERS:
            raise InjectionFailed(f"power.off: off driver {self.off!r} is not one of {', '.join(DRIVERS)}")
        if self.on is None:
            raise InjectionFailed(
                f"power.off of {self.node or self.target}: no driver can power it on again, so the fault could not "
                "revert itself at its time limit. Give an on driver (the lab's engine, a BMC), or power it off "
                f"by hand ({_POWEROFF}) and on from its console"
            )
        if self.on not in ON_DRIVERS:
            raise InjectionFailed(f"power.off: on driver {self.on!r}: one of {', '.join(ON_DRIVERS)} powers a node on")
        if "lab" in (self.off, self.on) and not self.container:
            raise InjectionFailed(f"power.off of {self.target}: the lab driver needs the node's container")
        for driver in {self.off, self.on} & set(BMC_DRIVERS):
            if not self.bmc or self.bmc.get("driver") != driver:
                have = f"an {self.bmc.get('driver')} BMC" if self.bmc else "no bmc"
                raise InjectionFailed(
                    f"power.off of {self.node or self.target}: the {driver} driver needs the node's {driver} BMC "
                    f"in the inventory (bmc: {{driver: {driver}, ...}}); it has {have}"
                )
        if self.off == "ssh" and not self.target.startswith("ssh://"):
            raise InjectionFailed(f"power.off: the ssh driver needs an ssh:// node, not {self.target}")
        bmc = {k: v for k, v in (self.bmc or {}).items() if v is not None}
        return {**super().params(), "off": self.off, "on": self.on, "container": self.container, "node": self.node,
                "bmc": bmc}  # fmt: skip

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        # Both the lab's engine and a BMC are reached from this host, which outlives the node. The
        # instance about to be cut is named before the cut (a re-arm names the one inject saw).
        p = record.params
        if p["container"] and "started_at" not in p:
            p["started_at"] = _container(p["container"]).attrs["State"].get("StartedAt", "")
        arm_on_host(record, [power_on_action(p)])

    def inject(self, record: FaultRecord) -> None:
        p = record.params
        if p["container"]:
            c = _container(p["container"])
            if c.status != "running":
                raise InjectionFailed(f"node {p['container']} is {c.status} before the fault: a power cut does nothing")
            p["started_at"] = c.attrs["State"].get("StartedAt", "")
        if p["off"] in BMC_DRIVERS:
            state = _bmc_call(_bmc.power_state, p["bmc"])
            if state != "on":
                raise InjectionFailed(f"node {p['node']}: its BMC reports power {state} before the fault")
        p["injected_at"] = time.time()
        if p["off"] == "lab":
            _lab_off(p["container"])
        elif p["off"] == "ssh":
            p["injected_at"] = ssh_power_off(record.target)
        else:
            _bmc_call(_bmc.set_power, p["bmc"], False)

    def prove(self, record: FaultRecord) -> str:
        """Off is seen by the machine's side (its BMC reports power off; on a lab, the engine sees the
        container stop) and over the network (its node URL no longer answers): independent witnesses."""
        p = record.params
        seen = []
        if p["off"] in BMC_DRIVERS:  # asked first: a BMC may apply the change when it is next read
            off_at = _bmc_call(_bmc.wait_power, p["bmc"], False, 30.0, 0.2)
            seen.append(f"its {p['off']} BMC reports power off {off_at - p['injected_at']:.2f} s after the command")
        if p["container"]:
            off_at = lab_powered_off_at(p["container"], timeout=30)
            seen.append(f"powered off by {p['off']} {off_at - p['injected_at']:.2f} s after the command (engine)")
        if _answers(record.target):
            raise InjectionFailed(f"{record.target} still answers after power off")
        url = record.target.split("?", 1)[0]
        return f"node {p['node'] or p['container']}: {'; '.join(seen)}; {url} no longer answers"

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        """Power on, then wait until the node answers on its own URL again (it booted)."""
        p = record.params
        if p["on"] == "lab":
            try:
                start_container(p["container"], killed_instance=p.get("started_at"))
            except TargetError as e:
                if NO_SUCH_CONTAINER in str(e):
                    return  # the platform itself is gone: nothing left to revert
                raise RevertFailed(f"power on {p['container']}: {e}") from e
        else:
            try:
                if _bmc.power_state(p["bmc"]) != "on":
                    _bmc.set_power(p["bmc"], True)
                _bmc.wait_power(p["bmc"], True, timeout=60.0)
            except _bmc.BmcError as e:
                raise RevertFailed(f"power on {p['node']} by its BMC: {e}") from e
        wait_answers(record.target, p["node"])


def power_on_action(params: dict[str, Any]) -> dict[str, Any]:
    """The host deadman's action (:mod:`hadrill.faults.hostdeadman`) that powers on the node a
    :class:`PowerOff` with these params cut: the lab's engine starts its container, or its BMC."""
    if params["on"] == "lab":
        return {"op": "start", "container": params["container"], "started_at": params.get("started_at", "")}
    return {"op": "bmc-on", "bmc": params["bmc"]}


def _bmc_call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except _bmc.BmcError as e:
        raise InjectionFailed(str(e)) from e


def wait_answers(url: str, node: str, check: str = "true") -> None:
    """After power on: wait (bounded) until the node boots and answers ``check`` on its own URL."""

    def up() -> str | None:
        try:
            return "up" if target(url).run(check, timeout=5).ok else None
        except TargetError:
            return None

    try:
        wait_for(up, timeout=_BOOT_S, what=f"{url.split('?', 1)[0]} answering after power on", interval=0.5)
    except InjectionFailed as e:
        raise RevertFailed(f"node {node} powered on but {e}") from e


P = TypeVar("P", bound=PowerOff)


def power_off(
    inv: Inventory,
    node: str,
    *,
    off: Driver | None = None,
    on: Driver | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    force: bool = False,
    cls: type[P] = PowerOff,  # type: ignore[assignment]  # a subclass that proves more (a worker, a master)
) -> P:
    """Plan a power cut of ``node``. Defaults: the node's BMC (``bmc`` in the inventory) both ways; else
    ``ssh`` off for an ``ssh://`` node, else ``lab``; ``lab`` on for a lab's inventory (its nodes are
    containers named like the node), else none (refused).

    The safety gate counts every cluster member on the node as lost for the fault's duration.
    """
    n = next((x for x in inv.nodes if x.name == node), None)
    if n is None:
        raise ConfigError("inventory", "nodes", f"one of {', '.join(x.name for x in inv.nodes)}", node)
    lab = inv.source == "lab"
    bmc = n.bmc.driver if n.bmc is not None else None
    off = off or bmc or ("ssh" if n.url.startswith("ssh://") else "lab")
    on = on or bmc or ("lab" if lab else None)
    clusters = [(c, [m for m in c.members if m.node == node]) for c in inv.clusters]
    hit = [(c, ms) for c, ms in clusters if ms]
    gated: dict[str, Any] = gate(inv, hit[0][0], hit[0][1], force=force) if hit else {}
    return cls(
        target=n.url,
        off=off,
        on=on,
        container=node if lab else "",
        node=node,
        bmc=n.bmc.model_dump() if n.bmc is not None else None,
        time_limit=time_limit,
        **gated,
        description=f"power off node {node} ({off} off, {on or 'no'} on)",
    )
