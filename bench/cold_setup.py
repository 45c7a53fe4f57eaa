"""How long the default lab takes to set up on a machine with empty caches, phase by phase.

Run (nice it: it shares the machine)::

    nice -n 10 .venv/bin/python bench/cold_setup.py [--cache-dir DIR] [--lab NAME] [--keep]

Runs ``Lab.up()`` of the default lab (etcd, NFS, Gluster, Kubernetes) exactly as ``hadrill lab up``
does, from nothing:

* Go: a fresh ``HADRILL_CACHE_DIR`` (``--cache-dir``, default a new folder under ./.coldcache), so the
  module cache, the build cache and the binaries are all empty; the Go module proxy is the only source;
* images: every image and rootfs tag is salted (the recipe version gets a random suffix), so each image
  is built from mmdebstrap up under tags no one else uses; the salted images are removed at the end
  (unless ``--keep``), and no other image is touched;
* the lab gets its own name (default ``hdt-<worker>-cold``), taken down at the end.

With ``--ci`` it sets up, one after the other on the same empty caches, every lab the CI's test modules
bring up that needs something the default lab does not (the kubeadm cluster, the Swarm, the storage
hosts reached over SSH), each taken down before the next: the sum is the cold cost the CI pays on top
of its warm run (``.ci/run`` on warm caches prints that one).

Prints every phase with its start (seconds from the beginning: phases overlap, images build while Go
compiles) and its duration: each group's module download and ``go build``, each image's mmdebstrap and
docker build, the lab's start until healthy, and the total against the 15 min target. The machine's
load average before and after is printed too: a busy machine makes every figure longer.
Exit status 0 when the target is met, 1 when not, 3 when the lab fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET_S = 15 * 60.0
UP_TIMEOUT_S = 600.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Timeline:
    """Phases recorded from several threads: (name, start, seconds)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.rows: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()

    def add(self, name: str, start: float, seconds: float) -> None:
        with self._lock:
            self.rows.append((name, start - self.t0, seconds))
        log(f"  {name}: {seconds:.1f} s")

    def timed(self, name: Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name(*args, **kwargs), start, time.monotonic() - start)

        return wrapper


def instrument(timeline: Timeline, salt: str) -> None:
    """Salt the image tags and time every Go group, image step and the services' start."""
    from hadrill.lab import gobuild, images, kubeadm
    from hadrill.lab import lab as lab_module

    images._RECIPE_VERSION = f"{images._RECIPE_VERSION}+{salt}"  # no tag shared with anyone

    build_group = gobuild.build_group

    def timed_group(group: Any, progress: Any, go: str | None = None) -> dict[str, float]:
        start = time.monotonic()
        label = "+".join(b.name for b in group)
        try:
            times = build_group(group, progress, go)
        except Exception:
            timeline.add(f"go (FAILED) {label}", start, time.monotonic() - start)
            raise
        timeline.add(f"go modules  {label}", start, times["download"])
        timeline.add(f"go build    {label}", start + times["download"], times["build"])
        return times

    gobuild.build_group = timed_group
    images._mmdebstrap = timeline.timed(lambda spec, *a: f"mmdebstrap  {spec.name}", images._mmdebstrap)
    images._docker_build = timeline.timed(lambda c, spec, *a: f"docker build {spec.name}", images._docker_build)
    whole = lab_module.ensure_image

    def ensure_and_remember(client: Any, spec: Any, **kwargs: Any) -> Any:
        BUILT.extend([spec.ref, f"hadrill/{spec.name}-rootfs:{spec.tag}"])  # salted: ours alone
        return whole(client, spec, **kwargs)

    lab_module.ensure_image = timeline.timed(
        lambda c, spec, **k: f"image       {spec.name} (whole)", ensure_and_remember
    )
    kubeadm.ensure_image = lab_module.ensure_image  # the node image with the Kubernetes binaries in it


# The lab parts CI's test modules bring up beyond the default lab (tests/integration/test_kubeadm.py,
# test_swarm.py, test_storage_hosts.py): their images and Go binaries are the rest of the cold cost.
CI_PARTS: dict[str, dict[str, Any]] = {
    "ka": {"kubernetes": {"mode": "kubeadm", "workers": 2}},
    "sw": {"swarm": {}, "gluster": {}},  # gluster: the stateful service's volume (its image: the default lab's)
    "store": {"nfs": {"advert_int": 1.0}, "gluster": {}},  # reached over SSH (with_transport below)
}

BUILT: list[str] = []  # the salted image tags this run asked for (removed at the end)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache-dir", type=Path, help="an empty folder for Go and build logs (default: new)")
    parser.add_argument("--lab", default=f"hdt-{os.environ.get('PYTEST_XDIST_WORKER', 'bench')}-cold")
    parser.add_argument("--keep", action="store_true", help="keep the lab and the salted images")
    parser.add_argument("--ci", action="store_true", help="also every lab part the CI's modules need (see above)")
    args = parser.parse_args(argv)
    salt = f"cold-{secrets.token_hex(4)}"
    cache = (args.cache_dir or Path.cwd() / ".coldcache" / salt).resolve()
    if cache.exists() and any(cache.iterdir()):
        parser.error(f"--cache-dir {cache} is not empty: a cold measurement needs an empty one")
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["HADRILL_CACHE_DIR"] = str(cache)  # before anything reads it

    from hadrill.errors import HadrillError
    from hadrill.lab.engine import docker_client
    from hadrill.lab.lab import Lab
    from hadrill.lab.labfile import default_lab_file, parse_lab_data
    from hadrill.progress import Progress

    timeline = Timeline()
    instrument(timeline, salt)
    client = docker_client()
    specs = [default_lab_file().with_name(args.lab)]
    if args.ci:
        specs += [
            parse_lab_data({"name": f"{args.lab}-{part}", "etcd": None, **data}, f"<cold {part}>")
            for part, data in CI_PARTS.items()
        ]
        specs[-1] = specs[-1].with_transport("ssh")
    load_before = os.getloadavg()
    log(f"cold set-up of lab {args.lab}: cache {cache}, image salt {salt}, {os.cpu_count()} CPUs")
    failed = ""
    start = time.monotonic()
    for spec in specs:
        lab = Lab(spec, client=client, owner="bench", progress=Progress())
        try:
            up_services = lab._up_services
            lab._up_services = timeline.timed(lambda *a, n=spec.name: f"lab up      {n} healthy", up_services)
            lab.up(timeout=UP_TIMEOUT_S)
        except Exception as e:  # report it with the phases measured so far, then clean up
            failed = f"{spec.name}: {type(e).__name__}: {e}"
        finally:
            if not args.keep:
                with contextlib.suppress(HadrillError):
                    lab.down()
        if failed:
            break
    total = time.monotonic() - start
    load_after = os.getloadavg()
    try:
        if not args.keep:
            for ref in BUILT:  # never svc.images(): that would build what failed
                with contextlib.suppress(Exception):  # only our salted tags; absent ones are fine
                    client.images.remove(ref, noprune=False)
    except HadrillError as e:
        log(f"warning: clean-up: {e}")

    what = f"{len(specs)} labs (the default one and the CI's parts)" if args.ci else "the default lab"
    print(f"cold set-up of {what} ({os.cpu_count()} CPUs), seconds from the start")
    print(f"{'phase':<58} {'start':>8} {'time':>8}")
    for name, begin, seconds in sorted(timeline.rows, key=lambda r: r[1]):
        print(f"{name:<58} {begin:>8.1f} {seconds:>8.1f}")
    print(f"{'total (labs up from empty caches)':<58} {'':>8} {total:>8.1f}  ({total / 60:.1f} min)")
    print(f"load average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f}")
    if failed:
        print(f"lab up FAILED: {failed}")
        return 3
    if args.ci:
        print("the CI's cold time is its warm time (.ci/run on warm caches) plus this total, minus the")
        print("warm set-up of the same labs (default ~40 s, kubeadm ~160 s, Swarm ~45 s, storage hosts ~60 s)")
        return 0
    met = total <= TARGET_S
    print(f"target: cold set-up <= {TARGET_S / 60:.0f} min: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
