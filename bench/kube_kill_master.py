"""Kill a Kubernetes master: warm lab-up time of the HA control plane, API write outage, lease takeover.

Run::

    .venv/bin/python bench/kube_kill_master.py [--runs N]

Brings up a lab named ``bench-kc`` (only ``kubernetes``: 3 masters with stacked etcd, haproxy, kwok;
owner ``bench``; its own state directory under /tmp) with the Go binaries and images cached, N times
(warm up: the lab absent, images cached), and in each run kills the master holding the etcd leader
while the readiness and write probes sample every 100 ms through the load balancer. Per run it prints:

* warm up: seconds from ``lab up`` to healthy (etcd leader, every /readyz, leases held, workers Ready);
* write outage: the longest gap between two acknowledged ConfigMap writes that contains failures;
* lease takeover: seconds from the kill until the controller-manager and scheduler leases are held by
  surviving masters (short when the killed master held neither: the line says which it held);
* rejoin: seconds from the container's restart until its etcd member and API server are back.

The lab is taken down at the end (also on failure). Exit 3 when the lab fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB_NAME = "bench-kc"
MAX_RUNS = 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not 1 <= args.runs <= MAX_RUNS:
        parser.error(f"--runs: 1 to {MAX_RUNS}")
    os.environ["HADRILL_STATE_DIR"] = tempfile.mkdtemp(prefix="hadrill-bench-kc-")

    from hadrill import slo
    from hadrill.clients.kube import LEASES, kube_api, lease_holder
    from hadrill.errors import HadrillError
    from hadrill.faults import kube
    from hadrill.inventory import load_inventory
    from hadrill.lab.lab import Lab
    from hadrill.lab.labfile import parse_lab_data
    from hadrill.probes.kube import KubeReadyProbe, KubeWriteProbe
    from hadrill.recovery import kube as kube_recovery
    from hadrill.run import Run

    spec = parse_lab_data({"name": LAB_NAME, "etcd": None, "kubernetes": {}}, "<bench kc>")
    lab = Lab(spec, owner="bench", base_dir=ROOT)
    rows: list[tuple[float, float, float, float]] = []
    try:
        lab.down()
        lab.up(timeout=600)  # builds or finds the binaries and images: not measured
        for i in range(1, args.runs + 1):
            lab.down()
            t0 = time.perf_counter()
            lab.up(timeout=300)
            up_s = time.perf_counter() - t0
            inv = load_inventory(lab.inventory_path)
            c = inv.cluster("kubernetes")
            run = Run(inv, title=f"bench kill master {i}", journal_dir=Path(os.environ["HADRILL_STATE_DIR"]))
            run.start_probe(KubeReadyProbe(kube_api(c, timeout=1.0)))
            write = KubeWriteProbe(kube_api(c, timeout=1.0), prefix=f"b{i}")
            write.prepare()
            run.start_probe(write)
            time.sleep(2.0)
            fault = kube.kill_control_plane_node(inv, "kubernetes", "etcd-leader", time_limit=120)
            api = kube_api(c, timeout=2.0)
            held = [lease for lease in LEASES.values() if lease_holder(api, lease) == fault.members[0]]
            with run.fault(fault) as record:
                since = time.time()
                leases = kube_recovery.leases_moved(c, record.params["members"][0], since, 60.0)
                time.sleep(1.0)
            rejoin = kube_recovery.node_rejoined(record, 120.0)
            run.stop_probes(settle=2.0)
            outage = slo.check_max_outage(run.samplers[write.name].history.samples(), 1e9, interval=run.interval)
            out_s = outage.measured or 0.0
            rows.append((up_s, out_s, leases.measured or float("nan"), rejoin.measured or float("nan")))
            print(
                f"run {i}: warm up {up_s:.1f} s; write outage {out_s:.2f} s; lease takeover "
                f"{rows[-1][2]:.2f} s (the killed master held {', '.join(held) or 'no lease'}); "
                f"rejoin {rows[-1][3]:.2f} s",
                flush=True,
            )
    except HadrillError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    finally:
        lab.down()
    names = ("warm up", "write outage", "lease takeover", "rejoin")
    for j, name in enumerate(names):
        vals = [r[j] for r in rows]
        print(f"{name:15s} median {statistics.median(vals):6.2f} s  min {min(vals):6.2f}  max {max(vals):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
