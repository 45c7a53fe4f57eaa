"""The lab exporter script (lab/exporter_files.py) run as the images run it: one gauge per check."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hadrill.lab.exporter_files import EXPORTER, exporter_command, exporter_unit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def exporter(tmp_path: Path):  # type: ignore[no-untyped-def]
    script = tmp_path / "hadrill-exporter"
    script.write_text(EXPORTER)
    port = _free_port()
    me = Path(f"/proc/{os.getpid()}/comm").read_text().strip()  # this process's comm: a check that holds
    checks = [f"me=proc:{me}", "ghost=proc:no-such-daemon", "lo=addr:127.0.0.1", "far=addr:192.0.2.77"]
    proc = subprocess.Popen([sys.executable, str(script), str(port), *checks])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):  # bounded: up to 10 s for the interpreter to start
            try:
                urllib.request.urlopen(f"{url}/metrics", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=5)


@pytest.mark.skipif(not Path("/proc/self/comm").exists() or not shutil.which("ip"), reason="needs /proc and iproute2")
def test_exporter_reports_each_check_as_1_or_0(exporter: str) -> None:
    body = urllib.request.urlopen(f"{exporter}/metrics", timeout=2).read().decode()
    lines = {line for line in body.splitlines() if not line.startswith("#")}
    # by hand: this test's process runs, no process is called no-such-daemon, 127.0.0.1 is on lo and
    # 192.0.2.77 (TEST-NET-1) is on no interface of this machine
    assert lines == {
        'hadrill_lab_check{check="me"} 1',
        'hadrill_lab_check{check="ghost"} 0',
        'hadrill_lab_check{check="lo"} 1',
        'hadrill_lab_check{check="far"} 0',
    }
    assert "# TYPE hadrill_lab_check gauge" in body


def test_exporter_answers_only_metrics(exporter: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{exporter}/other", timeout=2)
    assert e.value.code == 404


def test_exporter_command_quotes_its_checks() -> None:
    assert (
        exporter_command({"brick": "proc:glusterfsd"}) == "/usr/local/bin/hadrill-exporter 9101 brick=proc:glusterfsd &"
    )


def test_exporter_unit_runs_the_checks_after_the_roles_units() -> None:
    unit = exporter_unit(
        {"ganesha": "proc:ganesha.nfsd", "vip": "addr:10.1.2.20"}, ("nfs-ganesha.service", "keepalived.service")
    )
    lines = unit.splitlines()
    # by hand: the port is 9101, the checks in order as single words; ordered after the role's daemons
    assert "ExecStart=/usr/local/bin/hadrill-exporter 9101 ganesha=proc:ganesha.nfsd vip=addr:10.1.2.20" in lines
    assert "After=network.target nfs-ganesha.service keepalived.service" in lines
    assert {"Restart=on-failure", "WantedBy=multi-user.target"} <= set(lines)
    # systemd would split a space, expand a % specifier or a quote: refused rather than misread
    for bad in ("proc:a b", "addr:%i", 'proc:"x"'):
        with pytest.raises(ValueError, match="single words"):
            exporter_unit({"x": bad})
