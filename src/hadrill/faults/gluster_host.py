"""Gluster node faults on systemd hosts, through the service manager: no engine is asked anything.

- ``kill-node``: glusterd's unit is masked (runtime) and SIGKILLed. Its ``KillMode=control-group``
  means the bricks and the self-heal daemon it spawned die with it, as when the server's container is
  killed; the mask keeps Debian's ``Restart=on-abnormal`` from bringing it back before the revert.
- ``pause-node``: every process of the unit gets SIGSTOP (sockets stay open: clients notice only after
  ``network.ping-timeout``); revert sends SIGCONT.

The deadman is a transient systemd timer on each server (:mod:`hadrill.faults.systemd_timer`); the
``kill-brick`` deadman is one on the surviving peer.
"""

from __future__ import annotations

import shlex

__all__ = ["DEFAULT_UNIT", "frozen_check", "inject_command", "revert_command"]

DEFAULT_UNIT = "glusterd.service"


def inject_command(mode: str, unit: str) -> str:
    u = shlex.quote(unit)
    if mode == "kill-node":
        return f"systemctl mask --runtime {u} && systemctl kill --signal=KILL {u}"
    return f"systemctl kill --signal=STOP {u}"


def revert_command(mode: str, unit: str) -> str:
    """Idempotent: run by the revert and by the servers' deadman timers."""
    u = shlex.quote(unit)
    if mode == "kill-node":
        return (
            f"systemctl unmask --runtime {u}; systemctl is-active -q {u} || "
            f"{{ systemctl reset-failed {u}; systemctl start {u}; }}"
        )
    return f"systemctl kill --signal=CONT {u}"


def frozen_check(unit: str) -> str:
    """Shell that prints ``frozen N`` when each of the unit's N processes is stopped (state T)."""
    return (
        f"ps -e -o stat=,unit= | awk -v u={shlex.quote(unit)} "
        "'$2 == u {n++; if ($1 !~ /^T/) bad++} END {if (n && !bad) print \"frozen \" n; else exit 1}'"
    )
