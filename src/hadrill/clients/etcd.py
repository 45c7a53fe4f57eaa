"""A small etcd v3 client over etcd's JSON gateway (``/v3/...``), with a timeout on every call.

Why not a gRPC client: PyPI's etcd3 is unmaintained and fragile with current protobuf, and the JSON
gateway is served by every etcd since 3.3 over the same client port. Reads are linearizable (etcd's
default), which is what a read probe must measure.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from typing import Any

import requests

from hadrill.errors import TargetError
from hadrill.inventory import Cluster, Inventory, Member, TLSFiles

__all__ = ["EtcdClient", "EtcdMember", "EtcdStatus", "etcd_leader"]


def _b64(s: str | bytes) -> str:
    raw = s.encode() if isinstance(s, str) else s
    return base64.b64encode(raw).decode()


def _unb64(s: str) -> str:
    return base64.b64decode(s).decode(errors="replace")


def _prefix_end(prefix: str) -> str:
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return _b64(bytes(raw))


@dataclass(frozen=True)
class EtcdStatus:
    """One member's own view of the cluster."""

    member_id: str
    leader: str
    raft_index: int
    raft_term: int
    version: str
    revision: int


@dataclass(frozen=True)
class EtcdMember:
    id: str
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]


class EtcdClient:
    """Talks to one etcd endpoint. Safe to share between threads (one HTTP session per thread)."""

    def __init__(self, endpoint: str, *, timeout: float = 1.0, tls: TLSFiles | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self._tls = tls
        self._local = threading.local()

    def _session(self) -> requests.Session:
        s: requests.Session | None = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            if self._tls is not None:
                s.trust_env = False  # else REQUESTS_CA_BUNDLE in the environment overrides s.verify
                s.verify = self._tls.ca
                s.cert = (self._tls.cert, self._tls.key)
            self._local.session = s
        return s

    def _call(self, path: str, body: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        url = f"{self.endpoint}/v3/{path}"
        try:
            r = self._session().post(url, json=body, timeout=timeout or self.timeout)
        except requests.RequestException as e:
            raise TargetError(f"etcd {self.endpoint}: {type(e).__name__}: {e}") from e
        if r.status_code != 200:
            raise TargetError(f"etcd {self.endpoint}: HTTP {r.status_code}: {r.text[:200]}")
        data: dict[str, Any] = r.json()
        if "error" in data:  # the gateway reports gRPC errors in the body
            raise TargetError(f"etcd {self.endpoint}: {data.get('error') or data.get('message')}")
        return data

    def put(self, key: str, value: str) -> int:
        """Write a key; returns the revision of the write once the cluster acknowledged it."""
        data = self._call("kv/put", {"key": _b64(key), "value": _b64(value)})
        return int(data.get("header", {}).get("revision", 0))

    def get(self, key: str) -> str | None:
        """Linearizable read of one key."""
        kvs = self._call("kv/range", {"key": _b64(key)}).get("kvs", [])
        return _unb64(kvs[0]["value"]) if kvs and "value" in kvs[0] else ("" if kvs else None)

    def get_prefix(self, prefix: str, *, timeout: float | None = None) -> dict[str, str]:
        """Every key under a prefix (used to read acknowledged writes back)."""
        body = {"key": _b64(prefix), "range_end": _prefix_end(prefix)}
        kvs = self._call("kv/range", body, timeout).get("kvs", [])
        return {_unb64(kv["key"]): _unb64(kv.get("value", "")) for kv in kvs}

    def delete_prefix(self, prefix: str) -> int:
        body = {"key": _b64(prefix), "range_end": _prefix_end(prefix)}
        return int(self._call("kv/deleterange", body).get("deleted", 0))

    def status(self) -> EtcdStatus:
        d = self._call("maintenance/status", {})
        header = d.get("header", {})
        return EtcdStatus(
            member_id=str(header.get("member_id", "")),
            leader=str(d.get("leader", "")),
            raft_index=int(d.get("raftIndex", 0)),
            raft_term=int(d.get("raftTerm", 0)),
            version=str(d.get("version", "")),
            revision=int(header.get("revision", 0)),
        )

    def members(self) -> list[EtcdMember]:
        d = self._call("cluster/member/list", {})
        return [
            EtcdMember(
                id=str(m.get("ID", "")),
                name=str(m.get("name", "")),
                peer_urls=tuple(m.get("peerURLs", [])),
                client_urls=tuple(m.get("clientURLs", [])),
            )
            for m in d.get("members", [])
        ]


def etcd_leader(inv: Inventory, cluster: Cluster, timeout: float = 1.0) -> Member | None:
    """The member the cluster currently follows, as seen by the first member that answers."""
    for m in cluster.members:
        client = EtcdClient(m.endpoints["client"], timeout=timeout, tls=cluster.tls)
        try:
            leader = client.status().leader
            names = {x.id: x.name for x in client.members()}
        except TargetError:
            continue
        name = names.get(leader)
        return next((x for x in cluster.members if x.name == name), None)
    return None
