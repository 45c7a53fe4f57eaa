"""Open-loop background sampling of a service, recorded as a history of wall-clock samples.

Open loop matters: when a service freezes, requests hang until their timeout. A closed loop (one
call after the other) would send the first post-recovery request up to one timeout late, so the
measured outage would be wrong by far more than one interval. Here a scheduler thread fires a call
every ``interval`` seconds on a monotonic schedule into a bounded pool of workers, whatever the
previous calls are doing; a tick that finds every worker busy is recorded as a failed sample so
saturation shows in the results instead of silently thinning them.

Usage::

    with Sampler(probe, interval=0.1, timeout=1.0) as sampler:
        inject_fault()
        sampler.check_errors()   # surface probe bugs early (optional)
    samples = sampler.history.samples()

A probe raises :class:`~hadrill.errors.ProbeFailed` when the service failed: that is one failed
sample. Any other exception is a bug in the probe: it is recorded as a failed sample too, and
re-raised in the caller's thread by :meth:`Sampler.check_errors`, :meth:`Sampler.stop` and on
leaving the ``with`` block.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import queue
import threading
import time
from collections import deque
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from hadrill.errors import ProbeFailed
from hadrill.slo import Sample, good  # Sample re-exported: it lives beside the SLO maths that read it

__all__ = ["History", "Probe", "Sample", "Sampler"]

# By default a success slower than one sampling interval is not good (not availability). The
# threshold also bounds how early an outage can be seen to end: a request sent during an outage that
# answers within the threshold closes it, so the measured RTO is short by at most the threshold.
# bench/rto_accuracy.py (etcd frozen 1-5 s): at one interval (0.1 s) the RTO came out 0.02 s short
# (median); at 0.25 s, 0.21 s short - a false pass waiting to happen, so the strict default. The cost:
# a loaded host's slow writes (0.1-0.35 s) count against availability; an experiment that accepts
# that latency declares it (objective ``latency_threshold_s``), with its reason.
SKIPPED = "skipped: max in flight"
ABANDONED = "abandoned: still running when the sampler stopped"


@runtime_checkable
class Probe(Protocol):
    """One kind of operation against the service; called concurrently, so it must be thread-safe."""

    name: str

    def sample(self) -> dict[str, Any] | None:
        """Do one operation; return a detail (e.g. an acknowledged write's key) or None.

        Raise ``ProbeFailed`` when the service did not answer correctly.
        """
        ...


class History:
    """Thread-safe, bounded record of samples: a runaway run must not exhaust memory."""

    def __init__(
        self, name: str, *, max_samples: int = 200_000, interval: float | None = None, threshold: float | None = None
    ) -> None:
        if max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {max_samples}")
        self.name = name
        self.interval = interval
        self.threshold = threshold  # the probe's latency threshold: a slower success is not good
        self.max_samples = max_samples
        self.dropped = 0
        self._lock = threading.Lock()
        self._samples: deque[Sample] = deque(maxlen=max_samples)

    def append(self, sample: Sample) -> None:
        """Record a sample; beyond ``max_samples`` the oldest is dropped and counted."""
        with self._lock:
            if len(self._samples) == self.max_samples:
                self.dropped += 1
            self._samples.append(sample)

    def samples(self) -> list[Sample]:
        """A snapshot sorted by start (workers finish out of order; an outage is judged by start)."""
        with self._lock:
            snapshot = list(self._samples)
        return sorted(snapshot, key=lambda s: (s.start, s.end))

    def oks(self) -> list[Sample]:
        """Successful samples, sorted by start."""
        return [s for s in self.samples() if s.ok]

    def failures(self) -> list[Sample]:
        """Failed samples, sorted by start."""
        return [s for s in self.samples() if not s.ok]

    def __len__(self) -> int:
        with self._lock:
            return len(self._samples)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, for the journal."""
        return {
            "name": self.name,
            "interval": self.interval,
            "threshold": self.threshold,
            "max_samples": self.max_samples,
            "dropped": self.dropped,
            "samples": [s.to_dict() for s in self.samples()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`."""
        interval, threshold = data.get("interval"), data.get("threshold")
        history = cls(
            str(data["name"]),
            max_samples=int(data.get("max_samples", 200_000)),
            interval=float(interval) if interval is not None else None,
            threshold=float(threshold) if threshold is not None else None,
        )
        for item in data.get("samples", []):
            history.append(Sample.from_dict(item))
        history.dropped = int(data.get("dropped", 0))
        return history


class Sampler:
    """Calls ``probe.sample()`` every ``interval`` seconds in the background (open loop).

    ``timeout`` is the probe's own per-call timeout: the sampler cannot cancel a call, it only uses
    the timeout to size the worker pool and to bound how long :meth:`stop` waits. ``threshold`` is
    the latency above which a success is not good (default: one ``interval``, or the timeout if
    shorter); it is kept in the history. The sampler stops scheduling by itself after
    ``max_duration`` seconds or ``max_samples`` ticks.
    """

    def __init__(
        self,
        probe: Probe,
        *,
        interval: float = 0.1,
        timeout: float = 1.0,
        threshold: float | None = None,
        max_in_flight: int | None = None,
        max_duration: float = 600.0,
        max_samples: int = 200_000,
    ) -> None:
        if interval <= 0 or timeout <= 0 or max_duration <= 0:
            raise ValueError("interval, timeout and max_duration must be > 0")
        if max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {max_samples}")
        self.probe = probe
        self.interval = interval
        self.timeout = timeout
        if threshold is None:  # a state probe (its answer is the state, not a client's request) declares None
            threshold = getattr(probe, "latency_threshold", min(timeout, interval))
        self.threshold = threshold
        self.max_in_flight = max_in_flight if max_in_flight is not None else math.ceil(timeout / interval) + 2
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {self.max_in_flight}")
        self.max_duration = max_duration
        self.max_samples = max_samples
        self.missed_ticks = 0  # ticks the scheduler itself was too late for (harness, not service)
        self._history = History(probe.name, max_samples=max_samples, interval=interval, threshold=self.threshold)
        self._max_ticks = min(max_samples, math.floor(max_duration / interval) + 1)
        self._cond = threading.Condition()
        self._in_flight: dict[int, float] = {}  # job id -> wall-clock start
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._stop_when_good = threading.Event()  # stop_when_good() asked: the scheduler stops on a good end
        self._stopped_good = threading.Event()
        self._jobs: queue.Queue[int | None] = queue.Queue()
        self._ids = itertools.count()
        self._threads: list[threading.Thread] = []
        self._scheduler: threading.Thread | None = None

    @property
    def history(self) -> History:
        """The live history (a snapshot via ``history.samples()`` is safe while running)."""
        return self._history

    @property
    def error(self) -> BaseException | None:
        """The first unexpected exception a probe raised, if any."""
        with self._cond:
            return self._error

    @property
    def running(self) -> bool:
        """Whether the scheduler is still firing ticks."""
        return self._scheduler is not None and self._scheduler.is_alive()

    def start(self) -> Sampler:
        """Start the workers and the scheduler; a sampler runs once."""
        if self._scheduler is not None:
            raise RuntimeError(f"sampler for probe {self.probe.name!r} was already started")
        for index in range(self.max_in_flight):
            worker = threading.Thread(target=self._work, name=f"hadrill-{self.probe.name}-w{index}", daemon=True)
            worker.start()
            self._threads.append(worker)
        self._scheduler = threading.Thread(target=self._schedule, name=f"hadrill-{self.probe.name}-tick", daemon=True)
        self._scheduler.start()
        return self

    def stop(self, timeout: float | None = None) -> History:
        """Stop scheduling, wait up to ``timeout`` (default: probe timeout + 1 s) for calls in flight.

        Calls still running after that are recorded as failed ("abandoned") samples ending now, and
        their late results are ignored, so the returned history no longer changes.
        """
        wait = self.timeout + 1.0 if timeout is None else timeout
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.join(self.interval + 1.0)
        for _ in self._threads:
            self._jobs.put(None)
        with self._cond:
            self._cond.wait_for(lambda: not self._in_flight, timeout=wait)
            now = time.time()
            for start in self._in_flight.values():
                self._history.append(Sample(start=start, end=now, ok=False, error=ABANDONED))
            self._in_flight.clear()
        self.check_errors()
        return self._history

    def stop_when_good(self, bound_s: float) -> bool:
        """Stop scheduling at the first tick with no call in flight and the latest-started sample good
        (within the threshold), waiting at most ``bound_s``; True if it did. Then no sample can follow
        that good one: after a plain :meth:`stop`, calls still in flight complete and are recorded, and
        on a loaded host those late, slow ones would end the history as an outage that never closed.
        Call :meth:`stop` afterwards either way."""
        self._stop_when_good.set()
        return self._stopped_good.wait(max(0.0, bound_s))

    def _ends_good(self) -> bool:
        """The latest-started sample is good (the judge orders samples by start); caller holds the lock."""
        samples = self._history.samples()
        return bool(samples) and good(max(samples, key=lambda x: (x.start, x.end)), self.threshold)

    def check_errors(self) -> None:
        """Re-raise, in the caller's thread, the first unexpected exception a probe raised."""
        error = self.error
        if error is not None:
            raise error

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.stop()
            return
        with contextlib.suppress(Exception):  # an exception is on its way: do not mask it
            self.stop()

    def _schedule(self) -> None:
        """Fire ticks on a monotonic schedule t0 + i*interval, never waiting for calls to finish."""
        t0 = time.monotonic()
        deadline = t0 + self.max_duration
        tick = 0
        try:
            for _ in range(self._max_ticks):
                delay = t0 + tick * self.interval - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                now = time.monotonic()
                if self._stop.is_set() or now > deadline:
                    break
                behind = math.floor((now - t0) / self.interval) - tick
                if behind > 0:  # this thread was starved: skip ahead rather than burst
                    self.missed_ticks += behind
                    tick += behind
                self._fire()
                tick += 1
        except Exception as e:  # a bug in hadrill itself: surface it like a probe bug
            self._record_error(e)
        finally:
            for _ in self._threads:
                self._jobs.put(None)

    def _fire(self) -> None:
        with self._cond:
            if self._stop_when_good.is_set() and not self._in_flight and self._ends_good():
                self._stopped_good.set()
                self._stop.set()  # the scheduler's next wait returns at once: no tick after this one
                return
            if len(self._in_flight) >= self.max_in_flight:
                now = time.time()
                self._history.append(Sample(start=now, end=now, ok=False, error=SKIPPED))
                return
            job = next(self._ids)
            self._in_flight[job] = time.time()
        self._jobs.put(job)

    def _work(self) -> None:
        """Run queued calls until a sentinel; bounded by tick count and by the sampler's lifetime."""
        deadline = time.monotonic() + self.max_duration + self.timeout + 5.0
        for _ in range(self._max_ticks + 1):
            try:
                job = self._jobs.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return
            if job is None:
                return
            self._call(job)

    def _call(self, job: int) -> None:
        start = time.time()
        with self._cond:
            if job in self._in_flight:
                self._in_flight[job] = start
        detail: dict[str, Any] | None = None
        error: str | None = None
        try:
            detail = self.probe.sample()
        except ProbeFailed as e:
            error = str(e) or type(e).__name__
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
            self._record_error(e)
        end = time.time()
        with self._cond:
            if job in self._in_flight:  # else stop() already recorded it as abandoned
                del self._in_flight[job]
                self._history.append(Sample(start=start, end=end, ok=error is None, error=error, detail=detail))
            self._cond.notify_all()

    def _record_error(self, error: Exception) -> None:
        with self._cond:
            if self._error is None:
                error.add_note(f"raised by probe {self.probe.name!r} in a hadrill sampler thread")
                self._error = error
