"""Gluster figures: the write stall when a brick dies or a node freezes, and how long a heal takes.

Run::

    .venv/bin/python bench/gluster_figures.py [--runs 3] [--files 200] [--interval 0.02] [--keep]

Brings up (or reuses) a lab named ``bench-gl`` (owner ``bench``; Gluster only, replica 3,
``network.ping-timeout`` 5 s) and, N times:

* brick-kill stall: the client writes one fsync'd 8 KiB file every ``--interval`` seconds while one
  brick process is ``kill -9``'d for 5 s; the figure is the longest gap between two consecutive
  acknowledged writes (``end`` times) over the run;
* pause stall: the same with the server's container frozen (``docker pause``) for 2 x ping-timeout
  + 3 s: clients give up on a frozen brick only after ``network.ping-timeout``;
* heal time: a server is frozen, ``--files`` files are written through the mount, the server is
  unfrozen (the revert waits for the brick and launches the index heal) and the time from the
  unpause until ``heal-count`` is 0 is measured, with the heal rate;
* acked lost: after each stall run, acknowledged files missing or wrong through the mount, and
  acknowledged file copies missing or wrong on any brick.

Faults go through hadrill (ledger, deadman, revert) with a ledger of the bench's own
(``HADRILL_STATE_DIR`` is set to a temporary directory unless given). Exit status: 0 when no
acknowledged write was lost, 1 otherwise, 2 on a bad option, 3 when the lab fails. The lab is taken
down at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from importlib import resources

from hadrill.clients.targets import target
from hadrill.errors import HadrillError
from hadrill.faults.base import injected, recover
from hadrill.faults.gluster import Mode, stop_brick
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data
from hadrill.probes import gluster

LAB_NAME = "bench-gl"
OWNER = "bench"
MAX_RUNS = 20
KILL_DOWN_S = 5.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Stall:
    longest_gap_s: float
    acked: int
    errors: int
    lost_mount: int
    lost_bricks: int


def _longest_gap(ends: list[float]) -> float:
    return max((b - a for a, b in itertools.pairwise(sorted(ends))), default=0.0)


def stall_run(inv: Inventory, mode: Mode, down_s: float, interval: float) -> Stall:
    """Write through the mount while one server's brick is taken away by ``mode`` for ``down_s``."""
    c = inv.cluster("gluster")
    victim = random.choice(c.members).name
    probe = gluster.gluster_write_probe(inv, interval=interval, duration=down_s + 60).start()
    try:
        time.sleep(2.0)
        with injected(stop_brick(inv, c, [victim], mode=mode, time_limit=down_s + 60)):
            time.sleep(down_s)
        time.sleep(3.0)
    finally:
        history = probe.stop()
    acked = gluster.acked_files(history)
    gluster.wait_heal(inv, "gluster", 120)  # copies on the returned brick come from the heal
    lost_mount = len(set(acked) - gluster.read_through_mount(inv, "gluster", acked))
    lost_bricks = sum(len(v) for v in gluster.verify_on_every_brick(inv, "gluster", acked).values())
    return Stall(
        _longest_gap([s.end for s in history.oks()]), len(acked), len(history.failures()), lost_mount, lost_bricks
    )


def heal_run(inv: Inventory, files: int) -> tuple[float, float, int]:
    """Seconds from the unpause (the revert's start) until nothing is pending heal, seconds the revert
    took (brick back online, heal launched), and files written."""
    c = inv.cluster("gluster")
    mount = str(c.settings["mount"])
    client = target(inv.node(str(c.settings["client"])).url)
    script = resources.files("hadrill.probes.scripts").joinpath("fs_writer.py").read_text(encoding="utf-8")
    client.put_file(gluster.SCRIPT, script, mode="0755")
    folder = f"{mount}/{gluster.PROBE_DIR}/heal-{uuid.uuid4().hex[:8]}"
    write = (
        f"python3 {gluster.SCRIPT} --dir {shlex.quote(folder)} --root {shlex.quote(mount)} --max {files} "
        f"--interval 0.001 --duration 300 --op-timeout 30 | grep -c '\"ok\": true'"
    )
    victim = random.choice(c.members).name
    with injected(stop_brick(inv, c, [victim], mode="pause-node", time_limit=400)):
        written = int(client.check(write, timeout=330).strip() or 0)
        if written < files:
            log(f"  only {written} of {files} files written during the pause")
        since = time.time()  # the revert (unpause, brick back, heal launched) starts now
    reverted = time.time() - since
    verdict = gluster.wait_heal(inv, "gluster", 300, since=since, limit=300)
    if verdict.measured is None:
        raise RuntimeError(verdict.detail)
    return verdict.measured, reverted, written


def _summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"median {statistics.median(values):.2f} s, min {min(values):.2f} s, max {max(values):.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help=f"repetitions of every figure (1..{MAX_RUNS})")
    parser.add_argument("--files", type=int, default=200, help="files to heal after a node pause (1..5000)")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between writes in the stall runs")
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= MAX_RUNS or not 1 <= args.files <= 5000 or not 0.005 <= args.interval <= 1.0:
        parser.error(f"--runs 1..{MAX_RUNS}, --files 1..5000, --interval 0.005..1.0")
    os.environ.setdefault("HADRILL_STATE_DIR", tempfile.mkdtemp(prefix="hadrill-bench-gl-"))
    spec = parse_lab_data({"name": LAB_NAME, "etcd": None, "gluster": {"volume": "gv0", "ping_timeout": 5}}, "<bench>")
    lab = Lab(spec, owner=OWNER)
    kills: list[Stall] = []
    pauses: list[Stall] = []
    heals: list[tuple[float, float, int]] = []
    try:
        started = time.monotonic()
        lab.up()
        log(f"lab {LAB_NAME} up in {time.monotonic() - started:.1f} s")
        inv = load_inventory(lab.inventory_path)
        ping = float(inv.cluster("gluster").settings["ping_timeout"])
        for run in range(1, args.runs + 1):
            kills.append(stall_run(inv, "kill-brick", KILL_DOWN_S, args.interval))
            log(f"run {run}: brick kill: {kills[-1]}")
            pauses.append(stall_run(inv, "pause-node", 2 * ping + 3, args.interval))
            log(f"run {run}: node pause: {pauses[-1]}")
            heals.append(heal_run(inv, args.files))
            log(f"run {run}: heal of {heals[-1][2]} files: {heals[-1][0]:.2f} s (revert {heals[-1][1]:.2f} s)")
    except HadrillError as e:
        log(f"failed: {e}")
        return 3
    finally:
        for record, outcome in recover(include_live=True):
            log(f"left open: {record.id} ({record.description}): {outcome}")
        if not args.keep:
            lab.down()

    stalls = kills + pauses
    lost = sum(s.lost_mount + s.lost_bricks for s in stalls)
    print(f"gluster figures over {args.runs} run(s), one fsync'd 8 KiB file every {args.interval * 1000:.0f} ms")
    kill_gaps, pause_gaps = [s.longest_gap_s for s in kills], [s.longest_gap_s for s in pauses]
    print(f"  brick kill -9 ({KILL_DOWN_S:.0f} s down), longest gap between acks: {_summary(kill_gaps)}")
    print(f"  node pause (ping-timeout {ping:.0f} s), longest gap between acks: {_summary(pause_gaps)}")
    rates = [n / (t - r) for t, r, n in heals if t > r]
    print(f"  heal of {args.files} files after a node pause, from the unpause: {_summary([t for t, _, _ in heals])}")
    print(
        f"    of which the revert (brick back online, heal launched): {_summary([r for _, r, _ in heals])}"
        + (f"; then {statistics.median(rates):.0f} files/s" if rates else "")
    )
    print(
        f"  write errors: {sum(s.errors for s in stalls)} of {sum(s.acked + s.errors for s in stalls)} attempts; "
        f"acked lost: {sum(s.lost_mount for s in stalls)} through the mount, "
        f"{sum(s.lost_bricks for s in stalls)} copies on bricks, of {sum(s.acked for s in stalls)} acknowledged"
    )
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
