"""Host nodes over SSH vs today's etcd containers over the engine, measured side by side in one run.

Run::

    .venv/bin/python bench/hosts.py [--runs N] [--keep]

Two etcd-only labs (owner ``bench``), alternating run by run so both see the same machine load:

* ``bench-<w>-ctr``: today's etcd containers, inventory ``docker://`` (commands through ``docker exec``);
* ``bench-<w>-ssh``: the same 3 members on systemd host nodes (``nodes: host``, ``transport: ssh``).

Timed with ``perf_counter`` (images cached first, not timed):

* warm ``lab up``: lab absent, images cached, until healthy and the inventory written;
* command round trip: ``target.run("true")`` through the inventory's URL (a warm SSH master vs a
  ``docker exec``), median of 20 per run;
* inject latency of the same fault through each transport, on a follower, from entering
  ``injected()`` until its effect is proven, and revert: ``network.partition`` (iptables inside the
  node: identical commands, only the transport differs), and "kill the member" (``docker kill`` of the
  container vs ``systemctl kill --signal=KILL`` + runtime mask of the unit with a systemd-timer deadman);
* per-scenario wall time: each ``experiments/etcd-*.yaml`` run whole (probes, fault, verdicts), and
  whether it passed.

Prints one table: median per lab and the ratio ssh/docker, then the pass counts. Exit 0; 1 when a
scenario failed on either transport; 2 on a bad option; 3 when a lab or a fault fails. Both labs are
taken down at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hadrill.clients.etcd import EtcdClient
from hadrill.clients.targets import Target
from hadrill.errors import HadrillError, TargetError
from hadrill.experiment import run_experiment_file
from hadrill.faults.base import Fault, injected
from hadrill.faults.etcd import kill_member, partition_member, pick_member
from hadrill.faults.ledger import Ledger
from hadrill.inventory import Cluster, Inventory
from hadrill.lab.engine import docker_client
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data

OWNER = "bench"
MAX_RUNS = 10
TIME_LIMIT_S = 60.0
EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("etcd-*.yaml"))
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")[:8]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def labs() -> dict[str, Lab]:
    client = docker_client()
    base = {"etcd": {"members": 3}}
    return {
        "docker": Lab(parse_lab_data({**base, "name": f"bench-{WORKER}-ctr"}, "<bench>"), owner=OWNER, client=client),
        "ssh": Lab(
            parse_lab_data({**base, "name": f"bench-{WORKER}-ssh", "nodes": "host", "transport": "ssh"}, "<bench>"),
            owner=OWNER,
            client=client,
        ),
    }


def wait_healthy(cluster: Cluster, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    problem = "not checked"
    while time.monotonic() < deadline:
        try:
            leaders = {EtcdClient(m.endpoints["client"], timeout=1.0).status().leader for m in cluster.members}
            if len(leaders) == 1 and "0" not in leaders:
                return
            problem = f"leaders {sorted(leaders)}"
        except TargetError as e:
            problem = str(e)
        time.sleep(0.2)
    raise HadrillError(f"etcd not healthy after {timeout:.0f} s: {problem}")


def round_trip(inv: Inventory, n: int = 20) -> float:
    t = Target(inv.nodes[-1].url)
    t.check("true")  # the SSH master connection is made once, as in any run
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        t.check("true")
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


FAULTS: dict[str, Callable[[Inventory, Cluster], Fault]] = {
    "partition": lambda inv, c: partition_member(inv, c, pick_member(inv, c, "follower"), time_limit=TIME_LIMIT_S),
    "kill member": lambda inv, c: kill_member(
        inv, c, pick_member(inv, c, "follower"), action="kill", time_limit=TIME_LIMIT_S
    ),
}


def bench(runs: int, keep: bool) -> int:
    the_labs = labs()
    ledger = Ledger()
    figures: dict[str, dict[str, list[float]]] = {t: {} for t in the_labs}
    verdicts: dict[str, dict[str, list[bool]]] = {t: {} for t in the_labs}
    journals = Path(tempfile.mkdtemp(prefix="hadrill-bench-hosts-"))

    def add(transport: str, what: str, value: float) -> None:
        figures[transport].setdefault(what, []).append(value)

    try:
        for lab in the_labs.values():
            lab.build()
        for i in range(1, runs + 1):
            for transport, lab in the_labs.items():
                lab.down()
                t0 = time.perf_counter()
                inv = lab.up()
                add(transport, "warm lab up", time.perf_counter() - t0)
                cluster = inv.cluster("etcd")
                add(transport, "command round trip", round_trip(inv))
                for name, make in FAULTS.items():
                    wait_healthy(cluster)
                    fault = make(inv, cluster)
                    t0 = time.perf_counter()
                    with injected(fault, ledger=ledger):
                        t1 = time.perf_counter()
                    add(transport, f"{name}: inject+prove", t1 - t0)
                    add(transport, f"{name}: revert", time.perf_counter() - t1)
                done = ", ".join(f"{k} {v[-1]:.3f}" for k, v in figures[transport].items())
                for path in EXPERIMENTS:
                    wait_healthy(cluster)
                    t0 = time.perf_counter()
                    result = run_experiment_file(path, inventory=lab.inventory_path, journal_dir=journals)
                    add(transport, f"{path.stem} (wall)", time.perf_counter() - t0)
                    verdicts[transport].setdefault(path.stem, []).append(bool(result.ok))
                log(f"run {i}/{runs} {transport}: {done}")
    except HadrillError as e:
        log(f"error: {e}")
        return 3
    finally:
        if not keep:
            for lab in the_labs.values():
                try:
                    lab.down()
                except Exception as e:
                    log(f"warning: could not take {lab.name} down: {e} (hadrill lab prune --owner {OWNER})")

    print(f"host nodes over ssh:// vs etcd containers over docker://, {runs} run(s) each, interleaved; seconds")
    print(f"{'measure':<34} {'docker (median)':>16} {'ssh (median)':>14} {'ssh/docker':>11}")
    for what, values in figures["docker"].items():
        d = statistics.median(values)
        s = statistics.median(figures["ssh"][what])
        print(f"{what:<34} {d:>16.3f} {s:>14.3f} {s / d:>10.2f}x")
    for stem in verdicts["docker"]:
        passed = {t: f"{sum(v[stem])}/{len(v[stem])}" for t, v in verdicts.items()}
        print(f"{stem + ' passed':<34} {passed['docker']:>16} {passed['ssh']:>14}")
    shutil.rmtree(journals, ignore_errors=True)
    return 0 if all(all(v) for per in verdicts.values() for v in per.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help=f"runs per lab (1..{MAX_RUNS})")
    parser.add_argument("--keep", action="store_true", help="leave both labs up at the end")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= MAX_RUNS:
        parser.error(f"--runs must be between 1 and {MAX_RUNS}")
    try:
        return bench(args.runs, args.keep)
    except HadrillError as e:
        log(f"error: {e}")
        return 3


if __name__ == "__main__":
    sys.exit(main())
