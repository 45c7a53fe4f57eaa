"""Service-level measurements over recorded samples, and the verdicts reports are built from.

Definitions (the contract reports rely on):

- An *acknowledgement* is an ok sample; its time is ``sample.end`` (when the client knew).
- An *outage* is a gap between two consecutive acknowledgements (ordered by ``end``) that either
  contains the start of at least one failed sample, or is longer than ``tolerance * interval``
  (default tolerance 3.0). It runs from the end of the last ack before to the end of the first ack
  after; ``failed`` counts the failed samples started in the gap. A failed sample whose start equals
  an ack's end belongs to the gap after that ack (gaps are half-open ``[before, after)``).
- If the history begins with failures before any ack, that outage starts at the first sample's
  start. If it ends with failures after the last ack (or never acks), the outage is *ongoing*: it
  ends at the latest sample end and has ``ongoing=True``.
- Without an ``interval`` only gaps containing failed samples count.
- The measured RTO is the duration of the longest outage; the measured RPO is the number of
  acknowledged writes missing afterwards.
- Availability is ok samples / all samples whose start is in the window. No data is an error, not
  100 %.
- Time to steady state is measured from a given instant to the start of the first run of
  ``consecutive`` ok samples, all started at or after that instant.

Measurement functions are pure; ``check_*`` wrap them into :class:`Verdict` objects with a sentence
an operator can read, and :func:`assert_verdicts` turns failing verdicts into one pytest assertion.
"""

from __future__ import annotations

import bisect
import itertools
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
    "max_outage",
    "outages",
    "time_to_steady_state",
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
    """A period without acknowledgements; wall-clock seconds."""

    start: float
    end: float
    failed: int
    ongoing: bool = False

    @property
    def duration(self) -> float:
        """Seconds without an acknowledgement: the measured RTO when it is the longest."""
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, for the journal."""
        return asdict(self)


def outages(samples: Iterable[Sample], *, interval: float | None = None, tolerance: float = 3.0) -> list[Outage]:
    """Every outage in the samples, sorted by start and never overlapping (see module docstring)."""
    every = list(samples)
    if not every:
        return []
    acks = sorted(s.end for s in every if s.ok)
    failed_starts = sorted(s.start for s in every if not s.ok)
    first_start = min(s.start for s in every)
    last_end = max(s.end for s in every)
    if not acks:
        return [Outage(start=first_start, end=last_end, failed=len(failed_starts), ongoing=True)]

    def failed_in(lo: float | None, hi: float | None) -> int:
        left = 0 if lo is None else bisect.bisect_left(failed_starts, lo)
        right = len(failed_starts) if hi is None else bisect.bisect_left(failed_starts, hi)
        return max(0, right - left)

    found: list[Outage] = []
    leading = failed_in(None, acks[0])
    if leading:
        found.append(Outage(start=first_start, end=acks[0], failed=leading))
    limit = None if interval is None else tolerance * interval
    for before, after in itertools.pairwise(acks):
        count = failed_in(before, after)
        if count or (limit is not None and after - before > limit):
            found.append(Outage(start=before, end=after, failed=count))
    trailing = failed_in(acks[-1], None)
    if trailing:
        found.append(Outage(start=acks[-1], end=last_end, failed=trailing, ongoing=True))
    return found


def max_outage(samples: Iterable[Sample], *, interval: float | None = None, tolerance: float = 3.0) -> Outage | None:
    """The longest outage (the earliest on ties), or None; its duration is the measured RTO."""
    found = outages(samples, interval=interval, tolerance=tolerance)
    return max(found, key=lambda o: o.duration) if found else None


def _in_window(samples: Iterable[Sample], window: tuple[float, float] | None) -> list[Sample]:
    if window is None:
        return list(samples)
    lo, hi = window
    return [s for s in samples if lo <= s.start < hi]


def availability(samples: Iterable[Sample], *, window: tuple[float, float] | None = None) -> float:
    """Ok samples / samples started in ``[window[0], window[1])``; ValueError when there are none."""
    chosen = _in_window(samples, window)
    if not chosen:
        raise ValueError(f"no samples{' in window' if window else ''}: availability is unknown, not 100%")
    return sum(1 for s in chosen if s.ok) / len(chosen)


def time_to_steady_state(samples: Iterable[Sample], after: float, *, consecutive: int = 5) -> float | None:
    """Seconds from ``after`` to the start of the first run of ``consecutive`` ok samples, or None."""
    if consecutive < 1:
        raise ValueError(f"consecutive must be >= 1, got {consecutive}")
    run_start: float | None = None
    run = 0
    for s in sorted((s for s in samples if s.start >= after), key=lambda s: (s.start, s.end)):
        if not s.ok:
            run, run_start = 0, None
            continue
        if run == 0:
            run_start = s.start
        run += 1
        if run >= consecutive and run_start is not None:
            return run_start - after
    return None


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


def check_max_outage(
    samples: Iterable[Sample], objective_s: float, *, interval: float | None = None, tolerance: float = 3.0
) -> Verdict:
    """The longest outage (measured RTO) must not exceed ``objective_s``."""
    every = list(samples)
    if not every:
        return Verdict(
            "max_outage",
            objective_s,
            None,
            "s",
            False,
            f"no samples: longest outage unknown (objective {objective_s:.2f} s)",
        )
    worst = max_outage(every, interval=interval, tolerance=tolerance)
    if worst is None:
        return Verdict("max_outage", objective_s, 0.0, "s", True, f"no outage (objective {objective_s:.2f} s)")
    ok = worst.duration <= objective_s
    detail = (
        f"longest outage {worst.duration:.2f} s {_cmp(ok)} objective {objective_s:.2f} s; "
        f"outage {_clock(worst.start)}–{_clock(worst.end)} ({worst.failed} failed samples)"
    )
    if worst.ongoing:
        detail += ", still ongoing at the end of the history"
    return Verdict("max_outage", objective_s, worst.duration, "s", ok, detail)


def check_availability(
    samples: Iterable[Sample], objective_ratio: float, *, window: tuple[float, float] | None = None
) -> Verdict:
    """The ratio of ok samples must be at least ``objective_ratio``."""
    chosen = _in_window(samples, window)
    if not chosen:
        return Verdict(
            "availability",
            objective_ratio,
            None,
            "ratio",
            False,
            f"no samples: availability unknown (objective {objective_ratio:.3%})",
        )
    oks = sum(1 for s in chosen if s.ok)
    measured = oks / len(chosen)
    ok = measured >= objective_ratio
    detail = (
        f"availability {measured:.3%} ({oks}/{len(chosen)} samples ok) "
        f"{'>=' if ok else '<'} objective {objective_ratio:.3%}"
    )
    return Verdict("availability", objective_ratio, measured, "ratio", ok, detail)


def check_steady_state(samples: Iterable[Sample], after: float, objective_s: float, consecutive: int = 5) -> Verdict:
    """The service must be steady again (``consecutive`` ok samples) within ``objective_s``."""
    measured = time_to_steady_state(samples, after, consecutive=consecutive)
    if measured is None:
        return Verdict(
            "steady_state",
            objective_s,
            None,
            "s",
            False,
            f"never reached steady state ({consecutive} consecutive ok samples) after "
            f"{_clock(after)} (objective {objective_s:.2f} s)",
        )
    ok = measured <= objective_s
    detail = (
        f"steady state {measured:.2f} s after {_clock(after)} ({consecutive} consecutive ok "
        f"samples) {_cmp(ok)} objective {objective_s:.2f} s"
    )
    return Verdict("steady_state", objective_s, measured, "s", ok, detail)


def check_acked_writes_lost(lost: Sequence[str], objective: int = 0) -> Verdict:
    """At most ``objective`` acknowledged writes may be missing (measured RPO, in writes)."""
    ok = len(lost) <= objective
    detail = f"{len(lost)} acknowledged writes lost {_cmp(ok)} objective {objective}"
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
