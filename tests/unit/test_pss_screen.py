"""The one-pass screen never hides a violation: every control that fails on a pod is one it names.

The oracle is the controls themselves (each one run on the pod, no screen) over generated pods: well
formed ones with every field a control reads, drawn from compliant and violating values, and odd ones
(wrong types, lists as mappings) where the screen must give up (None) or still name every failure.
"""

from __future__ import annotations

import copy
import itertools
import random
import sys
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hadrill.compliance.pss import evaluate_pod
from hadrill.compliance.pss_scan import PSS_CHECK_IDS, pod_refs, scan_objects
from hadrill.compliance.pss_screen import may_violate
from hadrill.compliance.pss_shape import problems

Json = dict[str, Any]
MANY = settings(max_examples=400, deadline=None)
_PROFILE = st.sampled_from([{"type": "RuntimeDefault"}, {"type": "Localhost", "localhostProfile": "p"},
                            {"type": "Unconfined"}, {}, {"type": "runtime/default"}])  # fmt: skip
_HANDLER = st.fixed_dictionaries({}, optional={
    "httpGet": st.fixed_dictionaries({"port": st.just(80)}, optional={"host": st.sampled_from(["", "10.0.0.1"])}),
    "tcpSocket": st.fixed_dictionaries({"port": st.just(80)}, optional={"host": st.sampled_from(["", "h"])}),
    "exec": st.just({"command": ["true"]}),
})  # fmt: skip
_SC = st.fixed_dictionaries({}, optional={
    "privileged": st.booleans(),
    "allowPrivilegeEscalation": st.booleans(),
    "runAsNonRoot": st.booleans(),
    "runAsUser": st.sampled_from([0, 1, 1000]),
    "runAsGroup": st.just(1000),
    "readOnlyRootFilesystem": st.booleans(),
    "procMount": st.sampled_from(["Default", "Unmasked"]),
    "seccompProfile": _PROFILE,
    "appArmorProfile": _PROFILE,
    "seLinuxOptions": st.sampled_from([{"type": "container_t"}, {"type": "spc_t"}, {"user": "u"}, {}]),
    "windowsOptions": st.sampled_from([{"hostProcess": True}, {"hostProcess": False}, {}]),
    "capabilities": st.fixed_dictionaries({}, optional={
        "add": st.lists(st.sampled_from(["NET_BIND_SERVICE", "CHOWN", "SYS_ADMIN", "NET_RAW"]), max_size=2),
        "drop": st.lists(st.sampled_from(["ALL", "NET_RAW", "all"]), max_size=2),
    }),
})  # fmt: skip
_CONTAINER = st.fixed_dictionaries({"name": st.sampled_from(["a", "b"]), "image": st.just("i")}, optional={
    "securityContext": _SC,
    "ports": st.lists(st.fixed_dictionaries({"containerPort": st.just(80)},
                                            optional={"hostPort": st.sampled_from([0, 8080])}), max_size=2),
    "livenessProbe": _HANDLER, "readinessProbe": _HANDLER, "startupProbe": _HANDLER,
    "lifecycle": st.fixed_dictionaries({}, optional={"postStart": _HANDLER, "preStop": _HANDLER}),
})  # fmt: skip
_VOLUME = st.sampled_from([{"name": "v", "emptyDir": {}}, {"name": "v", "hostPath": {"path": "/"}},
                           {"name": "v", "nfs": {"server": "s", "path": "/"}}, {"name": "v"},
                           {"name": "v", "configMap": None}, {"name": "v", "image": {"reference": "r"}}])  # fmt: skip
_POD_SC = st.fixed_dictionaries({}, optional={
    "runAsNonRoot": st.booleans(), "runAsUser": st.sampled_from([0, 1000]), "seccompProfile": _PROFILE,
    "appArmorProfile": _PROFILE, "seLinuxOptions": st.sampled_from([{"type": "container_t"}, {"role": "r"}]),
    "windowsOptions": st.sampled_from([{"hostProcess": True}, {}]), "fsGroup": st.just(1),
    "sysctls": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["kernel.shm_rmid_forced", "kernel.msgmax"]),
                                               "value": st.just("1")}), max_size=2),
})  # fmt: skip
_SPEC = st.fixed_dictionaries({"containers": st.lists(_CONTAINER, min_size=1, max_size=3)}, optional={
    "initContainers": st.lists(_CONTAINER, max_size=2), "ephemeralContainers": st.lists(_CONTAINER, max_size=1),
    "securityContext": _POD_SC, "volumes": st.lists(_VOLUME, max_size=3), "hostNetwork": st.booleans(),
    "hostPID": st.booleans(), "hostIPC": st.booleans(), "hostUsers": st.booleans(),
    "os": st.sampled_from([{"name": "windows"}, {"name": "linux"}]),
})  # fmt: skip
_META = st.fixed_dictionaries({}, optional={"annotations": st.sampled_from([
    {}, {"container.apparmor.security.beta.kubernetes.io/a": "unconfined"},
    {"container.apparmor.security.beta.kubernetes.io/a": "runtime/default"}, {"other": "x"}])})  # fmt: skip

_scalar = st.one_of(st.none(), st.booleans(), st.integers(-1, 1), st.sampled_from(["", "ALL", "Unconfined", "x"]))
_json = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                     max_leaves=12)  # fmt: skip


_SHAPE_FIELDS = [
    "securityContext", "privileged", "hostPort", "drop", "add", "host", "runAsUser", "allowPrivilegeEscalation",
    "type", "seccompProfile", "appArmorProfile", "localhostProfile", "seLinuxOptions", "user", "role", "level",
    "windowsOptions", "hostProcess", "procMount", "runAsNonRoot", "capabilities", "name", "ports", "volumes",
    "sysctls", "hostUsers", "os", "hostNetwork", "hostPID", "hostIPC", "lifecycle", "postStart", "preStop",
    "httpGet", "tcpSocket", "livenessProbe", "readinessProbe", "startupProbe", "initContainers", "containers",
    "ephemeralContainers", "annotations",
]  # fmt: skip


def _failing(meta: Any, spec: Any, level: str) -> set[str]:
    return {c.psa_id for c, _ in evaluate_pod(meta, spec, level)}


def _assert_screen_covers(meta: Any, spec: Any) -> None:
    flagged = may_violate(meta, spec)
    if flagged is not None:  # judged: well formed, so the scan may skip the shape check
        assert problems(spec, "spec", meta, "metadata") == []
    for level in ("baseline", "restricted"):
        failing = _failing(meta, spec, level)
        if flagged is not None:
            assert failing <= flagged, f"{level}: screen missed {failing - flagged}"
            full = evaluate_pod(meta, spec, level)
            assert evaluate_pod(meta, spec, level, only=flagged) == full  # same hits, same paths


@MANY
@given(_META, _SPEC)
def test_screen_names_every_failing_control_of_well_formed_pods(meta: Json, spec: Json) -> None:
    assert may_violate(meta, spec) is not None  # well formed: judged by the screen, not given up
    _assert_screen_covers(meta, spec)


def odd_pod(meta: Json, spec: Json, data: st.DataObject) -> tuple[Json, Json]:
    """A copy of the pod with one arbitrary JSON value put anywhere (a mapping for a list, a string for a
    bool...), and maybe odd annotations. A copy: sampled_from hands out its own dicts, and an odd value
    put in one reached later draws (the well-formed pods of a test that ran after this one failed)."""
    meta, spec = copy.deepcopy(meta), copy.deepcopy(spec)
    if data.draw(st.booleans()):
        meta = {**meta, "annotations": data.draw(_json)}
    target: Any = spec
    path = data.draw(st.lists(st.sampled_from(["containers", 0, "securityContext", "capabilities", "ports",
                                               "volumes", "drop", "add", "livenessProbe", "httpGet", "lifecycle",
                                               "postStart", "preStop", "seccompProfile", "sysctls", "os"]),
                              max_size=4))  # fmt: skip
    for key in path:
        if isinstance(target, dict) and isinstance(key, str):
            nxt = target.get(key)
        else:
            nxt = target[key] if isinstance(target, list) and isinstance(key, int) and key < len(target) else None
        if not isinstance(nxt, (dict, list)):
            break
        target = nxt
    if isinstance(target, dict):
        target[data.draw(st.sampled_from(_SHAPE_FIELDS))] = data.draw(_json)
    return meta, spec


@MANY
@given(_META, _SPEC, st.data())
def test_odd_values_are_given_up_or_still_covered(meta: Json, spec: Json, data: st.DataObject) -> None:
    _assert_screen_covers(*odd_pod(meta, spec, data))


@MANY
@given(st.dictionaries(st.sampled_from(["securityContext", "containers", "initContainers", "volumes",
                                        "hostNetwork", "os", "hostUsers"]), _json, max_size=5), _json)
def test_arbitrary_json_is_given_up_or_covered(spec: Any, meta: Any) -> None:
    _assert_screen_covers(meta, spec)


def test_the_bench_pods_scan_as_without_the_screen() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from scan_pods import make_object

    rng = random.Random(7)
    objects = [make_object(rng, i) for i in range(600)]
    by_pod: dict[str, set[str]] = {}
    for f in scan_objects(objects):
        by_pod.setdefault(f.target, set()).add(f.check_id)
    for ref in pod_refs(objects):
        expected = {PSS_CHECK_IDS[c] for c in _failing(ref.meta, ref.spec, "restricted")}
        assert by_pod.get(ref.ref, set()) == expected, ref.ref


def _locations(schema: Any, value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every place pss_shape's schema reads, with a well-formed value to put there."""
    out: list[tuple[tuple[Any, ...], Any]] = [(path, value)]
    if isinstance(schema, dict):
        for key, sub in schema.items():
            out += _locations(sub, _sample(sub), (*path, key))
    elif isinstance(schema, list):
        out += _locations(schema[0], _sample(schema[0]), (*path, 0))
    return out


def _sample(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {}
    if isinstance(schema, list):
        return [_sample(schema[0])]
    return {bool: False, int: 1000, str: "x", dict: {}}[schema]


def test_a_wrong_type_anywhere_the_shape_check_reads_is_given_up() -> None:
    from hadrill.compliance import pss_shape

    for path, _ in _locations(pss_shape._SPEC, {})[1:]:
        for odd in ("x", 1, True, [], {}, [None], 1.5):
            spec: Any = {}
            node = spec
            for here, nxt in itertools.pairwise(path):  # build the parents, well formed
                child: Any = [] if isinstance(nxt, int) else {}
                if isinstance(node, list):
                    node.append(child)
                else:
                    node[here] = child
                node = child
            last = path[-1]
            if isinstance(node, list):
                node.append(odd)
            else:
                node[last] = odd
            _assert_screen_covers({}, spec)
    for odd in ("x", 1, [], [None]):
        _assert_screen_covers({"annotations": odd}, {"containers": []})
