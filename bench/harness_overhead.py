"""What each way of running an experiment costs beyond the experiment itself, side by side.

Run::

    .venv/bin/python bench/harness_overhead.py [--runs N] [--keep]

One short etcd experiment (probes start and watch 1 s, a follower is partitioned for 2 s, healed,
probes settle 1 s, objectives judged: 4 s of its own pauses) is run through:

* ``chaos run exp.yaml`` (Chaos Toolkit's CLI with hadrill's control, probes and actions);
* ``hadrill run exp.yaml``;
* pytest: the same steps as a test with the ``hadrill_run`` fixture (``--hadrill-inventory``);
* ``hadrill drill --plan plan.yaml``: a plan of that one scenario, report included;

each a fresh process (its start-up is part of its cost; bytecode caches on, as Python's default, written
by an untimed first round), against an etcd-only lab named
``hdt-<worker>-overhead`` (brought up, taken down at the end unless ``--keep``), in turn, ``--runs``
times. For each harness it prints the median wall time, the overhead (wall minus the experiment's 4 s of
pauses), the difference against ``chaos run``, the CPU time (user + system, children included: what a
loaded machine cannot stretch much) and the peak RSS (``wait4``'s ru_maxrss, children included).
The issue's goal: every harness within 5 % of ``chaos run`` in wall time.
Exit status 0 when every run passed, 3 when a run or the lab failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAUSES_S = 4.0  # start_probes' 1 s, the 2 s under the fault, 1 s of settle (= the recovery window)
GOAL = 0.05
VENV_BIN = Path(sys.executable).parent

EXPERIMENT = """\
version: 1.0.0
title: Bench - partition a follower for 2 s
description: The harness-overhead bench's experiment (bench/harness_overhead.py).
tags: [etcd, partition, hadrill, bench]
configuration:
  hadrill_inventory: {type: env, key: HADRILL_INVENTORY, default: ""}
controls:
  - name: hadrill
    provider: {type: python, module: hadrill.ctk.control}
steady-state-hypothesis:
  title: etcd meets its objectives
  probes:
    - type: probe
      name: objectives-met
      tolerance: true
      provider:
        type: python
        module: hadrill.ctk.probes
        func: objectives_met
        arguments:
          # a 1 s recovery window: the probes sample 1 s past the revert's start (the settle), so the
          # experiment's own pauses stay 4 s whatever the default window
          objectives: {max_outage_s: 5.0, availability: 0.5, acked_writes_lost: 0, steady_state_s: 5.0,
                       recovery_window_s: 1.0}
method:
  - type: action
    name: start-probes
    provider:
      type: python
      module: hadrill.ctk.actions
      func: start_probes
      arguments: {cluster: etcd, probes: [write]}
  - type: action
    name: partition-a-follower
    provider:
      type: python
      module: hadrill.ctk.actions
      func: partition_member
      arguments: {cluster: etcd, member: follower, time_limit: 60}
    pauses: {after: 2}
  - type: action
    name: heal
    provider: {type: python, module: hadrill.ctk.actions, func: heal}
  - type: action
    name: stop-probes
    provider: {type: python, module: hadrill.ctk.actions, func: stop_probes, arguments: {settle: 1}}
rollbacks:
  - type: action
    name: heal
    provider: {type: python, module: hadrill.ctk.actions, func: heal}
"""

TEST = """\
import time

from hadrill.faults.etcd import partition_member, pick_member


def test_bench_partition(hadrill_run, hadrill_inventory):
    etcd = hadrill_inventory.cluster("etcd")
    follower = pick_member(hadrill_inventory, etcd, "follower")
    hadrill_run.recovery_window_s = 1.0  # as the experiment declares it
    hadrill_run.start_etcd_probes("etcd", probes=("write",))
    time.sleep(1.0)
    with hadrill_run.fault(partition_member(hadrill_inventory, etcd, follower, time_limit=60)):
        time.sleep(2.0)
    hadrill_run.stop_probes(settle=1.0)
    hadrill_run.assert_objectives(
        max_outage_s=5.0, availability=0.5, acked_writes_lost=0, steady_state_s=5.0, recovery_window_s=1.0
    )
"""

PLAN = """\
platform: bench
coordinator: bench
scenarios:
  - experiment: exp.yaml
    name: partition
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def commands(work: Path, inventory: Path) -> dict[str, list[str]]:
    chaos = shutil.which("chaos", path=str(VENV_BIN)) or "chaos"
    hadrill = str(VENV_BIN / "hadrill")
    return {
        "chaos run": [chaos, "--log-file", str(work / "chaos.log"), "run", "--journal-path",
                      str(work / "journal.json"), str(work / "exp.yaml")],
        "hadrill run": [hadrill, "run", "--inventory", str(inventory), "--journal-dir", str(work / "journals"),
                        str(work / "exp.yaml")],
        "pytest": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hadrill-inventory",
                   str(inventory), "--hadrill-journal-dir", str(work / "journals"), str(work / "test_bench.py")],
        "hadrill drill": [hadrill, "drill", "--plan", str(work / "plan.yaml"), "--inventory", str(inventory),
                          "--out", str(work / "report")],
    }  # fmt: skip


def timed_run(cmd: list[str], cwd: Path, env: dict[str, str], out: Path) -> tuple[float, float, int, float]:
    """(wall seconds, CPU seconds, exit status, peak RSS in MiB), the process and its children."""
    with out.open("w") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="leave the lab up")
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 20:
        ap.error("--runs must be 1..20")

    from hadrill.errors import HadrillError
    from hadrill.lab.lab import Lab
    from hadrill.lab.labfile import default_lab_file

    name = f"hdt-{os.environ.get('PYTEST_XDIST_WORKER', 'bench')}-overhead"[:24]
    spec = default_lab_file().with_name(name).model_copy(update={"nfs": None, "gluster": None, "kubernetes": None})
    lab = Lab(spec, owner="bench")
    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    rss: dict[str, float] = {}
    failed: list[str] = []
    try:
        log(f"lab {name} (etcd only): up")
        lab.up(timeout=180)
        with tempfile.TemporaryDirectory(prefix="hadrill-overhead-") as tmp:
            work = Path(tmp)
            (work / "exp.yaml").write_text(EXPERIMENT)
            (work / "test_bench.py").write_text(TEST)
            (work / "plan.yaml").write_text(PLAN)
            # Bytecode caches as Python keeps them by default (a shell with PYTHONDONTWRITEBYTECODE=1 made
            # every run compile every module from source, and pytest rewrite the asserts of every hadrill
            # module it imports, a plugin's package, again: 0.25 s a run only pytest paid), written by an
            # untimed first round of every harness.
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env["HADRILL_INVENTORY"] = str(lab.inventory_path)
            cmds = commands(work, lab.inventory_path)
            names = list(cmds)
            for harness in names:
                time.sleep(3)
                out = work / f"{harness.replace(' ', '-')}-warm.out"
                wall, _, rc, _ = timed_run(cmds[harness], work, env, out)
                log(f"warm-up: {harness}: {wall:.2f} s, exit {rc}")
            for run in range(args.runs):
                for harness in names[run % len(names):] + names[: run % len(names)]:  # rotate the order
                    time.sleep(3)  # the healed member catches up before the next run (not timed)
                    out = work / f"{harness.replace(' ', '-')}-{run}.out"
                    wall, cpu, rc, peak = timed_run(cmds[harness], work, env, out)
                    log(f"run {run + 1}: {harness}: {wall:.2f} s, CPU {cpu:.2f} s, exit {rc}, peak RSS {peak:.0f} MiB")
                    if rc != 0:
                        tail = "\n".join(out.read_text(errors="replace").splitlines()[-15:])
                        failed.append(f"{harness} run {run + 1} exit {rc}:\n{tail}")
                        continue
                    walls.setdefault(harness, []).append(wall)
                    cpus.setdefault(harness, []).append(cpu)
                    rss[harness] = max(rss.get(harness, 0.0), peak)
    except HadrillError as e:
        failed.append(f"lab: {e}")
    finally:
        if not args.keep:
            try:
                lab.down()
            except HadrillError as e:
                log(f"warning: lab {name} down: {e}")

    print(f"harness overhead: one etcd experiment with {PAUSES_S:.0f} s of its own pauses, {args.runs} run(s), medians")
    print(f"{'harness':<15}{'wall s':>9}{'overhead s':>12}{'vs chaos run':>14}{'CPU s':>8}{'vs chaos':>10}"
          f"{'peak RSS MiB':>14}")  # fmt: skip
    base = statistics.median(walls["chaos run"]) if walls.get("chaos run") else None
    base_cpu = statistics.median(cpus["chaos run"]) if cpus.get("chaos run") else None
    worst = 0.0
    for harness, values in walls.items():
        wall, cpu = statistics.median(values), statistics.median(cpus[harness])
        rel = f"{(wall - base) / base:+.1%}" if base else "-"
        rel_cpu = f"{(cpu - base_cpu) / base_cpu:+.1%}" if base_cpu else "-"
        if base and harness != "chaos run":
            worst = max(worst, (wall - base) / base)
        row = f"{harness:<15}{wall:>9.2f}{wall - PAUSES_S:>12.2f}{rel:>14}{cpu:>8.2f}{rel_cpu:>10}"
        print(f"{row}{rss[harness]:>14.0f}")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(wall times stretch with it; CPU times much less)")
    for failure in failed:
        print(f"FAILED: {failure}")
    if base:
        verdict = "met" if worst <= GOAL else "NOT met"
        print(f"goal: every harness within {GOAL:.0%} of chaos run in wall time: {verdict} (worst {worst:+.1%})")
    return 3 if failed or base is None else 0


if __name__ == "__main__":
    sys.exit(main())
