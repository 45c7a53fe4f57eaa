"""The report as PDF: ``index.html`` printed by headless Chromium to ``report.pdf``.

The page itself is the source (print CSS starts each scenario and the SHA-256 list on a new page), so
the PDF says exactly what the HTML says. Chromium runs with no network of its own, a throw-away
profile and a time limit. ``report.pdf`` is not in ``SHA256SUMS``: it is a rendering of
``index.html``, whose digest is.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from hadrill.errors import HadrillError

__all__ = ["BROWSERS", "print_pdf"]

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
)  # fmt: skip


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise HadrillError(
        "no headless Chromium found to print report.pdf (looked for " + ", ".join(BROWSERS) + "): install "
        "Debian's chromium (`bash .ci/bootstrap` does), or open index.html and print it"
    )


def print_pdf(index: Path, pdf: Path | None = None, *, timeout: float = 180.0) -> Path:
    """Print ``index`` (a report's index.html) to ``pdf`` (default: report.pdf beside it); its path."""
    pdf = pdf or index.with_name("report.pdf")
    exe = _browser()
    tmp_pdf = pdf.with_suffix(".pdf.tmp")
    with tempfile.TemporaryDirectory(prefix="hadrill-pdf-") as profile:
        args = [exe, *_FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={tmp_pdf}", index.resolve().as_uri()]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as e:
            raise HadrillError(f"{exe} did not print {index} within {timeout:.0f} s") from e
    if proc.returncode != 0 or not tmp_pdf.is_file() or tmp_pdf.stat().st_size == 0:
        tmp_pdf.unlink(missing_ok=True)
        raise HadrillError(f"{exe} could not print {index} (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    tmp_pdf.replace(pdf)
    return pdf
