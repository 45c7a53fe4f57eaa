"""RemoteProbe on the harness host itself (``local://``): start, read back, stop, clean up.

The reading of the log is also checked against a fake target with generated logs (junk and torn
lines among good ones).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hadrill.clients.targets import Result
from hadrill.probes.remote import RemoteProbe
from hadrill.probes.sampler import Sample

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Five samples (the third failed), then a line cut short, then it waits to be stopped (bounded).
SCRIPT = """\
import json, sys, time
with open(sys.argv[1], "a") as log:
    for i in range(5):
        t = time.time()
        ok = i != 2
        line = {"start": t, "end": t + 0.001, "ok": ok, "error": None if ok else "EIO", "detail": {"key": f"f{i}"}}
        log.write(json.dumps(line) + "\\n")
        log.flush()
    log.write('{"start": 1700000000.0, "end": 17')
    log.flush()
    time.sleep(float(sys.argv[2]))
"""


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for a reaper that is not ours does not count)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] != "Z"


def _wait(predicate: Any, limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@pytest.fixture
def probe_cleanup() -> Any:
    """Stop every probe a test started, even when the test fails half-way."""
    started: list[RemoteProbe] = []
    yield started.append
    for probe in started:
        if probe.running:
            probe.stop()


def _probe(tmp_path: Path, sleep: float, name: str = "fake-write") -> RemoteProbe:
    script = str(tmp_path / "bin" / "probe.py")
    return RemoteProbe(
        "local://", f"{sys.executable} {script} {{log}} {sleep}", name=name, interval=0.1, scripts={script: SCRIPT}
    )


def test_start_refresh_stop(tmp_path: Path, probe_cleanup: Any) -> None:
    probe = _probe(tmp_path, sleep=30)
    assert probe.log.startswith("/tmp/hadrill-probe-") and probe.log.endswith(".jsonl")
    assert "{log}" not in probe.command and probe.log in probe.command
    assert not probe.running
    probe_cleanup(probe.start())
    assert probe.running
    script = tmp_path / "bin" / "probe.py"
    assert script.read_text() == SCRIPT and stat.S_IMODE(script.stat().st_mode) == 0o755

    assert _wait(lambda: len(probe.refresh()) == 5), probe.history.samples()
    pid = int(Path(probe.log + ".pid").read_text())
    assert _alive(pid)

    t0 = time.monotonic()
    history = probe.stop()
    assert time.monotonic() - t0 < 5.0
    assert not probe.running
    assert history is probe.history
    assert history.name == "fake-write" and history.interval == 0.1
    samples = history.samples()
    assert len(samples) == 5  # the torn last line is skipped
    assert [s.detail for s in samples] == [{"key": f"f{i}"} for i in range(5)]
    assert [s.ok for s in samples] == [True, True, False, True, True]
    assert history.failures()[0].error == "EIO"
    assert all(abs(s.latency - 0.001) < 1e-6 for s in samples)
    assert not os.path.exists(probe.log) and not os.path.exists(probe.log + ".pid")
    assert _wait(lambda: not _alive(pid), 5.0)


def test_probe_that_ended_by_itself_is_still_read_and_cleaned(tmp_path: Path, probe_cleanup: Any) -> None:
    probe = _probe(tmp_path, sleep=0)
    probe_cleanup(probe.start())
    assert _wait(lambda: os.path.exists(probe.log + ".pid"))
    pid = int(Path(probe.log + ".pid").read_text())
    assert _wait(lambda: not _alive(pid))
    history = probe.stop()
    assert len(history) == 5
    assert not os.path.exists(probe.log) and not os.path.exists(probe.log + ".pid")


def test_stop_of_a_probe_that_never_wrote(tmp_path: Path, probe_cleanup: Any) -> None:
    probe = RemoteProbe("local://", f"{sys.executable} -c 'import time; time.sleep(30)'", name="silent")
    probe_cleanup(probe.start())
    assert _wait(lambda: os.path.exists(probe.log + ".pid"))
    pid = int(Path(probe.log + ".pid").read_text())
    assert len(probe.stop()) == 0
    assert not os.path.exists(probe.log + ".pid")
    assert _wait(lambda: not _alive(pid), 5.0)


def test_two_probes_have_their_own_logs(tmp_path: Path) -> None:
    a, b = _probe(tmp_path, 0, "a"), _probe(tmp_path, 0, "b")
    assert a.log != b.log


# --- reading the log, with a fake target ------------------------------------------------------------


class _FakeTarget:
    def __init__(self) -> None:
        self.stdout = ""
        self.commands: list[str] = []

    def run(self, command: str, *, timeout: float = 30.0) -> Result:
        self.commands.append(command)
        return Result(0, self.stdout, "") if command.startswith("cat ") else Result(0, "", "")


_TIME = st.floats(0, 2e9, allow_nan=False)
_DETAIL = st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=12), st.integers())))


@st.composite
def _good(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(_TIME)
    line: dict[str, Any] = {
        "start": start,
        "end": start + draw(st.floats(0, 100, allow_nan=False)),
        "ok": draw(st.booleans()),
        "error": draw(st.one_of(st.none(), st.text(max_size=20))),
        "detail": draw(_DETAIL),
    }
    for key in draw(st.lists(st.sampled_from(["error", "detail"]), unique=True)):
        del line[key]  # optional fields
    return line


_JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def _junk(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["text", "json", "missing", "bad-start"]))
    if kind == "text":
        return "".join(draw(st.text(max_size=60)).splitlines())
    if kind == "json":
        value = draw(_JSON)
        return json.dumps(value if not isinstance(value, dict) or "start" not in value else [value])
    line = draw(_good())
    if kind == "missing":
        del line[draw(st.sampled_from(["start", "end", "ok"]))]
    else:
        line["start"] = draw(st.sampled_from([None, "x", [], {}, "", "1,5"]))
    return json.dumps(line)


@FUZZ
@given(
    lines=st.lists(st.one_of(_good().map(lambda d: ("good", d)), _junk().map(lambda j: ("junk", j))), max_size=10),
    torn=st.one_of(st.none(), st.tuples(_good(), st.floats(0, 1, exclude_max=True))),
)
def test_refresh_keeps_exactly_the_whole_sample_lines(
    lines: list[tuple[str, Any]], torn: tuple[dict[str, Any], float] | None
) -> None:
    text = "".join((json.dumps(item) if kind == "good" else item) + "\n" for kind, item in lines)
    if torn is not None:
        whole = json.dumps(torn[0])
        text += whole[: int(len(whole) * torn[1])]  # a line the script was still writing
    fake = _FakeTarget()
    fake.stdout = text
    probe = RemoteProbe("local://", "true {log}", name="p", interval=0.5)
    with mock.patch("hadrill.probes.remote.target", lambda url: fake):
        history = probe.refresh()
    expected = [
        Sample(float(d["start"]), float(d["end"]), bool(d["ok"]), d.get("error"), d.get("detail"))
        for kind, d in lines
        if kind == "good"
    ]
    assert history.samples() == sorted(expected, key=lambda s: (s.start, s.end))
    assert probe.history is history and history.interval == 0.5
    assert fake.commands == [f"cat {probe.log} 2>/dev/null"]


def test_stop_without_start_only_reads_and_removes() -> None:
    fake = _FakeTarget()
    fake.stdout = json.dumps({"start": 1.0, "end": 2.0, "ok": True}) + "\n"
    probe = RemoteProbe("local://", "true", name="p")
    with mock.patch("hadrill.probes.remote.target", lambda url: fake):
        history = probe.stop()
    assert history.samples() == [Sample(1.0, 2.0, True)]
    assert not any(c.startswith("kill") for c in fake.commands)
    assert fake.commands[-1] == f"rm -f {probe.log} {probe.log}.pid"


def test_check_errors_has_nothing_to_raise() -> None:
    RemoteProbe("local://", "true", name="p").check_errors()
