"""Service-level measurements over recorded samples, and the verdicts reports are built from.

Definitions (the contract reports rely on; the README repeats them):

- A sample is *good* when it succeeded within the probe's latency threshold (``threshold``, in
  seconds; None means no threshold): a slow success is not availability. Every other sample is *bad*
  (failed, timed out, skipped because every worker was busy, or abandoned still running at the end).
- Samples are ordered by their **start** (when the request was sent), never by when they answered:
  a request that started before an outage and succeeded late says nothing about the service after it
  started, so a late acknowledgement never splits an outage.
- An *outage* runs from the start of the first bad request to the start of the next good request
  that started after it. ``failed`` counts the bad samples started in it.
- With an ``interval``, a silence longer than ``tolerance * interval`` between two consecutive
  sample starts (nothing sampled at all) is an outage too, from the earlier start to the later one:
  nothing shows the service was up.
- An outage with no good request after it is *open* (``ongoing=True``): the service was not
  recovered while measured. Its duration is a lower bound: from its start to the start of the last
  request sampled (every one of them bad). An open outage FAILS the RTO objective whatever its
  duration, and is named in the verdict even when it is not the longest.
- The measured RTO is the duration of the longest outage.
- Availability is good samples / samples started in a window. The objective is judged over the fault
  window plus a declared recovery window (from the injection to ``recovery_window_s`` after the
  revert started); the whole-run ratio is reported beside it, as information only. No sample in the
  window is a failure ("not measured"), never 100 %.
- Time to steady state is measured from the start of the revert to the start of the first run of
  ``consecutive`` good samples, all started at or after that instant.
- The measured RPO is the number of acknowledged writes missing when read back after the heal. It
  is only a measurement when at least one write was acknowledged before the fault and at least one
  after the heal (a write that started after the revert ended); otherwise it is "not measured".
- Every objective asked for yields a verdict. "Not measured" is a failing verdict (``measured`` is
  None) whose detail says why.

Measurement functions are pure; ``check_*`` wrap them into :class:`Verdict` objects with a sentence
an operator can read, and :func:`assert_verdicts` turns failing verdicts into one pytest assertion.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "Outage",
    "Sample",
    "Verdict",
    "acked_writes_lost",
    "assert_verdicts",
    "availability",
    "check_acked_writes_lost",
    "check_availability",
    "check_max_outage",
    "check_steady_state",
    "good",
    "max_outage",
    "not_measured",
    "outages",
    "time_to_steady_state",
    "writes_around",
]


@dataclass(frozen=True)
class Sample:
    """One call to a probe; times are wall clock (``time.time()``) so reports can line them up."""

    start: float
    end: float
    ok: bool
    error: str | None = None
    detail: dict[str, Any] | None = None

    @property
    def latency(self) -> float:
        """Seconds the call took."""
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, for the journal."""
        return {"start": self.start, "end": self.end, "ok": self.ok, "error": self.error, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        """Inverse of :meth:`to_dict`."""
        detail = data.get("detail")
        return cls(
            start=float(data["start"]),
            end=float(data["end"]),
            ok=bool(data["ok"]),
            error=data.get("error"),
            detail=dict(detail) if detail is not None else None,
        )


_SHOWN_KEYS = 5


@dataclass(frozen=True)
class Outage:
    """A period without a good request; wall-clock seconds (see the module docstring)."""

    start: float
    end: float
    failed: int
    ongoing: bool = False

    @property
    def duration(self) -> float:
        """Seconds from the first bad start to the next good start: a lower bound when ``ongoing``."""
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, for the journal."""
        return asdict(self)


def good(sample: Sample, threshold: float | None = None) -> bool:
    """Succeeded, and within ``threshold`` seconds when one is given."""
    return sample.ok and (threshold is None or sample.latency <= threshold)


def _by_start(samples: Iterable[Sample]) -> list[Sample]:
    return sorted(samples, key=lambda s: (s.start, s.end))


def outages(
    samples: Iterable[Sample],
    *,
    interval: float | None = None,
    tolerance: float = 3.0,
    threshold: float | None = None,
) -> list[Outage]:
    """Every outage in the samples, sorted by start and never overlapping (see module docstring).

    >>> from hadrill.probes.sampler import Sample
    >>> late = Sample(0.0, 3.0, True)  # sent before the outage, answered late
    >>> [o.duration for o in outages([late, Sample(0.5, 0.6, False), Sample(2.0, 2.1, False), Sample(3.5, 3.6, True)])]
    [3.0]
    """
    ordered = _by_start(samples)
    limit = None if interval is None else tolerance * interval
    found: list[Outage] = []
    opened: float | None = None
    failed = 0
    previous: float | None = None
    for s in ordered:
        if opened is None and limit is not None and previous is not None and s.start - previous > limit:
            if good(s, threshold):
                found.append(Outage(previous, s.start, 0))
            else:
                opened, failed = previous, 0
        if not good(s, threshold):
            if opened is None:
                opened, failed = s.start, 0
            failed += 1
        elif opened is not None and s.start > opened:
            found.append(Outage(opened, s.start, failed))
            opened, failed = None, 0
        previous = s.start
    if opened is not None and previous is not None:
        found.append(Outage(opened, previous, failed, ongoing=True))
    return found


def max_outage(
    samples: Iterable[Sample],
    *,
    interval: float | None = None,
    tolerance: float = 3.0,
    threshold: float | None = None,
) -> Outage | None:
    """The longest outage (the earliest on ties), or None; its duration is the measured RTO."""
    found = outages(samples, interval=interval, tolerance=tolerance, threshold=threshold)
    return max(found, key=lambda o: o.duration) if found else None


def _in_window(samples: Iterable[Sample], window: tuple[float, float] | None) -> list[Sample]:
    if window is None:
        return list(samples)
    lo, hi = window
    return [s for s in samples if lo <= s.start < hi]


def availability(
    samples: Iterable[Sample], *, window: tuple[float, float] | None = None, threshold: float | None = None
) -> float:
    """Good samples / samples started in ``[window[0], window[1])``; ValueError when there are none."""
    chosen = _in_window(samples, window)
    if not chosen:
        raise ValueError(f"no samples{' in window' if window else ''}: availability is unknown, not 100%")
    return sum(1 for s in chosen if good(s, threshold)) / len(chosen)


def time_to_steady_state(
    samples: Iterable[Sample], after: float, *, consecutive: int = 5, threshold: float | None = None
) -> float | None:
    """Seconds from ``after`` to the start of the first run of ``consecutive`` good samples, or None."""
    if consecutive < 1:
        raise ValueError(f"consecutive must be >= 1, got {consecutive}")
    run_start: float | None = None
    run = 0
    for s in _by_start(s for s in samples if s.start >= after):
        if not good(s, threshold):
            run, run_start = 0, None
            continue
        if run == 0:
            run_start = s.start
        run += 1
        if run >= consecutive and run_start is not None:
            return run_start - after
    return None


def writes_around(acked: Iterable[Sample], fault_start: float, healed: float) -> tuple[int, int]:
    """Acknowledged writes that ended before the fault started, and that started after the heal ended."""
    every = list(acked)
    before = sum(1 for s in every if s.ok and s.end <= fault_start)
    after = sum(1 for s in every if s.ok and s.start >= healed)
    return before, after


def acked_writes_lost(acked: Iterable[str], present: Collection[str]) -> list[str]:
    """Acknowledged keys missing from ``present``, deduplicated and sorted: the measured RPO."""
    lookup = present if isinstance(present, set | frozenset) else set(present)
    return sorted({key for key in acked if key not in lookup})


@dataclass(frozen=True)
class Verdict:
    """One objective checked against one measurement; ``detail`` is the sentence a report shows."""

    name: str
    objective: float
    measured: float | None
    unit: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, for the journal."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """Inverse of :meth:`to_dict`."""
        measured = data.get("measured")
        return cls(
            name=str(data["name"]),
            objective=float(data["objective"]),
            measured=float(measured) if measured is not None else None,
            unit=str(data["unit"]),
            ok=bool(data["ok"]),
            detail=str(data["detail"]),
        )


def _clock(t: float) -> str:
    """Local wall-clock ``HH:MM:SS.s``, so an outage can be matched against logs by eye."""
    moment = datetime.fromtimestamp(t)
    return f"{moment:%H:%M:%S}.{moment.microsecond // 100_000}"


def _cmp(ok: bool) -> str:
    return "<=" if ok else ">"


def not_measured(name: str, objective: float, unit: str, why: str) -> Verdict:
    """A failing verdict for an objective that could not be measured, saying why."""
    return Verdict(name, float(objective), None, unit, False, f"not measured: {why}")


def check_max_outage(
    samples: Iterable[Sample],
    objective_s: float,
    *,
    interval: float | None = None,
    tolerance: float = 3.0,
    threshold: float | None = None,
) -> Verdict:
    """The longest outage (measured RTO) must not exceed ``objective_s``; an open outage always fails."""
    every = list(samples)
    if not every:
        return not_measured("max_outage", objective_s, "s", f"no samples (objective {objective_s:.2f} s)")
    found = outages(every, interval=interval, tolerance=tolerance, threshold=threshold)
    if not found:
        return Verdict("max_outage", objective_s, 0.0, "s", True, f"no outage (objective {objective_s:.2f} s)")
    worst = max(found, key=lambda o: o.duration)
    still_open = [o for o in found if o.ongoing]
    ok = worst.duration <= objective_s and not still_open
    detail = (
        f"longest outage {'at least ' if worst.ongoing else ''}{worst.duration:.2f} s "
        f"{'<=' if worst.duration <= objective_s else '>'} objective {objective_s:.2f} s; "
        f"outage {_clock(worst.start)}–{_clock(worst.end)} ({worst.failed} failed samples)"
    )
    for o in still_open:
        detail += (
            f"; not recovered while measured: outage from {_clock(o.start)} still open when sampling stopped "
            f"(at least {o.duration:.2f} s, {o.failed} failed samples)"
        )
    return Verdict("max_outage", objective_s, worst.duration, "s", ok, detail)


def check_availability(
    samples: Iterable[Sample],
    objective_ratio: float,
    *,
    window: tuple[float, float] | None = None,
    threshold: float | None = None,
    window_name: str = "",
) -> Verdict:
    """The ratio of good samples started in ``window`` must be at least ``objective_ratio``.

    The whole-run ratio is added to the detail as information; it is never what is judged when a
    window is given.
    """
    every = list(samples)
    chosen = _in_window(every, window)
    where = f" {window_name}" if window_name else (" in the window" if window else "")
    if not chosen:
        return not_measured(
            "availability", objective_ratio, "ratio", f"no samples{where} (objective {objective_ratio:.3%})"
        )
    oks = sum(1 for s in chosen if good(s, threshold))
    measured = oks / len(chosen)
    ok = measured >= objective_ratio
    detail = (
        f"availability {measured:.3%} ({oks}/{len(chosen)} samples good{where}) "
        f"{'>=' if ok else '<'} objective {objective_ratio:.3%}"
    )
    if window is not None:
        whole = sum(1 for s in every if good(s, threshold))
        detail += f"; whole run {whole / len(every):.3%} ({whole}/{len(every)}, information only)"
    return Verdict("availability", objective_ratio, measured, "ratio", ok, detail)


def check_steady_state(
    samples: Iterable[Sample],
    after: float,
    objective_s: float,
    consecutive: int = 5,
    *,
    threshold: float | None = None,
) -> Verdict:
    """The service must be steady again (``consecutive`` good samples) within ``objective_s`` of ``after``."""
    measured = time_to_steady_state(samples, after, consecutive=consecutive, threshold=threshold)
    if measured is None:
        return Verdict(
            "steady_state",
            objective_s,
            None,
            "s",
            False,
            f"never reached steady state ({consecutive} consecutive good samples) after "
            f"{_clock(after)} (objective {objective_s:.2f} s)",
        )
    ok = measured <= objective_s
    detail = (
        f"steady state {measured:.2f} s after {_clock(after)} ({consecutive} consecutive good "
        f"samples) {_cmp(ok)} objective {objective_s:.2f} s"
    )
    return Verdict("steady_state", objective_s, measured, "s", ok, detail)


def check_acked_writes_lost(
    lost: Sequence[str],
    objective: int = 0,
    *,
    acked_before: int | None = None,
    acked_after: int | None = None,
) -> Verdict:
    """At most ``objective`` acknowledged writes may be missing (measured RPO, in writes).

    With ``acked_before``/``acked_after`` given (writes acknowledged before the fault, after the
    heal), a zero on either side makes the RPO "not measured": nothing shows writes were kept.
    """
    if acked_before is not None and acked_before < 1:
        return not_measured("acked_writes_lost", objective, "writes", "no write was acknowledged before the fault")
    if acked_after is not None and acked_after < 1:
        return not_measured(
            "acked_writes_lost", objective, "writes", "no write was acknowledged after the heal (service not back?)"
        )
    ok = len(lost) <= objective
    detail = f"{len(lost)} acknowledged writes lost {_cmp(ok)} objective {objective}"
    if acked_before is not None and acked_after is not None:
        detail += f" ({acked_before} acknowledged before the fault, {acked_after} after the heal)"
    if lost:
        shown = ", ".join(lost[:_SHOWN_KEYS])
        more = f" (+{len(lost) - _SHOWN_KEYS} more)" if len(lost) > _SHOWN_KEYS else ""
        detail += f"; first: {shown}{more}"
    return Verdict("acked_writes_lost", float(objective), float(len(lost)), "writes", ok, detail)


def assert_verdicts(verdicts: Iterable[Verdict]) -> None:
    """Fail once, listing every failing objective, so one run shows all that broke."""
    __tracebackhide__ = True
    every = list(verdicts)
    failing = [v for v in every if not v.ok]
    if failing:
        lines = "\n".join(f"{v.name}: {v.detail}" for v in failing)
        raise AssertionError(f"{len(failing)} of {len(every)} objectives failed:\n{lines}")
