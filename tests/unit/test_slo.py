"""SLO measurements against an oracle table of hand-written histories, plus hypothesis properties.

Every expected number below is worked out by hand from the definitions in ``hadrill.slo``'s
docstring (the arithmetic is in the comment of each case), never by running the code under test:

- good = ok and latency <= threshold; samples are ordered by START;
- an outage runs from the start of the first bad request to the start of the next good request
  that started after it; with no such request it is open (ongoing), its duration a lower bound up
  to the start of the last request sampled, and it fails the RTO objective whatever its length;
- availability = good / all samples (started in the window);
- RPO = acknowledged keys missing, measured only with >= 1 ack ending before the fault and >= 1
  starting after the heal.

Times are seconds after T0 (a small T0 so pytest.approx's relative tolerance stays meaningful).
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hadrill.probes import Sample
from hadrill.slo import (
    Outage,
    Verdict,
    acked_writes_lost,
    assert_verdicts,
    availability,
    check_acked_writes_lost,
    check_availability,
    check_max_outage,
    check_steady_state,
    max_outage,
    outages,
    time_to_steady_state,
    writes_around,
)

T0 = 1000.0
EPS = 1e-9
STEP = 0.1


def _approx(x: float) -> object:
    return pytest.approx(x, abs=EPS)


def _grid(pattern: str, latency: float = 0.02, t0: float = T0) -> list[Sample]:
    """'.' = ok, 'x' = failed; one sample every STEP seconds."""
    return [
        Sample(start=t0 + i * STEP, end=t0 + i * STEP + latency, ok=c == ".", error=None if c == "." else "boom")
        for i, c in enumerate(pattern)
    ]


def _clock(t: float) -> str:
    moment = datetime.fromtimestamp(t)
    return f"{moment:%H:%M:%S}.{moment.microsecond // 100_000}"


# -- the oracle table ------------------------------------------------------------------------------

G, B = True, False  # good (ok) and bad (failed) samples, for readability


@dataclass
class Case:
    """One hand-written history: samples as (start, end, ok) seconds after T0, and the answers."""

    name: str
    samples: list[tuple[float, float, bool]]
    outages: list[tuple[float, float, int, bool]]  # (start, end, failed, ongoing)
    objective: float  # RTO objective, seconds
    rto_ok: bool | None  # None: not measured (no samples)
    good: int  # good samples, for availability good/len(samples)
    threshold: float | None = None
    interval: float | None = None
    fault: tuple[float, float] | None = None  # (injected, healed) for the RPO
    missing: set[int] = field(default_factory=set)  # indices of ok samples whose key is gone
    rpo: int | str | None = None  # lost writes, "not measured", or None (not asked)


def _ticks(pattern: str, step: float = 1.0, latency: float = 0.1) -> list[tuple[float, float, bool]]:
    """'.' good, 'x' bad, one request every ``step`` seconds starting at 0."""
    return [(i * step, i * step + latency, c == ".") for i, c in enumerate(pattern)]


CASES = [
    # 1. one good sample: no bad request, no outage. availability 1/1.
    Case("one good sample", [(0, 0.1, G)], [], 1.0, True, 1),
    # 2. one bad sample: outage opens at its start 0; no good after -> open, lower bound 0 - 0 = 0 s;
    #    open fails whatever its length. availability 0/1.
    Case("one bad sample", [(0, 0.1, B)], [(0, 0, 1, True)], 1.0, False, 0),
    # 3. no acknowledgement at all, 4 requests at 0,1,2,3: open outage from 0 to the last start 3
    #    = 3.0 s (lower bound), 4 failed; fails even with a 10 s objective. availability 0/4.
    Case("no acks at all", _ticks("xxxx"), [(0, 3, 4, True)], 10.0, False, 0),
    # 4. all good: no outage. availability 5/5.
    Case("all good", _ticks("....."), [], 1.0, True, 5),
    # 5. bad at 3,4,5, next good starts at 6: outage 6 - 3 = 3.0 s, 3 failed; 3.0 > 1.0 fails.
    #    availability 7/10.
    Case("outage in the middle", _ticks("...xxx...."), [(3, 6, 3, False)], 1.0, False, 7),
    # 6. the same history against 3.0 s: 3.0 <= 3.0 passes.
    Case("outage equal to objective", _ticks("...xxx...."), [(3, 6, 3, False)], 3.0, True, 7),
    # 7. outage at the very start: bad 0,1, good 2 -> 2 - 0 = 2.0 s. availability 2/4.
    Case("outage at the very start", _ticks("xx.."), [(0, 2, 2, False)], 2.0, True, 2),
    # 8. outage at the very end: good 0,1, bad 2,3 -> open from 2 to last start 3 = 1.0 s lower
    #    bound; fails even against 10 s. availability 2/4.
    Case("outage at the very end", _ticks("..xx"), [(2, 3, 2, True)], 10.0, False, 2),
    # 9. late ack: a request sent at 0 answers OK at 3.5; bad at 0.5, 1.5, 2.5; good sent at 3.0.
    #    By start: 0 good, 0.5 bad opens, 1.5/2.5 bad, 3.0 good closes: 3.0 - 0.5 = 2.5 s, 3 failed.
    #    availability 2/5.
    Case(
        "late ack does not end the outage",
        [(0, 3.5, G), (0.5, 0.6, B), (1.5, 1.6, B), (2.5, 2.6, B), (3.0, 3.1, G)],
        [(0.5, 3.0, 3, False)],
        2.5,
        True,
        2,
    ),
    # 10. the case: a request sent at 0.0 acks late at 1.7, inside a 0.1 -> 3.2 outage. By
    #     start: 0.0 good, 0.1 bad opens, 1.0/2.0/3.0 bad, 3.2 good closes: 3.2 - 0.1 = 3.1 s, 4
    #     failed (ordering acks by end split it and reported 3.3 - 1.7 = 1.6 s). availability 2/6.
    Case(
        "late ack does not split the outage",
        [(0.0, 1.7, G), (0.1, 0.2, B), (1.0, 1.1, B), (2.0, 2.1, B), (3.0, 3.1, B), (3.2, 3.3, G)],
        [(0.1, 3.2, 4, False)],
        3.0,
        False,
        2,
    ),
    # 11. hung request (abandoned, failed) sent at 1 amid good requests at 0,2,3,4: opens at 1, the
    #     good sent at 2 closes it: 2 - 1 = 1.0 s, 1 failed; 1.0 <= 1.0 passes. availability 4/5.
    Case(
        "hung request",
        [(0, 0.1, G), (1, 5.0, B), (2, 2.1, G), (3, 3.1, G), (4, 4.1, G)],
        [(1, 2, 1, False)],
        1.0,
        True,
        4,
    ),
    # 12. a request that succeeds after 3.0 s with a 1.0 s threshold is bad: sent at 1, next good
    #     sent at 2 -> 1.0 s, 1 failed. availability 3/4.
    Case(
        "slow success beyond the threshold is bad",
        [(0, 0.1, G), (1, 4.0, G), (2, 2.1, G), (3, 3.1, G)],
        [(1, 2, 1, False)],
        1.0,
        True,
        3,
        threshold=1.0,
    ),
    # 13. latency exactly the threshold (1.0) is good: no outage. availability 2/2.
    Case("latency equal to the threshold is good", [(0, 0.1, G), (1, 2.0, G)], [], 1.0, True, 2, threshold=1.0),
    # 14. every success slower than the 0.5 s threshold: all bad, open from 0 to last start 2 =
    #     2.0 s, 3 failed; fails. availability 0/3.
    Case("only slow successes", [(0, 1, G), (1, 2, G), (2, 3, G)], [(0, 2, 3, True)], 10.0, False, 0, threshold=0.5),
    # 15. flapping x.x.x. at 0..5: outages [0,1], [2,3], [4,5], 1 failed each, longest 1.0 <= 1.0.
    #     availability 3/6.
    Case("flapping", _ticks("x.x.x."), [(0, 1, 1, False), (2, 3, 1, False), (4, 5, 1, False)], 1.0, True, 3),
    # 16. flapping that ends bad .x.x: [1,2] closed (1.0 s, the longest) and [3,3] open (0 s): the
    #     open one fails the objective although it is not the longest. availability 2/4.
    Case("flapping ending bad", _ticks(".x.x"), [(1, 2, 1, False), (3, 3, 1, True)], 5.0, False, 2),
    # 17. no samples: nothing measured; the RTO verdict is "not measured" (fails).
    Case("no samples", [], [], 1.0, None, 0),
    # 18. a good and a bad request sent at the same instant 1.0: the good one did not start AFTER the
    #     bad one, so the outage opened at 1 runs to the good sent at 2: 1.0 s, 1 failed.
    #     availability 3/4.
    Case(
        "good and bad sent at the same instant",
        [(0, 0.1, G), (1.0, 1.05, G), (1.0, 1.1, B), (2, 2.1, G)],
        [(1, 2, 1, False)],
        1.0,
        True,
        3,
    ),
    # 19. a late ack (sent 0, answered 5) after the next good one: bad at 1, good sent at 2 closes:
    #     1.0 s. availability 2/3.
    Case("late ack after recovery", [(0, 5, G), (1, 1.1, B), (2, 2.1, G)], [(1, 2, 1, False)], 1.0, True, 2),
    # 20. silence: good at 0, 0.1, 0.2 then nothing until 2.0 (interval 0.1, limit 3 x 0.1 = 0.3 s):
    #     the 1.8 s gap is an outage [0.2, 2.0], 0 failed; 1.8 > 1.0 fails. availability 5/5.
    Case(
        "silent gap with an interval",
        [(0, 0.02, G), (0.1, 0.12, G), (0.2, 0.22, G), (2.0, 2.02, G), (2.1, 2.12, G)],
        [(0.2, 2.0, 0, False)],
        1.0,
        False,
        5,
        interval=0.1,
    ),
    # 21. the same history without an interval: silence is not judged; no outage.
    Case(
        "silent gap without an interval",
        [(0, 0.02, G), (0.1, 0.12, G), (0.2, 0.22, G), (2.0, 2.02, G), (2.1, 2.12, G)],
        [],
        1.0,
        True,
        5,
    ),
    # 22. silence then a bad request: good 0, 0.1; nothing until a bad at 1.0 (gap 0.9 > 0.3): the
    #     outage opens at 0.1; the good sent at 1.1 closes it: 1.1 - 0.1 = 1.0 s, 1 failed.
    #     availability 3/4.
    Case(
        "silence then failure",
        [(0, 0.02, G), (0.1, 0.12, G), (1.0, 1.02, B), (1.1, 1.12, G)],
        [(0.1, 1.1, 1, False)],
        1.0,
        True,
        3,
        interval=0.1,
    ),
    # 23. a 0.25 s gap with a 0.1 s interval is within 3 x 0.1: no outage. availability 3/3.
    Case("short gap", [(0, 0.02, G), (0.25, 0.27, G), (0.35, 0.37, G)], [], 1.0, True, 3, interval=0.1),
    # 24. silence inside an outage extends it, it does not start another: bad 0, bad 1.0 (gap 1.0),
    #     good 1.5: [0, 1.5], 2 failed, 1.5 s. availability 1/3.
    Case(
        "silence inside an outage",
        [(0, 0.1, B), (1.0, 1.1, B), (1.5, 1.6, G)],
        [(0, 1.5, 2, False)],
        1.0,
        False,
        1,
        interval=0.1,
    ),
    # 25. a hung bad request (sent 1, failed at 3) and a good one sent at 1.5: 1.5 - 1 = 0.5 s.
    #     availability 2/3.
    Case(
        "good sent during a hung request", [(0, 0.1, G), (1, 3, B), (1.5, 1.6, G)], [(1, 1.5, 1, False)], 1.0, True, 2
    ),
    # 26. three outages: [1,2] (1 failed), [3,6] (3 failed), [7,8] (1 failed); longest 3.0 s > 2.0.
    #     availability 4/9 (good at 0, 2, 6, 8).
    Case(
        "longest of three",
        _ticks(".x.xxx.x."),
        [(1, 2, 1, False), (3, 6, 3, False), (7, 8, 1, False)],
        2.0,
        False,
        4,
    ),
    # 27. two outages of equal length [1,2] and [3,4]: 1.0 s <= 1.0. availability 3/5.
    Case("two equal outages", _ticks(".x.x."), [(1, 2, 1, False), (3, 4, 1, False)], 1.0, True, 3),
    # 28. the history of case 5 handed over shuffled: order of input does not matter.
    Case(
        "unsorted input",
        [
            (5, 5.1, B),
            (0, 0.1, G),
            (9, 9.1, G),
            (3, 3.1, B),
            (6, 6.1, G),
            (1, 1.1, G),
            (4, 4.1, B),
            (2, 2.1, G),
            (8, 8.1, G),
            (7, 7.1, G),
        ],
        [(3, 6, 3, False)],
        1.0,
        False,
        7,
    ),
    # 29. bad requests answering after the good one sent at 2: [1, 2], 2 failed (1 and 1.5).
    #     availability 2/4.
    Case(
        "bad answers after the recovery",
        [(0, 0.1, G), (1, 2.5, B), (1.5, 2.6, B), (2.0, 2.1, G)],
        [(1, 2, 2, False)],
        1.0,
        True,
        2,
    ),
    # 30. a late ack (sent 0, answered 10) must not close an outage still open: bad at 1 and 2, no
    #     good sent after 1 -> open [1, 2] (1.0 s lower bound), fails. availability 1/3.
    Case("late ack then still down", [(0, 10, G), (1, 1.1, B), (2, 2.1, B)], [(1, 2, 2, True)], 10.0, False, 1),
    # 31. a skipped tick (start = end, failed) at 1 between goods at 0 and 2: [1, 2], 1 failed.
    Case("skipped tick", [(0, 0.1, G), (1, 1, B), (2, 2.1, G)], [(1, 2, 1, False)], 1.0, True, 2),
    # 32. one bad request at the very end after four good ones: open [4, 4], 0 s, fails. 4/5.
    Case("single failure at the very end", _ticks("....x"), [(4, 4, 1, True)], 1.0, False, 4),
    # 33. 100 requests every 0.1 s, bad from index 50 (5.0 s) to 69, good at 70 (7.0 s): 2.0 s,
    #     20 failed; 2.0 > 1.5 fails. availability 80/100.
    Case(
        "long history",
        _ticks("." * 50 + "x" * 20 + "." * 30, step=0.1, latency=0.02),
        [(5.0, 7.0, 20, False)],
        1.5,
        False,
        80,
    ),
    # 34. the only good request was sent before the bad one: open [1, 1], 0 s, fails. 1/2.
    Case("only good request precedes", [(0, 5, G), (1, 1.1, B)], [(1, 1, 1, True)], 1.0, False, 1),
    # 35. threshold 0.5: the request sent at 1 took 0.9 s, bad; good sent at 2 closes: 1.0 s. 2/3.
    Case(
        "slow in the middle", [(0, 0.1, G), (1, 1.9, G), (2, 2.1, G)], [(1, 2, 1, False)], 1.0, True, 2, threshold=0.5
    ),
    # 36. x.x: [0,1] closed and [2,2] open: fails. availability 1/3.
    Case("bad good bad", _ticks("x.x"), [(0, 1, 1, False), (2, 2, 1, True)], 1.0, False, 1),
    # 37. bad 0..4, good 5: 5 - 0 = 5.0 s, 5 failed; 5.0 <= 5.0 passes. availability 1/6.
    Case("long outage at the start", _ticks("xxxxx."), [(0, 5, 5, False)], 5.0, True, 1),
    # 38. bad 0,1 good 2: 2.0 s against 1.99: fails. availability 1/3.
    Case("just over the objective", _ticks("xx."), [(0, 2, 2, False)], 1.99, False, 1),
    # 39. sub-millisecond: bad sent at 0, good at 0.0002: 0.2 ms outage. 1/2.
    Case("sub-millisecond", [(0, 0.0001, B), (0.0002, 0.0003, G)], [(0, 0.0002, 1, False)], 0.001, True, 1),
    # 40. with a 1.0 s threshold the slow request sent first (took 3 s) is itself bad: opens at 0,
    #     the good sent at 1 closes: 1.0 s. availability 2/3.
    Case("slow first request", [(0, 3, G), (1, 1.1, G), (2, 2.1, G)], [(0, 1, 1, False)], 1.0, True, 2, threshold=1.0),
    # 41. good at 0, bad at 1, sampling stops: open [1, 1]. fails. 1/2.
    Case("stops right after a failure", _ticks(".x"), [(1, 1, 1, True)], 1.0, False, 1),
    # 42. every third request fails (x..x..x..): [0,1], [3,4], [6,7]; 1.0 s each. 6/9.
    Case(
        "periodic failures", _ticks("x..x..x.."), [(0, 1, 1, False), (3, 4, 1, False), (6, 7, 1, False)], 1.0, True, 6
    ),
    # -- RPO cases: keys are the indices of ok samples; "fault" = (injected, revert ended) --
    # 43. acks at 0 and 1 end at 0.1, 1.1 <= fault 1.5 (2 before); acks sent at 4, 5 >= heal 3.5
    #     (2 after); nothing missing: RPO 0. Outage: bad 2,3, good 4: [2,4] 2.0 s. 4/6.
    Case("rpo: nothing lost", _ticks("..xx.."), [(2, 4, 2, False)], 2.0, True, 4, fault=(1.5, 3.5), rpo=0),
    # 44. the same with the key of sample 1 gone: RPO 1.
    Case("rpo: one lost", _ticks("..xx.."), [(2, 4, 2, False)], 2.0, True, 4, fault=(1.5, 3.5), missing={1}, rpo=1),
    # 45. injected at 0: no ack ended by then -> not measured.
    Case(
        "rpo: nothing acked before",
        _ticks("..xx.."),
        [(2, 4, 2, False)],
        2.0,
        True,
        4,
        fault=(0.0, 3.5),
        rpo="not measured",
    ),
    # 46. heal at 3.5 and no good sample sent after it (bad 2..5): not measured. The outage is open
    #     [2, 5] (3.0 s lower bound) and fails. 2/6.
    Case(
        "rpo: nothing acked after the heal",
        _ticks("..xxxx"),
        [(2, 5, 4, True)],
        10.0,
        False,
        2,
        fault=(1.5, 3.5),
        rpo="not measured",
    ),
    # 47. no ack at all: not measured (zero writes is not RPO 0).
    Case("rpo: no acks at all", _ticks("xxx"), [(0, 2, 3, True)], 10.0, False, 0, fault=(0.5, 1.5), rpo="not measured"),
    # 48. a write acked during the fault (sent 2, fault 1.5..3.5) then lost: counted: RPO 1. Before:
    #     0 and 1 (ends 0.1, 1.1); after: 4 (sent 4 >= 3.5). bad 3 -> [3,4] 1.0 s. 4/5.
    Case(
        "rpo: write acked during the fault lost",
        _ticks("...x."),
        [(3, 4, 1, False)],
        1.0,
        True,
        4,
        fault=(1.5, 3.5),
        missing={2},
        rpo=1,
    ),
    # 49. an ack ending exactly at the injection (end 1.1, fault 1.1) counts as before: measured, 0.
    Case("rpo: ack ending at the injection", _ticks("..x."), [(2, 3, 1, False)], 1.0, True, 3, fault=(1.1, 2.5), rpo=0),
    # 50. the only ack "after" was sent at 2.0 before the heal ended at 2.5 (answered 2.1): not after
    #     the heal -> not measured.
    Case(
        "rpo: write sent before the heal ended", _ticks("..."), [], 1.0, True, 3, fault=(1.5, 2.5), rpo="not measured"
    ),
]


def _samples(case: Case) -> list[Sample]:
    return [
        Sample(T0 + s, T0 + e, ok, None if ok else "boom", {"key": f"k{i}"} if ok else None)
        for i, (s, e, ok) in enumerate(case.samples)
    ]


def test_the_oracle_has_at_least_40_histories() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_oracle_outages(case: Case) -> None:
    found = outages(_samples(case), interval=case.interval, threshold=case.threshold)
    got = [(o.start - T0, o.end - T0, o.failed, o.ongoing) for o in found]
    assert len(got) == len(case.outages), got
    for (s, e, f, g), (ws, we, wf, wg) in zip(got, case.outages, strict=True):
        assert (s, e, f, g) == (_approx(ws), _approx(we), wf, wg), got


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_oracle_rto_verdict(case: Case) -> None:
    verdict = check_max_outage(_samples(case), case.objective, interval=case.interval, threshold=case.threshold)
    if case.rto_ok is None:
        assert not verdict.ok and verdict.measured is None and verdict.detail.startswith("not measured")
        return
    longest = max((e - s for s, e, _, _ in case.outages), default=0.0)
    assert verdict.measured == _approx(longest)
    assert verdict.ok is case.rto_ok, verdict.detail
    if any(ongoing for *_, ongoing in case.outages):
        assert "not recovered while measured" in verdict.detail


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_oracle_availability(case: Case) -> None:
    samples = _samples(case)
    if not samples:
        with pytest.raises(ValueError):
            availability(samples)
        assert check_availability(samples, 0.5).measured is None
        return
    assert availability(samples, threshold=case.threshold) == _approx(case.good / len(samples))


@pytest.mark.parametrize("case", [c for c in CASES if c.rpo is not None], ids=lambda c: c.name)
def test_oracle_rpo(case: Case) -> None:
    assert case.fault is not None
    samples = _samples(case)
    acked = [s for s in samples if s.ok]
    keys = [str(s.detail["key"]) for s in acked if s.detail]
    gone = {f"k{i}" for i in case.missing}
    lost = acked_writes_lost(keys, [k for k in keys if k not in gone])
    before, after = writes_around(acked, T0 + case.fault[0], T0 + case.fault[1])
    verdict = check_acked_writes_lost(lost, 0, acked_before=before, acked_after=after)
    if case.rpo == "not measured":
        assert not verdict.ok and verdict.measured is None and verdict.detail.startswith("not measured")
    else:
        assert verdict.measured == case.rpo and verdict.ok is (case.rpo == 0)


# -- windows, steady state, lost writes ------------------------------------------------------------


def test_availability_in_a_window() -> None:
    # case 5 (good 0,1,2, bad 3,4,5, good 6..9); window [2.5, 6.5) holds the samples sent at 3, 4, 5
    # and 6: one good of four = 0.25. The whole run (7/10) is reported as information only.
    samples = _samples(CASES[4])
    assert availability(samples, window=(T0 + 2.5, T0 + 6.5)) == _approx(0.25)
    verdict = check_availability(samples, 0.5, window=(T0 + 2.5, T0 + 6.5), window_name="in the fault window")
    assert not verdict.ok and verdict.measured == _approx(0.25)
    assert "1/4 samples good in the fault window" in verdict.detail and "whole run 70.000% (7/10" in verdict.detail
    empty = check_availability(samples, 0.5, window=(T0 + 20, T0 + 30))
    assert not empty.ok and empty.measured is None and "not measured" in empty.detail
    with pytest.raises(ValueError):
        availability(samples, window=(T0 + 20, T0 + 30))


def test_time_to_steady_state() -> None:
    samples = _grid("..x..x.......")
    # from 0.15 s: sent at 0.2 bad, 0.3/0.4 good, 0.5 bad, 0.6..1.0 five good: 0.6 - 0.15 = 0.45 s
    assert time_to_steady_state(samples, T0 + 0.15, consecutive=5) == _approx(0.45)
    # from -1.0 s, two in a row: 0.0 and 0.1 are good: 0.0 - (-1.0) = 1.0 s
    assert time_to_steady_state(samples, T0 - 1.0, consecutive=2) == _approx(1.0)
    assert time_to_steady_state(samples, T0 + 0.15, consecutive=50) is None
    with pytest.raises(ValueError):
        time_to_steady_state(samples, T0, consecutive=0)
    # a slow success (0.3 s > threshold 0.1) breaks the run: .. then slow at 0.2, then 5 good from 0.3
    slow = [*_grid(".."), Sample(T0 + 0.2, T0 + 0.5, True), *_grid(".....", t0=T0 + 0.3)]
    assert time_to_steady_state(slow, T0, consecutive=3, threshold=0.1) == _approx(0.3)


def test_acked_writes_lost() -> None:
    assert acked_writes_lost(["k3", "k1", "k2", "k1"], {"k2"}) == ["k1", "k3"]
    assert acked_writes_lost(["a"], ["a"]) == []


# -- verdicts --------------------------------------------------------------------------------------


def test_check_max_outage_failing_message() -> None:
    samples = _grid("..." + "x" * 14 + "...")
    verdict = check_max_outage(samples, 1.0, interval=STEP)
    # first bad sent at 0.3, next good at 1.7: 1.4 s
    assert not verdict.ok and verdict.name == "max_outage" and verdict.unit == "s"
    assert verdict.measured == _approx(1.4)
    assert verdict.detail == (
        f"longest outage 1.40 s > objective 1.00 s; outage {_clock(T0 + 0.3)}–{_clock(T0 + 1.7)} (14 failed samples)"
    )
    assert check_max_outage(samples, 2.0).ok


def test_open_outage_fails_and_is_named_even_when_not_the_longest() -> None:
    samples = _grid("." + "x" * 20 + "." * 5 + "xx")  # closed 2.0 s outage, then one open at the end
    verdict = check_max_outage(samples, 5.0)
    assert not verdict.ok
    assert verdict.measured == _approx(2.0)
    assert "not recovered while measured" in verdict.detail and "at least 0.10 s" in verdict.detail


def test_check_max_outage_edges() -> None:
    assert check_max_outage(_grid("....."), 1.0).ok
    assert check_max_outage(_grid("....."), 1.0).measured == 0.0
    assert not check_max_outage([], 1.0).ok
    never = check_max_outage(_grid("xxxx"), 1.0)
    assert not never.ok and "at least 0.30 s" in never.detail and "not recovered while measured" in never.detail


def test_check_availability() -> None:
    verdict = check_availability(_grid("x" + "." * 9), 0.95)
    assert not verdict.ok and verdict.measured == _approx(0.9)
    assert "90.000%" in verdict.detail and "95.000%" in verdict.detail and "9/10" in verdict.detail
    assert check_availability(_grid("x" + "." * 9), 0.9).ok
    assert not check_availability([], 0.5).ok


def test_check_steady_state() -> None:
    samples = _grid("xxxx.....")
    failing = check_steady_state(samples, T0, 0.2)
    assert not failing.ok and failing.measured == _approx(0.4)
    assert "0.40 s" in failing.detail and "0.20 s" in failing.detail
    assert check_steady_state(samples, T0, 0.5).ok
    never = check_steady_state(_grid("x.x.x"), T0, 10.0)
    assert not never.ok and never.measured is None and "never" in never.detail


def test_check_acked_writes_lost() -> None:
    lost = [f"k{i}" for i in range(8)]
    verdict = check_acked_writes_lost(lost)
    assert not verdict.ok and verdict.measured == 8 and verdict.unit == "writes"
    assert "8 acknowledged writes lost > objective 0" in verdict.detail
    assert "k0, k1, k2, k3, k4" in verdict.detail and "k7" not in verdict.detail
    assert check_acked_writes_lost([]).ok
    assert check_acked_writes_lost(["a"], objective=1).ok
    assert "before the fault" in check_acked_writes_lost([], acked_before=0, acked_after=3).detail
    assert "after the heal" in check_acked_writes_lost([], acked_before=3, acked_after=0).detail


def test_verdict_roundtrip() -> None:
    verdict = check_max_outage(_grid("..xx.."), 1.0)
    assert Verdict.from_dict(json.loads(json.dumps(verdict.to_dict()))) == verdict


def test_assert_verdicts_lists_every_failure() -> None:
    good = check_acked_writes_lost([])
    bad1 = check_acked_writes_lost(["lost-key"])
    bad2 = check_availability(_grid("xx.."), 0.99)
    assert_verdicts([good])
    assert_verdicts([])
    with pytest.raises(AssertionError) as info:
        assert_verdicts([bad1, good, bad2])
    message = str(info.value)
    assert bad1.detail in message and bad2.detail in message and good.detail not in message
    assert "2 of 3" in message


# -- properties ------------------------------------------------------------------------------------

_latency = st.floats(min_value=0.0, max_value=3.0, allow_nan=False)


@st.composite
def _histories(draw: st.DrawFn, min_size: int = 1) -> list[Sample]:
    """Open-loop histories: one request every STEP, answering after up to 3 s (late acks, hangs)."""
    pattern = draw(st.lists(st.booleans(), min_size=min_size, max_size=60))
    lats = draw(st.lists(_latency, min_size=len(pattern), max_size=len(pattern)))
    return [
        Sample(start=T0 + i * STEP, end=T0 + i * STEP + lat, ok=ok, error=None if ok else "x")
        for i, (ok, lat) in enumerate(zip(pattern, lats, strict=True))
    ]


def _longest(samples: list[Sample]) -> float:
    worst = max_outage(samples, interval=STEP)
    return worst.duration if worst else 0.0


@given(_histories(), _latency)
def test_appending_a_failure_never_shortens_the_longest_outage(samples: list[Sample], lat: float) -> None:
    t = samples[-1].start + STEP
    assert _longest([*samples, Sample(t, t + lat, False, "x")]) >= _longest(samples) - EPS


@given(_histories(), st.floats(min_value=0.0, max_value=1e6))
def test_an_outage_open_at_the_end_never_passes(samples: list[Sample], objective: float) -> None:
    if samples[-1].ok:
        samples = [*samples, Sample(samples[-1].start + STEP, samples[-1].start + STEP, False, "x")]
    verdict = check_max_outage(samples, objective, interval=STEP)
    assert not verdict.ok and "not recovered while measured" in verdict.detail


@given(_histories())
def test_late_acks_never_change_outages(samples: list[Sample]) -> None:
    """Outages depend on when requests were sent and whether they succeeded, not on when they answered."""
    answered_now = [Sample(s.start, s.start, s.ok, s.error) for s in samples]
    assert outages(samples, interval=STEP) == outages(answered_now, interval=STEP)


@given(_histories(), st.randoms(use_true_random=False))
def test_input_order_does_not_matter(samples: list[Sample], rnd: random.Random) -> None:
    shuffled = list(samples)
    rnd.shuffle(shuffled)
    assert outages(shuffled, interval=STEP) == outages(samples, interval=STEP)


@given(_histories())
def test_outages_sorted_disjoint_and_within_span(samples: list[Sample]) -> None:
    found = outages(samples, interval=STEP)
    for a, b in itertools.pairwise(found):
        assert a.end <= b.start
    assert all(o.duration >= 0 for o in found)
    assert all(samples[0].start <= o.start and o.end <= samples[-1].start for o in found)
    assert [o.ongoing for o in found].count(True) == (0 if samples[-1].ok else 1)


@given(_histories())
def test_every_failed_start_is_inside_an_outage(samples: list[Sample]) -> None:
    found = outages(samples, interval=STEP)
    for s in samples:
        if not s.ok:
            assert any(o.start <= s.start and (s.start < o.end or o.ongoing) for o in found)
    assert sum(o.failed for o in found) == sum(1 for s in samples if not s.ok)


@given(_histories())
def test_availability_is_good_ratio(samples: list[Sample]) -> None:
    assert availability(samples) == sum(1 for s in samples if s.ok) / len(samples)


@given(st.integers(1, 20), st.integers(1, 20), st.integers(1, 20), st.lists(_latency, min_size=60, max_size=60))
def test_single_failure_run_is_exactly_its_bad_requests(before: int, k: int, after: int, lats: list[float]) -> None:
    # k bad requests sent STEP apart, then a good one: the outage is exactly k * STEP, however late
    # any request answered
    pattern = [True] * before + [False] * k + [True] * after
    samples = [Sample(T0 + i * STEP, T0 + i * STEP + lats[i], ok, None if ok else "x") for i, ok in enumerate(pattern)]
    (outage,) = outages(samples, interval=STEP)
    assert outage.failed == k and not outage.ongoing
    assert outage.duration == _approx(k * STEP)


def test_outage_dataclass_roundtrip() -> None:
    assert Outage(1.0, 2.0, 3).to_dict() == {"start": 1.0, "end": 2.0, "failed": 3, "ongoing": False}
