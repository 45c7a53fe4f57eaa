"""etcd probes: sequence-numbered writes (every acknowledgement kept) and linearizable reads.

Both go through every client endpoint the way etcd's own client does: stick to one endpoint, and
move to the next after a failure. So a partition of one member costs at most a few samples, and
an outage the probes see is one a real client would see.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

from hadrill.clients.etcd import EtcdClient
from hadrill.errors import ProbeFailed, TargetError
from hadrill.inventory import TLSFiles

__all__ = ["EtcdReadProbe", "EtcdWriteProbe"]


class _Endpoints:
    """A shared cursor over endpoints; a failure moves every thread to the next endpoint."""

    def __init__(self, endpoints: Sequence[str], timeout: float, tls: TLSFiles | None) -> None:
        if not endpoints:
            raise ValueError("an etcd probe needs at least one client endpoint")
        self.clients = [EtcdClient(e, timeout=timeout, tls=tls) for e in endpoints]
        self._current = 0
        self._last_ok = [0.0] * len(self.clients)
        self._lock = threading.Lock()

    def pick(self) -> tuple[int, EtcdClient]:
        with self._lock:
            return self._current, self.clients[self._current]

    def succeeded(self, index: int) -> None:
        with self._lock:
            self._last_ok[index] = time.time()

    def failed(self, index: int, started: float) -> None:
        """Move on, unless the endpoint answered since this (late) request was sent."""
        with self._lock:
            if self._current == index and started >= self._last_ok[index]:
                self._current = (index + 1) % len(self.clients)


class EtcdWriteProbe:
    """Puts ``<prefix>/<seq>``; an ok sample's detail holds the key: the acknowledgement ledger.

    After the fault is healed, :meth:`read_back` returns the keys present, and
    ``slo.acked_writes_lost`` compares them with the acknowledged ones.
    """

    def __init__(
        self, endpoints: Sequence[str], *, prefix: str, timeout: float = 1.0, tls: TLSFiles | None = None
    ) -> None:
        self.name = "etcd-write"
        self.prefix = prefix.rstrip("/")
        self._eps = _Endpoints(endpoints, timeout, tls)
        self._seq = itertools.count(1)
        self._seq_lock = threading.Lock()

    def sample(self) -> dict[str, Any]:
        with self._seq_lock:
            seq = next(self._seq)
        key = f"{self.prefix}/{seq:08d}"
        index, client = self._eps.pick()
        started = time.time()
        try:
            revision = client.put(key, f"{seq} {started:.6f}")
        except TargetError as e:
            self._eps.failed(index, started)
            raise ProbeFailed(str(e)) from e
        self._eps.succeeded(index)
        return {"seq": seq, "key": key, "endpoint": client.endpoint, "revision": revision}

    def read_back(self, *, attempts: int = 20, timeout: float = 5.0) -> set[str]:
        """Every key under the prefix, read linearizably from any member that answers."""
        last: Exception | None = None
        for _ in range(attempts):
            for client in self._eps.clients:
                try:
                    return set(client.get_prefix(self.prefix + "/", timeout=timeout))
                except TargetError as e:
                    last = e
            time.sleep(0.5)
        raise TargetError(f"could not read {self.prefix}/ back from any etcd member: {last}")


class EtcdReadProbe:
    """Linearizable read of one key written at start (a read needs a quorum, like a write)."""

    def __init__(
        self, endpoints: Sequence[str], *, key: str, timeout: float = 1.0, tls: TLSFiles | None = None
    ) -> None:
        self.name = "etcd-read"
        self.key = key
        self._eps = _Endpoints(endpoints, timeout, tls)
        self._value: str | None = None

    def prepare(self) -> None:
        """Write the key the probe reads (through any member)."""
        self._value = f"read-probe {time.time():.6f}"
        for client in self._eps.clients:
            try:
                client.put(self.key, self._value)
                return
            except TargetError:
                continue
        raise TargetError(f"could not write the read probe's key {self.key} through any member")

    def sample(self) -> dict[str, Any]:
        if self._value is None:
            self.prepare()
        index, client = self._eps.pick()
        started = time.time()
        try:
            got = client.get(self.key)
        except TargetError as e:
            self._eps.failed(index, started)
            raise ProbeFailed(str(e)) from e
        self._eps.succeeded(index)
        if got != self._value:
            raise ProbeFailed(f"read {self.key} from {client.endpoint}: got {got!r}, expected the value written")
        return {"endpoint": client.endpoint}
