"""Pod Security Standards: every control passing and failing, pod-level vs container-level, workloads.

The expectations are pod-security-admission's (release-1.34): what the API server admits, hadrill
passes. (hadrill's controls were also compared with the Go code of k8s.io/pod-security-admission
v0.34.4 on 10,000 generated pods, with no difference; see the compliance report in the README.)
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hadrill.compliance.pss import CONTROLS, evaluate_pod
from hadrill.compliance.pss_scan import PSS_CHECK_IDS, pod_refs, scan_manifest_text, scan_objects
from hadrill.compliance.registry import CHECKS
from hadrill.errors import ConfigError

Json = dict[str, Any]


def good_container(name: str = "app") -> Json:
    return {
        "name": name,
        "image": "registry.local/app:1",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }


def restricted_pod() -> Json:
    """A pod that restricted admits: the starting point every case mutates."""
    return {
        "metadata": {"name": "p"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [good_container("init")],
            "containers": [good_container("app"), good_container("sidecar")],
            "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "img", "image": {"reference": "x"}}],
        },
    }


def violations(pod: Json, level: str = "restricted") -> dict[str, dict[str, Any]]:
    return {c.psa_id: hit.paths for c, hit in evaluate_pod(pod["metadata"], pod["spec"], level)}


def test_the_reference_pod_passes_both_levels() -> None:
    assert violations(restricted_pod(), "baseline") == {}
    assert violations(restricted_pod(), "restricted") == {}


def test_the_default_minimal_pod_passes_baseline_and_fails_restricted_controls() -> None:
    pod = {"metadata": {}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    assert violations(pod, "baseline") == {}
    assert set(violations(pod)) == {
        "allowPrivilegeEscalation", "runAsNonRoot", "seccompProfile_restricted", "capabilities_restricted",
    }  # fmt: skip


def _set(pod: Json, path: str, value: Any) -> Json:
    node = pod
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    if isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value
    return pod


# (control, path to set on the restricted pod, bad value, good value, failing field path)
CASES = [
    ("windowsHostProcess", "spec.securityContext.windowsOptions", {"hostProcess": True}, {"hostProcess": False},
     "spec.securityContext.windowsOptions.hostProcess"),
    ("windowsHostProcess", "spec.containers.1.securityContext.windowsOptions", {"hostProcess": True}, {},
     "spec.containers[1].securityContext.windowsOptions.hostProcess"),
    ("hostNamespaces", "spec.hostPID", True, False, "spec.hostPID"),
    ("hostNamespaces", "spec.hostNetwork", True, False, "spec.hostNetwork"),
    ("privileged", "spec.initContainers.0.securityContext.privileged", True, False,
     "spec.initContainers[0].securityContext.privileged"),
    ("capabilities_baseline", "spec.containers.0.securityContext.capabilities",
     {"drop": ["ALL"], "add": ["SYS_ADMIN"]}, {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
     "spec.containers[0].securityContext.capabilities.add"),
    ("hostPathVolumes", "spec.volumes.0", {"name": "h", "hostPath": {"path": "/"}}, {"name": "h", "emptyDir": {}},
     "spec.volumes[0].hostPath"),
    ("hostPorts", "spec.containers.0.ports", [{"containerPort": 80, "hostPort": 80}], [{"containerPort": 80}],
     "spec.containers[0].ports[0].hostPort"),
    ("appArmorProfile", "spec.securityContext.appArmorProfile", {"type": "Unconfined"}, {"type": "RuntimeDefault"},
     "spec.securityContext.appArmorProfile.type"),
    ("appArmorProfile", "spec.containers.0.securityContext.appArmorProfile", {"type": "Unconfined"},
     {"type": "Localhost", "localhostProfile": "k8s-apparmor-example"},
     "spec.containers[0].securityContext.appArmorProfile.type"),
    ("appArmorProfile", "metadata.annotations", {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"},
     {"container.apparmor.security.beta.kubernetes.io/app": "localhost/p"},
     "metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]"),
    ("seLinuxOptions", "spec.securityContext.seLinuxOptions", {"type": "spc_t"}, {"type": "container_engine_t"},
     "spec.securityContext.seLinuxOptions.type"),
    ("seLinuxOptions", "spec.containers.1.securityContext.seLinuxOptions", {"user": "system_u"}, {"level": "s0:c1"},
     "spec.containers[1].securityContext.seLinuxOptions.user"),
    ("procMount", "spec.containers.0.securityContext.procMount", "Unmasked", "Default",
     "spec.containers[0].securityContext.procMount"),
    ("seccompProfile_baseline", "spec.securityContext.seccompProfile", {"type": "Unconfined"},
     {"type": "Localhost", "localhostProfile": "p.json"}, "spec.securityContext.seccompProfile.type"),
    ("sysctls", "spec.securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}],
     [{"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"}], "spec.securityContext.sysctls[0].name"),
    ("hostProbesAndHostLifecycle", "spec.containers.0.livenessProbe", {"httpGet": {"host": "10.1.1.1", "port": 80}},
     {"httpGet": {"port": 80}}, "spec.containers[0].livenessProbe.httpGet.host"),
    ("hostProbesAndHostLifecycle", "spec.initContainers.0.lifecycle",
     {"preStop": {"tcpSocket": {"host": "x", "port": 1}}}, {"preStop": {"tcpSocket": {"host": "", "port": 1}}},
     "spec.initContainers[0].lifecycle.preStop.tcpSocket.host"),
    ("restrictedVolumes", "spec.volumes.0", {"name": "n", "nfs": {"server": "s", "path": "/"}},
     {"name": "n", "persistentVolumeClaim": {"claimName": "c"}}, "spec.volumes[0]"),
    ("allowPrivilegeEscalation", "spec.containers.1.securityContext.allowPrivilegeEscalation", True, False,
     "spec.containers[1].securityContext.allowPrivilegeEscalation"),
    ("runAsNonRoot", "spec.containers.0.securityContext.runAsNonRoot", False, True,
     "spec.containers[0].securityContext.runAsNonRoot"),
    ("runAsUser", "spec.securityContext.runAsUser", 0, 1000, "spec.securityContext.runAsUser"),
    ("runAsUser", "spec.initContainers.0.securityContext.runAsUser", 0, 65534,
     "spec.initContainers[0].securityContext.runAsUser"),
    ("seccompProfile_restricted", "spec.containers.0.securityContext.seccompProfile", {"type": "Unconfined"},
     {"type": "RuntimeDefault"}, "spec.containers[0].securityContext.seccompProfile.type"),
    ("capabilities_restricted", "spec.containers.0.securityContext.capabilities", {"drop": ["all"]},
     {"drop": ["ALL", "NET_RAW"]}, "spec.containers[0].securityContext.capabilities.drop"),
]  # fmt: skip


@pytest.mark.parametrize(("control", "path", "bad", "good", "field"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_each_control_fails_on_the_bad_value_and_passes_on_the_good_one(
    control: str, path: str, bad: Any, good: Any, field: str
) -> None:
    level = CONTROLS[control].level
    bad_hits = violations(_set(restricted_pod(), path, copy.deepcopy(bad)), "restricted")
    assert control in bad_hits or (control.endswith("_baseline") or control == "hostPathVolumes")
    all_bad = {c.psa_id: h.paths for c, h in _every_control(_set(restricted_pod(), path, copy.deepcopy(bad)))}
    assert field in all_bad[control], all_bad
    assert control not in {c.psa_id for c, _ in _every_control(_set(restricted_pod(), path, copy.deepcopy(good)))}
    if level == "baseline":
        assert control in violations(_set(restricted_pod(), path, copy.deepcopy(bad)), "baseline")


def _every_control(pod: Json) -> list[Any]:
    from hadrill.compliance.pss import containers_of

    ctrs = containers_of(pod["spec"], "spec")
    return [
        (c, h) for c in CONTROLS.values() if (h := c.fn(pod["metadata"], pod["spec"], "spec", "metadata", ctrs, False))
    ]


# -- pod level and container level -----------------------------------------------------------------------
def test_run_as_non_root_set_once_for_the_pod_covers_every_container() -> None:
    pod = restricted_pod()
    assert "runAsNonRoot" not in violations(pod)
    del pod["spec"]["securityContext"]["runAsNonRoot"]
    assert violations(pod)["runAsNonRoot"] == {
        "spec.initContainers[0].securityContext.runAsNonRoot": None,
        "spec.containers[0].securityContext.runAsNonRoot": None,
        "spec.containers[1].securityContext.runAsNonRoot": None,
    }
    for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
        c["securityContext"]["runAsNonRoot"] = True
    assert "runAsNonRoot" not in violations(pod)  # every container opted in: no pod level needed


def test_an_explicit_false_fails_even_under_a_pod_level_true_and_a_pod_false_is_never_rescued() -> None:
    pod = restricted_pod()
    pod["spec"]["containers"][1]["securityContext"]["runAsNonRoot"] = False
    assert set(violations(pod)["runAsNonRoot"]) == {"spec.containers[1].securityContext.runAsNonRoot"}
    pod = restricted_pod()
    pod["spec"]["securityContext"]["runAsNonRoot"] = False
    for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
        c["securityContext"]["runAsNonRoot"] = True
    assert set(violations(pod)["runAsNonRoot"]) == {"spec.securityContext.runAsNonRoot"}


def test_seccomp_pod_level_covers_containers_but_a_container_unconfined_still_fails() -> None:
    pod = restricted_pod()
    pod["spec"]["containers"][0]["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    hits = violations(pod)
    assert set(hits["seccompProfile_restricted"]) == {"spec.containers[0].securityContext.seccompProfile.type"}
    assert "seccompProfile_baseline" not in hits  # overridden by the restricted check
    assert "seccompProfile_baseline" in violations(pod, "baseline")


def test_an_unconfined_pod_profile_makes_unset_containers_fail_too() -> None:
    pod = restricted_pod()
    pod["spec"]["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    assert set(violations(pod)["seccompProfile_restricted"]) == {"spec.securityContext.seccompProfile.type"}
    pod["spec"]["securityContext"].pop("seccompProfile")
    for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
        c["securityContext"]["seccompProfile"] = {"type": "RuntimeDefault"}
    assert "seccompProfile_restricted" not in violations(pod)


def test_run_as_user_zero_fails_at_either_level_even_with_a_non_zero_other_level() -> None:
    pod = restricted_pod()
    pod["spec"]["securityContext"]["runAsUser"] = 0
    for c in pod["spec"]["containers"]:
        c["securityContext"]["runAsUser"] = 1000
    assert set(violations(pod)["runAsUser"]) == {"spec.securityContext.runAsUser"}
    pod["spec"]["securityContext"]["runAsUser"] = False  # not an integer zero: PSA reads *int64
    assert "runAsUser" not in violations(pod)


def test_ephemeral_containers_are_checked_like_the_others() -> None:
    pod = restricted_pod()
    pod["spec"]["ephemeralContainers"] = [
        {"name": "debug", "image": "busybox", "securityContext": {"privileged": True}}
    ]
    hits = violations(pod)
    assert "spec.ephemeralContainers[0].securityContext.privileged" in hits["privileged"]
    assert "spec.ephemeralContainers[0].securityContext.allowPrivilegeEscalation" in hits["allowPrivilegeEscalation"]


def test_windows_pods_are_exempt_from_three_restricted_checks_but_not_from_run_as_non_root() -> None:
    pod: Json = {"metadata": {}, "spec": {"os": {"name": "windows"}, "containers": [{"name": "c", "image": "i"}]}}
    assert set(violations(pod)) == {"runAsNonRoot"}
    pod["spec"]["containers"][0]["securityContext"] = {"capabilities": {"add": ["SYS_ADMIN"]}}
    assert "capabilities_restricted" not in violations(pod)  # exempt, and capabilities_baseline is overridden
    assert "capabilities_baseline" in violations(pod, "baseline")


def test_user_namespace_relaxation_follows_the_alpha_gate() -> None:
    pod = restricted_pod()
    pod["spec"]["hostUsers"] = False
    pod["spec"]["securityContext"]["runAsUser"] = 0
    pod["spec"]["containers"][0]["securityContext"]["procMount"] = "Unmasked"
    assert {"runAsUser", "procMount"} <= set(violations(pod))  # the gate is off by default in 1.34
    relaxed = {c.psa_id for c, _ in evaluate_pod(pod["metadata"], pod["spec"], "restricted", relax_userns=True)}
    assert not {"runAsUser", "procMount", "runAsNonRoot"} & relaxed


def test_restricted_volumes_allow_exactly_the_core_types() -> None:
    allowed = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim",
               "projected", "secret"]  # fmt: skip
    pod = restricted_pod()
    pod["spec"]["volumes"] = [{"name": k, k: {}} for k in allowed]
    assert "restrictedVolumes" not in violations(pod)
    pod["spec"]["volumes"] += [{"name": "g", "gitRepo": {"repository": "r"}}, {"name": "null", "emptyDir": None}]
    # a volume with no source (emptyDir: null reads as none) is defaulted to emptyDir by the API server:
    # allowed, as upstream's fixture restricted/v1.34/pass/restrictedvolumes0.yaml says
    assert violations(pod)["restrictedVolumes"] == {"spec.volumes[9]": "g: gitRepo"}
    assert "hostPathVolumes" not in violations(pod, "baseline")  # gitRepo is not a baseline violation in 1.34


def test_safe_sysctls_include_the_1_32_additions() -> None:
    pod = restricted_pod()
    names = ["kernel.shm_rmid_forced", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_probes",
             "net.ipv4.tcp_wmem", "net.ipv4.tcp_slow_start_after_idle"]  # fmt: skip
    pod["spec"]["securityContext"]["sysctls"] = [{"name": n, "value": "1"} for n in names]
    assert violations(pod)["sysctls"] == {"spec.securityContext.sysctls[4].name": "net.ipv4.tcp_slow_start_after_idle"}


# -- workloads and manifests -------------------------------------------------------------------------------
def _wrap(kind: str, pod: Json) -> Json:
    template = {"metadata": pod["metadata"], "spec": pod["spec"]}
    md = {"name": "w", "namespace": "prod"}
    if kind == "Pod":
        return {"kind": "Pod", "metadata": {**pod["metadata"], **md}, "spec": pod["spec"]}
    if kind == "CronJob":
        return {"kind": kind, "metadata": md, "spec": {"jobTemplate": {"spec": {"template": template}}}}
    if kind == "PodTemplate":
        return {"kind": kind, "metadata": md, "template": template}
    return {"kind": kind, "metadata": md, "spec": {"template": template}}


PREFIX = {"Pod": "spec", "CronJob": "spec.jobTemplate.spec.template.spec", "PodTemplate": "template.spec"}


KINDS = ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob",
         "PodTemplate"]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_every_workload_kind_is_checked_at_its_template_with_full_field_paths(kind: str) -> None:
    pod = restricted_pod()
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    findings = scan_objects([_wrap(kind, pod)])
    assert [f.check_id for f in findings] == [PSS_CHECK_IDS["privileged"]]
    f = findings[0]
    prefix = PREFIX.get(kind, "spec.template.spec")
    assert f.observed == {f"{prefix}.containers[0].securityContext.privileged": True}
    assert (f.target, f.namespace, f.object, f.status) == (f"{kind}/prod/w", "prod", f"{kind}/w", "fail")
    assert f.severity == CHECKS[f.check_id].severity == "critical"


def test_api_lists_and_manifest_files_are_unfolded() -> None:
    bad = restricted_pod()
    bad["spec"]["hostIPC"] = True
    items = [_wrap("Deployment", bad), _wrap("Deployment", restricted_pod())]
    for item in items:
        item.pop("kind")  # API list items carry no kind
    refs = list(pod_refs([{"kind": "DeploymentList", "items": items}, {"kind": "Service", "spec": {}}]))
    assert [r.kind for r in refs] == ["Deployment", "Deployment"]
    text = "---\napiVersion: v1\nkind: List\nitems:\n" + "".join(
        f"- kind: Pod\n  metadata: {{name: p{i}}}\n  spec: {{hostIPC: {str(i == 0).lower()}, containers: []}}\n"
        for i in range(2)
    )
    findings = scan_manifest_text(text, "pods.yaml", level="baseline")
    assert [(f.target, f.check_id, f.file) for f in findings] == [("Pod/p0", "HD-PSS-002", "pods.yaml")]


def test_a_broken_manifest_names_the_file_and_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        scan_manifest_text("kind: Pod\nspec: [unclosed\n", "app.yaml")
    assert info.value.file == "app.yaml" and info.value.field.startswith("line ")


def test_every_control_is_a_registered_check_with_a_reference() -> None:
    assert set(PSS_CHECK_IDS) == set(CONTROLS)
    for psa, check_id in PSS_CHECK_IDS.items():
        chk = CHECKS[check_id]
        assert psa in chk.reference and "1.34" in chk.reference and chk.suite == "pss"


# -- properties over arbitrary input -----------------------------------------------------------------------
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["", "ALL", "Unconfined", "x"]))
_json = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                     max_leaves=20)  # fmt: skip
_KEYS = ["securityContext", "containers", "initContainers", "volumes", "hostNetwork", "os", "capabilities",
         "seccompProfile", "runAsNonRoot", "ports", "sysctls", "hostUsers"]  # fmt: skip
_keys = st.sampled_from(_KEYS)


@given(st.dictionaries(_keys, _json, max_size=6), st.dictionaries(st.sampled_from(["annotations", "name"]), _json))
def test_arbitrary_json_never_raises(spec: Json, meta: Json) -> None:
    for level in ("baseline", "restricted"):
        for control, hit in evaluate_pod(meta, spec, level):
            assert hit.paths and control.psa_id in CONTROLS


_sc = st.fixed_dictionaries(
    {},
    optional={
        "privileged": st.booleans(),
        "allowPrivilegeEscalation": st.booleans(),
        "runAsNonRoot": st.booleans(),
        "runAsUser": st.sampled_from([0, 1000]),
        "procMount": st.sampled_from(["Default", "Unmasked"]),
        "seccompProfile": st.sampled_from([{"type": "RuntimeDefault"}, {"type": "Unconfined"}]),
        "capabilities": st.fixed_dictionaries({}, optional={
            "add": st.lists(st.sampled_from(["NET_BIND_SERVICE", "CHOWN", "SYS_ADMIN"]), max_size=2),
            "drop": st.lists(st.sampled_from(["ALL", "NET_RAW"]), max_size=2)}),
    },
)  # fmt: skip
_container = st.builds(lambda n, sc: {"name": f"c{n}", "image": "i", "securityContext": sc}, st.integers(0, 9), _sc)
_pod = st.fixed_dictionaries(
    {"containers": st.lists(_container, min_size=1, max_size=3)},
    optional={"initContainers": st.lists(_container, max_size=2), "securityContext": _sc.map(
        lambda sc: {k: v for k, v in sc.items() if k in ("runAsNonRoot", "runAsUser", "seccompProfile")}),
        "hostPID": st.booleans(), "os": st.sampled_from([{"name": "windows"}, {"name": "linux"}])},
)  # fmt: skip
_OVERRIDDEN = {"hostPathVolumes", "seccompProfile_baseline", "capabilities_baseline"}


@given(_pod)
def test_restricted_reports_every_baseline_violation_it_does_not_override(spec: Json) -> None:
    baseline = {c.psa_id for c, _ in evaluate_pod({}, spec, "baseline")}
    restricted = {c.psa_id for c, _ in evaluate_pod({}, spec, "restricted")}
    assert baseline - _OVERRIDDEN <= restricted
    assert not restricted & _OVERRIDDEN


def test_a_scan_pauses_the_cycle_collector_and_leaves_it_as_it_found_it() -> None:
    import gc

    seen: list[bool] = []

    def objects() -> Iterator[dict[str, Any]]:  # read while the scan runs
        seen.append(gc.isenabled())
        yield {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"hostNetwork": True, "containers": [{"name": "c"}]}}

    assert gc.isenabled()
    assert [f.check_id for f in scan_objects(objects(), level="baseline")] == ["HD-PSS-002"]
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        scan_objects(objects(), level="baseline")
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
    def failing() -> Iterator[dict[str, Any]]:
        yield from objects()
        raise RuntimeError("bad input")

    with pytest.raises(RuntimeError):
        scan_objects(failing())
    assert gc.isenabled()  # restored when the scan raises too
