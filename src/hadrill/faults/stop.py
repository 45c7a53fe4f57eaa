"""The emergency stop: a flag file in the state directory that refuses new faults and aborts runs.

``hadrill stop`` writes ``state_dir()/STOPPED`` (with who and when) and then reverts every open fault,
including those of live runs; the fault gate (:func:`hadrill.faults.base.injected`) and the runner
(every experiment step, :meth:`hadrill.run.Run.inject`) call :func:`check_not_stopped` and refuse
with "stopped by operator" until ``hadrill resume`` removes the flag. A file, not a signal: it works
from another terminal, and for processes started after the stop.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from hadrill.errors import SafetyRefused
from hadrill.paths import state_dir

__all__ = ["StoppedByOperator", "check_not_stopped", "resume", "stop_flag", "stopped", "write_stop"]


class StoppedByOperator(SafetyRefused):
    """``hadrill stop`` is in force: no new fault, and a running experiment aborts at its next step."""


def stop_flag() -> Path:
    return state_dir() / "STOPPED"


def stopped() -> str | None:
    """The stop notice when an emergency stop is in force, else None."""
    try:
        return stop_flag().read_text().strip() or "stopped"
    except FileNotFoundError:
        return None


def check_not_stopped() -> None:
    """Raise StoppedByOperator while ``hadrill stop`` is in force."""
    notice = stopped()
    if notice is not None:
        raise StoppedByOperator(f"stopped by operator ({notice}); run `hadrill resume` to allow faults again")


def write_stop(reason: str = "") -> Path:
    """Put the stop in force (idempotent); returns the flag's path."""
    flag = stop_flag()
    flag.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    who = f"{os.environ.get('USER') or os.geteuid()}@{socket.gethostname()}"
    text = f"by {who} at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}" + (f": {reason}" if reason else "")
    tmp = flag.with_name(".STOPPED.tmp")
    tmp.write_text(text + "\n")
    tmp.chmod(0o600)
    tmp.replace(flag)
    return flag


def resume() -> bool:
    """Lift the stop; True if one was in force."""
    try:
        stop_flag().unlink()
    except FileNotFoundError:
        return False
    return True
