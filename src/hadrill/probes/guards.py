"""Stop conditions: guards an experiment arms before its faults, watched in the background.

A guard trips when the platform is hurt more than the experiment may hurt it; the run then reverts
every fault at once and records "stopped by guard NAME at T" (not a failed objective: the experiment
was cut short on purpose). Three kinds::

    guards:
      - {name: etcd-quorum, promql: 'sum(up{service="etcd"}) < 2'}     # trips when it returns anything non-zero
      - {name: no-quorum-page, alert: EtcdInsufficientMembers}         # trips when the alert fires
      - {name: write-budget, probe: etcd-write, availability: 0.5}     # trips when good/total drops below

A guard that cannot be evaluated (Prometheus unreadable) does not trip; the failed reads are counted
in the run's events so a guard that watched nothing is visible.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hadrill.clients.prometheus import PrometheusClient
from hadrill.errors import SafetyRefused, TargetError
from hadrill.probes.promql import truthy

__all__ = ["Guard", "GuardWatch", "StoppedByGuard", "parse_guards"]

MIN_BUDGET_SAMPLES = 10  # a probe's first few samples say nothing about its budget
MAX_GUARD_S = 3 * 3600.0


class StoppedByGuard(SafetyRefused):
    """A guard tripped: every fault was reverted and the run takes no further step."""


@dataclass(frozen=True)
class Guard:
    name: str
    promql: str | None = None
    alert: str | None = None
    probe: str | None = None
    availability: float | None = None

    def describe(self) -> str:
        if self.promql is not None:
            return f"PromQL {self.promql}"
        if self.alert is not None:
            return f"alert {self.alert} firing"
        return f"probe {self.probe} availability below {self.availability:g}"


def parse_guards(raw: Any) -> list[Guard]:
    """Guards from an experiment; ValueError names the field and what was expected."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"guards: a list of {{name, promql | alert | probe+availability}}, got {raw!r}")
    out = []
    for i, g in enumerate(raw):
        if not isinstance(g, dict) or not isinstance(g.get("name"), str) or not g["name"]:
            raise ValueError(f"guards[{i}].name: a name for the guard")
        kinds = [k for k in ("promql", "alert", "probe") if k in g]
        if len(kinds) != 1 or set(g) - {"name", "promql", "alert", "probe", "availability"}:
            raise ValueError(f"guards[{i}]: exactly one of promql, alert, probe (with availability)")
        if kinds == ["probe"]:
            a = g.get("availability")
            if isinstance(a, bool) or not isinstance(a, int | float) or not 0 < a <= 1:
                raise ValueError(f"guards[{i}].availability: a ratio between 0 and 1")
            out.append(Guard(g["name"], probe=str(g["probe"]), availability=float(a)))
        elif not isinstance(g[kinds[0]], str) or not g[kinds[0]]:
            raise ValueError(f"guards[{i}].{kinds[0]}: a non-empty string")
        else:
            out.append(Guard(g["name"], **{kinds[0]: g[kinds[0]]}))
    return out


class GuardWatch:
    """Evaluates every guard each ``interval`` in a daemon thread; calls ``on_trip`` once, then stops.

    ``firing`` returns the alerts firing now (None when unreadable); ``probe_ratio`` a probe's good /
    total since the guards were armed and its sample count (None when no such probe).
    """

    def __init__(
        self,
        guards: list[Guard],
        *,
        prometheus: PrometheusClient | None,
        firing: Callable[[], frozenset[str] | None],
        probe_ratio: Callable[[str], tuple[float, int] | None],
        on_trip: Callable[[Guard, str], None],
        interval: float = 0.5,
    ) -> None:
        self.guards = guards
        self.prometheus = prometheus
        self.firing = firing
        self.probe_ratio = probe_ratio
        self.on_trip = on_trip
        self.interval = interval
        self.unreadable = 0
        self.tripped: tuple[Guard, str, float] | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="guards", daemon=True)

    def start(self) -> GuardWatch:
        self._thread.start()
        return self

    def check(self, guard: Guard) -> str | None:
        """Why ``guard`` trips now, or None."""
        if guard.promql is not None:
            if self.prometheus is None:
                return None
            try:
                result = self.prometheus.query(guard.promql)
            except TargetError:
                self.unreadable += 1
                return None
            return f"{guard.promql} returned {', '.join(f'{v:g}' for _, v in result[:3])}" if truthy(result) else None
        if guard.alert is not None:
            names = self.firing()
            if names is None:
                self.unreadable += 1
                return None
            return f"alert {guard.alert} is firing" if guard.alert in names else None
        found = self.probe_ratio(str(guard.probe))
        if found is None or found[1] < MIN_BUDGET_SAMPLES:
            return None
        ratio, count = found
        limit = guard.availability or 0.0
        return (
            f"probe {guard.probe} availability {ratio:.3f} < {limit:g} over {count} samples" if ratio < limit else None
        )

    def _loop(self) -> None:
        deadline = time.monotonic() + MAX_GUARD_S
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                for guard in self.guards:
                    why = self.check(guard)
                    if why is not None:
                        self.tripped = (guard, why, time.time())
                        self.on_trip(guard, why)
                        return
                self._stop.wait(self.interval)
        except BaseException as e:  # re-raised by stop() in the caller's thread
            self.error = e

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=10.0)
        if self.error is not None:
            raise self.error
