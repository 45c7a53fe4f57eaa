"""One experiment run: its probes, its faults, its checks, its verdicts, and the journal they make.

The pytest fixtures and the Chaos Toolkit activities both drive a :class:`Run`, so a test written by
hand and an experiment file measure the same things the same way.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol

from hadrill import slo
from hadrill.alerting import ALERT_OBJECTIVE_KEYS, MONITORED_KEY, NO_MONITORING, apply_overrides, split_monitored
from hadrill.clients.prometheus import PrometheusClient
from hadrill.errors import ConfigError
from hadrill.faults.base import Fault, injected
from hadrill.faults.ledger import FaultRecord, Ledger
from hadrill.faults.stop import check_not_stopped
from hadrill.inventory import Inventory, load_inventory
from hadrill.journal import default_journal_dir, write_journal
from hadrill.probes.alerts import AlertWatcher, judge_alerts
from hadrill.probes.etcd import EtcdReadProbe, EtcdWriteProbe
from hadrill.probes.guards import Guard, GuardWatch, StoppedByGuard, parse_guards
from hadrill.probes.promql import judge_promql
from hadrill.probes.sampler import History, Probe, Sampler

__all__ = ["OBJECTIVE_KEYS", "Run"]

OBJECTIVE_KEYS = {
    "max_outage_s", "availability", "acked_writes_lost", "steady_state_s", "recovery_window_s", "latency_threshold_s",
} | ALERT_OBJECTIVE_KEYS | {"promql", MONITORED_KEY, "probes"}  # fmt: skip
# what ``objectives.probes.NAME`` may set for one probe, instead of the experiment-wide value
PROBE_OBJECTIVE_KEYS = ("max_outage_s", "availability", "steady_state_s", "recovery_window_s", "latency_threshold_s")
# Availability is judged from the injection to this long after the revert started, unless declared.
DEFAULT_RECOVERY_WINDOW_S = 5.0
MAX_RECOVERY_WINDOW_S = 300.0  # the longest a run keeps sampling after the revert started, whatever is asked
WINDOW_TAIL_S = 0.5  # a window counts as sampled to its end when its last sample started this close to it
_UNITS = {"max_outage_s": "s", "availability": "ratio", "acked_writes_lost": "writes", "steady_state_s": "s"}
_NAMES = {
    "max_outage_s": "max_outage",
    "availability": "availability",
    "acked_writes_lost": "acked_writes_lost",
    "steady_state_s": "steady_state",
}


def _per_probe(block: Any) -> dict[str, dict[str, float]]:
    """``objectives.probes``: probe name -> the objectives that probe is judged by instead of the
    experiment-wide ones (an application and the API beside it promise different things)."""
    if block is None:
        return {}
    if not isinstance(block, dict) or not block:
        raise ConfigError("experiment", "objectives.probes", "a mapping of probe name to objectives", block)
    out: dict[str, dict[str, float]] = {}
    for name, objectives in block.items():
        field = f"objectives.probes.{name}"
        if not isinstance(objectives, dict) or not objectives or set(objectives) - set(PROBE_OBJECTIVE_KEYS):
            expected = f"a mapping of some of {', '.join(PROBE_OBJECTIVE_KEYS)}"
            raise ConfigError("experiment", field, expected, objectives)
        for key, value in objectives.items():
            ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < float("inf")
            if not ok or (key == "availability" and value > 1):
                expected = "a ratio from 0 to 1" if key == "availability" else "a finite number >= 0"
                raise ConfigError("experiment", f"{field}.{key}", expected, value)
        out[str(name)] = {k: float(v) for k, v in objectives.items()}
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "run"


# A remote write probe's read-back: the details of its acknowledged samples -> the keys still present.
ReadBack = Callable[[list[dict[str, Any]]], set[str]]


def _read_back_of(probe: EtcdWriteProbe) -> ReadBack:
    """A probe that reads its own keys back (etcd's) as a :data:`ReadBack` (which is handed the details)."""
    return lambda _details: probe.read_back()


class Recorder(Protocol):
    """What a run needs of a probe that samples in the background: a Sampler, or a RemoteProbe."""

    @property
    def history(self) -> History: ...
    @property
    def running(self) -> bool: ...
    def stop(self, timeout: float | None = None) -> History: ...


def _mark_expired(fault: Fault, record: FaultRecord, window: dict[str, Any]) -> None:
    """A fault whose deadman reverted it before the heal ended at its deadline, not at the heal."""
    if any(e.step == "expired" for e in fault.events):
        window["expired"] = True
        window["end"] = min(float(window["end"]), record.deadline)


class Run:
    """Probes, faults and verdicts of one experiment, against one inventory."""

    def __init__(
        self,
        inventory: Inventory | Path,
        *,
        title: str = "run",
        interval: float = 0.1,
        journal_dir: Path | None = None,
        ledger: Ledger | None = None,
        objectives: dict[str, Any] | None = None,
    ) -> None:
        self.inventory = load_inventory(inventory) if isinstance(inventory, Path) else inventory
        self.title = title
        self.interval = interval
        self.id = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(title)}-{uuid.uuid4().hex[:6]}"
        self.journal_dir = (journal_dir or default_journal_dir()) / self.id
        self.ledger = ledger or Ledger()
        self.objective_overrides = dict(objectives or {})
        self.started = time.time()
        self.samplers: dict[str, Recorder] = {}
        self.read_backs: dict[str, ReadBack] = {}
        self.faults: list[tuple[Fault, FaultRecord]] = []
        self.windows: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.checks: list[slo.Verdict] = []
        self.verdicts: list[slo.Verdict] = []
        self.not_asked: dict[str, Any] | None = None  # objectives dropped for want of monitoring, and why
        self.lost: dict[str, list[str]] = {}
        self.healed_at: float | None = None  # when the last revert ended
        self.revert_started: float | None = None  # when the last heal's revert began: recovery is timed from it
        # the longest recovery window the objectives ask (availability is judged to it): probes sample to its end
        self.recovery_window_s = DEFAULT_RECOVERY_WINDOW_S
        self.method_started = False  # set once the experiment's method (or any probe or fault) began
        self.failed_activities: list[str] = []  # method activities that failed (from the Chaos Toolkit control)
        self.alerts: AlertWatcher | None = None  # polls the inventory's monitoring from the first step on
        self.guards: GuardWatch | None = None
        self.stopped_by: dict[str, Any] | None = None  # the guard that tripped, when and why
        self._faults_lock = threading.RLock()  # a guard heals from its own thread
        self._stack = ExitStack()
        self._closed = False

    # -- record ------------------------------------------------------------------------------------
    def event(self, kind: str, text: str, **data: Any) -> None:
        self.events.append({"at": time.time(), "kind": kind, "text": text, **data})

    def check(self, verdict: slo.Verdict) -> slo.Verdict:
        """Keep a verdict measured by a check (new leader elected, member caught up...)."""
        self.checks.append(verdict)
        self.event("check", verdict.detail, ok=verdict.ok, name=verdict.name)
        return verdict

    def watch_alerts(self) -> None:
        """Start polling the platform's alerts (when its inventory names its monitoring), once.

        Started before the first probe or fault, so an alert already firing before the fault is seen
        as such and never counted as a detection.
        """
        if self.alerts is None and self.inventory.monitoring is not None:
            self.alerts = AlertWatcher(self.inventory.monitoring).start()
            self.event("alerts", f"watching the alerts of {self.alerts.source} every {self.alerts.interval:g} s")

    def prometheus(self) -> PrometheusClient | None:
        return PrometheusClient(self.inventory.monitoring.prometheus) if self.inventory.monitoring else None

    def arm_guards(self, guards: list[dict[str, Any]]) -> GuardWatch:
        """Watch ``guards`` (see :mod:`hadrill.probes.guards`) until the run closes; one trip stops it.

        A trip reverts the faults held by the run (:meth:`inject`, what every Chaos Toolkit action uses);
        a ``with run.fault(...)`` block reverts its own fault when the block ends.
        """
        try:
            parsed = parse_guards(guards)
        except ValueError as e:
            field, _, expected = str(e).partition(": ")
            raise ConfigError("experiment", field, expected) from None
        if self.guards is not None:
            raise ConfigError("experiment", "guards", "one arm_guards step per experiment")
        self.watch_alerts()
        wants_monitoring = any(g.promql or g.alert for g in parsed)
        if wants_monitoring and self.inventory.monitoring is None:
            raise ConfigError("inventory", "monitoring", "the platform's Prometheus URL (a guard reads it)")
        alerts = self.alerts

        def firing() -> frozenset[str] | None:
            obs = alerts.observations() if alerts is not None else []
            return obs[-1].firing if obs else None

        def probe_ratio(name: str) -> tuple[float, int] | None:
            if name not in self.samplers:
                return None
            samples = [s for s in self.samplers[name].history.samples() if s.start >= armed]
            return (sum(s.ok for s in samples) / len(samples), len(samples)) if samples else None

        armed = time.time()
        self.guards = GuardWatch(
            parsed, prometheus=self.prometheus(), firing=firing, probe_ratio=probe_ratio, on_trip=self._tripped
        ).start()
        self.event("guard", "guards armed: " + "; ".join(f"{g.name} ({g.describe()})" for g in parsed))
        return self.guards

    def _tripped(self, guard: Guard, why: str) -> None:
        """Stop the run: record it, then revert every fault at once (from the guard's thread)."""
        at = time.time()
        self.stopped_by = {"guard": guard.name, "at": at, "why": why}
        self.event("guard", f"stopped by guard {guard.name}: {why}; reverting every fault", ok=False)
        self.heal()

    def _check_not_stopped(self) -> None:
        check_not_stopped()
        if self.stopped_by is not None:
            raise StoppedByGuard(f"stopped by guard {self.stopped_by['guard']}: {self.stopped_by['why']}")

    # -- probes ------------------------------------------------------------------------------------
    def start_probe(
        self, probe: Probe, *, timeout: float = 1.0, read_back: ReadBack | None = None, interval: float | None = None
    ) -> Sampler:
        """Sample ``probe`` in the background (every ``interval``, default the run's); ``read_back`` makes it
        a write probe (see :meth:`add_probe`)."""
        self._check_not_stopped()  # hadrill stop or a guard: the experiment aborts at its next step
        if probe.name in self.samplers:
            raise ConfigError("experiment", "probes", f"one probe named {probe.name!r}")
        self.method_started = True
        self.watch_alerts()
        sampler = Sampler(probe, interval=interval or self.interval, timeout=timeout).start()
        self.samplers[probe.name] = sampler
        if read_back is not None:
            self.read_backs[probe.name] = read_back
        self.event("probe", f"probe {probe.name} started (every {(interval or self.interval) * 1000:.0f} ms)")
        return sampler

    def add_probe(self, name: str, recorder: Recorder, *, read_back: ReadBack | None = None) -> Recorder:
        """Keep a probe started elsewhere (a remote probe running on a client node).

        ``read_back`` makes it a write probe: :meth:`verify_writes` hands it the details of the
        acknowledged samples and counts the keys it does not return as lost.
        """
        self._check_not_stopped()
        if name in self.samplers:
            raise ConfigError("experiment", "probes", f"one probe named {name!r}")
        self.method_started = True
        self.watch_alerts()
        self.samplers[name] = recorder
        if read_back is not None:
            self.read_backs[name] = read_back
        self.event("probe", f"probe {name} started")
        return recorder

    def start_etcd_probes(self, cluster: str = "etcd", probes: tuple[str, ...] = ("write", "read")) -> None:
        c = self.inventory.cluster(cluster)
        endpoints = [m.endpoints["client"] for m in c.members]
        prefix = f"/hadrill/probe/{self.id}"
        for kind in probes:
            if kind == "write":
                w = EtcdWriteProbe(endpoints, prefix=prefix, tls=c.tls)
                self.start_probe(w, read_back=_read_back_of(w))
            elif kind == "read":
                r = EtcdReadProbe(endpoints, key=f"{prefix}-read", tls=c.tls)
                r.prepare()
                self.start_probe(r)
            else:
                raise ConfigError("experiment", "probes", "write or read", kind)

    def stop_probes(self, settle: float = 0.0, until_answered_s: float = 0.0) -> None:
        """Let the service settle (probes still sampling), then stop them; probe bugs re-raise here.

        Once every fault is reverted, a probe whose last sample failed keeps sampling up to
        ``until_answered_s`` more, so an outage that began near the end is measured to its end rather
        than cut off; one still open after that (or while a fault is still on) fails the run."""
        if settle > 0 and any(s.running for s in self.samplers.values()):
            time.sleep(settle)
        self._sample_recovery_window()
        healed = self.healed_at is not None and all("end" in w for w in self.windows)
        running = {name for name, sampler in self.samplers.items() if sampler.running}
        if healed and until_answered_s > 0:
            self._sample_until_answered(until_answered_s)  # may end a sampler's scheduling: stopped below
        for name, sampler in self.samplers.items():
            if name in running:
                sampler.stop()
                self.event("probe", f"probe {name} stopped ({len(sampler.history)} samples)")

    def _sample_recovery_window(self) -> None:
        """Keep sampling to the end of the recovery window (``recovery_window_s`` after the revert
        started): availability is judged over it, and a window not sampled to its end is not measured."""
        if self.revert_started is None or not any(s.running for s in self.samplers.values()):
            return
        left = self.revert_started + self.recovery_window_s - time.time()
        if left > 0:
            self.event("probe", f"sampling {left:.1f} s more: to {self.recovery_window_s:g} s after the revert started")
            time.sleep(min(left, MAX_RECOVERY_WINDOW_S))

    def _sample_until_answered(self, bound_s: float) -> None:
        """Keep the probes whose last sample was not good running until each answers well once, within
        ``bound_s``. Good is the judge's default: succeeded within the probe's latency threshold (a slow
        answer is an outage to the judge, so it must not be the last thing sampled either)."""

        def failing() -> list[str]:
            out = []
            for name, recorder in self.samplers.items():
                refresh = getattr(recorder, "refresh", None)  # a remote probe's history is read on demand
                samples = (refresh() if recorder.running and refresh else recorder.history).samples()
                if recorder.running and samples and not slo.good(samples[-1], recorder.history.threshold):
                    out.append(name)
            return out

        names = failing()
        started = time.monotonic()
        if names:
            self.event("probe", f"last sample failed on {', '.join(names)}: sampling up to {bound_s:.0f} s more")
            while names and time.monotonic() - started < bound_s:
                time.sleep(0.5)
                names = failing()
        # A call still in flight now would complete after the good sample seen, and a slow one would end
        # the history as an open outage: a sampler stops only on a tick with none in flight and a good end.
        for name, recorder in self.samplers.items():
            settle = getattr(recorder, "stop_when_good", None)
            if recorder.running and settle is not None and not settle(max(1.0, bound_s - (time.monotonic() - started))):
                names = sorted({*names, name})
        if not names and time.monotonic() - started < 0.5:
            return  # nothing was waited for
        took = time.monotonic() - started
        if names:
            self.event("probe", f"still failing after {took:.1f} s: {', '.join(names)}")
        else:
            self.event("probe", f"every probe answered again {took:.1f} s later")

    def verify_writes(self) -> dict[str, list[str]]:
        """Read every acknowledged write back (after healing): the measured RPO."""
        for name, read_back in self.read_backs.items():
            details = [s.detail for s in self.samplers[name].history.oks() if s.detail]
            acked = [str(d["key"]) for d in details]
            self.lost[name] = slo.acked_writes_lost(acked, read_back(details))
            self.event("verify", f"{name}: {len(acked)} acknowledged, {len(self.lost[name])} lost")
        return self.lost

    # -- faults ------------------------------------------------------------------------------------
    def _window(self, fault: Fault, record: FaultRecord) -> dict[str, Any]:
        """The fault's window opens at its injection event (before the proof of effect), not after."""
        start = next((e.at for e in fault.events if e.fault == record.id and e.step == "inject"), time.time())
        return {"fault": record.id, "description": record.description, "start": start}

    def _close_window(self, fault: Fault, window: dict[str, Any], now: float) -> None:
        """Record when the revert started and ended (from the fault's own events)."""
        steps = {e.step: e.at for e in fault.events if e.fault == window["fault"]}
        window.setdefault("revert_start", steps.get("revert_start", now))
        window.setdefault("end", steps.get("revert", steps.get("revert_failed", now)))

    def inject(self, fault: Fault) -> FaultRecord:
        """Inject and keep the fault until :meth:`heal` (or :meth:`close`) reverts it."""
        self.method_started = True
        self._check_not_stopped()
        self.watch_alerts()
        with self._faults_lock:
            record = self._stack.enter_context(injected(fault, ledger=self.ledger))
            self.faults.append((fault, record))
            self.windows.append(self._window(fault, record))
        return record

    @contextmanager
    def fault(self, fault: Fault) -> Iterator[FaultRecord]:
        """Inject ``fault`` for the block only; it is reverted when the block ends, however it ends."""
        self.method_started = True
        self.watch_alerts()
        window: dict[str, Any] | None = None
        try:
            with injected(fault, ledger=self.ledger) as record:
                window = self._window(fault, record)
                self.faults.append((fault, record))
                self.windows.append(window)
                yield record
        finally:
            if window is not None:
                self._close_window(fault, window, time.time())
                _mark_expired(fault, record, window)
                self.revert_started, self.healed_at = float(window["revert_start"]), float(window["end"])

    def heal(self) -> None:
        """Revert every open fault (last injected first)."""
        with self._faults_lock:
            self._heal()

    def _heal(self) -> None:
        if not any("end" not in w for w in self.windows):
            return
        try:
            self._stack.close()
        finally:
            now = time.time()
            by_id = {r.id: (f, r) for f, r in self.faults}
            closing = [w for w in self.windows if "end" not in w]
            for w in closing:
                fault, record = by_id[w["fault"]]
                self._close_window(fault, w, now)
                _mark_expired(fault, record, w)
            if closing:
                self.revert_started = max(float(w["revert_start"]) for w in closing)
                self.healed_at = max(float(w["end"]) for w in closing)
            self._stack = ExitStack()

    # -- verdicts ----------------------------------------------------------------------------------
    def evaluate(self, objectives: dict[str, Any]) -> list[slo.Verdict]:
        """A verdict for every objective asked for (overrides win) on every probe, plus the checks'.

        An objective that cannot be measured gets a failing "not measured" verdict saying why (no
        probe ran, no fault was injected or reverted, no write probe): it is never dropped. Only the
        objectives under ``with_monitoring`` on an inventory without monitoring are not asked: the
        journal names them under ``not_asked`` with the reason, and no verdict stands for them.
        """
        wanted = apply_overrides(objectives, self.objective_overrides)
        unknown = set(wanted) - OBJECTIVE_KEYS
        if unknown:
            raise ConfigError("experiment", "objectives", f"keys among {sorted(OBJECTIVE_KEYS)}", sorted(unknown))
        try:
            wanted, dropped = split_monitored(wanted, self.inventory.monitoring is not None)
        except ValueError as e:
            field, _, expected = str(e).partition(": ")
            raise ConfigError("experiment", f"objectives.{field}", expected) from None
        self.not_asked = {"objectives": dropped, "why": NO_MONITORING} if dropped else None
        if dropped:
            self.event("objectives", f"not asked: {', '.join(dropped)} ({NO_MONITORING})")
        per_probe = _per_probe(wanted.pop("probes", None))
        asked = {k: v for k, v in wanted.items() if k in _UNITS}
        out: list[slo.Verdict] = []
        if not self.samplers:
            why = "no probe ran (starting the probes failed, or the experiment starts none)"
            out = [slo.not_measured(_NAMES[k], float(v), _UNITS[k], why) for k, v in asked.items()]
        for name in sorted(set(per_probe) - set(self.samplers)):  # a probe named for objectives must have run
            why = f"no probe named {name} ran (probes that ran: {', '.join(sorted(self.samplers)) or 'none'})"
            out += [
                slo.not_measured(f"{name} {_NAMES[k]}", float(v), _UNITS[k], why)
                for k, v in per_probe[name].items()
                if k in _UNITS
            ]
        fault_start = min((float(w["start"]) for w in self.windows), default=None)
        for name, sampler in self.samplers.items():
            mine = {**wanted, **per_probe.get(name, {})}  # this probe's own objectives win
            asked = {k: v for k, v in mine.items() if k in _UNITS and k != "acked_writes_lost"}
            recovery_s = float(mine.get("recovery_window_s", DEFAULT_RECOVERY_WINDOW_S))
            history = sampler.history
            samples = history.samples()
            if "latency_threshold_s" in mine:  # declared: kept in the history, so the charts judge alike
                history.threshold = float(mine["latency_threshold_s"])
            threshold = getattr(history, "threshold", None)
            found: list[slo.Verdict] = []
            if "max_outage_s" in asked:
                objective = float(asked["max_outage_s"])
                every = max(self.interval, history.interval or 0.0)  # a PromQL probe samples slower than the run
                found.append(slo.check_max_outage(samples, objective, interval=every, threshold=threshold))
            if "availability" in asked:
                found.append(self._availability(samples, float(asked["availability"]), recovery_s, threshold))
            if "steady_state_s" in asked:
                objective = float(asked["steady_state_s"])
                if self.revert_started is None:
                    why = "no fault was reverted, so there is no recovery to time"
                    found.append(slo.not_measured("steady_state", objective, "s", why))
                else:
                    found.append(slo.check_steady_state(samples, self.revert_started, objective, threshold=threshold))
            out += [dataclasses.replace(v, name=f"{name} {v.name}") for v in found]
        if "acked_writes_lost" in wanted and self.samplers:
            out += self._writes_lost(int(wanted["acked_writes_lost"]), fault_start)
        out += judge_alerts(self.alerts, self.inventory.monitoring, wanted, fault_start, self.healed_at)
        try:
            out += judge_promql(self.prometheus(), wanted, fault_start, self.healed_at)
        except ValueError as e:
            field, _, expected = str(e).partition(": ")
            raise ConfigError("experiment", f"objectives.{field}", expected) from None
        self.verdicts = out + self.checks
        return self.verdicts

    def _availability(
        self, samples: list[Any], objective: float, recovery_s: float, threshold: float | None
    ) -> slo.Verdict:
        """Availability from the first injection to ``recovery_s`` after the last revert started."""
        if not self.windows:  # a fault from another extension (a chaosk8s drain): its probes bracket it
            where = "over the whole sampling (no fault was injected through hadrill: no fault window)"
            return slo.check_availability(samples, objective, threshold=threshold, window_name=where)
        start = min(float(w["start"]) for w in self.windows)
        last = max((s.start for s in samples), default=start)
        if self.revert_started is None:
            end = last + 1e-9
            where = "from the injection to the end of sampling (the fault was never reverted)"
        else:
            end = self.revert_started + recovery_s
            where = f"from the injection to {recovery_s:g} s after the revert started"
            if last < end - WINDOW_TAIL_S:  # what was not sampled may hold an outage: no figure for it
                why = (
                    f"the probe stopped {last - self.revert_started:.1f} s after the revert started, before the end of "
                    f"its {recovery_s:g} s recovery window (availability is judged to it): sample to its end"
                )
                return slo.not_measured("availability", objective, "ratio", why)
        return slo.check_availability(samples, objective, window=(start, end), threshold=threshold, window_name=where)

    def _writes_lost(self, objective: int, fault_start: float | None) -> list[slo.Verdict]:
        """The RPO of every write probe; "not measured" without one, a fault, a heal or acks on both sides."""
        writers = [n for n in self.samplers if n in self.read_backs]
        if not writers:
            return [slo.not_measured("acked_writes_lost", objective, "writes", "no write probe ran")]
        out = []
        for name in writers:
            if fault_start is None or self.healed_at is None:
                why = "no fault was injected" if fault_start is None else "the fault was never reverted"
                out.append(slo.not_measured(f"{name} acked_writes_lost", objective, "writes", why))
                continue
            if name not in self.lost:
                self.verify_writes()
            before, after = slo.writes_around(self.samplers[name].history.oks(), fault_start, self.healed_at)
            verdict = slo.check_acked_writes_lost(self.lost[name], objective, acked_before=before, acked_after=after)
            out.append(dataclasses.replace(verdict, name=f"{name} {verdict.name}"))
        return out

    def assert_objectives(self, **objectives: Any) -> list[slo.Verdict]:
        """Evaluate and fail the test (one assertion listing every miss) if any objective is missed."""
        __tracebackhide__ = True
        verdicts = self.evaluate(objectives)
        slo.assert_verdicts(verdicts)
        return verdicts

    # -- end ---------------------------------------------------------------------------------------
    def close(self) -> None:
        """Heal and stop everything; safe to call twice (rollbacks, then the control)."""
        if self._closed:
            return
        try:
            if self.guards is not None:
                self.guards.stop()
            self.heal()
        finally:
            self.stop_probes()
            if self.alerts is not None and self.alerts.running:
                self.alerts.stop()
            self._closed = True

    def timeline(self) -> list[dict[str, Any]]:
        """The run's events and its faults' steps, in time order."""
        steps = [
            {"at": e.at, "kind": "fault", "text": f"{e.step}: {e.detail or e.kind}", "fault": e.fault}
            for f, _ in self.faults
            for e in f.events
        ]
        return sorted(self.events + steps, key=lambda e: float(e["at"]))

    def to_journal(self) -> dict[str, Any]:
        return {
            "run": self.id,
            "title": self.title,
            "platform": self.inventory.platform,
            "inventory": self.inventory.model_dump(mode="json"),
            "interval": self.interval,
            "started": self.started,
            "faults": [{**r.to_dict(), **w} for (_, r), w in zip(self.faults, self.windows, strict=True)],
            "events": self.timeline(),
            "histories": {n: s.history.to_dict() for n, s in self.samplers.items()},
            "lost": self.lost,
            "alerts": {
                "source": self.alerts.source,
                "observations": [o.to_dict() for o in self.alerts.observations()],
            }
            if self.alerts is not None
            else None,
            "verdicts": [v.to_dict() for v in self.verdicts],
            "not_asked": self.not_asked,
            "failed_activities": list(self.failed_activities),
            "stopped_by": self.stopped_by,
            "ok": bool(self.verdicts) and all(v.ok for v in self.verdicts) and not self.failed_activities,
        }

    def write(self, extra: dict[str, Any] | None = None) -> Path:
        """Write the journal (hadrill's part, under ``hadrill``, beside Chaos Toolkit's)."""
        data = dict(extra or {})
        data["hadrill"] = self.to_journal()
        return write_journal(self.journal_dir / "journal.json", data)
