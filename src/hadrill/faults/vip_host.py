"""VIP faults on a systemd host: the same three modes as on a container, through the service manager.

- ``kill``: the server dies as a machine: a power cut (:mod:`hadrill.faults.power`, off over SSH, on
  through the power driver the inventory has; the lab's engine in the lab). SIGKILLing the daemons is
  not the same fault on a host: a killed keepalived leaves the VIP on the interface, so both servers
  answer for it (measured: the VIP never left the old holder).
- ``stop-service`` (``stop-nfs``): ``systemctl stop`` of the served unit (nfs-ganesha, haproxy: ``settings.units``);
  keepalived's track script gives the VIP up.
- ``link-down``: the interface carrying the VIP goes down, as in the container lab.

The deadman is a transient systemd timer on the host (:mod:`hadrill.faults.systemd_timer`) for ``stop-nfs`` and
``link-down``: it outlives the harness and the SSH session, and no engine is asked anything; the power
cut's deadman is the power driver's.
"""

from __future__ import annotations

import shlex
from typing import Any

__all__ = ["DEFAULT_UNITS", "back_check", "inject_command", "revert_command"]

DEFAULT_UNITS = ("nfs-ganesha.service", "keepalived.service")


def _units(params: dict[str, Any]) -> tuple[str, str]:
    nfs, keepalived = params["units"]
    return shlex.quote(nfs), shlex.quote(keepalived)


def inject_command(params: dict[str, Any]) -> str:
    nfs, _ = _units(params)
    if params["mode"] in ("stop-service", "stop-nfs"):
        return f"systemctl stop {nfs}"
    return f"ip link set {shlex.quote(params['iface'])} down"


def revert_command(params: dict[str, Any]) -> str:
    """Idempotent: run by the revert and by the host's deadman timer."""
    nfs, _ = _units(params)
    if params["mode"] in ("stop-service", "stop-nfs"):
        return f"systemctl is-active -q {nfs} || {{ systemctl reset-failed {nfs}; systemctl start {nfs}; }}"
    return f"ip link set {shlex.quote(params['iface'])} up"


def back_check(params: dict[str, Any]) -> str:
    """Shell that succeeds once the revert took effect (after a power cut: both units active again)."""
    nfs, keepalived = _units(params)
    if params["mode"] == "kill":
        return f"systemctl is-active -q {nfs} && systemctl is-active -q {keepalived}"
    if params["mode"] in ("stop-service", "stop-nfs"):
        return f"systemctl is-active -q {nfs} && pgrep -x {shlex.quote(params.get('process', 'ganesha.nfsd'))}"
    return f"ip -o link show {shlex.quote(params['iface'])} | grep -q '[<,]UP[,>]'"
