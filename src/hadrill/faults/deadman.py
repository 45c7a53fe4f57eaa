"""Deadmen: timers that revert a fault by themselves when its time limit passes.

Two kinds, both in a session of their own so killing the harness (even with SIGKILL) does not kill
them, and both carrying ``hadrill-deadman-<id>`` on their command line so they can be found:

- **in the target** (iptables rules, stopped processes): a detached ``sh`` that runs
  ``sleep <whole seconds> && <revert>`` (BusyBox ``sleep`` rejects fractions, and ``&&`` keeps a
  sleep that failed from running the revert at once). Its output goes to
  ``/tmp/hadrill-deadman-<id>.log`` and it leaves ``/tmp/hadrill-deadman-<id>.fired`` when it fires;
- **on this host** (a dead container cannot revert itself): ``python -m hadrill.faults.hostdeadman``,
  which talks to the engine with the Docker SDK (no ``docker`` CLI needed) and logs and marks under
  ``state_dir()/deadmen``.

Arming proves the deadman is alive (its process is found, or it reported ready) or raises
:class:`InjectionFailed`, so a fault is never injected without its safety net. Disarming checks that
no deadman is left and raises :class:`TargetError` otherwise; :func:`fired_in_target` and
:func:`fired_on_host` say whether a deadman ran, which the runner reports as an expiry.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hadrill.clients.targets import Target
from hadrill.errors import InjectionFailed, TargetError
from hadrill.faults.ledger import FaultRecord, check_private
from hadrill.paths import state_dir

__all__ = [
    "arm_command",
    "arm_in_target",
    "arm_on_host",
    "deadman_dir",
    "disarm_in_target",
    "disarm_on_host",
    "fired_in_target",
    "fired_on_host",
    "script",
    "sleep_seconds",
]

_ALIVE_S = 5.0  # how long arming waits for proof that the deadman runs


def _tag(record_id: str) -> str:
    return f"hadrill-deadman-{record_id}"


def _pattern(record_id: str) -> str:
    """A regex matching the deadman but not the shell that runs pkill (``[x]`` trick)."""
    tag = _tag(record_id)
    cut = len("hadrill-deadman-")
    return f"{tag[:cut]}[{tag[cut]}]{tag[cut + 1 :]}"


def sleep_seconds(deadline: float, now: float | None = None) -> int:
    """Whole seconds to sleep until ``deadline`` (at least 1: ``sleep 0`` races the injection)."""
    left = deadline - (time.time() if now is None else now)
    return max(1, math.ceil(left))


def _files(record_id: str) -> tuple[str, str]:
    """(log, marker) paths of an in-target deadman."""
    return f"/tmp/{_tag(record_id)}.log", f"/tmp/{_tag(record_id)}.fired"


def script(record: FaultRecord, commands: str, *, now: float | None = None) -> str:
    """The in-target deadman: whole-second sleep, then the marker, then the revert, logged."""
    marker = _files(record.id)[1]
    delay = sleep_seconds(record.deadline, now)
    return f"sleep {delay} && : {_tag(record.id)} && {{ date +%s > {marker}; {commands}; }}"


def arm_command(record: FaultRecord, commands: str, *, now: float | None = None) -> str:
    """One shell command that starts the deadman detached and exits 0 once ``pgrep`` finds it (1 if it
    does not within ``_ALIVE_S``): arming is one round trip to the target, not two or more.

    The detached command (the deadman's script and its log, both named by its tag) travels
    base64-encoded and is eval'ed, so the tag is not on the arming shell's own command line (pgrep
    would find that shell and call the deadman alive); the pattern has the ``[x]`` trick.
    """
    log = shlex.quote(_files(record.id)[0])
    detached = f"setsid sh -c {shlex.quote(script(record, commands, now=now))} </dev/null >>{log} 2>&1 &"
    encoded = base64.b64encode(detached.encode()).decode()
    pattern = shlex.quote(_pattern(record.id))
    tries = int(_ALIVE_S / 0.05)
    return (
        f'S=$(printf %s {encoded} | base64 -d) || exit 2; eval "$S"; i=0; '
        f"while [ $i -lt {tries} ]; do pgrep -f {pattern} >/dev/null && exit 0; i=$((i+1)); "
        "sleep 0.05 2>/dev/null || sleep 1; done; exit 1"
    )


def arm_in_target(target: Target, record: FaultRecord, commands: str) -> None:
    """Run ``commands`` inside the target at the record's deadline, harness or no harness; prove it runs."""
    try:
        res = target.run(arm_command(record, commands), timeout=_ALIVE_S * 2)
    except TargetError as e:
        raise InjectionFailed(f"deadman for fault {record.id} in {target.url} could not be armed: {e}") from e
    if not res.ok:
        detail = (res.stderr or res.stdout).strip()[-300:]
        said = f": {detail}" if detail else ""
        raise InjectionFailed(f"deadman for fault {record.id} in {target.url} is not running after arming "
                              f"(exit {res.rc}{said})")  # fmt: skip


def disarm_in_target(target: Target, record_id: str) -> None:
    """Stop every deadman of the fault in the target; raise TargetError if one is left."""
    pattern = shlex.quote(_pattern(record_id))
    log, marker = _files(record_id)
    target.run(f"pkill -f {pattern}; true", timeout=10)  # alone: a literal tag here would match this shell
    if target.run(f"pgrep -f {pattern}", timeout=10).ok:
        raise TargetError(f"{target.url}: deadman of fault {record_id} still running after pkill")
    target.run(f"rm -f {log} {marker}", timeout=10)


def fired_in_target(target: Target, record_id: str) -> bool:
    """Whether a deadman of the fault ran its revert in the target (its marker exists)."""
    return target.run(f"test -e {_files(record_id)[1]}", timeout=10).ok


# -- on this host ------------------------------------------------------------------------------------
def deadman_dir() -> Path:
    """``state_dir()/deadmen`` (0700): the host deadmen's logs and fire markers."""
    d = state_dir() / "deadmen"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_private(d)
    return d


def arm_on_host(record: FaultRecord, actions: list[dict[str, Any]]) -> None:
    """Run ``actions`` (see :mod:`hadrill.faults.hostdeadman`) on this host at the record's deadline.

    Waits until the deadman reports it is ready (it has reached the engine), else InjectionFailed.
    """
    d = deadman_dir()
    ready = d / f"{record.id}.{os.getpid()}.{time.monotonic_ns()}.ready"
    argv = [
        # the file, not ``-m``: the deadman needs only the Docker SDK, and starts faster without hadrill's imports
        sys.executable, str(Path(__file__).with_name("hostdeadman.py")), _tag(record.id),
        f"{record.deadline:.3f}", str(d), str(ready), json.dumps(actions),
    ]  # fmt: skip
    with (d / f"{record.id}.log").open("ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True
        )
    deadline = time.monotonic() + _ALIVE_S * 2  # a fresh interpreter importing the Docker SDK
    while time.monotonic() < deadline:
        if ready.exists():
            ready.unlink(missing_ok=True)
            return
        if proc.poll() is not None:
            break
        time.sleep(0.01)  # it is ready in a few hundredths of a second: the fault waits for this
    if proc.poll() is None:
        proc.kill()
    tail = (d / f"{record.id}.log").read_text(errors="replace")[-300:].strip()
    raise InjectionFailed(f"host deadman for fault {record.id} did not start: {tail or 'no output'}")


def _host_pids(record_id: str) -> list[int]:
    """Processes of this host whose argv holds the fault's deadman tag (this process excluded)."""
    tag = _tag(record_id).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if tag in argv:
            found.append(int(entry.name))
    return found


def disarm_for_containers(names: set[str]) -> list[int]:
    """Stop the host deadmen that would act on any container of ``names`` (their lab is being taken
    down: a lab of the same name brought up later must not receive an old fault's revert, as a swarm
    re-join from a killed test run did); their pids."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = [a for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if len(argv) < 3 or not argv[1].endswith(b"hostdeadman.py"):
            continue
        try:
            actions = json.loads(argv[-1])
        except ValueError:
            continue
        touched = {a.get("container") for a in actions if isinstance(a, dict)}
        touched |= {m.get("container") for a in actions if isinstance(a, dict) for m in a.get("lost") or []}
        if touched & names:
            found.append(int(entry.name))
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    return found


def disarm_on_host(record_id: str) -> None:
    """Stop every host deadman of the fault; raise TargetError if one survives."""
    pids = _host_pids(record_id)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        left = [p for p in pids if Path(f"/proc/{p}").exists() and _not_zombie(p)]
        if not left:
            return
        time.sleep(0.05)
    raise TargetError(f"host deadman(s) {left} of fault {record_id} still running after SIGTERM")


def _not_zombie(pid: int) -> bool:
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:3]
    except (OSError, IndexError):
        return False


def fired_on_host(record_id: str) -> bool:
    """Whether a host deadman of the fault ran its revert (its marker exists)."""
    return (state_dir() / "deadmen" / f"{record_id}.fired").exists()


class OnHostDeadman:
    """Mixin for faults whose deadman runs on the engine's host (the container's own revert would die
    with it): disarming and asking whether it fired go by the record's id alone. List it before Fault."""

    @classmethod
    def disarm(cls, record: FaultRecord) -> None:
        disarm_on_host(record.id)

    @classmethod
    def fired(cls, record: FaultRecord) -> bool:
        return fired_on_host(record.id)
