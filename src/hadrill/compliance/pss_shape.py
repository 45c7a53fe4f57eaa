"""What a pod spec must look like for the Pod Security controls to read it.

The controls read leniently (a field of the wrong type counts as unset), which is right for values
but wrong for structure: ``containers:`` written as a mapping (a forgotten ``-``) would hide a
privileged container and the pod would look compliant. So before judging a pod, the scan checks the
shape of every field a control reads; a pod that cannot be read is an error finding, never compliant.

>>> problems({"containers": {"name": "c", "securityContext": {"privileged": True}}}, "spec")
['spec.containers is not a list (got a mapping)']
"""

from __future__ import annotations

from typing import Any

__all__ = ["problems"]

Schema = Any  # a type, a dict of field -> Schema, or a one-item list [Schema]

_PROFILE = {"type": str, "localhostProfile": str}
_SELINUX = {"type": str, "user": str, "role": str, "level": str}
_WINDOWS = {"hostProcess": bool}
_CONTAINER_SC = {
    "privileged": bool, "allowPrivilegeEscalation": bool, "runAsNonRoot": bool, "runAsUser": int,
    "procMount": str, "capabilities": {"add": [str], "drop": [str]}, "seccompProfile": _PROFILE,
    "appArmorProfile": _PROFILE, "seLinuxOptions": _SELINUX, "windowsOptions": _WINDOWS,
}  # fmt: skip
_HANDLER = {"httpGet": {"host": str}, "tcpSocket": {"host": str}}
_CONTAINER = {
    "name": str, "securityContext": _CONTAINER_SC, "ports": [{"hostPort": int}],
    "livenessProbe": _HANDLER, "readinessProbe": _HANDLER, "startupProbe": _HANDLER,
    "lifecycle": {"postStart": _HANDLER, "preStop": _HANDLER},
}  # fmt: skip
_SPEC = {
    "hostNetwork": bool, "hostPID": bool, "hostIPC": bool, "hostUsers": bool, "os": {"name": str},
    "securityContext": {
        "runAsNonRoot": bool, "runAsUser": int, "seccompProfile": _PROFILE, "appArmorProfile": _PROFILE,
        "seLinuxOptions": _SELINUX, "windowsOptions": _WINDOWS, "sysctls": [{"name": str}],
    },
    "volumes": [dict], "initContainers": [_CONTAINER], "containers": [_CONTAINER],
    "ephemeralContainers": [_CONTAINER],
}  # fmt: skip
_META = {"annotations": dict}
_NAMES = {bool: "true or false", int: "an integer", str: "a string", dict: "a mapping"}


def _what(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(type(value), "a value")


def _check(value: Any, schema: Schema, path: str, out: list[str]) -> None:
    if value is None:  # unset: the control's default applies
        return
    if isinstance(schema, list):
        if not isinstance(value, list):
            out.append(f"{path} is not a list (got {_what(value)})")
            return
        for i, item in enumerate(value):
            _check(item, schema[0], f"{path}[{i}]", out)
            if item is None:
                out.append(f"{path}[{i}] is empty")
    elif isinstance(schema, dict):
        if not isinstance(value, dict):
            out.append(f"{path} is not a mapping (got {_what(value)})")
            return
        for key, sub in schema.items():
            _check(value.get(key), sub, f"{path}.{key}", out)
    elif not isinstance(value, schema) or (schema is int and isinstance(value, bool)):
        out.append(f"{path} is not {_NAMES[schema]} (got {_what(value)})")


def problems(spec: Any, spec_path: str, meta: Any = None, meta_path: str = "metadata") -> list[str]:
    """What keeps the controls from reading this pod spec (empty when it can be judged)."""
    out: list[str] = []
    if not isinstance(spec, dict):
        return [f"{spec_path} is not a mapping (got {_what(spec)})" if spec is not None else f"{spec_path} is missing"]
    _check(meta, _META, meta_path, out)
    _check(spec, _SPEC, spec_path, out)
    return out
