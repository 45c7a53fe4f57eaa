"""The kubeadm lab: warm ``lab up``, pod creation to Running, the application's outage while a master dies.

Run::

    .venv/bin/python bench/kubeadm_lab.py [--pods N]

Brings up a lab named ``bench-ka`` (only ``kubernetes`` in kubeadm mode: 3 masters, 2 workers, two
haproxy load balancers with a keepalived VIP; owner ``bench``; its own state directory under /tmp) once
to build or find the binaries and images (not measured), takes it down, and brings it up again: that second
``up`` is the warm figure (goal <= 60 s).
Then it prints:

* pod create → Running: N pods created one after another through the API (image imported, no pull),
  seconds until each is Running, median and max;
* kill a master: the master holding the etcd leader is killed while the API readiness probe, the
  ConfigMap write probe and the application's HTTP probe (through its NodePort Service) sample every
  100 ms; the longest outage of each, side by side (goal for the application: none);
* memory (RSS) and CPU of each node right after ``up``, idle, and the lab's total.

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
LAB_NAME = "bench-ka"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=5)
    args = parser.parse_args()
    if not 1 <= args.pods <= 30:
        parser.error("--pods: 1 to 30")
    os.environ["HADRILL_STATE_DIR"] = tempfile.mkdtemp(prefix="hadrill-bench-ka-")

    from hadrill import slo
    from hadrill.clients.kube import kube_api
    from hadrill.errors import HadrillError
    from hadrill.faults import kube
    from hadrill.inventory import load_inventory
    from hadrill.lab.kube_app import APP_NODE_PORT
    from hadrill.lab.kubeadm import KubeadmService
    from hadrill.lab.lab import Lab
    from hadrill.lab.labfile import parse_lab_data
    from hadrill.probes.kube import KubeReadyProbe, KubeWriteProbe
    from hadrill.probes.net import HTTPProbe
    from hadrill.run import Run

    spec = parse_lab_data({"name": LAB_NAME, "etcd": None, "kubernetes": {"mode": "kubeadm", "workers": 2}}, "<b>")
    lab = Lab(spec, owner="bench", base_dir=ROOT)
    try:
        lab.down()
        lab.up(timeout=600)  # builds or finds the binaries and images: not measured
        lab.down()
        t0 = time.monotonic()
        lab.up(timeout=600)
        warm = time.monotonic() - t0
        print(f"warm lab up (3 masters + 2 workers, kubeadm): {warm:.1f} s (goal <= 60 s)")
        _stats(lab)
        svc = next(s for s in lab.services if isinstance(s, KubeadmService))
        api = svc.api(lab.ctx, timeout=5.0)
        worker = svc.workers(lab.ctx)[0]
        times = []
        for i in range(args.pods):
            name = f"bench-{i}"
            pod = {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                "spec": {"nodeName": worker, "terminationGracePeriodSeconds": 0, "containers": [
                    {"name": "web", "image": "hadrill.local/web:1", "imagePullPolicy": "Never"}]},
            }  # fmt: skip
            start = time.monotonic()
            api.post("/api/v1/namespaces/default/pods", pod)
            deadline = start + 60
            while time.monotonic() < deadline:
                got = api.get(f"/api/v1/namespaces/default/pods/{name}")
                if got.get("status", {}).get("phase") == "Running":
                    times.append(time.monotonic() - start)
                    break
                time.sleep(0.05)
            else:
                print(f"pod {name} not Running after 60 s", file=sys.stderr)
                return 3
            api.request("DELETE", f"/api/v1/namespaces/default/pods/{name}")
        print(f"pod create -> Running: median {statistics.median(times):.2f} s, max {max(times):.2f} s "
              f"({len(times)} pods, 1.5 s seen by hand)")  # fmt: skip

        inv = load_inventory(lab.inventory_path)
        c = inv.cluster("kubernetes")
        run = Run(inv, title="bench kubeadm kill master", journal_dir=Path(os.environ["HADRILL_STATE_DIR"]))
        run.start_probe(KubeReadyProbe(kube_api(c, timeout=1.0), name="API /readyz"))
        write = KubeWriteProbe(kube_api(c, timeout=1.0), prefix="bench", name="API writes")
        write.prepare()
        run.start_probe(write)
        run.start_probe(HTTPProbe(str(c.settings["app_url"]), timeout=1.0, name=f"app :{APP_NODE_PORT}"))
        time.sleep(2.0)
        fault = kube.kill_control_plane_node(inv, "kubernetes", "etcd-leader", time_limit=120)
        with run.fault(fault):
            time.sleep(15.0)  # the master stays dead 15 s, then its revert restarts it and waits for it
        run.stop_probes(settle=3.0)
        print(f"kill the etcd leader's master ({fault.members[0]}) for 15 s, then restart it:")
        for name, sampler in run.samplers.items():
            samples = sampler.history.samples()
            outage = slo.check_max_outage(samples, 1e9, interval=run.interval).measured or 0.0
            ok = sum(1 for x in samples if x.ok)
            print(f"  {name:<12} longest outage {outage:5.2f} s ({ok}/{len(samples)} samples ok)")
    except HadrillError as e:
        print(f"lab failed: {e}", file=sys.stderr)
        return 3
    finally:
        lab.down()
    return 0


_CPU_TICKS = "cat /proc/[0-9]*/stat 2>/dev/null | awk '{t += $14 + $15} END {print t}'"


def _stats(lab: object) -> None:
    """Memory (RSS of every process, nested pods included) and CPU of each container of the lab over 10 s.

    ``docker stats`` cannot say it: with the host's cgroup namespace the nodes' systemd units and pods
    live in cgroups outside the container's own.
    """
    containers = lab.ctx.containers()  # type: ignore[attr-defined]

    def ticks() -> dict[str, int]:
        return {c.name: int(c.exec_run(["sh", "-c", _CPU_TICKS])[1].decode().strip() or 0) for c in containers}

    before, t0 = ticks(), time.monotonic()
    time.sleep(10.0)
    after, elapsed = ticks(), time.monotonic() - t0
    hz = os.sysconf("SC_CLK_TCK")
    total_mem = total_cpu = 0.0
    print("idle lab, per container (RSS sum of its processes, CPU over 10 s):")
    for c in containers:
        rss = sum(int(x) for x in c.exec_run(["ps", "-eo", "rss="])[1].decode().split()) / 1024
        cpu = 100.0 * (after[c.name] - before[c.name]) / hz / elapsed
        total_mem, total_cpu = total_mem + rss, total_cpu + cpu
        print(f"  {c.name:<40} {rss:7.0f} MiB  {cpu:5.1f} % of a core")
    print(f"  lab total {total_mem:.0f} MiB, {total_cpu:.0f} % of a core")


if __name__ == "__main__":
    sys.exit(main())
