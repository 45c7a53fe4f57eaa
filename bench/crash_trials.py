"""Crash trials: SIGKILL the harness at a random moment, then count the faults left behind.

Run::

    HADRILL_STATE_DIR=... .venv/bin/python bench/crash_trials.py [--trials 100] [--kinds all] [--seed 1] [--keep]

Brings up a lab (``hdt-<worker>-crash``: etcd, the NFS pair behind a VIP, the Gluster volume; no
Kubernetes) and, for each fault kind, runs trials in which a separate harness process injects one fault
through hadrill (:func:`hadrill.faults.base.injected`), holds it ``HOLD_S`` seconds and reverts it. The
harness is SIGKILLed at a moment drawn uniformly from its start (before injection) to just after its
revert (the span is measured first, per kind, with one uninterrupted run). Trials alternate between two
paths:

- ``recover``: ``hadrill recover`` (the library call the command makes) one second after the kill;
- ``deadman alone``: nothing is run; the bench waits past the fault's time limit.

Then it inspects the targets directly, through the Docker SDK and commands in the containers (not
through hadrill's fault code): hadrill's iptables chains (``HDI-``/``HDO-``), container states, stopped
(``T``) processes, interfaces down, the VIP on exactly one server with ganesha running on both, the
three brick processes (``glusterfsd``) running. A trial leaves a fault behind when the targets are not
clean within ``SETTLE_S`` seconds (after the kill for ``recover``, after the deadline for the deadman).

Printed: per kind and path, the trials, where the kill landed (before the ledger record, between the
record and the injection's end, while injected, after revert), faults left behind and the worst time to
heal (kill to clean targets); then ``faults left behind: L/N (recover)`` and ``L/N (deadman alone)``.
Exit status 0 when nothing was left behind, 1 otherwise, 3 when the lab fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from hadrill.faults.base import recover
from hadrill.faults.ledger import Ledger
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import default_lab_file

HOLD_S = 1.0  # the harness holds each fault this long before reverting it
SETTLE_S = 45.0  # how long targets may take to be clean (a brick restart and heal launch take ~20 s)

# kind -> (cluster, how to build the fault in the harness, time limit s)
KINDS: dict[str, tuple[str, str, float]] = {
    "etcd.partition": ("etcd", "partition_member(inv, c, m, time_limit=T)", 8.0),
    "etcd.kill": ("etcd", "kill_member(inv, c, m, action='kill', time_limit=T)", 8.0),
    "etcd.pause": ("etcd", "kill_member(inv, c, m, action='pause', time_limit=T)", 8.0),
    "etcd.process-stop": (
        "etcd",
        "ProcessFault(target=inv.member_node(c, m.name).url, process='etcd', signal='STOP', time_limit=T,"
        " **gate(inv, c, [m]))",
        8.0,
    ),
    "nfs.stop-nfs": ("nfs", "fail_vip(inv, c, mode='stop-nfs', time_limit=T)", 15.0),
    "nfs.link-down": ("nfs", "fail_vip(inv, c, mode='link-down', time_limit=T)", 15.0),
    "nfs.kill": ("nfs", "fail_vip(inv, c, mode='kill', time_limit=T)", 15.0),
    "gluster.kill-brick": ("gluster", "stop_brick(inv, c, [m.name], mode='kill-brick', time_limit=T)", 15.0),
    "gluster.pause-node": ("gluster", "stop_brick(inv, c, [m.name], mode='pause-node', time_limit=T)", 15.0),
}

HARNESS = """\
import random, sys, time
from pathlib import Path
print("START", time.time(), flush=True)
from hadrill.faults.base import injected
from hadrill.faults.etcd import kill_member, partition_member
from hadrill.faults.gluster import stop_brick
from hadrill.faults.picking import gate
from hadrill.faults.process import ProcessFault
from hadrill.faults.vip import fail_vip
from hadrill.inventory import load_inventory
inv = load_inventory(Path(sys.argv[1]))
c = inv.cluster(sys.argv[2])
T, hold = float(sys.argv[4]), float(sys.argv[5])
m = random.Random(int(sys.argv[6])).choice(c.members)
fault = eval(sys.argv[3])
with injected(fault) as record:
    print("INJECTED", time.time(), record.id, record.deadline, flush=True)
    time.sleep(hold)
print("REVERTED", time.time(), flush=True)
time.sleep(120)
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- inspection: the targets themselves, through the SDK ---------------------------------------------------
def _containers(inv: Inventory, cluster: str) -> list[str]:
    c = inv.cluster(cluster)
    return [inv.member_node(c, m.name).url.split("://", 1)[1].split("?", 1)[0] for m in c.members]


def _exec(client: docker.DockerClient, name: str, cmd: str) -> str:
    _, out = client.containers.get(name).exec_run(["sh", "-c", cmd])
    return (out or b"").decode(errors="replace")


def left_behind(client: docker.DockerClient, inv: Inventory, cluster: str) -> list[str]:
    """What is not as it was before the trial (empty when clean)."""
    problems = []
    names = _containers(inv, cluster)
    for name in names:
        status = client.containers.get(name).status
        if status != "running":
            problems.append(f"{name} {status}")
    if problems:
        return problems
    for name in names:
        chains = [line for line in _exec(client, name, "iptables -S 2>/dev/null").splitlines() if " HD" in line]
        if chains:
            problems.append(f"{name}: iptables {chains[:2]}")
        stopped = _exec(client, name, "ps -eo stat=,comm= | awk '$1 ~ /^T/ {print $2}'").split()
        if stopped:
            problems.append(f"{name}: stopped processes {stopped}")
        down = _exec(client, name, "ip -o link show | awk -F': ' '$2 ~ /^eth/ && !/state UP/ {print $2}'").split()
        if down:
            problems.append(f"{name}: interfaces down {down}")
        deadmen = _exec(client, name, "pgrep -af 'hadrill-deadman-[0-9a-f]' | grep -v pgrep").strip()
        if deadmen:
            problems.append(f"{name}: deadman still armed ({deadmen[:80]})")
    if cluster == "nfs":
        vip = str(inv.cluster("nfs").settings["vip"])
        holders = [n for n in names if f" {vip}/" in _exec(client, n, "ip -o -4 addr show up")]
        if len(holders) != 1:
            problems.append(f"VIP {vip} held by {holders or 'nobody'}")
        for n in names:
            if not _exec(client, n, "pgrep -x ganesha.nfsd").strip():
                problems.append(f"{n}: ganesha.nfsd not running")
    if cluster == "gluster":
        for n in names:
            if not _exec(client, n, "pgrep -x glusterfsd").strip():
                problems.append(f"{n}: brick process glusterfsd not running")
    return problems


def wait_clean(
    client: docker.DockerClient, inv: Inventory, cluster: str, until: float
) -> tuple[float | None, list[str]]:
    """Poll until clean (returns the time it was seen clean) or ``until`` (returns None and the problems)."""
    problems: list[str] = []
    for _ in range(int(SETTLE_S * 5) + 600):
        try:
            problems = left_behind(client, inv, cluster)
        except docker.errors.DockerException as e:
            problems = [f"engine: {e}"]
        if not problems:
            return time.time(), []
        if time.time() >= until:
            break
        time.sleep(0.2)
    return None, problems


# -- one trial ----------------------------------------------------------------------------------------------
@dataclass
class Trial:
    kind: str
    path: str
    phase: str
    left: list[str]
    heal_s: float | None


def harness(script: Path, inv_path: Path, kind: str, seed: int, log_path: Path) -> subprocess.Popen[str]:
    cluster, expr, limit = KINDS[kind]
    argv = [sys.executable, str(script), str(inv_path), cluster, expr, str(limit), str(HOLD_S), str(seed)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log_path.open("a"), text=True, env=os.environ.copy())


def lines_of(proc: subprocess.Popen[str]) -> list[str]:
    out, _ = proc.communicate(timeout=10)
    return out.splitlines()


def calibrate(script: Path, inv_path: Path, kind: str, log_path: Path) -> float:
    """Seconds from the harness's start to its REVERTED line, one uninterrupted run."""
    started = time.time()
    proc = harness(script, inv_path, kind, 0, log_path)
    assert proc.stdout is not None
    deadline = time.monotonic() + 180
    span = None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("REVERTED"):
            span = time.time() - started
            break
    proc.kill()
    proc.wait(timeout=10)
    if span is None:
        raise RuntimeError(f"{kind}: the harness did not revert within 180 s (see {log_path})")
    return span


def trial(
    client: docker.DockerClient, script: Path, inv: Inventory, inv_path: Path, kind: str, path: str,
    at: float, seed: int, ledger: Ledger, log_path: Path,
) -> Trial:  # fmt: skip
    cluster = KINDS[kind][0]
    proc = harness(script, inv_path, kind, seed, log_path)
    time.sleep(at)
    os.kill(proc.pid, signal.SIGKILL)
    killed = time.time()
    seen = lines_of(proc)
    opened = [e for e in ledger.history() if e["event"] == "open"]
    if any(line.startswith("REVERTED") for line in seen):
        phase = "after revert"
    elif any(line.startswith("INJECTED") for line in seen):
        phase = "injected"
    elif opened:
        phase = "recorded, injecting"
    else:
        phase = "before the record"
    if path == "recover":
        time.sleep(1.0)  # commands the harness had sent finish on their own (a real recover comes later)
        outcomes = recover(ledger)
        bad = [o for _, o in outcomes if not o.startswith("reverted")]
        clean_at, problems = wait_clean(client, inv, cluster, time.time() + SETTLE_S)
        problems += [f"recover: {o}" for o in bad]
    else:
        deadline = max((float(e["record"]["deadline"]) for e in opened), default=killed)
        clean_at, problems = wait_clean(client, inv, cluster, max(deadline, killed) + SETTLE_S)
    heal_s = None if clean_at is None else clean_at - killed
    # whatever the trial's outcome, the next one starts clean and with an empty ledger
    recover(ledger, include_live=True)  # the deadman-alone path's records, closed (reverting nothing)
    if problems:
        wait_clean(client, inv, cluster, time.time() + SETTLE_S)
    return Trial(kind, path, phase, problems, heal_s)


# -- main -----------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100, help="trials in total, split over the kinds")
    parser.add_argument("--kinds", default="all", help=f"comma-separated among {', '.join(KINDS)}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    parser.add_argument("--json", type=Path, help="also write the trials here")
    args = parser.parse_args(argv)
    kinds = list(KINDS) if args.kinds == "all" else args.kinds.split(",")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or args.trials < len(kinds):
        print(f"--kinds: unknown {unknown}" if unknown else "--trials: at least one per kind", file=sys.stderr)
        return 2
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    clusters = {KINDS[k][0] for k in kinds}
    update: dict[str, Any] = {"kubernetes": None}
    if "nfs" not in clusters:
        update["nfs"] = None
    if "gluster" not in clusters:
        update["gluster"] = None
    lab = Lab(default_lab_file().with_name(f"hdt-{worker}-crash").model_copy(update=update), owner="bench")
    rng = random.Random(args.seed)
    client = docker.from_env(timeout=60)
    results: list[Trial] = []
    work = Path(tempfile.mkdtemp(prefix="crash-trials-"))
    script = work / "harness.py"
    script.write_text(HARNESS)
    ledger = Ledger()
    try:
        lab.down()
        log(f"lab {lab.name} up ({', '.join(sorted(clusters))})")
        lab.up()
        inv = load_inventory(lab.inventory_path)
        per_kind = {
            k: args.trials // len(kinds) + (1 if i < args.trials % len(kinds) else 0) for i, k in enumerate(kinds)
        }
        for kind in kinds:
            span = calibrate(script, lab.inventory_path, kind, work / f"{kind}.log") + 0.5
            wait_clean(client, inv, KINDS[kind][0], time.time() + SETTLE_S)
            log(f"{kind}: harness start -> revert takes {span - 0.5:.1f} s; {per_kind[kind]} trials")
            for i in range(per_kind[kind]):
                path = "recover" if i % 2 == 0 else "deadman alone"
                at = rng.uniform(0.0, span)
                t = trial(client, script, inv, lab.inventory_path, kind, path, at, rng.randrange(1 << 30), ledger,
                          work / f"{kind}.log")  # fmt: skip
                results.append(t)
                heal = "-" if t.heal_s is None else f"{t.heal_s:.1f} s"
                log(f"  {kind} #{i + 1} {path}: kill at {at:.2f} s ({t.phase}): "
                    f"{'LEFT ' + '; '.join(t.left) if t.left else 'clean'} (heal {heal})")  # fmt: skip
    except Exception as e:
        log(f"error: {type(e).__name__}: {e}")
        return 3
    finally:
        if not args.keep:
            lab.down()
    report(results)
    if args.json:
        args.json.write_text(json.dumps([t.__dict__ for t in results], indent=1))
    return 1 if any(t.left for t in results) else 0


def report(results: list[Trial]) -> None:
    rows: dict[tuple[str, str], list[Trial]] = defaultdict(list)
    for t in results:
        rows[(t.kind, t.path)].append(t)
    print(f"{'kind':20} {'path':14} {'trials':>6} {'left':>5} {'worst heal':>10}  kill landed")
    for (kind, path), ts in sorted(rows.items()):
        heals = [t.heal_s for t in ts if t.heal_s is not None]
        phases: dict[str, int] = defaultdict(int)
        for t in ts:
            phases[t.phase] += 1
        worst = f"{max(heals):.1f} s" if heals else "-"
        landed = ", ".join(f"{n} {p}" for p, n in phases.items())
        print(f"{kind:20} {path:14} {len(ts):6} {sum(1 for t in ts if t.left):5} {worst:>10}  {landed}")
    for path in ("recover", "deadman alone"):
        ts = [t for t in results if t.path == path]
        heals = [t.heal_s for t in ts if t.heal_s is not None]
        worst = f"{max(heals):.1f} s" if heals else "-"
        print(f"faults left behind: {sum(1 for t in ts if t.left)}/{len(ts)} ({path}); worst time to heal {worst}")


if __name__ == "__main__":
    sys.exit(main())
