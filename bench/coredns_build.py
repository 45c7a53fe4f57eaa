"""CoreDNS for the kubeadm lab: upstream's whole ``go install`` against the plugin subset the lab builds,
each from empty caches, side by side in one run.

Run (nice it: it shares the machine)::

    nice -n 10 .venv/bin/python bench/coredns_build.py [--keep-caches]

Each variant gets its own fresh ``HADRILL_CACHE_DIR`` (module cache, build cache and binaries empty), so
both download their modules from the Go module proxy and compile everything: the same work a cold CI
machine does. Prints each variant's wall time, the binary's size and the ratio full / subset. The
variants run one after the other (not at once) so they do not compete for the cores; a busy machine
slows both, and the ratio is what to read. Exit status 0, 3 when a build fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _build(variant: str, cache: Path) -> tuple[float, int]:
    """Build one variant into ``cache`` (a fresh folder); its wall time and the binary's size."""
    os.environ["HADRILL_CACHE_DIR"] = str(cache)  # read at every call of cache_dir()
    from hadrill.lab.gobuild import go_build_main, go_install
    from hadrill.lab.kubeadm_images import COREDNS_PLUGINS, COREDNS_VERSION

    start = time.monotonic()
    if variant == "full":
        path = go_install("github.com/coredns/coredns", COREDNS_VERSION)
    else:
        plugins = [f"github.com/coredns/coredns/plugin/{p}" for p in COREDNS_PLUGINS]
        path = go_build_main(
            "coredns-kubeadm", "github.com/coredns/coredns", COREDNS_VERSION, plugins,
            "github.com/coredns/coredns/coremain.Run",
        )  # fmt: skip
    return time.monotonic() - start, path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep-caches", action="store_true", help="keep the two cache folders")
    args = parser.parse_args(argv)
    from hadrill.errors import HadrillError

    results: dict[str, tuple[float, int]] = {}
    for variant in ("full", "subset"):
        cache = Path(tempfile.mkdtemp(prefix=f"hadrill-coredns-{variant}-"))
        print(f"building CoreDNS ({variant}) from empty caches in {cache}", file=sys.stderr, flush=True)
        try:
            results[variant] = _build(variant, cache)
        except HadrillError as e:
            print(f"{variant}: FAILED: {e}")
            return 3
        finally:
            if not args.keep_caches:
                shutil.rmtree(cache, ignore_errors=True)
    print(f"CoreDNS build from empty caches ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} at the end)")
    for variant, (seconds, size) in results.items():
        print(f"  {variant:<7} {seconds:8.1f} s  {size / 2**20:6.1f} MiB")
    full, subset = results["full"][0], results["subset"][0]
    print(f"  ratio full / subset: {full / subset:.2f}x (wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
