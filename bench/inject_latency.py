"""How long hadrill takes to inject a fault (until its effect is proven) and to revert it.

Run::

    .venv/bin/python bench/inject_latency.py [--runs N] [--keep]

Against a lab named ``bench-inject`` (owner ``bench``, brought up or reused), each fault type is
injected N times on a follower of the etcd cluster through :func:`hadrill.faults.base.injected`:

* ``network.partition``: the follower cut from its two peers (iptables), proven by failed connects;
* ``container kill`` / ``container pause`` / ``container stop``: its container, proven by its state;
* ``process STOP``: SIGSTOP to its etcd process, proven by the process state ``T``.

Timed, with ``perf_counter``:

* inject: from entering ``injected()`` (safety gate, ledger write, deadman, inject, proof) until the
  block starts, i.e. until the fault is observable; split into setup (gate + ledger + deadman) and
  inject + prove from the fault's own event times;
* revert: from leaving the block until ``injected()`` returns (revert, disarm, ledger close).

Between two runs the cluster is waited on until every member answers and they agree on a leader (not
timed). Prints a table (median/min/max per fault type, seconds). The lab is taken down at the end
unless ``--keep``. Exit status 0, 2 on a bad option, 3 when the lab, the engine or a fault fails.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hadrill.clients.etcd import EtcdClient
from hadrill.errors import HadrillError, TargetError
from hadrill.faults.base import Fault, injected, revert_record
from hadrill.faults.etcd import kill_member, partition_member, pick_member
from hadrill.faults.ledger import Ledger
from hadrill.faults.process import ProcessFault
from hadrill.inventory import Cluster, Inventory, Member
from hadrill.lab.engine import docker_client
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import default_lab_file

_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
LAB_NAME = f"hdt-{_WORKER}-inject" if _WORKER else "bench-inject"  # one per helper on a shared engine
OWNER = "bench"
MAX_RUNS = 20
TIME_LIMIT_S = 60.0  # every fault's deadman: far beyond one run, so it never fires during a measurement
HEALTHY_TIMEOUT_S = 60.0


_ETCD_ONLY = {"nfs": None, "gluster": None, "kubernetes": None}  # this bench needs etcd alone


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def process_stop(inv: Inventory, cluster: Cluster, member: Member) -> Fault:
    return ProcessFault(
        target=inv.member_node(cluster, member.name).url,
        process="etcd",
        signal="STOP",
        time_limit=TIME_LIMIT_S,
        cluster=f"{inv.platform}/{cluster.name}",
        members=(member.name,),
        failure_budget=cluster.failure_budget,
        description=f"SIGSTOP etcd of member {member.name}",
    )


FAULTS: dict[str, Callable[[Inventory, Cluster, Member], Fault]] = {
    "network.partition": lambda inv, c, m: partition_member(inv, c, m, time_limit=TIME_LIMIT_S),
    "container kill": lambda inv, c, m: kill_member(inv, c, m, action="kill", time_limit=TIME_LIMIT_S),
    "container pause": lambda inv, c, m: kill_member(inv, c, m, action="pause", time_limit=TIME_LIMIT_S),
    "container stop": lambda inv, c, m: kill_member(inv, c, m, action="stop", time_limit=TIME_LIMIT_S),
    "process STOP": process_stop,
}


@dataclass
class Timings:
    inject: list[float] = field(default_factory=list)
    setup: list[float] = field(default_factory=list)
    prove: list[float] = field(default_factory=list)
    revert: list[float] = field(default_factory=list)


def unhealthy(cluster: Cluster) -> str | None:
    leaders = set()
    for m in cluster.members:
        try:
            leaders.add(EtcdClient(m.endpoints["client"], timeout=1.0).status().leader)
        except TargetError as e:
            return f"{m.name}: {e}"
    return None if len(leaders) == 1 and "0" not in leaders else f"leaders {sorted(leaders)}"


def wait_healthy(cluster: Cluster, timeout: float = HEALTHY_TIMEOUT_S) -> float:
    start = time.monotonic()
    problem: str | None = "not checked"
    for _ in range(int(timeout / 0.2) + 1):
        problem = unhealthy(cluster)
        if problem is None or time.monotonic() - start > timeout:
            break
        time.sleep(0.2)
    if problem is not None:
        raise HadrillError(f"lab {LAB_NAME} not healthy after {timeout:.0f} s: {problem}")
    return time.monotonic() - start


def measure_once(fault: Fault, ledger: Ledger, into: Timings) -> None:
    wall0 = time.time()
    t0 = time.perf_counter()
    with injected(fault, ledger=ledger):
        t1 = time.perf_counter()
    t2 = time.perf_counter()
    at = {e.step: e.at for e in fault.events}
    into.inject.append(t1 - t0)
    into.revert.append(t2 - t1)
    if "inject" in at and "effect" in at:
        into.setup.append(at["inject"] - wall0)
        into.prove.append(at["effect"] - at["inject"])


def row(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:<24} {0:>3}  {'-':>7}  {'-':>7}  {'-':>7}"
    return f"{name:<24} {len(values):>3}  {statistics.median(values):>7.3f}  {min(values):>7.3f}  {max(values):>7.3f}"


def bench(runs: int, keep: bool) -> int:
    lab = Lab(default_lab_file().with_name(LAB_NAME).model_copy(update=_ETCD_ONLY), owner=OWNER, client=docker_client())
    ledger = Ledger()
    results: dict[str, Timings] = {name: Timings() for name in FAULTS}
    try:
        log(f"lab {LAB_NAME}: {'reusing' if lab.exists() else 'bringing up'}")
        inv = lab.up()
        cluster = inv.cluster("etcd")
        for name, make in FAULTS.items():
            for i in range(1, runs + 1):
                wait_healthy(cluster)
                member = pick_member(inv, cluster, "follower")
                measure_once(make(inv, cluster, member), ledger, results[name])
                log(
                    f"{name} {i}/{runs} on {member.name}: inject {results[name].inject[-1]:.3f} s, "
                    f"revert {results[name].revert[-1]:.3f} s"
                )
        wait_healthy(cluster)
    except HadrillError as e:
        log(f"error: {e}")
        return 3
    finally:
        # A fault of this lab whose revert failed is still open: try once more (only this lab's:
        # the ledger is shared with other runs, which must be left alone).
        for record in ledger.open_faults():
            if str(record.params.get("cluster", "")).startswith(f"lab:{LAB_NAME}/"):
                try:
                    revert_record(record)
                    ledger.close(record.id, "recovered")
                    log(f"reverted a fault left open: {record.description}")
                except Exception as e:
                    log(f"warning: {record.description} still open: {e} (hadrill recover)")
        if not keep:
            try:
                lab.down()
            except Exception as e:
                log(f"warning: could not take {LAB_NAME} down: {e} (hadrill lab prune --owner {OWNER})")

    print(f"lab {LAB_NAME}: one etcd follower per fault, {runs} run(s) per fault type, seconds")
    print(f"{'fault / phase':<24} {'n':>3}  {'median':>7}  {'min':>7}  {'max':>7}")
    for name, t in results.items():
        print(row(f"{name}: inject", t.inject))
        print(row("  setup (gate+ledger+dm)", t.setup))
        print(row("  inject + prove", t.prove))
        print(row(f"{name}: revert", t.revert))
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help=f"injections per fault type (1..{MAX_RUNS})")
    parser.add_argument("--keep", action="store_true", help=f"leave {LAB_NAME} up at the end")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= MAX_RUNS:
        parser.error(f"--runs must be between 1 and {MAX_RUNS}")
    try:
        return bench(args.runs, args.keep)
    except HadrillError as e:  # no engine
        log(f"error: {e}")
        return 3


if __name__ == "__main__":
    sys.exit(main())
