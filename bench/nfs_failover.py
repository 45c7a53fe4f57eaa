"""NFS failover behind a keepalived VIP: the longest gap between acknowledged writes, per advert interval.

Run::

    .venv/bin/python bench/nfs_failover.py [--runs 3] [--adverts 1,0.2] [--mode kill] [--interval 0.05] [--keep]

For each VRRP advertisement interval, brings up a lab named ``bench-nfs`` (owner ``bench``; taken down
and brought up again with the next interval, since the interval is part of the lab's configuration)
with two nfs-ganesha servers behind a VIP and a client. Each run starts the NFS write probe on the
client (one COMMITted file through the VIP every ``--interval`` s, libnfs in userspace), lets it
write for a few seconds, then fails the server holding the VIP (``hadrill.faults.vip.FailVip``,
``--mode``, through the ledger and a deadman like any fault), waits for the VIP to move, writes on
the new holder, reverts (the failed server rejoins as BACKUP), stops the probe and reads every
acknowledged file back through the VIP.

Printed per interval: the failover gap (``slo.max_outage``: from the last acknowledged write before
the failure to the first one after it) as median/min/max, the time the VIP took to move (from the
injection to the moment the other server was seen holding it), failed samples, and acknowledged writes
lost (missing or with the wrong content when read back).

Exit status: 0 when every run lost no acknowledged write, 1 otherwise, 2 on a bad option, 3 when the
lab or the engine fails. The lab is taken down at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from typing import cast

from hadrill import slo
from hadrill.errors import HadrillError
from hadrill.faults.base import injected
from hadrill.faults.vip import MODES, Mode, fail_vip
from hadrill.inventory import Inventory
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import NfsPart, default_lab_file
from hadrill.probes.nfs import acked_files, nfs_read_back, nfs_write_probe
from hadrill.recovery.nfs import rejoined_as_backup

LAB_NAME = "bench-nfs"
OWNER = "bench"
MAX_RUNS = 10
STEADY_S = 3.0  # writes before the failure
AFTER_S = 3.0  # writes on the new holder before the revert
PROBE_S = 60.0  # the probe's own bound (a run takes ~15 s)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Result:
    advert: float
    gap: float | None
    vip_moved: float
    failed: int
    acked: int
    lost: int


def one_run(inv: Inventory, advert: float, mode: Mode, interval: float) -> Result:
    c = inv.cluster("nfs")
    probe = nfs_write_probe(inv, "nfs", interval=interval, duration=PROBE_S).start()
    try:
        time.sleep(STEADY_S)
        fault = fail_vip(inv, c, mode=mode, time_limit=60)
        with injected(fault) as record:
            moved = float(record.params["vip_moved_at"]) - float(record.params["injected_at"])
            time.sleep(AFTER_S)
        back = rejoined_as_backup(inv, c, fault.members[0], 30.0)
        if not back.ok:
            log(f"  warning: {back.detail}")
        time.sleep(1.0)
    finally:
        history = probe.stop()
    samples = history.samples()
    worst = slo.max_outage(samples, interval=interval)
    acked = acked_files([s.detail for s in history.oks() if s.detail])
    present = nfs_read_back(inv, "nfs", acked)
    lost = slo.acked_writes_lost(acked, present)
    return Result(advert, worst.duration if worst else None, moved, len(history.failures()), len(acked), len(lost))


def fmt(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def run(runs: int, adverts: list[float], mode: Mode, interval: float, keep: bool) -> int:
    results: list[Result] = []
    lab: Lab | None = None
    try:
        for advert in adverts:
            spec = default_lab_file().model_copy(
                update={
                    "name": LAB_NAME,
                    "etcd": None,
                    "nfs": NfsPart(advert_int=advert),
                    "gluster": None,
                    "kubernetes": None,
                }
            )
            lab = Lab(spec, owner=OWNER)
            lab.down()  # another interval is another configuration
            t0 = time.monotonic()
            inv = lab.up()
            log(f"advert_int {advert:g} s: lab up in {time.monotonic() - t0:.1f} s")
            for i in range(runs):
                r = one_run(inv, advert, mode, interval)
                results.append(r)
                gap = f"{r.gap:.2f} s" if r.gap is not None else "none"
                log(
                    f"  run {i + 1}/{runs}: gap {gap}, VIP moved in {r.vip_moved:.2f} s, "
                    f"{r.failed} failed samples, {r.acked} acked, {r.lost} lost"
                )
    finally:
        if lab is not None and not keep:
            lab.down()
    print(f"NFS failover ({mode} of the VIP holder), probe every {interval * 1000:.0f} ms, {runs} run(s) each")
    print(f"{'advert_int':>10}  {'failover gap (median, min, max)':<38}  {'VIP moved (median)':<18}  acked  lost")
    for advert in adverts:
        mine = [r for r in results if r.advert == advert]
        gaps = [r.gap for r in mine if r.gap is not None]
        moved = statistics.median([r.vip_moved for r in mine]) if mine else float("nan")
        print(
            f"{advert:>9g}s  {fmt(gaps):<38}  {moved:>16.2f} s  {sum(r.acked for r in mine):>5}  "
            f"{sum(r.lost for r in mine):>4}"
        )
    return 0 if all(r.lost == 0 for r in results) else 1


def adverts_arg(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError("comma-separated seconds, e.g. 1,0.2") from e
    if not values or not all(0.01 <= v <= 40.95 for v in values):
        raise argparse.ArgumentTypeError("advert intervals between 0.01 and 40.95 s")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help=f"failovers per advert interval (1..{MAX_RUNS})")
    parser.add_argument("--adverts", type=adverts_arg, default=[1.0, 0.2], help="VRRP advert intervals: 1,0.2")
    parser.add_argument("--mode", choices=MODES, default="kill", help="how the VIP holder fails (default kill)")
    parser.add_argument("--interval", type=float, default=0.05, help="probe interval in seconds (default 0.05)")
    parser.add_argument("--keep", action="store_true", help=f"leave {LAB_NAME} up at the end")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= MAX_RUNS:
        parser.error(f"--runs must be between 1 and {MAX_RUNS}")
    if not 0.01 <= args.interval <= 1.0:
        parser.error("--interval must be between 0.01 and 1 s")
    try:
        return run(args.runs, args.adverts, cast(Mode, args.mode), args.interval, args.keep)
    except HadrillError as e:
        log(f"error: {e}")
        return 3


if __name__ == "__main__":
    sys.exit(main())
