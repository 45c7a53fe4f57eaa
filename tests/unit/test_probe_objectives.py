"""Objectives per probe (``objectives.probes.NAME``): an application and the API beside it promise
different things. Expected verdicts are worked out by hand from the sample patterns below."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_judge import T0, _Recorder, _run, _ticks

from hadrill.errors import ConfigError
from hadrill.run import Run


def _two_probes(tmp_path: Path) -> Run:
    # requests at 0..9 s (one a second), fault injected at 1.5, revert started at 5.5, recovery 1 s:
    # window [1.5, 6.5) holds the requests sent at 2, 3, 4, 5, 6.
    # app: bad at 2, 3, 4 -> 2 good of 5 = 0.4 in the window, longest outage 3 s (sent 2 .. next good 5)
    # api: bad at 3       -> 4 good of 5 = 0.8 in the window, longest outage 1 s
    run = _run(tmp_path)
    run.add_probe("app", _Recorder("app", _ticks("..xxx.....")))  # type: ignore[arg-type]
    run.add_probe("api", _Recorder("api", _ticks("...x......")))  # type: ignore[arg-type]
    run.windows.append({"fault": "f1", "description": "d", "start": T0 + 1.5, "revert_start": T0 + 5.5, "end": T0 + 6})
    run.revert_started, run.healed_at = T0 + 5.5, T0 + 6.0
    return run


def test_a_probes_own_objectives_win_and_the_others_keep_the_experiments(tmp_path: Path) -> None:
    objectives = {
        "availability": 0.33, "max_outage_s": 5.0, "recovery_window_s": 1.0,
        "probes": {"api": {"availability": 0.9, "max_outage_s": 0.5}},
    }  # fmt: skip
    verdicts = {v.name: v for v in _two_probes(tmp_path).evaluate(objectives)}
    assert set(verdicts) == {"app availability", "app max_outage", "api availability", "api max_outage"}
    # app: 0.4 >= 0.33 and 3 s <= 5 s (the experiment's); api: 0.8 < 0.9 and 1 s > 0.5 s (its own)
    assert verdicts["app availability"].objective == 0.33 and verdicts["app availability"].ok
    assert verdicts["app max_outage"].measured == pytest.approx(3.0) and verdicts["app max_outage"].ok
    assert verdicts["api availability"].objective == 0.9 and verdicts["api availability"].measured == pytest.approx(0.8)
    assert not verdicts["api availability"].ok
    assert verdicts["api max_outage"].measured == pytest.approx(1.0) and not verdicts["api max_outage"].ok


def test_a_probes_own_recovery_window(tmp_path: Path) -> None:
    # api with a 3 s recovery window: [1.5, 8.5) holds 2..8: 6 good of 7
    objectives = {"availability": 0.33, "recovery_window_s": 1.0, "probes": {"api": {"recovery_window_s": 3.0}}}
    verdicts = {v.name: v for v in _two_probes(tmp_path).evaluate(objectives)}
    assert verdicts["api availability"].measured == pytest.approx(6 / 7)
    assert verdicts["app availability"].measured == pytest.approx(0.4)


def test_objectives_for_a_probe_that_did_not_run_are_not_measured(tmp_path: Path) -> None:
    objectives = {"max_outage_s": 5.0, "probes": {"kube-apl": {"availability": 0.99}}}  # a typo must not pass
    verdicts = {v.name: v for v in _two_probes(tmp_path).evaluate(objectives)}
    missed = verdicts["kube-apl availability"]
    assert not missed.ok and missed.measured is None
    assert "no probe named kube-apl ran (probes that ran: api, app)" in missed.detail


@pytest.mark.parametrize(
    ("probes", "field", "expected"),
    [
        ([], "objectives.probes", "a mapping of probe name to objectives"),
        ({"api": {"acked_writes_lost": 0}}, "objectives.probes.api", "a mapping of some of max_outage_s"),
        ({"api": {}}, "objectives.probes.api", "a mapping of some of"),
        ({"api": {"availability": 1.5}}, "objectives.probes.api.availability", "a ratio from 0 to 1"),
        ({"api": {"max_outage_s": -1}}, "objectives.probes.api.max_outage_s", "a finite number >= 0"),
        ({"api": {"max_outage_s": True}}, "objectives.probes.api.max_outage_s", "a finite number >= 0"),
        ({"api": {"max_outage_s": float("inf")}}, "objectives.probes.api.max_outage_s", "a finite number >= 0"),
        ({"api": {"max_outage_s": "5s"}}, "objectives.probes.api.max_outage_s", "a finite number >= 0"),
    ],
)
def test_bad_probe_objectives_name_the_field(tmp_path: Path, probes: object, field: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _two_probes(tmp_path).evaluate({"max_outage_s": 5.0, "probes": probes})
    assert caught.value.field == field and expected in caught.value.expected, str(caught.value)
