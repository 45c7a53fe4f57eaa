"""The exercise end to end on a real offline lab: a drill over both etcd experiments writes the whole
report; a too-strict objective fails its scenario and the CLI's exit code; the report renders in a
real browser (headless Chromium, Debian's ``chromium`` installed by ``.ci/bootstrap``) with no
console error, its charts in the DOM, and a screenshot that is not blank.

One etcd-only lab for the module (``hdt-<worker>-drill``) and an isolated state directory (ledger,
inventory). Traffic goes only to the lab's containers and loopback; Chromium opens a file:// page
with its background networking disabled.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hadrill.drill import DrillResult, run_drill
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import LabFile, default_lab_file
from hadrill.plan import load_plan
from hadrill.progress import Progress

pytestmark = [pytest.mark.lab]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
ROOT = Path(__file__).resolve().parents[2]
ETCD_EXPERIMENTS = sorted((ROOT / "experiments").glob("etcd-*.yaml"))
BROWSER_TIMEOUT = 120  # seconds one headless Chromium run may take
CONSOLE_PROBLEM = re.compile(r"CONSOLE|Uncaught|Failed to load resource|net::ERR_")


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    """An etcd-only lab, whatever else the default lab file runs."""
    others = {part: None for part in ("nfs", "gluster", "kubernetes", "monitoring") if part in LabFile.model_fields}
    spec = default_lab_file().with_name(f"hdt-{WORKER}-drill").model_copy(update=others)
    lab = Lab(spec, owner="pytest")
    try:
        lab.down()  # a killed earlier run's leftover must not leak in
        lab.up()
        yield lab
    finally:
        lab.down()


def write_plan(folder: Path, scenarios: list[dict[str, object]], title: str = "PRA drill test") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plan = {"title": title, "platform": "offline lab", "date": "2026-11-23", "coordinator": "Alice Martin",
            "participants": [{"name": "Bob Durand", "role": "etcd on-call"}], "scenarios": scenarios}  # fmt: skip
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def drill(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> DrillResult:
    """Both etcd experiments, with their own objectives, through run_drill."""
    folder = tmp_path_factory.mktemp("drill")
    plan = load_plan(write_plan(folder, [{"experiment": str(p)} for p in ETCD_EXPERIMENTS]))
    return run_drill(plan, lab.inventory_path, folder / "report", Progress(quiet=True))


# -- the report ----------------------------------------------------------------------------------------
def test_drill_writes_every_report_file(drill: DrillResult) -> None:
    out = drill.out_dir
    assert len(ETCD_EXPERIMENTS) == 2
    for name in ("index.html", "report.md", "report.json", "junit.xml", "SHA256SUMS", "journals/drill.json"):
        assert (out / name).is_file(), name
    assert drill.index == out / "index.html"
    assert [s.name for s in drill.scenarios] == [p.stem for p in ETCD_EXPERIMENTS]
    assert all(s.status in ("passed", "failed") and s.journal for s in drill.scenarios), drill.scenarios

    cases = ET.parse(out / "junit.xml").getroot().findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [p.stem for p in ETCD_EXPERIMENTS]
    assert all(any(p.get("name") == "max_outage_s.measured" for p in c.iter("property")) for c in cases)

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["coordinator"] == "Alice Martin" and len(report["scenarios"]) == 2
    for s in report["scenarios"]:
        assert s["measured"]["max_outage_s"]["measured"] is not None
        assert s["measured"]["acked_writes_lost"]["measured"] is not None
    versions = report["versions"]["etcd"]
    assert re.fullmatch(r"etcd 3\.\d+\.\d+", versions["version"]), versions  # from every member's status
    assert all(re.fullmatch(r"3\.\d+\.\d+", v) for v in versions["members"].values()), versions
    assert "API" in report["environment"]["docker engine"]

    for line in (out / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name


def test_too_strict_objective_fails_its_scenario_and_the_cli(lab: Lab, tmp_path: Path) -> None:
    kill = next(p for p in ETCD_EXPERIMENTS if "kill-leader" in p.name)  # a leader election always takes time
    plan = write_plan(tmp_path, [{"experiment": str(kill), "name": "strict", "objectives": {"max_outage_s": 0.001}}])
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "hadrill.cli", "drill", "--plan", str(plan), "--inventory", str(lab.inventory_path),
         "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=os.environ.copy(), check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(out / "index.html")

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    [scenario] = report["scenarios"]
    assert scenario["status"] == "failed" and report["ok"] is False
    assert scenario["objective_overrides"] == {"max_outage_s": 0.001}
    rto = scenario["measured"]["max_outage_s"]
    assert rto["objective"] == 0.001 and rto["ok"] is False and rto["measured"] > 0.001
    assert any("max_outage" in r and "> objective 0.00 s" in r for r in scenario["reasons"]), scenario["reasons"]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert '<tr class="row-failed">' in page and "did not meet their objectives" in page
    failure = ET.parse(out / "junit.xml").getroot().find("./testsuite/testcase/failure")
    assert failure is not None and "max_outage" in (failure.text or "")


# -- in a real browser ---------------------------------------------------------------------------------
def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on a file:// page, no network of its own; bounded in time."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("Debian's chromium is not installed: run `bash .ci/bootstrap` (it installs it)")
    args = [
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, page.resolve().as_uri(),
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=BROWSER_TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def console_problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if CONSOLE_PROBLEM.search(line)]


def decode_png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """A tiny PNG decoder (8-bit RGB/RGBA, not interlaced): width, height, unfiltered rows, bytes per pixel."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], b""
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def test_console_errors_are_detected(tmp_path: Path) -> None:
    """The console check below is not vacuous: a page with a script error is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><p>x</p><script>undefinedFunction();</script></body></html>")
    proc = chromium(bad, tmp_path / "profile", "--dump-dom")
    assert console_problems(proc.stderr), proc.stderr[-2000:]


def test_report_renders_in_chromium(drill: DrillResult, tmp_path: Path) -> None:
    page = drill.index
    dom = chromium(page, tmp_path / "profile-dom", "--dump-dom")
    assert not console_problems(dom.stderr), console_problems(dom.stderr)
    assert dom.stdout.count("<svg") == len(drill.scenarios), "one chart per scenario in the DOM"
    for chart in re.findall(r"<svg.*?</svg>", dom.stdout, re.DOTALL):
        assert chart.count("<rect") > 20 and 'class="fault"' in chart, chart[:500]
    assert dom.stdout.count('<tr class="row-') == len(drill.scenarios)

    png = tmp_path / "report.png"
    shot = chromium(page, tmp_path / "profile-shot", f"--screenshot={png}", "--window-size=1280,2000")
    assert not console_problems(shot.stderr), console_problems(shot.stderr)
    width, height, rows, bpp = decode_png(png.read_bytes())
    assert (width, height) == (1280, 2000)
    colours: set[bytes] = set()
    not_white = 0
    for row in rows[::4]:
        for x in range(0, width * bpp, 4 * bpp):
            pixel = row[x : x + 3]
            colours.add(pixel)
            not_white += pixel != b"\xff\xff\xff"
    sampled = (height // 4) * (width // 4)
    assert len(colours) > 50, f"a blank-looking screenshot: {len(colours)} colours"
    assert not_white > sampled * 0.02, f"a nearly white screenshot: {not_white}/{sampled} pixels not white"
