"""The scripts probes run on a client node: ``fs_writer.py`` for real on a local directory, and the
parts of ``nfs_writer.py`` that need no NFS server (libnfs replaced by an in-memory fake)."""

from __future__ import annotations

import argparse
import ctypes
import errno
import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hadrill.probes.scripts import fs_writer, nfs_writer

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FS_WRITER = str(Path(fs_writer.__file__).resolve())
NFS_WRITER = str(Path(nfs_writer.__file__).resolve())
SLACK = 3.0  # interpreter start-up and a loaded 2-core machine


def _writer(
    *args: str, stdin: str | None = None, timeout: float = 20.0
) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, FS_WRITER, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    return proc, time.monotonic() - t0


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


# --- fs_writer: writing ---------------------------------------------------------------------------


def test_bounded_run_writes_files_and_acknowledges_them(tmp_path: Path) -> None:
    root = tmp_path / "mnt"
    run = root / "hadrill-probe" / "RUN"
    log = tmp_path / "probe.jsonl"
    duration, op_timeout = 1.0, 2.0
    proc, took = _writer(
        "--dir", str(run), "--root", str(root), "--interval", "0.05", "--duration", str(duration),
        "--size", "1000", "--op-timeout", str(op_timeout), "--out", str(log),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert took < duration + op_timeout + SLACK
    lines = _lines(log.read_text())
    assert 3 <= len(lines) <= duration / 0.05 + 1
    for i, line in enumerate(lines):
        assert set(line) == {"start", "end", "ok", "error", "detail"}
        assert line["ok"] is True and line["error"] is None
        assert line["start"] <= line["end"]
        key = line["detail"]["key"]
        assert key == f"hadrill-probe/RUN/f{i:06d}"
        data = (root / key).read_bytes()
        assert data == fs_writer.content(key, 1000)
        assert line["detail"]["sha256"] == hashlib.sha256(data).hexdigest()
    starts = [line["start"] for line in lines]
    assert starts == sorted(starts)
    assert sorted(p.name for p in run.iterdir()) == [f"f{i:06d}" for i in range(len(lines))]


def test_max_bounds_the_attempts_and_stdout_is_the_default(tmp_path: Path) -> None:
    proc, took = _writer("--dir", str(tmp_path), "--interval", "0.01", "--max", "3", "--size", "0")
    assert proc.returncode == 0, proc.stderr
    assert took < SLACK
    lines = _lines(proc.stdout)
    assert [line["detail"]["key"] for line in lines] == ["f000000", "f000001", "f000002"]
    assert all(line["detail"]["sha256"] == hashlib.sha256(b"").hexdigest() for line in lines)
    assert all((tmp_path / line["detail"]["key"]).stat().st_size == 0 for line in lines)


def test_sigterm_stops_the_writer_promptly(tmp_path: Path) -> None:
    log = tmp_path / "probe.jsonl"
    args = ["--dir", str(tmp_path / "d"), "--interval", "0.05", "--duration", "30", "--out", str(log)]
    proc = subprocess.Popen([sys.executable, FS_WRITER, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (not log.exists() or log.read_text().count("\n") < 2):
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = _lines(log.read_text())  # every line whole: the writer finished its attempt before it stopped
    assert len(lines) >= 2 and all(line["ok"] for line in lines)


def test_failure_is_named_by_errno(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    proc, _ = _writer("--dir", str(blocker / "run"), "--root", str(tmp_path), "--interval", "0.01", "--max", "2")
    assert proc.returncode == 0, proc.stderr
    lines = _lines(proc.stdout)
    assert len(lines) == 2
    for i, line in enumerate(lines):
        assert line["ok"] is False
        assert line["error"] == "ENOTDIR"
        assert line["detail"]["op"] == "mkdir"
        assert line["detail"]["message"]
        assert line["detail"]["key"] == f"not-a-dir/run/f{i:06d}"
        assert len(line["detail"]["sha256"]) == 64


def _fifos(directory: Path, n: int) -> None:
    """Files whose open(O_WRONLY) blocks until a reader comes: a stand-in for a frozen FUSE mount."""
    directory.mkdir()
    for i in range(n):
        os.mkfifo(directory / f"f{i:06d}")


def test_blocked_operations_time_out_then_the_writer_stops_starting_new_ones(tmp_path: Path) -> None:
    _fifos(tmp_path / "d", 20)
    proc, took = _writer(
        "--dir", str(tmp_path / "d"), "--interval", "0.01", "--op-timeout", "0.05", "--max", "20", "--duration", "30"
    )
    assert proc.returncode == 0, proc.stderr  # exits although 16 threads are still blocked in open()
    assert took < 20 * 0.05 + SLACK
    lines = _lines(proc.stdout)
    assert len(lines) == 20
    blocked, busy = lines[: fs_writer.MAX_BLOCKED], lines[fs_writer.MAX_BLOCKED :]
    assert all(not line["ok"] and line["error"] == "ETIMEDOUT" for line in blocked)
    assert all(
        line["detail"]["op"] == "open" and "still blocked in open" in line["detail"]["message"] for line in blocked
    )
    assert all(not line["ok"] and line["error"] == "EBUSY" for line in busy)
    assert all(line["end"] - line["start"] >= 0.04 for line in blocked)


def test_blocked_operation_does_not_extend_the_duration_beyond_op_timeout(tmp_path: Path) -> None:
    _fifos(tmp_path / "d", 10)
    duration, op_timeout = 0.5, 0.4
    proc, took = _writer(
        "--dir", str(tmp_path / "d"), "--interval", "0.05", "--op-timeout", str(op_timeout),
        "--duration", str(duration),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert took < duration + op_timeout + SLACK
    lines = _lines(proc.stdout)
    assert 1 <= len(lines) <= 2
    assert all(line["error"] == "ETIMEDOUT" for line in lines)
    assert lines[-1]["start"] - lines[0]["start"] < duration


@pytest.mark.parametrize(
    "bad", [["--interval", "0"], ["--duration", "-1"], ["--op-timeout", "0"], ["--size", "-1"], ["--max", "x"]]
)
def test_bad_arguments_are_refused(tmp_path: Path, bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        fs_writer.main(["--dir", str(tmp_path), *bad])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --- fs_writer: verifying -------------------------------------------------------------------------


def test_verify_reports_only_intact_files(tmp_path: Path) -> None:
    root = tmp_path / "mnt"
    proc, _ = _writer("--dir", str(root / "run"), "--root", str(root), "--interval", "0.01", "--max", "6")
    acked = {line["detail"]["key"]: line["detail"]["sha256"] for line in _lines(proc.stdout) if line["ok"]}
    keys = sorted(acked)
    assert len(keys) == 6
    (root / keys[1]).unlink()  # missing
    corrupt = root / keys[2]
    data = bytearray(corrupt.read_bytes())
    data[100] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    (root / keys[3]).write_bytes(b"")  # truncated
    listing = "".join(f"{k} {acked[k]}\n" for k in keys)
    listing += "a-line-with-one-field\n\n" + f"run/never-written {acked[keys[0]]}\n" + f"{keys[4]} {'0' * 64}\n"
    proc, took = _writer("--verify", "--dir", str(root), stdin=listing)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [keys[0], keys[4], keys[5]]
    assert took < SLACK


def test_verify_of_nothing_prints_nothing(tmp_path: Path) -> None:
    proc, _ = _writer("--verify", "--dir", str(tmp_path), stdin="")
    assert (proc.returncode, proc.stdout) == (0, "")


@FUZZ
@given(
    fates=st.lists(st.sampled_from(["good", "missing", "corrupt", "wrong-sha", "directory"]), max_size=8),
    size=st.integers(1, 300),
)
def test_verify_in_process(fates: list[str], size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        listing, expected = [], []
        for i, fate in enumerate(fates):
            key = f"run/f{i:06d}"
            data = fs_writer.content(key, size)
            sha = hashlib.sha256(data).hexdigest()
            (root / "run").mkdir(exist_ok=True)
            if fate == "directory":
                (root / key).mkdir()
            elif fate != "missing":
                (root / key).write_bytes(data if fate != "corrupt" else data[:-1] + b"\x00")
            listing.append(f"{key} {sha if fate != 'wrong-sha' else sha[::-1]}\n")
            if fate == "good":
                expected.append(key)
        out = io.StringIO()
        args = argparse.Namespace(dir=tmp, duration=30.0, op_timeout=5.0)
        assert fs_writer.verify(args, io.StringIO("".join(listing)), out) == len(expected)
        assert out.getvalue().split() == expected


@FUZZ
@given(key=st.text(max_size=40), size=st.integers(0, 5000))
def test_content_is_deterministic_sized_and_names_its_key(key: str, size: int) -> None:
    data = fs_writer.content(key, size)
    assert len(data) == size
    assert data == fs_writer.content(key, size)
    unit = f"{key} hadrill\n".encode()
    assert data == (unit * (size // len(unit) + 1))[:size]


# --- nfs_writer: pure parts, libnfs faked ---------------------------------------------------------


class FakeLibnfs:
    """Enough of libnfs for nfs_writer's Client: an in-memory export, with failures on demand."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.dirs: list[str] = []
        self.handles: dict[int, list[Any]] = {}
        self.contexts = 0
        self.destroyed = 0
        self.closed = 0
        self.fail: dict[str, int] = {}  # call name -> rc for the next call(s)
        self.fail_times: dict[str, int] = {}
        self.short_write = False
        self.error = b""

    def _failing(self, name: str) -> int:
        if self.fail_times.get(name, 0) > 0:
            self.fail_times[name] -= 1
            self.error = f"{name} failed".encode()
            return self.fail[name]
        return 0

    def nfs_init_context(self) -> int:
        self.contexts += 1
        return 1000 + self.contexts

    def nfs_destroy_context(self, ctx: int) -> None:
        self.destroyed += 1

    def nfs_get_error(self, ctx: int) -> bytes:
        return self.error

    def nfs_set_timeout(self, ctx: int, ms: int) -> None:
        assert ms >= 1000

    def nfs_set_autoreconnect(self, ctx: int, on: int) -> None:
        assert on == 0

    def nfs_mount(self, ctx: int, host: bytes, export: bytes) -> int:
        return self._failing("mount")

    def nfs_mkdir(self, ctx: int, path: bytes) -> int:
        self.dirs.append(path.decode())
        return 0

    def _handle(self, fhp: Any, path: bytes, data: bytes | None) -> int:
        handle = len(self.handles) + 1
        fhp._obj.value = handle
        self.handles[handle] = [path.decode(), bytearray() if data is None else bytearray(data), 0]
        return 0

    def nfs_create(self, ctx: int, path: bytes, flags: int, mode: int, fhp: Any) -> int:
        assert flags & os.O_CREAT and mode == 0o644
        return self._failing("create") or self._handle(fhp, path, None)

    def nfs_open(self, ctx: int, path: bytes, flags: int, fhp: Any) -> int:
        if rc := self._failing("open"):
            return rc
        if path.decode() not in self.files:
            self.error = b"open: No such file or directory"
            return -errno.ENOENT
        return self._handle(fhp, path, self.files[path.decode()])

    def nfs_write(self, ctx: int, fh: ctypes.c_void_p, n: int, data: bytes) -> int:
        if rc := self._failing("write"):
            return rc
        n = n // 2 if self.short_write else n
        self.handles[fh.value][1] += data[:n]  # type: ignore[index]
        return n

    def nfs_read(self, ctx: int, fh: ctypes.c_void_p, n: int, buf: Any) -> int:
        entry = self.handles[fh.value]  # type: ignore[index]
        chunk = bytes(entry[1][entry[2] : entry[2] + min(n, 1000)])  # short reads, as a real server may do
        ctypes.memmove(buf, chunk, len(chunk))
        entry[2] += len(chunk)
        return len(chunk)

    def nfs_fsync(self, ctx: int, fh: ctypes.c_void_p) -> int:
        if rc := self._failing("fsync"):
            return rc
        path, data, _ = self.handles[fh.value]  # type: ignore[index]
        self.files[path] = bytes(data)
        return 0

    def nfs_close(self, ctx: int, fh: ctypes.c_void_p) -> int:
        self.closed += 1
        self.handles.pop(fh.value)  # type: ignore[arg-type]
        return 0

    def fail_next(self, name: str, rc: int, times: int = 1) -> None:
        self.fail[name], self.fail_times[name] = rc, times


class _Dog:
    def __init__(self) -> None:
        self.armed: int | None = None
        self.arms = 0

    def arm(self, ctx: int | None) -> None:
        self.armed, self.arms = ctx, self.arms + 1

    def disarm(self) -> None:
        self.armed = None


def _client(lib: FakeLibnfs, url: str = "nfs://10.0.0.50/export") -> nfs_writer.Client:
    return nfs_writer.Client(lib, url, 1.0, 0.0, _Dog())  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["http://10.0.0.50/export", "nfs://10.0.0.50", "nfs:///export", "10.0.0.50:/export"])
def test_client_refuses_a_url_that_is_not_nfs(url: str) -> None:
    with pytest.raises(SystemExit, match="nfs://HOST/EXPORT"):
        _client(FakeLibnfs(), url)


def test_client_url_parts() -> None:
    c = _client(FakeLibnfs(), "nfs://vip.example:2049/srv/export")
    assert (c.host, c.export, c.ctx) == ("vip.example", "/srv/export", None)


def test_put_then_get_round_trip() -> None:
    lib = FakeLibnfs()
    c = _client(lib)
    data = os.urandom(5000)
    c.op(c.mkdirs, "/a/b/c/")
    c.op(c.put, "/a/b/c/w0000000", data)
    assert lib.dirs == ["/a", "/a/b", "/a/b/c"]
    assert c.op(c.get, "/a/b/c/w0000000") == data
    assert lib.contexts == 1 and lib.handles == {}  # one mount for all, every handle closed
    assert c.dog.armed is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("call", "rc", "what"),
    [("create", -5, "create rc=-5"), ("write", -5, "write (100 bytes) rc=-5"), ("fsync", -5, "fsync rc=-5")],
)
def test_a_failed_call_raises_closes_the_file_and_drops_the_context(call: str, rc: int, what: str) -> None:
    lib = FakeLibnfs()
    c = _client(lib)
    lib.fail_next(call, rc)
    with pytest.raises(nfs_writer.NfsError, match=re.escape(what)) as exc:
        c.op(c.put, "/f", b"x" * 100)
    assert exc.value.rc == rc
    assert f"{call} failed" in str(exc.value)
    assert lib.handles == {}  # closed even though the write or fsync failed
    assert c.ctx is None and lib.destroyed == 1
    assert "/f" not in lib.files
    c.op(c.put, "/f", b"y")  # the next operation reconnects
    assert lib.contexts == 2 and lib.files["/f"] == b"y"


def test_a_short_write_is_a_failure() -> None:
    lib = FakeLibnfs()
    lib.short_write = True
    c = _client(lib)
    with pytest.raises(nfs_writer.NfsError, match=r"write \(10 bytes\) rc=5"):
        c.op(c.put, "/f", b"0123456789")


def test_a_failed_mount_leaves_no_context() -> None:
    lib = FakeLibnfs()
    lib.fail_next("mount", -13)
    c = _client(lib)
    with pytest.raises(nfs_writer.NfsError, match="mount rc=-13 mount failed"):
        c.op(c.put, "/f", b"x")
    assert c.ctx is None and lib.destroyed == 1


def test_precheck_fails_fast_when_nothing_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nothing listens on: bound, never listening, then closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(nfs_writer, "NFS_PORT", port)
    lib = FakeLibnfs()
    c = nfs_writer.Client(lib, "nfs://127.0.0.1/export", 1.0, 0.5, _Dog())  # type: ignore[arg-type]
    with pytest.raises(nfs_writer.NfsError, match=f"precheck 127.0.0.1:{port}"):
        c.op(c.put, "/f", b"x")
    assert lib.contexts == 0 and c.ctx is None


def _args(tmp_path: Path, **kw: Any) -> argparse.Namespace:
    base: dict[str, Any] = {
        "dir": "hadrill-probe/RUN", "interval": 0.0, "duration": 30.0, "max": 5, "log": str(tmp_path / "w.jsonl"),
        "verify": None,
    }  # fmt: skip
    base.update(kw)
    return argparse.Namespace(**base)


def test_write_loop_lines_and_reconnect_after_a_failure(tmp_path: Path) -> None:
    lib = FakeLibnfs()
    c = _client(lib)
    lib.fail_next("mount", -111)  # the first sample cannot even mount
    a = _args(tmp_path)
    nfs_writer.write_loop(a, c)
    lines = _lines(Path(a.log).read_text())
    assert len(lines) == 5
    assert [line["detail"]["key"] for line in lines] == [f"/hadrill-probe/RUN/w{i:07d}" for i in range(5)]
    first, rest = lines[0], lines[1:]
    assert first["ok"] is False and first["error"].startswith("mount rc=-111")
    assert "sha256" not in first["detail"]
    for line in rest:
        assert line["ok"] is True and line["error"] is None and line["start"] <= line["end"]
        assert hashlib.sha256(lib.files[line["detail"]["key"]]).hexdigest() == line["detail"]["sha256"]
    assert lib.dirs[-2:] == ["/hadrill-probe", "/hadrill-probe/RUN"]
    assert c.ctx is None  # closed at the end


def test_write_loop_stops_at_its_duration(tmp_path: Path) -> None:
    c = _client(FakeLibnfs())
    a = _args(tmp_path, interval=0.05, duration=0.3, max=1000)
    t0 = time.monotonic()
    nfs_writer.write_loop(a, c)
    assert time.monotonic() - t0 < 0.3 + 1.0
    assert 1 <= len(Path(a.log).read_text().splitlines()) <= 0.3 / 0.05 + 1


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """verify() retries a failed read after 0.2 s: skip the wait, keep the clock."""
    fake = SimpleNamespace(monotonic=time.monotonic, time=time.time, sleep=lambda _s: None)
    monkeypatch.setattr(nfs_writer, "time", fake)


def _verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], c: nfs_writer.Client, wanted: list[dict[str, str]], **kw: Any
) -> dict[str, Any]:
    listing = tmp_path / "acked.jsonl"
    listing.write_text("".join(json.dumps(w) + "\n" for w in wanted) + "\n")  # a blank line is skipped
    kw.setdefault("max", 100)
    capsys.readouterr()
    nfs_writer.verify(_args(tmp_path, verify=str(listing), **kw), c)
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_verify_counts_good_missing_corrupt_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_sleep: None
) -> None:
    lib = FakeLibnfs()
    c = _client(lib)
    for name in ("good1", "good2", "corrupt", "unreadable"):
        c.op(c.put, f"/d/{name}", name.encode())
    lib.files["/d/corrupt"] = b"bit rot"
    sha = {k: hashlib.sha256(v).hexdigest() for k, v in lib.files.items()}
    wanted = [{"key": k, "sha256": sha[k]} for k in sorted(sha)]
    wanted.append({"key": "/d/missing", "sha256": "0" * 64})
    wanted[0]["sha256"] = hashlib.sha256(b"corrupt").hexdigest()  # /d/corrupt: acked content, now rotten

    real_open = lib.nfs_open

    def flaky_open(ctx: int, path: bytes, flags: int, fhp: Any) -> int:
        return -5 if path == b"/d/unreadable" else real_open(ctx, path, flags, fhp)

    lib.nfs_open = flaky_open  # type: ignore[method-assign]
    assert _verify(tmp_path, capsys, c, wanted) == {
        "good": ["/d/good1", "/d/good2"],
        "missing": 1,
        "corrupt": 1,
        "errors": 1,
    }
    assert c.ctx is None


def test_verify_retries_a_failed_read(tmp_path: Path, capsys: pytest.CaptureFixture[str], no_sleep: None) -> None:
    lib = FakeLibnfs()
    c = _client(lib)
    c.op(c.put, "/f", b"data")
    lib.fail_next("open", -110, times=3)  # the VIP settling: three timeouts, then an answer
    result = _verify(tmp_path, capsys, c, [{"key": "/f", "sha256": hashlib.sha256(b"data").hexdigest()}])
    assert result == {"good": ["/f"], "missing": 0, "corrupt": 0, "errors": 0}
    assert lib.contexts == 4  # a new context after each failure


def test_verify_unchecked_keys_are_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib = FakeLibnfs()
    c = _client(lib)
    wanted = []
    for i in range(4):
        c.op(c.put, f"/f{i}", b"x")
        wanted.append({"key": f"/f{i}", "sha256": hashlib.sha256(b"x").hexdigest()})
    assert _verify(tmp_path, capsys, c, wanted, duration=0.0) == {"good": [], "missing": 0, "corrupt": 0, "errors": 4}
    only_two = _verify(tmp_path, capsys, c, wanted, max=2)  # --max: the first two are read, the rest unchecked
    assert only_two == {"good": ["/f0", "/f1"], "missing": 0, "corrupt": 0, "errors": 2}


def test_watchdog_shuts_the_socket_of_a_stuck_operation() -> None:
    a, b = socket.socketpair()
    lib = SimpleNamespace(nfs_get_fd=lambda ctx: a.fileno())
    dog = nfs_writer.Watchdog(lib, 0.2)  # type: ignore[arg-type]
    b.settimeout(5.0)
    try:
        dog.arm(1)
        t0 = time.monotonic()
        assert b.recv(10) == b""  # the peer sees the shutdown: libnfs' call would fail now
        assert 0.15 <= time.monotonic() - t0 < 3.0
    finally:
        dog.disarm()  # at once: a watchdog armed 5 s past its limit ends the process
        a.close()
        b.close()


def test_watchdog_disarmed_in_time_does_nothing() -> None:
    a, b = socket.socketpair()
    fired = threading.Event()

    def get_fd(ctx: int) -> int:
        fired.set()
        return a.fileno()

    dog = nfs_writer.Watchdog(SimpleNamespace(nfs_get_fd=get_fd), 1.0)  # type: ignore[arg-type]
    try:
        for _ in range(3):  # each operation done well within the limit
            dog.arm(1)
            time.sleep(0.1)
            dog.disarm()
        assert not fired.wait(0.2)
        a.sendall(b"ok")
        assert b.recv(2) == b"ok"
    finally:
        dog.disarm()
        a.close()
        b.close()


def test_nfs_writer_needs_a_url() -> None:
    proc = subprocess.run([sys.executable, NFS_WRITER], capture_output=True, text=True, timeout=20, check=False)
    assert proc.returncode == 2
    assert "--url" in proc.stderr
