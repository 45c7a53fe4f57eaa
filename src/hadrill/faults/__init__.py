"""Faults: inject/revert pairs with a ledger entry, a time limit and a deadman.

Domains: ``container`` (kill/stop/pause/restart), ``network`` (partition, isolate), ``process``
(kill or freeze by name), ``etcd`` (the same aimed at etcd members by role: leader, follower),
``gluster`` (stop bricks), ``kube`` (kill a control-plane node), ``vip`` (fail the NFS VIP holder),
``etcd_restore`` (destroy etcd's data on every master, revert by restoring a snapshot; on kubeadm
masters ``etcd_restore_static``: the static pods stopped first, the manifests put back after).
Every kind is registered in :mod:`hadrill.faults.kinds`, which ``recover`` uses to find its class.
"""

from __future__ import annotations

from hadrill.faults.base import Fault, injected, recover, revert_record
from hadrill.faults.container import ContainerFault
from hadrill.faults.ledger import FaultRecord, Ledger
from hadrill.faults.network import Partition
from hadrill.faults.process import ProcessFault

__all__ = [
    "ContainerFault",
    "Fault",
    "FaultRecord",
    "Ledger",
    "Partition",
    "ProcessFault",
    "injected",
    "recover",
    "revert_record",
]
