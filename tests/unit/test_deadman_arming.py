"""Arming a deadman in one round trip, and the host deadman's engine check without the Docker SDK.

The arming command is run by this machine's own ``sh`` (the targets run the same POSIX shell
command); the engine is a Unix socket served here that answers as dockerd does (``HTTP/1.0 200 OK``,
body ``OK``) or does not.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker.errors import APIError

from hadrill.clients import targets
from hadrill.errors import TargetError
from hadrill.faults import deadman
from hadrill.faults.ledger import FaultRecord

sys.path.insert(0, str(Path(deadman.__file__).parent))
import hostdeadman  # run as a file by arm_on_host: imported the same way here


def _record() -> FaultRecord:
    now = time.time()
    return FaultRecord(id=f"t{uuid.uuid4().hex[:10]}", kind="k", target="local://", params={}, created=now,
                       deadline=now + 30)  # fmt: skip


@pytest.fixture
def record() -> Iterator[FaultRecord]:
    rec = _record()
    yield rec
    subprocess.run(["pkill", "-f", deadman._pattern(rec.id)], check=False)  # the deadman this test started


def _found(rec: FaultRecord) -> bool:
    return subprocess.run(["pgrep", "-f", deadman._pattern(rec.id)], capture_output=True).returncode == 0


def test_the_arming_command_cannot_be_taken_for_the_deadman(record: FaultRecord) -> None:
    cmd = deadman.arm_command(record, "true")
    pattern = deadman._pattern(record.id)
    # pgrep -f would see the arming shell's own command line: it must not match, the deadman's must
    assert re.search(pattern, cmd) is None
    assert re.search(pattern, f"sh -c {deadman.script(record, 'true')}")


@pytest.mark.skipif(not all(shutil.which(p) for p in ("setsid", "pgrep", "base64")), reason="needs procps")
def test_arming_starts_the_deadman_and_says_so(record: FaultRecord, tmp_path: Path) -> None:
    assert not _found(record)
    res = subprocess.run(["sh", "-c", deadman.arm_command(record, "true")], capture_output=True, timeout=20)
    assert res.returncode == 0, res.stderr
    assert _found(record)  # the deadman itself, after the arming shell is gone


@pytest.mark.skipif(not all(shutil.which(p) for p in ("pgrep", "base64")), reason="needs procps")
def test_arming_fails_when_the_deadman_does_not_run(
    record: FaultRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a PATH with every tool but setsid: the deadman is never started, and arming must say so
    for tool in ("sh", "base64", "printf", "pgrep", "sleep"):
        where = shutil.which(tool)
        if where:
            (tmp_path / tool).symlink_to(where)
    monkeypatch.setattr(deadman, "_ALIVE_S", 0.5)
    cmd = deadman.arm_command(record, "true")
    res = subprocess.run([str(tmp_path / "sh"), "-c", cmd], capture_output=True, timeout=20,
                         env={**os.environ, "PATH": str(tmp_path)})  # fmt: skip
    assert res.returncode == 1
    assert not _found(record)


# -- the host deadman's engine check ---------------------------------------------------------------------
def _serve(path: Path, answer: bytes) -> threading.Thread:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)

    def once() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(answer)
        srv.close()

    thread = threading.Thread(target=once, daemon=True)
    thread.start()
    return thread


def test_the_engine_answering_ok_is_proof(tmp_path: Path) -> None:
    sock = tmp_path / "d.sock"
    _serve(sock, b"HTTP/1.0 200 OK\r\nApi-Version: 1.47\r\nContent-Length: 2\r\n\r\nOK")
    assert hostdeadman.ping_unix(str(sock), timeout=5) is True


@pytest.mark.parametrize("answer", [
    b"HTTP/1.0 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nOK",
    b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"",
])  # fmt: skip
def test_an_engine_not_answering_ok_is_no_proof(tmp_path: Path, answer: bytes) -> None:
    sock = tmp_path / "d.sock"
    _serve(sock, answer)
    assert hostdeadman.ping_unix(str(sock), timeout=5) is False


def test_no_engine_is_no_proof(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        hostdeadman.ping_unix(str(tmp_path / "absent.sock"), timeout=1)


def test_which_docker_host_is_a_unix_socket() -> None:
    assert hostdeadman.unix_socket(None) == "/var/run/docker.sock"
    assert hostdeadman.unix_socket("") == "/var/run/docker.sock"
    assert hostdeadman.unix_socket("unix:///run/user/1000/docker.sock") == "/run/user/1000/docker.sock"
    assert hostdeadman.unix_socket("tcp://10.0.0.1:2376") is None  # then the SDK pings
    assert hostdeadman.unix_socket("ssh://root@h") is None


# -- docker:// targets through the engine's API --------------------------------------------------------
def test_an_engine_refusal_is_exit_1_as_with_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(name: str, argv: list[str], **kw: object) -> tuple[int, bytes, bytes]:
        raise APIError("409 Conflict", explanation=f"container {name} is not running")

    monkeypatch.setattr(targets, "exec_in", refuse)
    res = targets.Target("docker://c1").run("pgrep x")
    assert (res.rc, res.stdout) == (1, "")
    assert "container c1 is not running" in res.stderr


def test_an_unreachable_engine_is_an_error_not_an_exit_status(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(name: str, argv: list[str], **kw: object) -> tuple[int, bytes, bytes]:
        raise ConnectionError("engine socket refused")

    monkeypatch.setattr(targets, "exec_in", unreachable)
    with pytest.raises(TargetError, match="engine socket refused"):
        targets.Target("docker://c1").run("true")


def test_the_command_runs_bounded_and_as_the_urls_user(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def fake(name: str, argv: list[str], *, user: str | None = None, timeout: float = 0) -> tuple[int, bytes, bytes]:
        seen.update(name=name, argv=argv, user=user)
        return 3, b"out", b"err"

    monkeypatch.setattr(targets, "exec_in", fake)
    res = targets.Target("docker://nobody@c2").run("echo hi", timeout=7)
    assert (res.rc, res.stdout, res.stderr) == (3, "out", "err")
    assert seen == {"name": "c2", "user": "nobody", "argv": ["/bin/sh", "-c", "timeout -k 2 7 sh -c 'echo hi'"]}
