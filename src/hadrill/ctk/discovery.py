"""What ``chaos discover hadrill`` reports: every exported action and probe with its typed arguments.

Chaos Toolkit imports the ``hadrill`` package and calls its ``discover`` function. chaoslib's own
``discover_actions``/``discover_probes`` list the functions in each module's ``__all__``; its type names
come from the raw annotations, which are strings here (``from __future__ import annotations``), so
every argument would read ``object`` and ``chaos init`` could not prompt for it. We re-read the
signatures with their annotations evaluated and give each argument the portable type chaos init
converts its answer with.
"""

from __future__ import annotations

import importlib
import inspect
import types
import typing
from typing import Any

__all__ = ["ACTIVITY_MODULES", "discover", "list_activities", "portable_type"]

# module -> activity type, as Chaos Toolkit files them
ACTIVITY_MODULES: dict[str, str] = {
    "hadrill.ctk.actions": "action",
    "hadrill.ctk.probes": "probe",
    "hadrill.ctk.swarm_actions": "action",
    "hadrill.ctk.swarm_probes": "probe",
    "hadrill.ctk.kube_actions": "action",
    "hadrill.ctk.kube_probes": "probe",
}

_SIMPLE = {bool: "boolean", int: "integer", float: "number", str: "string", bytes: "byte", type(None): "null"}
_ORIGINS = {list: "list", tuple: "tuple", set: "set", dict: "mapping"}


def portable_type(annotation: Any) -> str:
    """Chaos Toolkit's portable type name for an evaluated annotation.

    >>> portable_type(float), portable_type(list[str] | None), portable_type(typing.Literal["kill", "stop"])
    ('number', 'list', 'string')
    """
    if annotation in _SIMPLE:
        return _SIMPLE[annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        values = typing.get_args(annotation)
        return portable_type(type(values[0])) if values else "object"
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        return portable_type(rest[0]) if len(rest) == 1 else "object"
    if origin in _ORIGINS:
        return _ORIGINS[origin]
    if annotation in _ORIGINS:
        return _ORIGINS[annotation]
    return "object"


def list_activities() -> list[dict[str, Any]]:
    """Every exported activity as chaoslib describes it, with portable argument and return types."""
    from chaoslib.discovery.discover import discover_activities

    out: list[dict[str, Any]] = []
    for module_name, kind in ACTIVITY_MODULES.items():
        module = importlib.import_module(module_name)
        for activity in discover_activities(module_name, kind):
            sig = inspect.signature(getattr(module, activity["name"]), eval_str=True)
            if sig.return_annotation is not inspect.Signature.empty:
                activity["return_type"] = portable_type(sig.return_annotation)
            for arg in activity["arguments"]:
                annotation = sig.parameters[arg["name"]].annotation
                if annotation is not inspect.Parameter.empty:
                    arg["type"] = portable_type(annotation)
            out.append(activity)
    return out


def discover(discover_system: bool = True) -> dict[str, Any]:
    """The discovery document ``chaos discover hadrill`` writes (the system part needs a run: none)."""
    from chaoslib.discovery.discover import initialize_discovery_result

    from hadrill import __version__

    discovery: dict[str, Any] = initialize_discovery_result("hadrill", __version__, "hadrill")
    discovery["activities"].extend(list_activities())
    return discovery
