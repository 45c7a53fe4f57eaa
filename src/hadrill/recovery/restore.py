"""When a cluster restored by the etcd restore drill (:mod:`hadrill.restore`) answers again: every etcd
member with one leader (the restored cluster whole, not only behind one API server), and the application
through its Service."""

from __future__ import annotations

import time

import requests

from hadrill.clients.etcd import EtcdClient
from hadrill.errors import TargetError
from hadrill.inventory import Cluster

__all__ = ["wait_app", "wait_etcd"]


def wait_app(url: str, timeout: float) -> float | None:
    """When the application first answered HTTP 200 at ``url`` (its Service), or None within ``timeout``."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.25) + 2):
        try:
            if requests.get(url, timeout=2.0).status_code == 200:
                return time.time()
        except requests.RequestException:
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.25)
    return None


def wait_etcd(cluster: Cluster, timeout: float) -> tuple[float | None, str]:
    """When every member of the etcd ``cluster`` first answered with one and the same leader, each listing
    every member (the restored cluster whole), or None within ``timeout``; and what was seen last."""
    wanted = {m.name for m in cluster.members}
    clients = [EtcdClient(m.endpoints["client"], timeout=2.0, tls=cluster.tls) for m in cluster.members]
    deadline = time.monotonic() + timeout
    seen = "no answer"
    for _ in range(int(timeout / 0.5) + 2):
        try:
            leaders = {c.status().leader for c in clients}
            listed = [{m.name for m in c.members()} for c in clients]
            if len(leaders) == 1 and not leaders & {"", "0"} and all(names == wanted for names in listed):
                return time.time(), f"{len(wanted)} members, one leader"
            seen = f"leaders {sorted(leaders)}, members listed {[sorted(n) for n in listed]}"
        except TargetError as e:
            seen = str(e)
        if time.monotonic() >= deadline:
            return None, seen
        time.sleep(0.5)
    return None, seen
