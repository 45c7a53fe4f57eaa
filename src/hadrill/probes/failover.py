"""A client that fails over between the nodes of a service, as a load balancer or a client's address
list does: it sticks to the node that answered last and tries the others in turn within one request's
``timeout``. What counts as "try the next node" differs by probe (see each ``sample``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

__all__ = ["NodeFailover"]


class NodeFailover:
    """The node order and time budget of one request; subclasses send it and say which node answered."""

    default_name = "failover"

    def __init__(self, urls: list[str], *, timeout: float = 1.0, connect_timeout: float = 0.25, name: str = "") -> None:
        if not urls:
            raise ValueError("at least one URL")
        self.urls, self.timeout, self.connect_timeout = list(urls), timeout, connect_timeout
        self.name = name or self.default_name
        self._lock = threading.Lock()
        self._preferred = 0

    def _timeouts(self, budget: float) -> tuple[float, float]:
        """(connect, read) timeouts for one node with ``budget`` seconds of the request left."""
        return min(self.connect_timeout, budget), max(budget, 0.01)

    def _nodes_in_turn(self) -> Iterator[tuple[int, str, float]]:
        """(index, url, seconds left) of each node, from the one that answered last, while the
        request's ``timeout`` lasts: a failed node costs the next one only the time it took."""
        with self._lock:
            first = self._preferred
        deadline = time.monotonic() + self.timeout
        for i in range(len(self.urls)):
            budget = deadline - time.monotonic()
            if budget <= 0:
                return
            index = (first + i) % len(self.urls)
            yield index, self.urls[index], budget

    def _answered(self, index: int) -> None:
        with self._lock:
            self._preferred = index
