"""NFS + Gluster on systemd host nodes (over SSH) vs today's one-process containers, side by side.

Run::

    .venv/bin/python bench/storage_hosts.py [--runs N] [--image]

Two labs (owner ``bench``, no etcd, no Kubernetes), alternating run by run so both see the same load:
``bench-<w>-sctr`` (containers, ``docker://``) and ``bench-<w>-shst`` (the same 7 nodes as systemd
hosts, ``transport: ssh``). Per run: warm ``lab up`` (lab absent, images cached, until healthy and the
inventory written) and the memory the lab's nodes hold once healthy (the RSS of every process in each
node's PID namespace, summed: the same method on both sides). ``--image`` also times a build of the
host-storage image from nothing (``rebuild``: mmdebstrap, import, build), the cold cost a CI run pays.
``--scenarios`` also runs each storage experiment (``nfs-fail-vip``, ``gluster-stop-brick``,
``gluster-lose-quorum``) whole on each lab (probes, fault, verdicts) and times it: the per-scenario wall
time on both transports, and whether it passed.

Prints the medians and the ratio hosts/containers. Exit 0; 1 a scenario failed; 2 bad option; 3 a lab failed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hadrill.errors import HadrillError
from hadrill.experiment import run_experiment_file
from hadrill.lab.engine import docker_client
from hadrill.lab.images import ensure_image
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data
from hadrill.lab.runtime import LAB_LABEL
from hadrill.lab.storage_host import STORAGE_HOST_IMAGE
from hadrill.progress import Progress

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")[:8]
_RSS = "ps -e -o rss= | awk '{s += $1} END {print s}'"
SCENARIOS = [Path(__file__).resolve().parents[1] / "experiments" / f"{n}.yaml"
             for n in ("nfs-fail-vip", "gluster-stop-brick", "gluster-lose-quorum")]  # fmt: skip


def lab(kind: str) -> Lab:
    data = {"name": f"bench-{WORKER}-s{kind}", "etcd": None, "nfs": {}, "gluster": {}}
    spec = parse_lab_data(data, "<bench>")
    return Lab(spec.with_transport("ssh") if kind == "hst" else spec, owner="bench")


def memory_mib(the_lab: Lab) -> float:
    total_kib = 0
    for c in the_lab.client.containers.list(filters={"label": [f"{LAB_LABEL}={the_lab.name}"]}):
        rc, out = c.exec_run(["sh", "-c", _RSS])
        if rc != 0:
            raise HadrillError(f"{c.name}: cannot read its processes' RSS: {out[-200:]!r}")
        total_kib += int(out.decode().strip() or 0)
    return total_kib / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="runs per lab (1..10)")
    parser.add_argument("--image", action="store_true", help="also time a cold build of the host-storage image")
    parser.add_argument("--scenarios", action="store_true", help="also run and time each storage experiment")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 10:
        parser.error("--runs: 1..10")
    labs = {"containers": lab("ctr"), "hosts": lab("hst")}
    up: dict[str, list[float]] = {k: [] for k in labs}
    mem: dict[str, list[float]] = {k: [] for k in labs}
    wall: dict[str, dict[str, list[float]]] = {k: {p.stem: [] for p in SCENARIOS} for k in labs}
    passed: dict[str, dict[str, list[bool]]] = {k: {p.stem: [] for p in SCENARIOS} for k in labs}
    journals = Path(tempfile.mkdtemp(prefix="hadrill-bench-storage-"))
    try:
        if args.image:
            t0 = time.perf_counter()
            ensure_image(docker_client(), STORAGE_HOST_IMAGE, rebuild=True, progress=Progress(quiet=True))
            print(f"cold build of {STORAGE_HOST_IMAGE.ref}: {time.perf_counter() - t0:.1f} s", flush=True)
        for the_lab in labs.values():  # images cached first, not timed
            the_lab.build()
            the_lab.down()
        for run in range(args.runs):
            for kind, the_lab in labs.items():
                t0 = time.perf_counter()
                the_lab.up()
                up[kind].append(time.perf_counter() - t0)
                mem[kind].append(memory_mib(the_lab))
                for path in SCENARIOS if args.scenarios else []:
                    t0 = time.perf_counter()
                    result = run_experiment_file(path, inventory=the_lab.inventory_path, journal_dir=journals)
                    wall[kind][path.stem].append(time.perf_counter() - t0)
                    passed[kind][path.stem].append(bool(result.ok))
                the_lab.down()
                done = "".join(f", {k} {v[-1]:.1f} s" for k, v in wall[kind].items() if v)
                print(f"run {run + 1} {kind}: up {up[kind][-1]:.1f} s, {mem[kind][-1]:.0f} MiB{done}", flush=True)
    except HadrillError as e:
        print(f"bench failed: {e}", file=sys.stderr)
        return 3
    finally:
        for the_lab in labs.values():
            the_lab.down()
    print(f"{'':24}{'containers':>12}{'hosts':>12}{'ratio':>8}")
    for what, values in (("warm lab up (s)", up), ("node memory (MiB)", mem)):
        c, h = statistics.median(values["containers"]), statistics.median(values["hosts"])
        print(f"{what:24}{c:12.1f}{h:12.1f}{h / c:8.2f}")
    for stem in wall["containers"] if args.scenarios else []:
        c, h = statistics.median(wall["containers"][stem]), statistics.median(wall["hosts"][stem])
        print(f"{stem + ' (s)':24}{c:12.1f}{h:12.1f}{h / c:8.2f}")
        ok = {k: f"{sum(v[stem])}/{len(v[stem])}" for k, v in passed.items()}
        print(f"{stem + ' passed':24}{ok['containers']:>12}{ok['hosts']:>12}")
    return 0 if all(all(v) for per in passed.values() for v in per.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
