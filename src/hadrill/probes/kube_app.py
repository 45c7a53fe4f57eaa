"""The application's HTTP probe through its NodePort Service, as a client behind a load balancer sees it.

A NodePort Service answers on every node; what sits in front of the nodes (a cloud or haproxy load
balancer with health checks) sends each request to a node that answers, and retries a connection that
was never established on another node (haproxy's ``retries`` with ``option redispatch``). The probe is
that client: it sticks to the last node that answered and, when a connection is refused, has no route
or is not accepted within ``connect_timeout``, tries the next node, all within the request's
``timeout``. Each request is a new connection (no keep-alive), so kube-proxy picks a backend pod afresh
for every request, as it does for many independent clients. A request accepted and then not answered,
or answered with an error, fails (no retry). Note that kube-proxy DNATs the connection itself: a
connection it sends to a pod on a dead node is not accepted either, so with two workers, one dead, such
a request tries the dead node next and fails; with more workers it would be retried on a third, as a
load balancer would.
"""

from __future__ import annotations

from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from hadrill.errors import ProbeFailed
from hadrill.probes.failover import NodeFailover

__all__ = ["ServiceHttpProbe"]


def _not_connected(e: requests.RequestException) -> bool:
    """The connection was never established (timed out, refused, no route): nothing was sent."""
    if isinstance(e, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(e.args[0], "reason", None) if e.args else None
    return isinstance(e, requests.exceptions.ConnectionError) and isinstance(reason, NewConnectionError)


class ServiceHttpProbe(NodeFailover):
    """GET through the first node of ``urls`` that accepts the connection, within ``timeout`` in all."""

    default_name = "service-http"

    def sample(self) -> dict[str, Any] | None:
        errors = []
        for i, (index, url, budget) in enumerate(self._nodes_in_turn()):
            try:
                r = requests.get(url, timeout=self._timeouts(budget))
            except requests.RequestException as e:
                if not _not_connected(e):
                    # accepted, then not answered: what this request's client sees, no retry
                    raise ProbeFailed(f"GET {url}: {type(e).__name__}") from e
                errors.append(f"{url}: {type(e).__name__}")  # no connection at all: the next node
                continue
            if r.status_code != 200:
                raise ProbeFailed(f"GET {url}: HTTP {r.status_code}")
            self._answered(index)
            return {"node": url, "pod": r.text.strip()[:64], "tried": i + 1}
        raise ProbeFailed("no node accepted the connection: " + "; ".join(errors[-3:]))
