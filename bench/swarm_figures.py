"""Swarm figures: Raft leader re-election, the control-plane outage on a leader kill, and the time to
reschedule a lost worker's task.

Run::

    .venv/bin/python bench/swarm_figures.py [--runs 3] [--inventory FILE] [--keep]

Brings up (or reuses) a lab named ``bench-sw`` (owner ``bench``; 3 managers, 2 workers, the HTTP
service with 3 replicas), or uses the swarm of ``--inventory``, and N times:

* leader kill: the Raft leader's node is SIGKILLed through hadrill (ledger, deadman, revert) while a
  control-plane probe commits a no-op service update every 0.5 s on the managers (3 s bound per
  call). Figures: the time from the kill until a surviving manager reports another leader (polled
  every ~0.1 s), and the control-plane outage: the longest window with no accepted update
  (:func:`hadrill.slo.max_outage` of the probe's history, 0.5 s resolution);
* worker kill: a worker running a task is SIGKILLed; the figure is the time from the kill until the
  service runs all its replicas on other nodes (Swarm first waits to mark the node Down).

After each kill the node is restarted and the bench waits for it to rejoin. Exit status 0, 2 on a
bad option, 3 when the lab or a measurement fails. The lab is taken down at the end unless ``--keep``
(or ``--inventory`` was given).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hadrill import slo
from hadrill.errors import HadrillError
from hadrill.faults.base import injected, recover
from hadrill.faults.container import ContainerFault
from hadrill.faults.swarm import kill_swarm_node, pick_swarm_nodes
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data
from hadrill.probes.sampler import Sampler
from hadrill.probes.swarm import SwarmControlProbe, manager_urls
from hadrill.recovery import swarm as recovery

LAB_NAME = "bench-sw"
OWNER = "bench"
MAX_RUNS = 20
CONTROL_INTERVAL = 0.5


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _measured(v: slo.Verdict) -> float:
    if v.measured is None:
        raise HadrillError(f"{v.name}: {v.detail}")
    return v.measured


def _inject_time(fault: ContainerFault) -> float:
    """When the kill was sent (the fault's inject event, before its proof), not when ``injected`` returned."""
    return next(e.at for e in fault.events if e.step == "inject")


def leader_kill(inv: Inventory) -> tuple[float, float]:
    """(re-election s, control-plane outage s) of one leader kill."""
    c = inv.cluster("swarm")
    probe = SwarmControlProbe(manager_urls(inv, c), op="update", service=str(c.settings["service"]), timeout=3.0)
    sampler = Sampler(probe, interval=CONTROL_INTERVAL, timeout=4.0).start()
    try:
        time.sleep(2.0)  # good samples before the kill
        [leader] = pick_swarm_nodes(inv, c, "leader")
        fault = kill_swarm_node(inv, c, leader, time_limit=180, chosen_by="leader")
        with injected(fault):
            started = _inject_time(fault)
            elected = _measured(recovery.new_leader_elected(inv, c, leader.name, started, 600, limit=120))
            _measured(recovery.control_plane_back(inv, c, started, 600, limit=120))
            time.sleep(2 * CONTROL_INTERVAL)  # the sampler sees the accepted updates too
        restarted = time.time()
        _measured(recovery.nodes_rejoined(inv, c, [leader.name], restarted, 600, limit=180))
    finally:
        history = sampler.stop()
    worst = slo.max_outage(history.samples(), interval=CONTROL_INTERVAL, threshold=3.0)
    outage = worst.duration if worst else 0.0
    log(f"  leader {leader.name}: new leader after {elected:.2f} s, control plane out {outage:.2f} s")
    return elected, outage


def worker_kill(inv: Inventory) -> float:
    c = inv.cluster("swarm")
    [worker] = pick_swarm_nodes(inv, c, "worker")
    fault = kill_swarm_node(inv, c, worker, time_limit=180, chosen_by="worker")
    with injected(fault):
        started = _inject_time(fault)
        took = _measured(recovery.replicas_restored(inv, c, [worker.name], started, 600, limit=150))
    _measured(recovery.nodes_rejoined(inv, c, [worker.name], time.time(), 600, limit=180))
    log(f"  worker {worker.name}: replicas back on the others after {took:.2f} s")
    return took


def _summary(values: list[float]) -> str:
    if not values:
        return "not measured"
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help=f"repetitions of every figure (1..{MAX_RUNS})")
    parser.add_argument("--inventory", help="use this swarm instead of bringing the bench lab up")
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= MAX_RUNS:
        parser.error(f"--runs must be between 1 and {MAX_RUNS}")
    os.environ.setdefault("HADRILL_STATE_DIR", tempfile.mkdtemp(prefix="hadrill-bench-sw-"))
    lab = None
    try:
        if args.inventory:
            inv = load_inventory(Path(args.inventory))
        else:
            lab = Lab(parse_lab_data({"name": LAB_NAME, "etcd": None, "swarm": {}}, "<bench>"), owner=OWNER)
            t0 = time.monotonic()
            lab.up(timeout=240)
            log(f"lab {LAB_NAME} up in {time.monotonic() - t0:.1f} s")
            inv = load_inventory(lab.inventory_path)
        elections, outages, reschedules = [], [], []
        for i in range(args.runs):
            log(f"run {i + 1}/{args.runs}")
            elected, outage = leader_kill(inv)
            elections.append(elected)
            outages.append(outage)
            reschedules.append(worker_kill(inv))
    except HadrillError as e:
        log(f"bench failed: {e}")
        recover()
        return 3
    finally:
        if lab is not None and not args.keep:
            lab.down()
    print(f"swarm figures over {args.runs} run(s) (3 managers, 2 workers, 3 replicas, SIGKILL of the node)")
    print(f"  Raft leader re-election after a leader kill: {_summary(elections)}")
    print(f"  control-plane outage on a leader kill (no-op update every {CONTROL_INTERVAL} s): {_summary(outages)}")
    print(f"  task rescheduling after a worker kill (to full replica count): {_summary(reschedules)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
