"""Watching the platform's alerts while an experiment runs: a background poll of Alertmanager (or of
Prometheus when the inventory names no Alertmanager) into a bounded list of observations.

The verdicts are computed from the observations by :mod:`hadrill.alerting`; this module only records.
A poll that fails is an observation too (``firing=None`` with the error), so "Prometheus could not be
read" reaches the verdict instead of looking like "the alert did not fire". A bug in the watcher (any
exception that is not a failed read) is kept and re-raised by :meth:`AlertWatcher.stop`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from hadrill.alerting import Observation, alert_verdicts, parse_alert_objectives
from hadrill.clients.prometheus import AlertmanagerClient, FiringAlert, PrometheusClient
from hadrill.errors import ConfigError, TargetError
from hadrill.inventory import Monitoring
from hadrill.slo import Verdict, not_measured

__all__ = ["AlertWatcher", "firing_names", "judge_alerts"]

MAX_OBSERVATIONS = 20_000  # 2.7 hours at 0.5 s: a runaway run must not exhaust memory
MAX_WATCH_S = 3 * 3600.0  # the thread ends by itself after this, whatever the caller forgets


def firing_names(alerts: list[FiringAlert], source: str) -> frozenset[str]:
    """The alerts that count as firing: Prometheus' ``firing`` (not ``pending``); Alertmanager's
    ``active`` (a silenced or inhibited alert pages nobody)."""
    state = "firing" if source == "prometheus" else "active"
    return frozenset(a.name for a in alerts if a.state == state)


class AlertWatcher:
    """Polls one source every ``interval`` seconds in a daemon thread until stopped."""

    def __init__(self, monitoring: Monitoring, *, interval: float = 0.5, timeout: float = 1.0) -> None:
        self.source = "alertmanager" if monitoring.alertmanager else "prometheus"
        client = (
            AlertmanagerClient(monitoring.alertmanager, timeout=timeout)
            if monitoring.alertmanager
            else PrometheusClient(monitoring.prometheus, timeout=timeout)
        )
        self._read: Callable[[], list[FiringAlert]] = client.alerts
        self.interval = interval
        self.started: float | None = None
        self._obs: deque[Observation] = deque(maxlen=MAX_OBSERVATIONS)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._polled = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> AlertWatcher:
        if self._thread is None:
            self.started = time.time()
            self._thread = threading.Thread(target=self._loop, name=f"alerts-{self.source}", daemon=True)
            self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _poll(self) -> Observation:
        try:
            names = firing_names(self._read(), self.source)
        except TargetError as e:
            return Observation(time.time(), None, str(e)[:300])
        return Observation(time.time(), names)

    def _loop(self) -> None:
        deadline = time.monotonic() + MAX_WATCH_S
        next_at = time.monotonic()
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                obs = self._poll()
                with self._polled:
                    self._obs.append(obs)
                    self._polled.notify_all()
                next_at += self.interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        except BaseException as e:  # a watcher bug: re-raised in the caller's thread by stop()
            self._error = e

    def observations(self) -> list[Observation]:
        with self._lock:
            return list(self._obs)

    def wait_until(self, done: Callable[[list[Observation]], bool], until: float) -> bool:
        """Block until ``done(observations)`` holds or the wall clock reaches ``until``; say which."""
        with self._polled:
            while True:
                if done(list(self._obs)):
                    return True
                left = until - time.time()
                if left <= 0 or not self.running:
                    return False
                self._polled.wait(min(left, self.interval * 2))

    def stop(self) -> list[Observation]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._error is not None:
            raise self._error
        return self.observations()


def judge_alerts(
    watcher: AlertWatcher | None,
    monitoring: Monitoring | None,
    wanted: dict[str, Any],
    fault_start: float | None,
    healed_at: float | None,
) -> list[Verdict]:
    """The alert verdicts of ``wanted`` (an experiment's objectives), waiting as long as they need.

    Waits (bounded by the objectives' own bounds) until every alert asked to fire has been seen after
    the injection and every alert asked to resolve has been seen gone after the heal, so a verdict is
    never judged on a watch that ended too early.
    """
    try:
        asked = parse_alert_objectives(wanted)
    except ValueError as e:
        field, _, expected = str(e).partition(": ")
        raise ConfigError("experiment", f"objectives.{field}", expected) from None
    if not asked.asked:
        return []
    if monitoring is None or watcher is None:
        why = "the inventory names no monitoring (monitoring: {prometheus: URL, alertmanager: URL})"
        return [
            not_measured(v.name, v.objective, v.unit, why) for v in alert_verdicts(asked, [], fault_start, healed_at)
        ]
    if fault_start is not None:
        until = fault_start + max(asked.fires.values(), default=0.0)
        if healed_at is not None and asked.resolve_within_s is not None:
            until = max(until, healed_at + asked.resolve_within_s)
        until += 2 * watcher.interval  # the poll that would show it

        def decided(obs: list[Observation]) -> bool:
            readable = [o for o in obs if o.firing is not None and o.at > fault_start]
            fired = all(any(n in (o.firing or ()) for o in readable) for n in asked.fires)
            if not fired or healed_at is None or asked.resolve_within_s is None:
                return fired  # the alerts that must stay silent are judged on the watch so far
            return all(any(o.at >= healed_at and n not in (o.firing or ()) for o in readable) for n in asked.resolves)

        watcher.wait_until(decided, until)
    return alert_verdicts(asked, watcher.observations(), fault_start, healed_at, source=watcher.source)
