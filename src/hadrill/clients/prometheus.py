"""Prometheus and Alertmanager over their HTTP APIs: instant queries, firing alerts, rule reloads.

Prometheus: ``GET /api/v1/query`` answers ``{"status": "success", "data": {"resultType": ...,
"result": [...]}}`` (an instant vector is a list of ``{"metric": {labels}, "value": [t, "v"]}``);
``GET /api/v1/alerts`` lists the alerts of every rule that are pending or firing, each with its
``state`` and ``activeAt`` (when it went pending). Alertmanager: ``GET /api/v2/alerts`` lists what it
received and has not seen resolved (``status.state``: active, suppressed or unprocessed).

Every call has a timeout; every failure (refused, timed out, an error envelope, a body that is not the
documented shape) is a :class:`~hadrill.errors.TargetError` naming the URL.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from hadrill.errors import TargetError

__all__ = ["AlertmanagerClient", "FiringAlert", "PrometheusClient", "parse_rfc3339"]


def parse_rfc3339(text: str) -> float:
    """Prometheus' and Alertmanager's timestamps (nanosecond fractions, ``Z``) as epoch seconds.

    >>> round(parse_rfc3339("2026-12-03T10:00:01.123456789Z") - parse_rfc3339("2026-12-03T10:00:00Z"), 6)
    1.123456
    """
    head, _, rest = text.replace("Z", "+00:00").partition(".")
    if rest:  # Python's fromisoformat takes at most microseconds
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        head = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(head).timestamp()


@dataclass(frozen=True)
class FiringAlert:
    """One alert instance as a source reported it."""

    name: str
    labels: dict[str, str]
    state: str  # Prometheus: pending or firing; Alertmanager: active, suppressed or unprocessed
    active_at: float | None  # Prometheus: when it went pending; Alertmanager: startsAt


class _Http:
    """One ``requests`` session per thread (a watcher and a probe may share a client)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.url}{path}"
        try:
            resp = self._session().request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as e:
            raise TargetError(f"{url}: {type(e).__name__}: {e}") from e
        if resp.status_code >= 300:
            raise TargetError(f"{url}: HTTP {resp.status_code}: {resp.text[:200]}")
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as e:
            raise TargetError(f"{url}: not JSON: {resp.text[:200]!r}") from e


class PrometheusClient(_Http):
    """Instant queries and alerts of one Prometheus server."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        super().__init__(url, timeout)

    def _data(self, path: str, **kwargs: Any) -> Any:
        body = self.call("GET", path, **kwargs)
        if not isinstance(body, dict) or body.get("status") != "success":
            why = body.get("error") if isinstance(body, dict) else body
            raise TargetError(f"{self.url}{path}: {why}")
        return body.get("data")

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """Evaluate ``expr`` now: one (labels, value) per element (a scalar is one element, no labels)."""
        data = self._data("/api/v1/query", params={"query": expr}) or {}
        kind, result = data.get("resultType"), data.get("result") or []
        try:
            if kind == "vector":
                return [(dict(r["metric"]), float(r["value"][1])) for r in result]
            if kind == "scalar":
                return [({}, float(result[1]))]
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise TargetError(f"{self.url}: query {expr!r} answered an unexpected shape: {e}") from e
        raise TargetError(f"{self.url}: query {expr!r} answered a {kind}, not an instant vector or scalar")

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[list[tuple[float, float]]]:
        """Evaluate ``expr`` every ``step`` seconds from ``start`` to ``end``: one list of (t, value) per series."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = self._data("/api/v1/query_range", params=params) or {}
        if data.get("resultType") != "matrix":
            raise TargetError(f"{self.url}: range query {expr!r} answered a {data.get('resultType')}, not a matrix")
        try:
            return [[(float(t), float(v)) for t, v in r["values"]] for r in data.get("result") or []]
        except (KeyError, TypeError, ValueError) as e:
            raise TargetError(f"{self.url}: range query {expr!r} answered an unexpected shape: {e}") from e

    def alerts(self) -> list[FiringAlert]:
        """Every pending or firing alert instance."""
        data = self._data("/api/v1/alerts")
        out = []
        for a in (data or {}).get("alerts") or []:
            labels = dict(a.get("labels") or {})
            at = a.get("activeAt")
            out.append(
                FiringAlert(
                    labels.get("alertname", "?"), labels, str(a.get("state")), parse_rfc3339(at) if at else None
                )
            )
        return out

    def reload(self) -> None:
        """Re-read the configuration and rule files (needs ``--web.enable-lifecycle``)."""
        self.call("POST", "/-/reload")


class AlertmanagerClient(_Http):
    """The alerts one Alertmanager holds (received and not resolved)."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        super().__init__(url, timeout)

    def alerts(self) -> list[FiringAlert]:
        body = self.call("GET", "/api/v2/alerts")
        if not isinstance(body, list):
            raise TargetError(f"{self.url}/api/v2/alerts: not a list of alerts")
        out = []
        for a in body:
            labels = dict(a.get("labels") or {})
            state = str((a.get("status") or {}).get("state", "?"))
            at = a.get("startsAt")
            out.append(FiringAlert(labels.get("alertname", "?"), labels, state, parse_rfc3339(at) if at else None))
        return out
