"""How fast hadrill checks pod specs against the Pod Security Standards, and against kube-score like for like.

Run::

    .venv/bin/python bench/scan_pods.py [--pods 10000] [--seed 7] [--level restricted] [--runs 5]

Generates ``--pods`` varied pod templates (Pods, Deployments, StatefulSets, DaemonSets, Jobs,
CronJobs; 1-4 containers, init and ephemeral containers, volumes, probes; about half of them
compliant, the rest breaking one to several controls at pod or container level), then times:

- ``objects``: :func:`hadrill.compliance.pss_scan.scan_objects` over the dicts (what a LIST of the API
  returns);
- ``manifests``: the same objects as one multi-document YAML file, read from disk, parsed (libyaml),
  scanned, and the findings rendered as JSON: what a CI step does.

Protocol, the same for every side: one warm-up run (not counted), then ``--runs`` runs; each run's
wall time and CPU time (this process's for hadrill, the child's for a tool) are measured separately
and the median of each is reported, with the spread (min-max).

kube-score (``github.com/zegl/kube-score/cmd/kube-score``, pinned ``KUBE_SCORE_VERSION``) is built from
the Go module proxy (``nice -n 19``, cached next to the lab's binaries by :mod:`hadrill.lab.gobuild`) and
run on the same manifest file with ``score --output-format json`` and only its security-context tests
enabled (the list is printed: it is not the same rule set as the Pod Security Standards, and the
printout says which rules each side evaluates). A run counts only if kube-score exits 0 or 1 (1: it
found a critical problem), its JSON parses, and it scored every object; otherwise the benchmark says why
and exits 1. Polaris was compared before; the Go module proxy here refuses ``github.com/fairwindsops/
polaris`` (403), so it is no longer built (``--no-tools`` skips kube-score too).

With ``--inventory FILE`` (a lab's, with a ``kubernetes`` cluster), ``--lab-pods`` pods are created on
the kwok nodes (Deployments in namespace ``hadrill-bench``, from the same generator; removed after),
then read back with one paginated LIST and scanned, and they join the manifest set.

Exit status: 0 when the median CPU time of the object scan is under 2 s and every tool run counted; 1
otherwise."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hadrill.compliance.pss import BASELINE, RESTRICTED
from hadrill.compliance.pss_scan import pod_refs, scan_manifest_text, scan_objects
from hadrill.lab.gobuild import GoBinary

PSS_CONTROLS = {"baseline": BASELINE, "restricted": RESTRICTED}

KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
_YAML11_BOOLS = frozenset(("y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"))


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Quotes the strings YAML 1.1 readers (Go's sigs.k8s.io/yaml: kube-score, Polaris) take for booleans."""


def _str(dumper: Any, value: str) -> Any:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style='"' if value.lower() in _YAML11_BOOLS else None
    )


_Dumper.add_representer(str, _str)
GOAL_S = 2.0


def _container(rng: random.Random, name: str, secure: bool) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": f"registry.local/app-{rng.randrange(50)}:1.{rng.randrange(9)}"}
    sc: dict[str, Any] = {}
    if secure or rng.random() < 0.5:
        sc["allowPrivilegeEscalation"] = False
        sc["capabilities"] = {"drop": ["ALL"], **({"add": ["NET_BIND_SERVICE"]} if rng.random() < 0.2 else {})}
    if not secure:
        bad = rng.choice(["privileged", "caps", "runAsUser", "procMount", "seccomp", "hostPort", "apparmor", "none"])
        if bad == "privileged":
            sc["privileged"] = True
        elif bad == "caps":
            sc["capabilities"] = {"add": [rng.choice(["SYS_ADMIN", "NET_ADMIN", "NET_RAW", "CHOWN"])]}
        elif bad == "runAsUser":
            sc["runAsUser"] = 0
        elif bad == "procMount":
            sc["procMount"] = "Unmasked"
        elif bad == "seccomp":
            sc["seccompProfile"] = {"type": "Unconfined"}
        elif bad == "hostPort":
            c["ports"] = [{"containerPort": 8080, "hostPort": 8080}]
        elif bad == "apparmor":
            sc["appArmorProfile"] = {"type": "Unconfined"}
    if rng.random() < 0.6:
        c["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}}
        if not secure and rng.random() < 0.1:
            c["readinessProbe"]["httpGet"]["host"] = "10.0.0.1"
    c.setdefault("ports", [{"containerPort": 8080}])
    if sc:
        c["securityContext"] = sc
    return c


def make_pod_spec(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """(template metadata, pod spec): about half compliant with restricted."""
    secure = rng.random() < 0.5
    spec: dict[str, Any] = {"containers": [_container(rng, f"c{i}", secure) for i in range(rng.randint(1, 4))]}
    if rng.random() < 0.3:
        spec["initContainers"] = [_container(rng, "init", secure)]
    if rng.random() < 0.05:
        spec["ephemeralContainers"] = [_container(rng, "debug", secure)]
    psc: dict[str, Any] = {}
    if secure or rng.random() < 0.4:
        psc = {
            "runAsNonRoot": True,
            "runAsUser": 1000 + rng.randrange(1000),
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    if not secure and rng.random() < 0.3:
        psc["sysctls"] = [{"name": rng.choice(["net.core.somaxconn", "net.ipv4.tcp_syncookies"]), "value": "1"}]
    if psc:
        spec["securityContext"] = psc
    vols: list[dict[str, Any]] = [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "tmp", "emptyDir": {}}]
    if not secure and rng.random() < 0.3:
        vols.append(
            rng.choice(
                [{"name": "host", "hostPath": {"path": "/var/log"}}, {"name": "n", "nfs": {"server": "s", "path": "/"}}]
            )
        )
    spec["volumes"] = vols
    if not secure and rng.random() < 0.1:
        spec["hostNetwork"] = True
    meta: dict[str, Any] = {"labels": {"app": f"app-{rng.randrange(100)}"}}
    if not secure and rng.random() < 0.05:
        meta["annotations"] = {"container.apparmor.security.beta.kubernetes.io/c0": "unconfined"}
    return meta, spec


def make_object(rng: random.Random, i: int) -> dict[str, Any]:
    kind = KINDS[i % len(KINDS)]
    meta, spec = make_pod_spec(rng)
    md = {"name": f"w{i}", "namespace": f"ns{i % 20}"}
    template = {"metadata": meta, "spec": spec}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {**md, **meta}, "spec": spec}
    if kind == "CronJob":
        body = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
        return {"apiVersion": "batch/v1", "kind": kind, "metadata": md, "spec": body}
    api = "batch/v1" if kind == "Job" else "apps/v1"
    return {"apiVersion": api, "kind": kind, "metadata": md, "spec": {"replicas": 2, "template": template}}


@dataclass(frozen=True)
class Timing:
    """Per-run wall and CPU seconds (warm-up excluded)."""

    wall: list[float]
    cpu: list[float]

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    def line(self) -> str:
        wall = f"median {self.wall_median:6.3f} s wall ({min(self.wall):.3f}-{max(self.wall):.3f})"
        cpu = f"{self.cpu_median:6.3f} s CPU ({min(self.cpu):.3f}-{max(self.cpu):.3f})"
        return f"{wall}, {cpu}, {len(self.wall)} runs"


def _measure(fn: Any, runs: int) -> tuple[Timing, Any]:
    """One warm-up call, then ``runs`` timed calls of ``fn`` in this process (CPU: this process's)."""
    result = fn()
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return Timing(wall, cpu), result


def _hadrill_ci_step(path: Path, level: str) -> list[Any]:
    """What ``hadrill check --manifests`` does per file: read, parse, scan, render the findings as JSON."""
    findings = scan_manifest_text(path.read_text(encoding="utf-8"), str(path), level=level)
    json.dumps([f.to_dict() for f in findings], default=str)
    return findings


def _versions() -> str:
    libyaml = "libyaml " + yaml.__with_libyaml__ * "yes" + (not yaml.__with_libyaml__) * "no"
    from hadrill import __version__

    return f"hadrill {__version__}, Python {platform.python_version()}, PyYAML {yaml.__version__} ({libyaml})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--pods", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--level", choices=["baseline", "restricted"], default="restricted")
    ap.add_argument("--runs", type=int, default=5, help="Timed runs after one warm-up (the median is reported).")
    ap.add_argument("--inventory", help="A lab inventory with a kubernetes cluster: add pods from its API.")
    ap.add_argument("--lab-pods", type=int, default=1000, help="Pods to create on the kwok nodes (default 1000).")
    ap.add_argument("--no-tools", action="store_true", help="Do not build or time kube-score.")
    ap.add_argument("--tool-timeout", type=float, default=600.0, help="Seconds each tool run may take.")
    args = ap.parse_args(argv)
    if not 1 <= args.pods <= 1_000_000 or not 1 <= args.runs <= 50:
        ap.error("--pods must be 1..1000000 and --runs 1..50")
    rng = random.Random(args.seed)
    objects = [make_object(rng, i) for i in range(args.pods)]
    if args.inventory:
        objects += _lab_pods(args.inventory, args.lab_pods, rng, args.level)
    pods = sum(1 for _ in pod_refs(objects))
    print(f"{_versions()}; level {args.level}; protocol: 1 warm-up, then median of {args.runs} runs")
    t_obj, findings = _measure(lambda: scan_objects(objects, level=args.level), args.runs)
    failing = len({f.target for f in findings})
    print(f"pod templates: {pods:,} ({', '.join(KINDS)}): {failing:,} violate it, {len(findings):,} findings")
    print(f"  hadrill objects (scan_objects over dicts):            {t_obj.line()}  "
          f"{pods / t_obj.wall_median:10,.0f} pods/s")  # fmt: skip
    ok = True
    with tempfile.TemporaryDirectory(prefix="hadrill-bench-") as tmp:
        manifest = Path(tmp) / "bench.yaml"
        manifest.write_text(yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False), encoding="utf-8")
        t_ci, ci_findings = _measure(lambda: _hadrill_ci_step(manifest, args.level), args.runs)
        if len({f.target for f in ci_findings}) != failing:
            print("  hadrill manifests: FAILED: the manifest scan disagrees with the object scan")
            ok = False
        controls = len(PSS_CONTROLS[args.level])
        print(f"  hadrill manifests (read, parse, scan, JSON; {manifest.stat().st_size / 1e6:.1f} MB): "
              f"{t_ci.line()}  {pods / t_ci.wall_median:10,.0f} pods/s")  # fmt: skip
        print(
            f"    rules: the {controls} Pod Security Standards controls of {args.level} (pod-security-admission 1.34)"
        )
        if args.no_tools:
            print("  kube-score: skipped (--no-tools)")
        else:
            ok = _compare_kube_score(manifest, len(objects), args.runs, t_ci, args.tool_timeout) and ok
    met = t_obj.cpu_median < GOAL_S
    print(f"  goal: {args.pods:,} pods in < {GOAL_S:.0f} s of CPU (median): {'met' if met else 'NOT met'}")
    return 0 if met and ok else 1


# -- pods from the lab API -----------------------------------------------------------------------------
BENCH_NS = "hadrill-bench"


def _lab_pods(inventory: str, count: int, rng: random.Random, level: str) -> list[dict[str, Any]]:
    """Create ``count`` pods on the kwok nodes (10 Deployments), LIST them back (paginated), scan them."""
    from hadrill.clients.kube import KubeApiError, kube_api
    from hadrill.compliance.kube_workloads import kube_cluster, list_kind
    from hadrill.inventory import load_inventory

    inv = load_inventory(Path(inventory))
    cluster = kube_cluster(inv)
    if cluster is None:
        print(f"  pods from the lab API: {inventory} has no kubernetes cluster")
        return []
    api = kube_api(cluster, timeout=30.0)
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": BENCH_NS}})
    per = max(1, count // 10)
    try:
        t0 = time.perf_counter()
        for d in range(10):
            for _ in range(100):  # the generator's specs are not all API-valid (procMount, sysctls...): redraw
                meta, spec = make_pod_spec(rng)
                labels = {"app": f"bench-{d}"}
                tmeta = {"labels": labels, **({"annotations": meta["annotations"]} if "annotations" in meta else {})}
                body = {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": f"bench-{d}"},
                    "spec": {"replicas": per, "selector": {"matchLabels": labels},
                             "template": {"metadata": tmeta, "spec": spec}},
                }  # fmt: skip
                try:
                    api.create(f"/apis/apps/v1/namespaces/{BENCH_NS}/deployments", body)
                    break
                except KubeApiError as e:
                    if e.status != 422:
                        raise
        want, have = per * 10, 0
        for _ in range(300):  # bounded: up to ~10 min on a loaded machine
            have = len(api.list_all(f"/api/v1/namespaces/{BENCH_NS}/pods"))
            if have >= want:
                break
            time.sleep(2)
        print(f"  lab: {have} of {want} pods created on the kwok nodes in {time.perf_counter() - t0:.0f} s")
        t_list = time.perf_counter()
        pods = list_kind(api, "Pod")  # every namespace, one paginated LIST (limit 500)
        t_list = time.perf_counter() - t_list
        timing, findings = _measure(lambda: scan_objects(pods, level=level), 3)
        print(f"  hadrill lab API:   LIST of {len(pods):,} pods {t_list:6.3f} s; scan {timing.line()}, "
              f"{len(findings)} findings")  # fmt: skip
        return [{k: v for k, v in p.items() if k != "status"} | {"apiVersion": "v1"} for p in pods]
    finally:
        try:
            api.request("DELETE", f"/api/v1/namespaces/{BENCH_NS}")
        except KubeApiError as e:
            print(f"  lab: could not delete namespace {BENCH_NS}: {e}")


# -- kube-score ----------------------------------------------------------------------------------------
KUBE_SCORE_VERSION = "v1.20.0"
KUBE_SCORE = GoBinary("kube-score", "github.com/zegl/kube-score/cmd/kube-score", KUBE_SCORE_VERSION,
                      (("github.com/zegl/kube-score", KUBE_SCORE_VERSION),))  # fmt: skip
_BUILD = """
import sys
from hadrill.lab.gobuild import GoBinary, ensure_binaries
name, pkg, mod, version = sys.argv[1:5]
print(ensure_binaries([GoBinary(name, pkg, version, ((mod, version),))])[name])
"""
_SECURITY_TESTS = re.compile(r"security|seccomp|privileged|capabilit", re.I)


def _build_kube_score() -> Path:
    """Build (once, niced, one job) and return the pinned kube-score."""
    env = {**os.environ, "HADRILL_GO_JOBS": "1"}
    mod, version = KUBE_SCORE.requires[0]
    res = subprocess.run(["nice", "-n", "19", sys.executable, "-c", _BUILD, KUBE_SCORE.name, KUBE_SCORE.package,
                          mod, version], capture_output=True, text=True, timeout=3600, env=env)  # fmt: skip
    if res.returncode != 0:
        raise RuntimeError((res.stderr.strip() or res.stdout.strip())[-600:])
    return Path(res.stdout.strip().splitlines()[-1])


def _kube_score_tests(binary: Path) -> tuple[list[str], list[str], list[str]]:
    """(security tests to run, default tests to ignore, optional tests to enable) from ``kube-score list``."""
    out = subprocess.run([str(binary), "list"], capture_output=True, text=True, timeout=60, check=True).stdout
    keep, ignore, enable = [], [], []
    for row in out.splitlines():
        cols = [c.strip() for c in row.split(",")]
        if len(cols) < 4 or cols[0] in ("", "name"):
            continue
        name, optional = cols[0], cols[-1].lower() == "optional"
        if _SECURITY_TESTS.search(name):
            keep.append(name)
            if optional:
                enable.append(name)
        elif not optional:
            ignore.append(name)
    return keep, ignore, enable


def _tool_runs(cmd: list[str], runs: int, timeout: float, expect_objects: int) -> tuple[Timing, str]:
    """Warm-up, then ``runs`` runs of ``cmd``; each must exit 0/1, print JSON and score every object."""
    wall, cpu = [], []
    for i in range(runs + 1):
        t0, c0 = time.perf_counter(), os.times()
        res = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        w = time.perf_counter() - t0
        c1 = os.times()
        c = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
        if res.returncode not in (0, 1):
            raise RuntimeError(f"exit {res.returncode}: {res.stderr.decode(errors='replace').strip()[-300:]}")
        try:
            scored = json.loads(res.stdout)
        except json.JSONDecodeError as e:
            raise RuntimeError(f"output is not JSON ({e}): {res.stdout[:200]!r}") from e
        if not isinstance(scored, list) or len(scored) != expect_objects:
            n = len(scored) if isinstance(scored, list) else type(scored).__name__
            raise RuntimeError(f"scored {n} objects of {expect_objects}")
        if i:  # run 0 is the warm-up
            wall.append(w)
            cpu.append(c)
    return Timing(wall, cpu), ""


def _compare_kube_score(manifest: Path, objects: int, runs: int, hadrill: Timing, timeout: float) -> bool:
    try:
        binary = _build_kube_score()
        version = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=60).stdout.strip()
        keep, ignore, enable = _kube_score_tests(binary)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"  kube-score {KUBE_SCORE_VERSION}: FAILED: not built or not runnable: {e}")
        return False
    cmd = [str(binary), "score", "--output-format", "json"]
    cmd += [a for t in ignore for a in ("--ignore-test", t)] + [
        a for t in enable for a in ("--enable-optional-test", t)
    ]
    cmd.append(str(manifest))
    try:
        timing, _ = _tool_runs(cmd, runs, timeout, objects)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"  kube-score {KUBE_SCORE_VERSION}: FAILED: {e}")
        return False
    print(f"  kube-score ({version or KUBE_SCORE_VERSION}, go build -trimpath; score --output-format json, "
          f"{len(ignore)} default tests ignored): {timing.line()}")  # fmt: skip
    print(f"    rules: kube-score's {len(keep)} security tests: {', '.join(keep)}")
    wall, cpu = timing.wall_median / hadrill.wall_median, timing.cpu_median / hadrill.cpu_median
    print(f"    ratio kube-score / hadrill manifests: {wall:5.2f}x wall, {cpu:5.2f}x CPU "
          "(medians; both read, parse, check and render JSON)")  # fmt: skip
    return True


if __name__ == "__main__":
    sys.exit(main())
