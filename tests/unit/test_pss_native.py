"""The C evaluator answers exactly what the Python controls answer, or gives up where the screen does.

The oracle is :func:`evaluate_pod_at` with every control run (``only=None``), compared by ``repr`` as
well as ``==`` so insertion order and ``True``/``1``/``None`` values count. Pods: hypothesis's well
formed and odd ones (test_pss_screen's strategies), the bench's generator, upstream's 1.34 fixtures,
and hand-picked odd shapes. ``evaluate`` may answer None only where :func:`may_violate` does, or where
the Python controls raise (a volume with a key that is not a string).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import random
import resource
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_pss_screen import _META, _SPEC, _json, _locations, odd_pod

from hadrill.compliance import pss_scan
from hadrill.compliance.pss_scan import PSS_CHECK_IDS, pod_refs
from hadrill.compliance.pss_screen import may_violate
from hadrill.compliance.pss_versions import LATEST, evaluate_pod_at
from hadrill.compliance.registry import CHECKS, Finding

try:
    from hadrill.compliance._pss_native import evaluate
except ImportError:  # not built: CI sets HADRILL_REQUIRE_NATIVE=1 so that this cannot pass unnoticed
    evaluate = None  # type: ignore[assignment]

needs_native = pytest.mark.skipif(
    evaluate is None, reason="the C extension is not built (python setup.py build_ext --inplace)"
)
MANY = settings(max_examples=300, deadline=None)
_SPEC_KEYS = ["securityContext", "containers", "initContainers", "volumes", "hostNetwork", "os", "hostUsers"]
_BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_extension_is_there_when_required() -> None:
    if os.environ.get("HADRILL_REQUIRE_NATIVE") == "1":
        assert evaluate is not None, "HADRILL_REQUIRE_NATIVE=1 but hadrill.compliance._pss_native is not built"
    assert (evaluate is not None) == pss_scan.NATIVE


def _python(meta: Any, spec: Any, level: str, relax: bool, sp: str, mp: str) -> Any:
    pairs = evaluate_pod_at(meta, spec, level, LATEST, spec_path=sp, meta_path=mp, relax_userns=relax)
    return tuple((c.psa_id, hit.paths, hit.detail) for c, hit in pairs)


def _agree(meta: Any, spec: Any, sp: str = "spec", mp: str = "metadata") -> None:
    screened = may_violate(meta, spec)
    for level in ("baseline", "restricted"):
        for relax in (False, True):
            got = evaluate(level == "restricted", relax, meta, spec, sp, mp)
            try:
                want = _python(meta, spec, level, relax, sp, mp)
            except TypeError:  # the Python controls raise on this pod: the caller must run them (and raise)
                assert got is None
                continue
            if got is None:
                assert screened is None, f"native gave up on a pod the screen judged ({level}, relax={relax})"
                continue
            assert screened is not None, "native judged a pod the screen gives up on"
            assert got == want, f"{level}, relax={relax}"
            assert repr(got) == repr(want), f"{level}, relax={relax}: order or value types differ"


@needs_native
@MANY
@given(_META, _SPEC)
def test_well_formed_pods(meta: dict[str, Any], spec: dict[str, Any]) -> None:
    assert evaluate(True, False, meta, spec, "spec", "metadata") is not None
    _agree(meta, spec)
    _agree(meta, spec, "spec.template.spec", "spec.template.metadata")


@needs_native
@MANY
@given(_META, _SPEC, st.data())
def test_odd_values_anywhere(meta: dict[str, Any], spec: dict[str, Any], data: st.DataObject) -> None:
    _agree(*odd_pod(meta, spec, data))


@needs_native
@MANY
@given(st.dictionaries(st.sampled_from(_SPEC_KEYS), _json, max_size=5), _json)
def test_arbitrary_json(spec: Any, meta: Any) -> None:
    _agree(meta, spec)


@needs_native
def test_a_wrong_type_anywhere_the_shape_check_reads() -> None:
    from hadrill.compliance import pss_shape

    for path, _ in _locations(pss_shape._SPEC, {})[1:]:
        for odd in ("x", 1, True, False, 0, [], {}, [None], 1.5, None):
            spec: Any = {}
            node = spec
            for here, nxt in itertools.pairwise(path):
                child: Any = [] if isinstance(nxt, int) else {}
                if isinstance(node, list):
                    node.append(child)
                else:
                    node[here] = child
                node = child
            if isinstance(node, list):
                node.append(odd)
            else:
                node[path[-1]] = odd
            _agree({}, spec)


_ODD_PODS: list[tuple[Any, Any]] = [
    (None, {"containers": [{"name": None, "securityContext": {"privileged": True}}]}),
    ({}, {"containers": [{"securityContext": {"allowPrivilegeEscalation": True}}, {"name": "b"}]}),
    ({}, {"containers": [{"name": "a", "securityContext": {"runAsUser": True}}]}),  # True is an int, not a UID
    ({}, {"containers": [{"name": "a", "securityContext": {"privileged": 1}}]}),
    ({}, {"containers": [{"name": "a", "ports": [{"hostPort": True}]}]}),
    ({}, {"containers": [{"name": "a", "ports": [{"hostPort": 2**70}]}]}),
    ({}, {"securityContext": {"runAsUser": 0}, "containers": [{"name": "a", "securityContext": {"runAsUser": -0}}]}),
    ({}, {"containers": [{"name": 5}]}),
    ({}, {"containers": [{"name": "é", "securityContext": {"privileged": True}}]}),  # not ASCII
    ({}, {"containers": ({"name": "a"},)}),
    ({}, {"volumes": [{"name": 7, "nfs": {}}, {"name": "x", 1: "y"}, {1: None, "emptyDir": {}}]}),
    ({}, {"volumes": [{"name": "n", 1: "y"}]}),  # Python raises on ", ".join: native gives up
    ({}, {"volumes": [{"name": "h", "hostPath": {"path": "/"}}, {"hostPath": None}, {}]}),
    ({"annotations": {1: "unconfined", "container.apparmor.security.beta.kubernetes.io/a": 5}}, {"containers": []}),
    ({"annotations": {"container.apparmor.security.beta.kubernetes.io/a": None}}, {}),
    ({"annotations": {"container.apparmor.security.beta.kubernetes.io/ä": "localhost/x"}}, {}),
    ({"annotations": {"container.apparmor.security.beta.kubernetes.io/ä": "unconfined"}}, {}),
    ({}, {"securityContext": {"sysctls": [{"name": f"kernel.n{i}"} for i in range(12)]}}),  # sorted: [10] < [2]
    ({}, {"securityContext": {"sysctls": [{"name": None}, {"value": "1"}]}}),
    ({}, {"os": {"name": "windows"}, "containers": [{"name": "a"}]}),
    ({}, {"os": {"name": 1}, "containers": [{"name": "a"}]}),
    ({}, {"hostUsers": False, "containers": [{"name": "a", "securityContext": {"procMount": "Unmasked"}}]}),
    ({}, {"hostUsers": 0, "containers": []}),
    ({}, {"containers": [{"name": "a", "lifecycle": {"postStart": {"httpGet": {"host": "h"}}, "preStop": "x"}}]}),
    ({}, {"containers": [{"name": "a", "lifecycle": {"postStart": {"tcpSocket": {"host": "h"}}, "preStop": 5}}]}),
    (
        {},
        {
            "containers": [
                {"lifecycle": {"postStart": {"tcpSocket": {"host": "h"}}, "preStop": {"httpGet": {"host": 5}}}}
            ]
        },
    ),
    ({}, {"containers": [{"name": "a", "readinessProbe": {"httpGet": {"host": "h"}, "tcpSocket": "bad"}}]}),
    ({}, {"containers": [{"name": "a", "securityContext": {"capabilities": {"drop": ["all"], "add": ["ALL"]}}}]}),
    ({}, {"containers": [{"name": "a", "securityContext": {"capabilities": {"drop": "ALL"}}}]}),
    ({}, {"containers": [{"name": "a", "securityContext": {"capabilities": {}, "seccompProfile": {}}}]}),
    ({}, {"containers": [{"name": "a", "securityContext": {"seLinuxOptions": {"type": "", "user": "", "role": "r"}}}]}),
    ({}, {"securityContext": {"seLinuxOptions": {"type": "spc_t", "level": 1}}}),
    ({}, {"securityContext": {"appArmorProfile": {"type": "Unconfined", "localhostProfile": 3}}}),
    ({}, {"securityContext": {"seccompProfile": {"type": None}}, "containers": [{"name": "a"}]}),
    ({}, {"securityContext": {"windowsOptions": {"hostProcess": True}}, "hostNetwork": True, "hostIPC": True}),
    ({}, {"containers": [{"name": "a", "securityContext": {"windowsOptions": {"hostProcess": 1}}}]}),
    ({}, {"containers": [{"name": f"c{i}"} for i in range(40)]}),  # more than the C stack array holds
    ({}, {"containers": [{"name": "x" * 600, "securityContext": {"privileged": True}}]}),  # a long detail
    ("meta", {}),
    ({}, "spec"),
    ({}, None),
]


@needs_native
@pytest.mark.parametrize("index", range(len(_ODD_PODS)))
def test_odd_shapes(index: int) -> None:
    meta, spec = _ODD_PODS[index]
    _agree(meta, spec)
    _agree(meta, spec, "spec.ä", "metadata")  # a path that is not ASCII


@needs_native
@pytest.mark.parametrize("seed", [7, 11, 2026])
def test_the_bench_pods(seed: int) -> None:
    sys.path.insert(0, str(_BENCH))
    from scan_pods import make_object

    rng = random.Random(seed)
    for ref in pod_refs(make_object(rng, i) for i in range(3000)):
        _agree(ref.meta, ref.spec, ref.spec_path, ref.meta_path)


@needs_native
def test_upstream_fixtures_at_1_34() -> None:
    from hadrill.lab.gobuild import module_source

    try:
        root = module_source("k8s.io/pod-security-admission", "v0.34.4") / "test" / "testdata"
    except Exception as e:  # the module cache is not there and cannot be filled (offline)
        pytest.skip(f"upstream fixtures not available: {e}")
    seen = 0
    for path in sorted(root.glob("*/v1.34/*/*.yaml")):
        for ref in pod_refs([yaml.safe_load(path.read_text())]):
            _agree(ref.meta, ref.spec, ref.spec_path, ref.meta_path)
            seen += 1
    assert seen > 100


@needs_native
@pytest.mark.parametrize("level", ["baseline", "restricted"])
@pytest.mark.parametrize("relax", [False, True])
def test_scans_with_and_without_it_agree(level: str, relax: bool) -> None:
    sys.path.insert(0, str(_BENCH))
    from scan_pods import make_object

    rng = random.Random(3)
    objects: list[Any] = [make_object(rng, i) for i in range(1500)]
    for i, (meta, spec) in enumerate(_ODD_PODS):
        pod = {"kind": "Pod", "metadata": {"name": f"odd{i}", **(meta if isinstance(meta, dict) else {})}, "spec": spec}
        try:
            pss_scan._scan([pod], level, None, relax, LATEST, native=False)
        except TypeError:  # a volume key that is not a string: both paths raise
            continue
        objects.append(pod)
    native = pss_scan._scan(objects, level, "f.yaml", relax, LATEST, native=True)
    python = pss_scan._scan(objects, level, "f.yaml", relax, LATEST, native=False)
    assert [f.to_dict() for f in native] == [f.to_dict() for f in python]
    assert repr(native) == repr(python)


def _by_hand(kind: str, md: Any, hits: Any, file: str | None) -> list[tuple[Any, ...]]:
    """The findings a pod's hits make, worked out here from the rules' own words (not pss_scan's code)."""
    md = md if isinstance(md, dict) else {}
    name = str(md.get("name") or md.get("generateName") or "?")
    namespace = str(md["namespace"]) if md.get("namespace") else None
    ref = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
    out = []
    for psa, paths, detail in hits:
        chk = CHECKS[PSS_CHECK_IDS[psa]]
        keys = list(paths)
        shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
        out.append((chk.id, ref, "fail", paths, chk.title, f"{ref}: {detail} (at {shown})", f"{kind}/{name}",
                    namespace, chk.severity, "pss", file, None, False))  # fmt: skip
    return out


# metadata the C scan reads for a finding's names: odd but legal values, non-ASCII text, many paths
_METADATAS: list[Any] = [
    {"name": "p", "namespace": "ns"}, {"name": "p"}, {"generateName": "web-"}, {}, None, "not a mapping",
    {"name": "", "generateName": "g-", "namespace": ""}, {"name": 7, "namespace": 5},
    {"name": "café", "namespace": "ünï"},
    {"name": ["x"], "namespace": {"a": 1}},
]  # fmt: skip
_MANY_PATHS = {
    "hostNetwork": True, "hostPID": True,
    "containers": [{"name": f"c{i}", "securityContext": {"privileged": True}, "ports": [{"hostPort": 80 + i}]}
                   for i in range(6)],
}  # fmt: skip


@needs_native
@pytest.mark.parametrize("file", [None, "m.yaml"])
def test_the_c_scan_builds_each_finding_field_for_field(file: str | None) -> None:
    """Every slot of every finding the C scan builds, against the same finding written out by hand."""
    sys.path.insert(0, str(_BENCH))
    from scan_pods import make_object

    rng = random.Random(9)
    objects = [make_object(rng, i) for i in range(200)]
    objects += [{"kind": "Deployment", "metadata": md, "spec": {"template": {"spec": _MANY_PATHS}}}
                for md in _METADATAS]  # fmt: skip
    names = [f.name for f in dataclasses.fields(Finding)]
    for level in ("baseline", "restricted"):
        seen = 0
        for obj in objects:
            ref = next(pod_refs([obj]))
            want = _by_hand(ref.kind, obj.get("metadata"), _python(ref.meta, ref.spec, level, False, ref.spec_path,
                                                                   ref.meta_path), file)  # fmt: skip
            got = pss_scan._scan([obj], level, file, False, LATEST, native=True)
            assert [tuple(getattr(f, n) for n in names) for f in got] == want
            assert repr([tuple(getattr(f, n) for n in names) for f in got]) == repr(want)
            seen += len(want)
        assert seen > 200
    odd_metadata = objects[200:]
    many = pss_scan._scan(odd_metadata, "baseline", file, False, LATEST, native=True)
    assert {f.message.rsplit(" and ", 1)[-1] for f in many if f.check_id == "HD-PSS-006"} == {"2 more)"}
    assert {f.target for f in many if f.check_id == "HD-PSS-002"} >= {"Deployment/ünï/café", "Deployment/5/7",
                                                                     "Deployment/g-", "Deployment/?"}  # fmt: skip


@needs_native
def test_memory_stays_flat() -> None:
    """200,000 calls over violating, compliant and odd pods: the peak RSS grows by less than 4 MB."""
    sys.path.insert(0, str(_BENCH))
    from scan_pods import make_object

    rng = random.Random(5)
    pods = [(r.meta, r.spec) for r in pod_refs(make_object(rng, i) for i in range(40))]
    pods += [(m, s) for m, s in _ODD_PODS if "1: 'y'" not in repr(s)]

    def run(n: int) -> None:
        for i in range(n):
            meta, spec = pods[i % len(pods)]
            evaluate(i % 2 == 0, i % 3 == 0, meta, spec, "spec.template.spec", "spec.template.metadata")

    run(20_000)
    watched = [None, True, False, 0, *(x for pod in pods for x in pod)]
    counts = [sys.getrefcount(x) for x in watched]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run(200_000)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(f"peak RSS grew by {grown_kb} kB over 200,000 calls")
    assert grown_kb < 4096
    # a reference leaked (or dropped) on None, a bool or an input would move its count by thousands
    drift = [abs(sys.getrefcount(x) - n) for x, n in zip(watched, counts, strict=True)]
    assert max(drift) < 100, drift
