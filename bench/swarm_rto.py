"""Swarm disaster-procedure figures: the RTO of ``--force-new-cluster`` and the managers' re-join time.

Run::

    .venv/bin/python bench/swarm_rto.py --inventory FILE [--runs 3]

Runs ``hadrill run experiments/swarm-force-new-cluster.yaml`` N times against the swarm of
``--inventory`` (a lab's: its managers are containers) and reads each journal: the RTO (from the kill
of two of the three managers to the first service update the forced single-manager swarm accepted),
the time to 3/3 replicas on the new cluster (from the kill), and the re-join (the procedure's revert:
both lost managers restarted cut off, left their old swarm, joined again as managers). Prints one line
per run and the median and range of each. Exit status 0, 2 on a bad option, 3 when a run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = ROOT / "experiments" / "swarm-force-new-cluster.yaml"
MAX_RUNS = 10
RUN_TIMEOUT = 600


def one_run(inventory: Path, journals: Path) -> dict[str, float]:
    """One ``hadrill run``; the figures from its journal (SystemExit 3 when it failed)."""
    hadrill = Path(sys.executable).parent / "hadrill"
    env = {**os.environ, "HADRILL_JOURNAL_DIR": str(journals)}
    done = subprocess.run(
        [str(hadrill), "run", str(EXPERIMENT), "--inventory", str(inventory)],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
        raise SystemExit(3)
    [path] = list(journals.rglob("journal.json"))
    h = json.loads(path.read_text(encoding="utf-8"))["hadrill"]
    verdicts = {v["name"]: v for v in h["verdicts"]}
    window = next(w for w in h["faults"] if w.get("kind") == "swarm.force_new_cluster")
    return {
        "rto_s": float(verdicts["control_plane_back_s"]["measured"]),
        "replicas_s": float(verdicts["replicas_restored_s"]["measured"]),
        "rejoin_s": float(window["end"]) - float(window["revert_start"]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inventory", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= MAX_RUNS or not args.inventory.is_file():
        print(f"--runs: 1..{MAX_RUNS}; --inventory: an existing file", file=sys.stderr)
        return 2
    figures: list[dict[str, float]] = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="swarm-rto-") as tmp:
            f = one_run(args.inventory, Path(tmp))
        figures.append(f)
        print(f"run {i + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in f.items()), flush=True)
    for key in figures[0]:
        values = [f[key] for f in figures]
        print(f"{key}: median {statistics.median(values):.1f} s ({min(values):.1f}-{max(values):.1f}), n={len(values)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
