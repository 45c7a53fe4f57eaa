"""The deadman of a fault on a systemd host: a transient timer the host's own service manager runs.

``systemd-run --on-active=N --unit=hadrill-deadman-<id>`` makes a transient ``.timer`` and ``.service``
pair inside the host's systemd. Neither belongs to the SSH session that created them, so they survive
the harness being SIGKILLed, the SSH connection dropping, and sshd itself restarting; only a reboot ends
them (and a reboot also ends what the faults in this family leave behind, all kept under /run). Arming
is proven by reading the timer back from ``systemctl list-timers``.
"""

from __future__ import annotations

import base64
import math
import shlex
import time

from hadrill.clients.targets import Target, target
from hadrill.errors import InjectionFailed, TargetError
from hadrill.faults.ledger import FaultRecord

__all__ = ["arm_timer", "arm_timers", "disarm_timer", "disarm_timers", "has_systemd", "timer_unit"]


_SCRIPTS = "/run/hadrill"  # gone at reboot, like the runtime masks the faults leave


def _script_path(record_id: str) -> str:
    return f"{_SCRIPTS}/{timer_unit(record_id)}.sh"


def timer_unit(record_id: str) -> str:
    return f"hadrill-deadman-{record_id}"


def has_systemd(t: Target) -> bool:
    """systemd is the node's service manager (``/run/systemd/system`` exists only then)."""
    return t.run("test -d /run/systemd/system", timeout=10).ok


def arm_timer(t: Target, record: FaultRecord, commands: str) -> str:
    """Run ``commands`` on the host at the record's deadline; return the ``list-timers`` line proving it."""
    unit = timer_unit(record.id)
    delay = max(1, math.ceil(record.deadline - time.time()))
    # The commands go in a script file: a transient unit's command line is re-read from its unit file at
    # every daemon-reload (a mask makes one), and that round trip mangles ';' in an inline `sh -c`.
    script = _script_path(record.id)
    encoded = base64.b64encode(f'{commands}\nrm -f "$0"\n'.encode()).decode()
    t.check(
        f"mkdir -p {_SCRIPTS} && echo {encoded} | base64 -d > {script} && "
        f"systemd-run --quiet --collect --on-active={delay}s --timer-property=AccuracySec=100ms "
        f"--unit={unit} --description={shlex.quote(f'hadrill deadman for fault {record.id}')} /bin/sh {script}",
        timeout=15,
    )
    line = t.run(f"systemctl list-timers --all --no-legend --no-pager {unit}.timer", timeout=10).stdout.strip()
    if f"{unit}.timer" not in line:
        raise InjectionFailed(f"{t.url}: deadman timer {unit}.timer not listed by systemctl list-timers after arming")
    return " ".join(line.split())


def disarm_timer(t: Target, record_id: str) -> None:
    """Stop the timer (and its service if it is running: the revert that follows does the same work)."""
    unit = timer_unit(record_id)
    stop = f"systemctl stop {unit}.timer {unit}.service 2>/dev/null"
    t.run(f"{stop}; systemctl reset-failed {unit}.service 2>/dev/null; rm -f {_script_path(record_id)}", timeout=30)


def arm_timers(urls: list[str], record: FaultRecord, command: str, what: str) -> str:
    """The same deadman on several hosts (a cluster's managers or masters, any of which can undo the fault):
    ``command`` retried 6 times 10 s apart. A host down now is noted and skipped; InjectionFailed when
    none took it. Returns each host's ``list-timers`` line (or why not)."""
    retried = f"for i in 1 2 3 4 5 6; do {command} && break; sleep 10; done"
    lines = []
    for url in urls:
        try:
            lines.append(arm_timer(target(url), record, retried))
        except TargetError as e:  # down now: the others' timers do it
            lines.append(f"{url.split('?', 1)[0]}: not armed ({str(e)[-120:]})")
    if not any("not armed" not in line for line in lines):
        raise InjectionFailed(f"{what}: no host took the deadman's timer: {'; '.join(lines)}")
    return "; ".join(lines)


def disarm_timers(urls: list[str], record_id: str) -> None:
    for url in urls:
        disarm_timer(target(url), record_id)
