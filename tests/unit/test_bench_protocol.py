"""bench/scan_pods.py compares like for like: warm-up then median of N per side, and a tool run only
counts when the tool exited 0/1, printed JSON and scored every object (stand-in tools here: the
protocol is the logic under test, not kube-score)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "scan_pods.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scan_pods", BENCH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["scan_pods"] = mod
    spec.loader.exec_module(mod)
    return mod


def _tool(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "tool.py"
    script.write_text(body)
    return [sys.executable, str(script)]


def test_warm_up_then_median_of_n(bench: ModuleType) -> None:
    calls = []
    timing, result = bench._measure(lambda: calls.append(1) or len(calls), 5)
    assert len(calls) == 6 and result == 6  # one warm-up, five timed
    assert len(timing.wall) == len(timing.cpu) == 5
    assert timing.wall_median == sorted(timing.wall)[2]


def test_a_tool_run_counts_only_when_it_scored_every_object(bench: ModuleType, tmp_path: Path) -> None:
    good = _tool(tmp_path, "import json\nprint(json.dumps([{'n': i} for i in range(3)]))\nraise SystemExit(1)")
    timing, _ = bench._tool_runs(good, 3, 60, 3)  # exit 1 = kube-score found a critical problem: a valid run
    assert len(timing.wall) == 3
    short = _tool(tmp_path, "import json; print(json.dumps([{'object_name': 0}]))")
    with pytest.raises(RuntimeError, match="scored 1 objects of 3"):
        bench._tool_runs(short, 3, 60, 3)
    broken = _tool(tmp_path, "import sys; print('Failed to parse', file=sys.stderr); raise SystemExit(2)")
    with pytest.raises(RuntimeError, match="exit 2"):
        bench._tool_runs(broken, 3, 60, 3)
    garbage = _tool(tmp_path, "print('not json')")
    with pytest.raises(RuntimeError, match="not JSON"):
        bench._tool_runs(garbage, 3, 60, 3)


def test_the_bench_prints_versions_and_the_protocol(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--pods", "60", "--runs", "2", "--no-tools"]) == 0
    out = capsys.readouterr().out
    assert "PyYAML" in out and "hadrill 0.1.0" in out and "1 warm-up, then median of 2 runs" in out
    assert bench.KUBE_SCORE_VERSION.startswith("v") and bench.KUBE_SCORE.version == bench.KUBE_SCORE_VERSION
