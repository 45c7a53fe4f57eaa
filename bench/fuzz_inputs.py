"""The long fuzz run of issue #18: 10,000 mutated inputs per file type through hadrill's loaders (and a
tenth as many through each CLI command that reads one), with the same rules as the CI tier.

Run::

    .venv/bin/python bench/fuzz_inputs.py [--examples 10000]

It runs ``tests/unit/test_fuzz_inputs.py`` with ``HADRILL_FUZZ_EXAMPLES`` set, then prints, per file
type, how many inputs were loaded (a valid value) and how many were refused with one line naming the
file (ConfigError), per command how many exited 0, 1 or 2, and pytest's verdict: any traceback, hang,
message of more than one line, or rule-breaking input accepted is a failure, shown with its input.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=10_000, help="inputs per file type (CLI: a tenth)")
    ap.add_argument("-k", dest="select", default="", help="pytest -k expression: a part of the run")
    ap.add_argument("--counts", type=Path, help="also keep the counts here (written after every test)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hadrill-fuzz-") as tmp:
        counts_file = args.counts or Path(tmp) / "counts.json"
        env = {**os.environ, "HADRILL_FUZZ_EXAMPLES": str(args.examples), "HADRILL_FUZZ_COUNTS": str(counts_file)}
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "7200",
             str(ROOT / "tests" / "unit" / "test_fuzz_inputs.py"), *(["-k", args.select] if args.select else [])],
            env=env, cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}
    table: dict[str, dict[str, int]] = defaultdict(dict)
    for key, n in counts.items():
        what, _, outcome = key.rpartition(" ")
        if what.startswith("cli ") and outcome.isdigit():  # "cli inventory exit 2"
            what, _, outcome = what.rpartition(" ")[0], "", f"exit {outcome}"
        table[what][outcome] = n
    print(f"{'input':<26} {'total':>7}  outcomes")
    total = 0
    for what in sorted(table):
        row = table[what]
        total += sum(row.values())
        shown = ", ".join(f"{k} {v}" for k, v in sorted(row.items()))
        print(f"{what:<26} {sum(row.values()):>7}  {shown}")
    print(f"{'all':<26} {total:>7}  in {elapsed:.0f} s")
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:])
    if done.returncode != 0:
        print(done.stdout[-6000:])
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
