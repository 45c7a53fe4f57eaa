"""Every fault kind hadrill knows, as a table from ``Fault.kind`` to ``"module:Class"``, imported lazily.

A ledger record names only its kind; ``hadrill recover`` (often a fresh process) finds the class to revert
it with here. The table is the one place to register a kind: nothing at import time depends on which
faults exist, and ``tests/unit/test_fault_kinds.py`` fails when a ``Fault`` subclass is missing from it.
The pattern is pytest-testinfra's ``BACKENDS`` / ``get_backend_class``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hadrill.faults.base import Fault

__all__ = ["KINDS", "UnknownFaultKind", "fault_class"]

KINDS: dict[str, str] = {
    "container": "hadrill.faults.container:ContainerFault",
    "etcd-restore": "hadrill.faults.etcd_restore:EtcdRestoreFault",
    "etcd-restore.objects": "hadrill.faults.etcd_restore:DrillObjects",
    "etcd-restore-static": "hadrill.faults.etcd_restore_static:StaticEtcdRestoreFault",
    "etcd-restore-static.objects": "hadrill.faults.etcd_restore_static:StaticDrillObjects",
    "gluster.stop_brick": "hadrill.faults.gluster:StopBrick",
    "kube.control_plane": "hadrill.faults.kube:ControlPlaneFault",
    "kube.control_plane_power_off": "hadrill.faults.kube:ControlPlanePowerOff",
    "kube.worker_power_off": "hadrill.faults.kube_worker:WorkerPowerOff",
    "kube.drain_node": "hadrill.faults.kube_drain:WorkerDrain",
    "network.partition": "hadrill.faults.network:Partition",
    "nfs.fail_vip": "hadrill.faults.vip:FailVip",
    "power.off": "hadrill.faults.power:PowerOff",
    "process": "hadrill.faults.process:ProcessFault",
    "service": "hadrill.faults.service:ServiceFault",
    "swarm.drain": "hadrill.faults.swarm:DrainNode",
    "swarm.force_new_cluster": "hadrill.faults.swarm_disaster:ForceNewCluster",
}


class UnknownFaultKind(LookupError):
    """A record names a kind the table does not hold."""


def fault_class(kind: str) -> type[Fault]:
    """The class that injects and reverts faults of ``kind``, its module imported on first use.

    >>> fault_class("container").__name__
    'ContainerFault'
    """
    try:
        module_name, _, class_name = KINDS[kind].partition(":")
    except KeyError:
        raise UnknownFaultKind(f"unknown fault kind {kind!r} (known: {', '.join(sorted(KINDS))})") from None
    cls: type[Fault] = getattr(importlib.import_module(module_name), class_name)
    return cls
