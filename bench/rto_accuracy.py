"""How accurately hadrill measures an outage (RTO): known, controlled outages against the measurement.

Run::

    .venv/bin/python bench/rto_accuracy.py [--interval 0.1] [--durations 1,2,5] [--repeat 2] [--keep]

Brings up (or reuses) a lab named ``bench-rto`` (owner ``bench``), samples it with an
:class:`~hadrill.probes.etcd.EtcdWriteProbe` in the background, and for each duration freezes ALL
etcd members at once (``docker pause`` of the three containers, sleep, ``docker unpause``): an
outage whose true length is known. The true window is recorded with ``time.time()`` around the
pause and unpause calls (the same clock as the samples); the true outage runs from the midpoint of
the pause calls to the midpoint of the unpause calls, give or take half their spread.

The number measured is exactly the one a verdict reports: ``slo.check_max_outage`` (the function
``Run.evaluate`` calls) over the samples sent around each window (from half a steady period before
the freeze to half one after the thaw), with the sampler's latency threshold. Per window and per
case the script prints the true outage, the measured RTO, the error (measured - true), the error in
probe intervals, and whether |error| <= one interval.

Two cases sample side by side:

- ``fail-fast``: the write probe times out after 1 s (a frozen etcd makes requests fail);
- ``hung``: the write probe waits up to 10 s, so requests sent during the freeze hang and succeed
  late, after the thaw. Only the latency threshold (1 s: a slow success is not availability) makes
  them bad; judged by their end (their late acknowledgement) they would hide the outage.

The measured outage runs from the start of the first bad request to the start of the next good one
(``early_s``: how long before the true start it begins; ``late_s``: how long after the true end it
ends), so it is expected to differ from the true one by up to about one interval, plus whatever etcd
itself needs after a thaw (a freeze longer than the election timeout may cost an election): the
error is the measurement's and the service's together.

Exit status: 0 when every window was measured within one interval, 1 otherwise, 2 on a bad option,
3 when the lab or the engine fails. The lab is taken down at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import docker
from docker.errors import DockerException
from docker.models.containers import Container

from hadrill import slo
from hadrill.clients.etcd import EtcdClient
from hadrill.errors import HadrillError, TargetError
from hadrill.inventory import Inventory
from hadrill.lab.engine import docker_client
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import default_lab_file
from hadrill.probes.etcd import EtcdWriteProbe
from hadrill.probes.sampler import Sample, Sampler

LAB_NAME = os.environ.get("HADRILL_BENCH_LAB", "bench-rto")  # another name when labs are shared
OWNER = "bench"
STEADY_S = 3.0
MAX_DURATION_S = 30.0
MAX_REPEAT = 10
HEALTHY_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 1.0
HUNG_TIMEOUT_S = 10.0  # the hung case: requests wait this long, judged against the latency threshold


_ETCD_ONLY = {"nfs": None, "gluster": None, "kubernetes": None}  # this bench needs etcd alone


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Window:
    """One controlled outage: when the pause and unpause calls were issued and returned (time.time)."""

    repeat: int
    duration: float
    pause_sent: float
    pause_done: float
    unpause_sent: float
    unpause_done: float

    @property
    def start(self) -> float:
        return (self.pause_sent + self.pause_done) / 2

    @property
    def end(self) -> float:
        return (self.unpause_sent + self.unpause_done) / 2

    @property
    def true(self) -> float:
        return self.end - self.start

    @property
    def uncertainty(self) -> float:
        """Half the spread of the calls at each end: the true window's own error bar."""
        return ((self.pause_done - self.pause_sent) + (self.unpause_done - self.unpause_sent)) / 2


def containers(client: docker.DockerClient, inv: Inventory) -> list[Container]:
    names = [inv.member_node(inv.cluster("etcd"), m.name).url.split("://", 1)[1] for m in inv.cluster("etcd").members]
    return [client.containers.get(n) for n in names]


def all_at_once(pool: ThreadPoolExecutor, verb: str, ctrs: list[Container]) -> None:
    """Pause or unpause every container concurrently; re-raise the first failure."""
    for future in [pool.submit(getattr(c, verb)) for c in ctrs]:
        future.result(timeout=60)


def unhealthy(inv: Inventory) -> str | None:
    leaders = set()
    for m in inv.cluster("etcd").members:
        try:
            leaders.add(EtcdClient(m.endpoints["client"], timeout=1.0).status().leader)
        except TargetError as e:
            return f"{m.name}: {e}"
    return None if len(leaders) == 1 and "0" not in leaders else f"leaders {sorted(leaders)}"


def wait_healthy(inv: Inventory, timeout: float = HEALTHY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    problem: str | None = "not checked"
    for _ in range(int(timeout / 0.2) + 1):
        problem = unhealthy(inv)
        if problem is None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if problem is not None:
        raise HadrillError(f"lab {LAB_NAME} not healthy after {timeout:.0f} s: {problem}")


def measured_for(window: Window, samples: list[Sample], interval: float, threshold: float | None) -> slo.Outage | None:
    """The RTO a verdict would report for the samples sent around the window, as its outage."""
    around = [s for s in samples if window.pause_sent - STEADY_S / 2 <= s.start < window.unpause_done + STEADY_S / 2]
    verdict = slo.check_max_outage(around, 3600.0, interval=interval, threshold=threshold)
    if verdict.measured is None or verdict.measured == 0.0:
        return None
    found = slo.outages(around, interval=interval, threshold=threshold)
    worst = max(found, key=lambda o: o.duration)
    assert worst.duration == verdict.measured  # the same number the verdict reports
    return worst


def run(interval: float, durations: list[float], repeat: int, keep: bool, threshold: float | None = None) -> int:
    client = docker_client()
    lab = Lab(default_lab_file().with_name(LAB_NAME).model_copy(update=_ETCD_ONLY), owner=OWNER, client=client)
    windows: list[Window] = []
    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="bench-pause")
    sampler: Sampler | None = None
    hung_sampler: Sampler | None = None
    try:
        log(f"lab {LAB_NAME}: {'reusing' if lab.exists() else 'bringing up'}")
        inv = lab.up()
        ctrs = containers(client, inv)
        wait_healthy(inv)
        endpoints = [m.endpoints["client"] for m in inv.cluster("etcd").members]
        probe = EtcdWriteProbe(endpoints, prefix=f"/hadrill/bench/rto/{uuid.uuid4().hex[:8]}", timeout=PROBE_TIMEOUT_S)
        planned = repeat * (sum(durations) + STEADY_S * len(durations)) + STEADY_S
        sampler = Sampler(
            probe, interval=interval, timeout=PROBE_TIMEOUT_S, threshold=threshold, max_duration=planned + 120.0
        ).start()
        hung = EtcdWriteProbe(endpoints, prefix=f"/hadrill/bench/hung/{uuid.uuid4().hex[:8]}", timeout=HUNG_TIMEOUT_S)
        hung.name = "etcd-write-hung"
        hung_sampler = Sampler(
            hung, interval=interval, timeout=HUNG_TIMEOUT_S, threshold=sampler.threshold, max_duration=planned + 120.0
        ).start()
        for r in range(1, repeat + 1):
            for d in durations:
                time.sleep(STEADY_S)
                try:
                    sent = time.time()
                    all_at_once(pool, "pause", ctrs)
                    done = time.time()
                    time.sleep(d)
                finally:
                    unsent = time.time()
                    all_at_once(pool, "unpause", ctrs)
                    undone = time.time()
                w = Window(r, d, sent, done, unsent, undone)
                windows.append(w)
                log(f"repeat {r}: paused {d:g} s (true {w.true:.3f} s +/- {w.uncertainty:.3f})")
        time.sleep(STEADY_S)
        history = sampler.stop()
        sampler = None
        hung_history = hung_sampler.stop()
        hung_sampler = None
        wait_healthy(inv)
        acked = [str(s.detail["key"]) for s in history.oks() if s.detail]
        lost = slo.acked_writes_lost(acked, probe.read_back())
    except (HadrillError, DockerException) as e:
        log(f"error: {e}")
        return 3
    finally:
        for left in (sampler, hung_sampler):
            if left is not None:
                left.stop()
        try:  # never leave the lab frozen, whatever happened
            for c in containers(client, lab.inventory()):
                c.reload()
                if c.status == "paused":
                    c.unpause()
        except Exception as e:
            log(f"warning: could not check the containers are unpaused: {e}")
        pool.shutdown(wait=True)
        if not keep:
            try:
                lab.down()
            except Exception as e:
                log(f"warning: could not take {LAB_NAME} down: {e} (hadrill lab prune --owner {OWNER})")

    cases = [
        ("fail-fast", history.samples(), f"timeout {PROBE_TIMEOUT_S:g} s", history.threshold),
        ("hung", hung_history.samples(), f"timeout {HUNG_TIMEOUT_S:g} s", hung_history.threshold),
    ]
    print(f"lab {LAB_NAME}: etcd x3 frozen at once (docker pause), write probes every {interval * 1000:.0f} ms")
    print(f"{len(acked)} acknowledged writes (fail-fast probe), {len(lost)} lost")
    print("measured = slo.check_max_outage(...).measured, the number a verdict reports")
    for name, samples, how, threshold in cases:
        print(f"case {name} ({how}, good within {threshold} s, as the product judges): {len(samples)} samples")
    header = (
        f"{'case':>9} {'rep':>3} {'pause_s':>7} {'true_s':>8} {'+/-':>6} {'measured_s':>10} {'error_s':>8} "
        f"{'err/int':>7} {'early_s':>7} {'late_s':>7}  within 1 interval"
    )
    print(header)
    errors: dict[str, list[float]] = {name: [] for name, *_ in cases}
    all_within = True
    for name, samples, _, threshold in cases:
        for w in windows:
            outage = measured_for(w, samples, interval, threshold)
            if outage is None:
                print(f"{name:>9} {w.repeat:>3} {w.duration:>7g} {w.true:>8.3f} {w.uncertainty:>6.3f} {'none':>10}")
                all_within = False
                continue
            error = outage.duration - w.true
            errors[name].append(error)
            within = abs(error) <= interval
            all_within &= within
            print(
                f"{name:>9} {w.repeat:>3} {w.duration:>7g} {w.true:>8.3f} {w.uncertainty:>6.3f} "
                f"{outage.duration:>10.3f} {error:>+8.3f} {error / interval:>+7.2f} {w.start - outage.start:>+7.3f} "
                f"{outage.end - w.end:>+7.3f}  {'yes' if within else 'NO'}"
            )
    for name, found in errors.items():
        if found:
            print(
                f"{name}: error median {statistics.median(found):+.3f} s, min {min(found):+.3f} s, "
                f"max {max(found):+.3f} s; within one interval ({interval:g} s): "
                f"{sum(1 for e in found if abs(e) <= interval)}/{len(windows)}"
            )
    return 0 if all_within else 1


def durations_arg(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"comma-separated seconds, such as 1,2,5: {text!r}") from None
    if not values or any(not (0 < v <= MAX_DURATION_S) or not math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"each duration must be in (0, {MAX_DURATION_S:g}] s: {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--interval", type=float, default=0.1, help="probe interval in seconds (default 0.1)")
    parser.add_argument("--durations", type=durations_arg, default=[1.0, 2.0, 5.0], help="pause lengths: 1,2,5")
    parser.add_argument("--repeat", type=int, default=2, help=f"times to repeat every duration (1..{MAX_REPEAT})")
    parser.add_argument("--keep", action="store_true", help=f"leave {LAB_NAME} up at the end")
    parser.add_argument(
        "--threshold", type=float, default=None, help="latency threshold in seconds (default: the product's)"
    )
    args = parser.parse_args(argv)
    if not 0.01 <= args.interval <= 2.0:
        parser.error("--interval must be between 0.01 and 2 s")
    if not 1 <= args.repeat <= MAX_REPEAT:
        parser.error(f"--repeat must be between 1 and {MAX_REPEAT}")
    try:
        return run(args.interval, args.durations, args.repeat, args.keep, args.threshold)
    except HadrillError as e:  # no engine
        log(f"error: {e}")
        return 3


if __name__ == "__main__":
    sys.exit(main())
