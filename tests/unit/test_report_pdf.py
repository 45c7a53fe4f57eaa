"""``hadrill report --pdf``: report.pdf printed by headless Chromium, read back with poppler's pdftotext.

A drill of two scenarios (tests/unit/test_report.py's) is rendered; the PDF must start each scenario
and the SHA-256 list on a page of their own and carry every digest of SHA256SUMS. Page text comes from
pdftotext (poppler-utils, installed by .ci/bootstrap), not from hadrill.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_report import write_drill


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `bash .ci/bootstrap` (installs chromium and poppler-utils)")
    return found


def _pages(pdf: Path) -> list[str]:
    info = subprocess.run([_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    count = int(re.search(r"^Pages:\s+(\d+)", info, re.M)[1])  # type: ignore[index]
    return [
        subprocess.run([_tool("pdftotext"), "-raw", "-f", str(n), "-l", str(n), str(pdf), "-"],
                       capture_output=True, text=True, check=True, timeout=60).stdout
        for n in range(1, count + 1)
    ]  # fmt: skip


def test_report_pdf_has_a_page_per_scenario_and_the_sha256_list(tmp_path: Path) -> None:
    _tool("chromium")
    write_drill(tmp_path / "journals")
    env = {**os.environ, "HADRILL_STATE_DIR": str(tmp_path / "state")}
    hadrill = Path(sys.executable).with_name("hadrill")
    proc = subprocess.run([str(hadrill), "report", "--journal-dir", str(tmp_path / "journals"), "--pdf"],
                          env=env, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr  # one of the two scenarios failed
    pdf = tmp_path / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    pages = _pages(pdf)
    first_lines = [p.strip().splitlines()[0] if p.strip() else "" for p in pages]
    # each scenario, and the integrity list, begins a page
    assert "Scenario 1: kill-leader passed" in first_lines
    assert "Scenario 2: partition failed" in first_lines
    assert "Integrity (SHA-256)" in first_lines
    assert first_lines.index("Scenario 1: kill-leader passed") > 0  # after the summary page(s)
    # every digest of SHA256SUMS (index.html's own excepted: the page lists the others) is printed
    text = re.sub(r"\s+", "", "".join(pages[first_lines.index("Integrity (SHA-256)") :]))
    sums = [line.split() for line in (tmp_path / "SHA256SUMS").read_text().splitlines()]
    listed = [(digest, name) for digest, name in sums if name != "index.html"]
    assert len(listed) >= 5
    missing = [name for digest, name in listed if digest not in text]
    assert not missing, f"digests missing from the PDF: {missing}"
