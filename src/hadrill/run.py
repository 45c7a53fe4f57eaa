"""One experiment run: its probes, its faults, its checks, its verdicts, and the journal they make.

The pytest fixtures and the Chaos Toolkit activities both drive a :class:`Run`, so a test written by
hand and an experiment file measure the same things the same way.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol

from hadrill import slo
from hadrill.errors import ConfigError
from hadrill.faults.base import Fault, injected
from hadrill.faults.ledger import FaultRecord, Ledger
from hadrill.faults.stop import check_not_stopped
from hadrill.inventory import Inventory, load_inventory
from hadrill.journal import default_journal_dir, write_journal
from hadrill.probes.etcd import EtcdReadProbe, EtcdWriteProbe
from hadrill.probes.sampler import History, Probe, Sampler

__all__ = ["OBJECTIVE_KEYS", "Run"]

OBJECTIVE_KEYS = {"max_outage_s", "availability", "acked_writes_lost", "steady_state_s"}


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
        self.lost: dict[str, list[str]] = {}
        self.healed_at: float | None = None
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

    # -- probes ------------------------------------------------------------------------------------
    def start_probe(self, probe: Probe, *, timeout: float = 1.0, read_back: ReadBack | None = None) -> Sampler:
        """Sample ``probe`` in the background; ``read_back`` makes it a write probe (see :meth:`add_probe`)."""
        check_not_stopped()  # hadrill stop: the experiment aborts at its next step
        if probe.name in self.samplers:
            raise ConfigError("experiment", "probes", f"one probe named {probe.name!r}")
        sampler = Sampler(probe, interval=self.interval, timeout=timeout).start()
        self.samplers[probe.name] = sampler
        if read_back is not None:
            self.read_backs[probe.name] = read_back
        self.event("probe", f"probe {probe.name} started (every {self.interval * 1000:.0f} ms)")
        return sampler

    def add_probe(self, name: str, recorder: Recorder, *, read_back: ReadBack | None = None) -> Recorder:
        """Keep a probe started elsewhere (a remote probe running on a client node).

        ``read_back`` makes it a write probe: :meth:`verify_writes` hands it the details of the
        acknowledged samples and counts the keys it does not return as lost.
        """
        check_not_stopped()
        if name in self.samplers:
            raise ConfigError("experiment", "probes", f"one probe named {name!r}")
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

    def stop_probes(self, settle: float = 0.0) -> None:
        """Let the service settle (probes still sampling), then stop them; probe bugs re-raise here."""
        if settle > 0 and any(s.running for s in self.samplers.values()):
            time.sleep(settle)
        for name, sampler in self.samplers.items():
            if sampler.running:
                sampler.stop()
                self.event("probe", f"probe {name} stopped ({len(sampler.history)} samples)")

    def verify_writes(self) -> dict[str, list[str]]:
        """Read every acknowledged write back (after healing): the measured RPO."""
        for name, read_back in self.read_backs.items():
            details = [s.detail for s in self.samplers[name].history.oks() if s.detail]
            acked = [str(d["key"]) for d in details]
            self.lost[name] = slo.acked_writes_lost(acked, read_back(details))
            self.event("verify", f"{name}: {len(acked)} acknowledged, {len(self.lost[name])} lost")
        return self.lost

    # -- faults ------------------------------------------------------------------------------------
    def inject(self, fault: Fault) -> FaultRecord:
        """Inject and keep the fault until :meth:`heal` (or :meth:`close`) reverts it."""
        record = self._stack.enter_context(injected(fault, ledger=self.ledger))
        self.faults.append((fault, record))
        self.windows.append({"fault": record.id, "description": record.description, "start": time.time()})
        return record

    @contextmanager
    def fault(self, fault: Fault) -> Iterator[FaultRecord]:
        """Inject ``fault`` for the block only; it is reverted when the block ends, however it ends."""
        with injected(fault, ledger=self.ledger) as record:
            window = {"fault": record.id, "description": record.description, "start": time.time()}
            self.faults.append((fault, record))
            self.windows.append(window)
            try:
                yield record
            finally:
                window["end"] = time.time()
        _mark_expired(fault, record, window)
        self.healed_at = time.time()

    def heal(self) -> None:
        """Revert every open fault (last injected first)."""
        if not any("end" not in w for w in self.windows):
            return
        try:
            self._stack.close()
        finally:
            self.healed_at = time.time()
            for (fault, record), w in zip(self.faults, self.windows, strict=True):
                if "end" not in w:
                    w["end"] = self.healed_at
                    _mark_expired(fault, record, w)
            self._stack = ExitStack()

    # -- verdicts ----------------------------------------------------------------------------------
    def evaluate(self, objectives: dict[str, Any]) -> list[slo.Verdict]:
        """Verdicts for the objectives (overrides win) over every probe, plus the checks' verdicts."""
        wanted = {**objectives, **self.objective_overrides}
        unknown = set(wanted) - OBJECTIVE_KEYS
        if unknown:
            raise ConfigError("experiment", "objectives", f"keys among {sorted(OBJECTIVE_KEYS)}", sorted(unknown))
        out: list[slo.Verdict] = []
        for name, sampler in self.samplers.items():
            samples = sampler.history.samples()
            found: list[slo.Verdict] = []
            if "max_outage_s" in wanted:
                found.append(slo.check_max_outage(samples, float(wanted["max_outage_s"]), interval=self.interval))
            if "availability" in wanted:
                found.append(slo.check_availability(samples, float(wanted["availability"])))
            if "steady_state_s" in wanted and self.healed_at is not None:
                found.append(slo.check_steady_state(samples, self.healed_at, float(wanted["steady_state_s"])))
            if "acked_writes_lost" in wanted and name in self.read_backs:
                if name not in self.lost:
                    self.verify_writes()
                found.append(slo.check_acked_writes_lost(self.lost[name], int(wanted["acked_writes_lost"])))
            out += [dataclasses.replace(v, name=f"{name} {v.name}") for v in found]
        self.verdicts = out + self.checks
        return self.verdicts

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
            self.heal()
        finally:
            self.stop_probes()
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
            "verdicts": [v.to_dict() for v in self.verdicts],
            "ok": all(v.ok for v in self.verdicts),
        }

    def write(self, extra: dict[str, Any] | None = None) -> Path:
        """Write the journal (hadrill's part, under ``hadrill``, beside Chaos Toolkit's)."""
        data = dict(extra or {})
        data["hadrill"] = self.to_journal()
        return write_journal(self.journal_dir / "journal.json", data)
