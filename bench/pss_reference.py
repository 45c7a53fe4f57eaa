"""hadrill's Pod Security scan against the upstream evaluator, on the same objects, in one run.

Run::

    .venv/bin/python bench/pss_reference.py [--pods 10000] [--seed 7] [--level restricted] [--repeat 3]

Builds ``bench/pss_reference/main.go`` (a small program around ``k8s.io/pod-security-admission``'s
``policy.NewEvaluator(policy.DefaultChecks()).EvaluatePod`` at policy version 1.34) from the Go module
proxy, with ``--psa-version`` (v0.34.4, the lab's Kubernetes), in a module under the hadrill cache
(``cache_dir()/bench/``, reused while main.go and the version do not change), then generates ``--pods``
objects with ``bench/scan_pods.py``'s generator (Pods, Deployments, StatefulSets, DaemonSets, Jobs,
CronJobs; about half compliant) and measures, best of ``--repeat``, in CPU seconds:

Which evaluator hadrill ran is printed: the C one (``hadrill.compliance._pss_native``, built by
``setup.py``) or the pure-Python controls.

- objects: the pod templates in memory. Go: EvaluatePod over decoded ``PodSpec`` structs (JSON
  decoding excluded). hadrill: :func:`scan_objects` over the dicts (template extraction and findings
  included) and, for information, :func:`evaluate_pod` alone;
- manifests: one multi-document YAML file, end to end. Go: read, split (apimachinery's YAMLReader),
  decode (client-go's UniversalDeserializer), extract the template (the admission plugin's
  DefaultPodSpecExtractor), evaluate. hadrill: :func:`scan_manifest_files` (libyaml's CSafeLoader when
  PyYAML has it; which loader is printed).

The verdicts must be identical: per template, the set of failing PSA check IDs (upstream's per check,
cross-checked against EvaluatePod's aggregate) equals hadrill's. Prints the CPU ratios hadrill/upstream;
the issue's goal is objects ≤ 2×. Exit status 0 when verdicts agree and the goal is met, 1 when the
goal is missed, 3 when verdicts differ or the reference cannot be built or run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan_pods import _Dumper, make_object

from hadrill.compliance.pss import evaluate_pod
from hadrill.compliance.pss_scan import NATIVE, PSS_CHECK_IDS, pod_refs, scan_manifest_files, scan_objects
from hadrill.lab import gobuild
from hadrill.paths import cache_dir
from hadrill.progress import Progress

GOAL = 2.0
SOURCE = Path(__file__).resolve().parent / "pss_reference" / "main.go"
_PSA_OF = {hd: psa for psa, hd in PSS_CHECK_IDS.items()}


def build_reference(psa_version: str) -> Path:
    """The reference binary, built once per (main.go, version) under the cache, niced like the lab's."""
    source = SOURCE.read_text()
    key = hashlib.sha256(f"{psa_version}\n{source}".encode()).hexdigest()[:12]
    work = cache_dir() / "bench" / f"pss-reference-{psa_version}-{key}"
    binary = work / "pss-reference"
    if binary.is_file():
        return binary
    work.mkdir(parents=True, exist_ok=True)
    (work / "main.go").write_text(source)
    mods = ["k8s.io/pod-security-admission", "k8s.io/api", "k8s.io/apimachinery", "k8s.io/client-go"]
    minor = psa_version  # the staging modules share one version
    lines = ["module hadrill.local/pssreference", "", "go 1.24.0", ""] + [f"require {m} {minor}" for m in mods]
    (work / "go.mod").write_text("\n".join(lines) + "\n")
    log = work / "build.log"
    go = gobuild.find_go()
    cmd = [go, "build", "-p", gobuild._jobs(), "-trimpath", "-o", str(binary) + ".tmp", "."]
    rc = gobuild._run(cmd, work, log, Progress(quiet=True), 3600.0)
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"go build of the reference failed (exit {rc}); log {log}:\n{tail}")
    Path(str(binary) + ".tmp").replace(binary)
    return binary


def run_reference(binary: Path, mode: str, file: Path, level: str, repeat: int) -> dict[str, Any]:
    res = subprocess.run([str(binary), mode, str(file), level, str(repeat)], capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    if res.returncode != 0:
        raise RuntimeError(f"reference {mode} failed (exit {res.returncode}): {res.stderr.strip()[-500:]}")
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def best(fn: Any, repeat: int) -> tuple[float, float, Any]:
    """Best of ``repeat`` runs, each started with the previous run's result freed, as the Go reference
    starts each run after ``runtime.GC()``: freeing 26,000 findings (15-25 ms) was counted in the next
    run. Reference counting frees it all (findings hold no cycles); gc.collect() would also empty
    CPython's free lists, and the next run paid for that in page faults."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        result = None
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu, result


def compare(name: str, ours: list[list[str]], theirs: list[list[str]]) -> int:
    """Print and count the templates whose verdicts differ."""
    if len(ours) != len(theirs):
        print(f"  {name}: {len(ours)} templates for hadrill, {len(theirs)} for upstream")
        return max(len(ours), len(theirs))
    diff = [(i, a, b) for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
    for i, a, b in diff[:5]:
        print(f"  {name}: template {i}: hadrill {a}, upstream {b}")
    return len(diff)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--pods", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--level", choices=["baseline", "restricted"], default="restricted")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--psa-version", default="v0.34.4")
    args = ap.parse_args(argv)
    if not 1 <= args.pods <= 1_000_000 or not 1 <= args.repeat <= 20:
        ap.error("--pods must be 1..1000000 and --repeat 1..20")
    try:
        t0 = time.perf_counter()
        binary = build_reference(args.psa_version)
        built = time.perf_counter() - t0
    except (RuntimeError, OSError, gobuild.GoMissing) as e:
        print(f"upstream evaluator not built: {e}")
        return 3

    import random

    rng = random.Random(args.seed)
    objects = [make_object(rng, i) for i in range(args.pods)]
    refs = list(pod_refs(objects))
    templates = [{"metadata": r.meta, "spec": r.spec} for r in refs]
    loader = "CSafeLoader (libyaml)" if hasattr(yaml, "CSafeLoader") else "SafeLoader (pure Python)"
    with tempfile.TemporaryDirectory(prefix="hadrill-pss-") as tmp:
        tfile, mfile = Path(tmp) / "templates.json", Path(tmp) / "bench.yaml"
        tfile.write_text(json.dumps(templates))
        mfile.write_text(yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False))
        try:
            go_obj = run_reference(binary, "objects", tfile, args.level, args.repeat)
            go_man = run_reference(binary, "manifests", mfile, args.level, args.repeat)
        except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as e:
            print(f"upstream evaluator failed: {e}")
            return 3
        w_scan, c_scan, findings = best(lambda: scan_objects(objects, level=args.level), args.repeat)
        _, c_eval, _ = best(
            lambda: [evaluate_pod(r.meta, r.spec, args.level, spec_path=r.spec_path) for r in refs], args.repeat
        )
        w_man, c_man, man_findings = best(lambda: scan_manifest_files([mfile], level=args.level), args.repeat)

    ours = [sorted(c.psa_id for c, _ in evaluate_pod(r.meta, r.spec, args.level)) for r in refs]
    by_target: dict[str, set[str]] = defaultdict(set)
    for f in man_findings:
        by_target[f.target].add(_PSA_OF[f.check_id])
    ours_man = [sorted(by_target.get(r.ref, ())) for r in refs]
    scanned = defaultdict(set)
    for f in findings:
        scanned[f.target].add(_PSA_OF[f.check_id])
    ours_scan = [sorted(scanned.get(r.ref, ())) for r in refs]

    print(f"{len(refs):,} pod templates (seed {args.seed}), level {args.level}, policy 1.34, best of {args.repeat}; "
          f"upstream k8s.io/pod-security-admission {args.psa_version} "
          f"({'cached' if built < 5 else f'built in {built:.0f} s'})")  # fmt: skip
    evaluator = "C (hadrill.compliance._pss_native)" if NATIVE else "Python (the C extension is not built)"
    print(f"hadrill evaluator: {evaluator}")
    bad = compare("objects", ours, go_obj["verdicts"]) + compare("objects (scan)", ours_scan, go_obj["verdicts"])
    bad += compare("manifests", ours_man, go_man["verdicts"])
    forbidden = sum(1 for v in ours if v)
    print(f"verdicts: {'identical' if not bad else f'{bad} DIFFER'} ({forbidden:,} templates forbidden by hadrill, "
          f"{go_obj['forbidden']:,} by upstream EvaluatePod)")  # fmt: skip
    r_obj, r_man = c_scan / go_obj["cpu"], c_man / go_man["cpu"]
    print(f"{'':<34}{'hadrill CPU':>12}{'upstream CPU':>14}{'ratio':>8}")
    print(f"{'objects in memory (scan_objects)':<34}{c_scan:>11.3f}s{go_obj['cpu']:>13.3f}s{r_obj:>7.2f}x")
    print(f"{'  evaluate_pod alone':<34}{c_eval:>11.3f}s{go_obj['cpu']:>13.3f}s{c_eval / go_obj['cpu']:>7.2f}x")
    print(f"{'manifest file end to end':<34}{c_man:>11.3f}s{go_man['cpu']:>13.3f}s{r_man:>7.2f}x  ({loader})")
    print(f"wall: objects {w_scan:.3f} s vs {go_obj['wall']:.3f} s; manifests {w_man:.3f} s vs {go_man['wall']:.3f} s")
    if bad:
        return 3
    met = r_obj <= GOAL
    print(f"goal: objects within {GOAL:.0f}x of upstream: {'met' if met else 'NOT met'} ({r_obj:.2f}x)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
