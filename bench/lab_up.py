"""How long the offline lab takes: cold up, warm up, idempotent up, status and down.

Run::

    .venv/bin/python bench/lab_up.py [--runs N] [--skip-cold]

Measures a lab named ``bench-lab`` (owner ``bench``) on the local Docker engine and prints a table:

* cold up: the lab's images removed first, so ``up`` builds them (mmdebstrap, docker import/build).
  Only the image tags this lab would rebuild are removed (``hadrill/etcd:<hash>`` and
  ``hadrill/etcd-rootfs:<hash>``), never with force, and only when no container uses them; otherwise
  the cold figure is skipped and the reason printed. Measured once (it takes about a minute).
* warm up: images cached, lab absent. Measured N times.
* idempotent up: the lab already up. Measured N times.
* status and down: measured N times.

The issue's target is the whole lab warm in under 60 s: the script prints whether the warm median
meets it and exits 1 when it does not (2 on a bad option, 3 when the lab fails). The bench lab is
always taken down at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import docker
from docker.errors import APIError, ImageNotFound

from hadrill.errors import HadrillError
from hadrill.lab.engine import docker_client
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import default_lab_file
from hadrill.lab.runtime import LAB_LABEL

LAB_NAME = "bench-lab"
OWNER = "bench"
TARGET_WARM_S = 60.0
MAX_RUNS = 20
UP_TIMEOUT_S = 180.0

T = TypeVar("T")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def rebuilt_refs(lab: Lab) -> list[str]:
    """The image tags a cold ``up`` of this lab rebuilds: each image and the rootfs it is built on."""
    refs: list[str] = []
    for svc in lab.services:
        for img in svc.images():
            refs += [img.ref, f"hadrill/{img.name}-rootfs:{img.tag}"]
    return list(dict.fromkeys(refs))


def remove_images_for_cold(client: docker.DockerClient, lab: Lab) -> str | None:
    """Remove the lab's image tags so the next ``up`` builds them; return why not, or None when done."""
    present: dict[str, str] = {}
    for ref in rebuilt_refs(lab):
        try:
            present[ref] = client.images.get(ref).id
        except ImageNotFound:
            continue
    users: dict[str, list[str]] = {}
    for c in client.containers.list(all=True):
        for ref, image_id in present.items():
            if c.attrs.get("Image") == image_id:
                lab_of = c.labels.get(LAB_LABEL)
                users.setdefault(ref, []).append(f"{c.name} (lab {lab_of})" if lab_of else c.name)
    if users:
        return "; ".join(f"{ref} is used by {', '.join(sorted(names))}" for ref, names in users.items())
    for ref in present:  # the image before its rootfs: the image is built on it
        try:
            client.images.remove(ref, force=False, noprune=False)
        except ImageNotFound:
            continue
        except APIError as e:  # a container or child image appeared meanwhile: leave it
            return f"cannot remove {ref}: {e.explanation or e}"
    return None


def row(phase: str, samples: list[float]) -> str:
    if not samples:
        return f"{phase:<16} {0:>4}  {'-':>8}  {'-':>8}  {'-':>8}"
    med, lo, hi = statistics.median(samples), min(samples), max(samples)
    return f"{phase:<16} {len(samples):>4}  {med:>8.2f}  {lo:>8.2f}  {hi:>8.2f}"


def check_healthy(lab: Lab, what: str) -> None:
    rows = lab.status()
    bad = [r for r in rows if r.health != "healthy" or r.state != "running"]
    if bad or not rows:
        raise HadrillError(f"{what}: lab {lab.name} not healthy: {bad or 'no rows'}")


def bench(runs: int, skip_cold: bool) -> int:
    client = docker_client()
    lab = Lab(default_lab_file().with_name(LAB_NAME), owner=OWNER, client=client)
    samples: dict[str, list[float]] = {"cold up": [], "warm up": [], "idempotent up": [], "status": [], "down": []}
    notes: list[str] = []
    try:
        if lab.exists():
            log(f"{LAB_NAME} exists (an earlier run's leftover): taking it down first")
            lab.down()

        if skip_cold:
            notes.append("cold up skipped: --skip-cold")
        else:
            reason = remove_images_for_cold(client, lab)
            if reason:
                notes.append(f"cold up skipped: {reason}")
            else:
                log("cold up: building images from Debian packages (about a minute)")
                t, _ = timed(lambda: lab.up(timeout=UP_TIMEOUT_S))
                samples["cold up"].append(t)
                check_healthy(lab, "cold up")
                log(f"cold up: {t:.2f} s")
                lab.down()

        t, _ = timed(lab.build)  # no-op when cached; else build untimed so warm figures stay warm
        if t > 5:
            notes.append(f"images were not cached: built them first ({t:.0f} s, not counted)")

        for i in range(1, runs + 1):
            t_warm, _ = timed(lambda: lab.up(timeout=UP_TIMEOUT_S))
            t_idem, _ = timed(lambda: lab.up(timeout=UP_TIMEOUT_S))
            t_status, _ = timed(functools.partial(check_healthy, lab, f"run {i}"))
            t_down, _ = timed(lab.down)
            for key, t in (("warm up", t_warm), ("idempotent up", t_idem), ("status", t_status), ("down", t_down)):
                samples[key].append(t)
            log(
                f"run {i}/{runs}: warm {t_warm:.2f} s, idempotent {t_idem:.2f} s, "
                f"status {t_status:.2f} s, down {t_down:.2f} s"
            )
    except HadrillError as e:
        log(f"error: {e}")
        return 3
    finally:
        try:
            lab.down()
        except Exception as e:
            log(f"warning: could not take {LAB_NAME} down: {e} (hadrill lab prune --owner {OWNER})")
        with contextlib.suppress(OSError):  # down leaves the lab's empty state directory
            lab.inventory_path.parent.rmdir()

    print(f"lab {LAB_NAME}: etcd x{lab.spec.etcd.members if lab.spec.etcd else 0}, {runs} run(s), seconds")
    print(f"{'phase':<16} {'n':>4}  {'median':>8}  {'min':>8}  {'max':>8}")
    for phase, values in samples.items():
        print(row(phase, values))
    warm = statistics.median(samples["warm up"])
    if samples["cold up"]:
        print(f"warm/cold ratio: {warm / samples['cold up'][0]:.3f}")
    else:
        print("warm/cold ratio: n/a (no cold figure)")
    for note in notes:
        print(f"note: {note}")
    met = warm < TARGET_WARM_S
    verdict = "met" if met else "NOT met"
    print(f"target: whole lab warm in under {TARGET_WARM_S:.0f} s: warm median {warm:.2f} s: {verdict}")
    return 0 if met else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help=f"runs of warm/idempotent/status/down (1..{MAX_RUNS})")
    parser.add_argument("--skip-cold", action="store_true", help="do not remove the images to measure a cold up")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= MAX_RUNS:
        parser.error(f"--runs must be between 1 and {MAX_RUNS}")
    try:
        return bench(args.runs, args.skip_cold)
    except HadrillError as e:  # no engine
        log(f"error: {e}")
        return 3


if __name__ == "__main__":
    sys.exit(main())
