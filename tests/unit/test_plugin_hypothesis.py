"""hadrill's plugin keeps Hypothesis unimported in a pytest session that never used it, and takes nothing
away from a session that did (its statistics, its reports from xdist workers).

Each case is a real ``python -m pytest`` process in a temporary directory; a conftest there records
whether ``hypothesis`` was imported by the time pytest unconfigures (after the terminal summary).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONFTEST = """\
import sys

import pytest


def pytest_unconfigure(config):
    with open("imported.txt", "w") as fh:
        fh.write(str("hypothesis" in sys.modules))
"""
PLAIN = "def test_plain():\n    assert 1 + 1 == 2\n"
GIVEN = """\
from hypothesis import given, strategies as st


@given(st.integers(min_value=0, max_value=9))
def test_digits(x):
    assert 0 <= x < 10
"""
# what an xdist worker's report carries to the controller after a Hypothesis test failed
WORKER_REPORT = """

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    report.__dict__["_hypothesis_failing_examples"] = ""
"""


def _session(tmp_path: Path, test: str, *args: str, conftest: str = CONFTEST) -> tuple[str, str]:
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_it.py").write_text(test)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args, "test_it.py"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return (tmp_path / "imported.txt").read_text(), res.stdout


def test_a_session_without_hypothesis_does_not_import_it(tmp_path: Path) -> None:
    assert _session(tmp_path, PLAIN)[0] == "False"


def test_without_hadrill_the_summary_imports_it(tmp_path: Path) -> None:
    """Why the hook exists: upstream's terminal summary imports Hypothesis (when this fails, upstream
    stopped doing so, and the hook can go)."""
    assert _session(tmp_path, PLAIN, "-p", "no:hadrill")[0] == "True"


def test_a_report_from_a_hypothesis_test_keeps_the_summary(tmp_path: Path) -> None:
    assert _session(tmp_path, PLAIN, conftest=CONFTEST + WORKER_REPORT)[0] == "True"


def test_hypothesis_statistics_are_still_printed(tmp_path: Path) -> None:
    for args in ((), ("-p", "xdist", "-n", "1")):
        imported, out = _session(tmp_path, GIVEN, "--hypothesis-show-statistics", *args)
        assert imported == "True"
        assert "Hypothesis Statistics" in out and "test_digits" in out.split("Hypothesis Statistics", 1)[1]
