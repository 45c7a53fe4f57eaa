"""The exercise (PRA drill): run a plan's scenarios in order, record everything, write the report.

``run_drill`` runs each scenario with :func:`hadrill.experiment.run_experiment_file` (the plan's
objectives override the experiment's), keeps going when one fails (its failure is recorded), and
writes the report directory::

    OUT/index.html  report.md  report.json  junit.xml  SHA256SUMS
    OUT/preflight.json               with a target version: the pre-upgrade validation (hadrill.preflight)
    OUT/journals/drill.json          the drill's own journal: plan, environment, inventory, versions
    OUT/journals/RUN/journal.json    one journal per scenario (Chaos Toolkit's + hadrill's part)

The report is rendered from those journals only (``hadrill report --journal-dir OUT/journals``
renders it again). The environment (hadrill, Python, OS, Docker engine) and the component versions
(etcd: every member's own status; other clusters: version settings of the inventory) are captured
once, before the first scenario. With ``target_version`` the pre-upgrade validation
(:func:`hadrill.preflight.run_preflight`) runs after the scenarios against the inventory's ``kubernetes``
cluster; its result (or why it did not run) is ``OUT/preflight.json``, shown in the report.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import platform
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hadrill import __version__
from hadrill.clients.etcd import EtcdClient
from hadrill.errors import ConfigError, TargetError
from hadrill.experiment import run_experiment_file
from hadrill.inventory import Inventory, load_inventory
from hadrill.journal import load_journal, write_journal
from hadrill.plan import Plan
from hadrill.progress import Progress
from hadrill.report import render_report, scenario_status
from hadrill.report.model import DRILL_JOURNAL, PREFLIGHT_FILE

__all__ = ["DrillResult", "ScenarioOutcome", "capture_environment", "component_versions", "run_drill"]


@dataclass
class ScenarioOutcome:
    name: str
    experiment: str
    status: str = "error"  # passed, failed or error (the harness could not run it)
    journal: str | None = None  # relative to the journal directory
    error: str | None = None
    reasons: list[str] = field(default_factory=list)  # why it did not pass: the judge's (hadrill.judge)
    started: float = 0.0
    ended: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "passed"


@dataclass
class DrillResult:
    out_dir: Path
    index: Path
    scenarios: list[ScenarioOutcome] = field(default_factory=list)
    preflight: dict[str, Any] | None = None  # preflight.json's document, when a target version was given

    @property
    def preflight_ok(self) -> bool:
        """No pre-upgrade validation, a go, or not run (no kubernetes cluster); not a no-go or an error."""
        return self.preflight is None or self.preflight.get("decision") in ("go", "not run")

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.scenarios) and self.preflight_ok


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _docker_version() -> str:
    """The local engine's version (the lab's engine); a bounded call to the local socket only."""
    try:
        import docker
        from docker.errors import DockerException

        try:
            info = docker.from_env(timeout=10).version()
        except DockerException as e:
            return f"not available ({str(e)[:120]})"
    except ImportError:  # pragma: no cover - docker is a dependency
        return "not available (no docker module)"
    return (
        f"{info.get('Version', '?')} (API {info.get('ApiVersion', '?')}, {info.get('Os', '?')}/{info.get('Arch', '?')})"
    )


def capture_environment() -> dict[str, str]:
    """Where the exercise ran: versions of the harness, its runtime and the engine."""
    return {
        "hadrill": __version__,
        "chaostoolkit-lib": _package_version("chaostoolkit-lib"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": _os_name(),
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        "host": socket.gethostname(),
        "docker engine": _docker_version(),
    }


def component_versions(inventory: Inventory) -> dict[str, dict[str, Any]]:
    """Each cluster's component version: etcd from every member's status, others from the inventory."""
    out: dict[str, dict[str, Any]] = {}
    for c in inventory.clusters:
        if c.type == "etcd":
            members: dict[str, str] = {}
            for m in c.members:
                endpoint = m.endpoints.get("client")
                if not endpoint:
                    members[m.name] = "unknown (no client endpoint in the inventory)"
                    continue
                try:
                    members[m.name] = EtcdClient(endpoint, timeout=2.0, tls=c.tls).status().version
                except TargetError as e:
                    members[m.name] = f"unreachable ({str(e)[:120]})"
            found = sorted({v for v in members.values() if v and not v.startswith(("unreachable", "unknown"))})
            out[c.name] = {
                "type": c.type,
                "version": ", ".join(f"etcd {v}" for v in found) or "unknown",
                "source": "each member's status (maintenance/status)",
                "members": members,
            }
        else:
            settings = {k: str(v) for k, v in c.settings.items() if "version" in k.lower() or k.lower() == "image"}
            shown = settings.get("version") or "; ".join(f"{k} {v}" for k, v in settings.items())
            out[c.name] = {
                "type": c.type,
                "version": shown or "not recorded in the inventory",
                "source": "inventory settings",
                "members": {m.name: "" for m in c.members},
            }
    return out


def _claimed_journal(result_journal: Any, journal_dir: Path, claimed: set[str]) -> str | None:
    """The scenario's journal, relative to ``journal_dir``: the one it reports, else a new unclaimed one."""
    if isinstance(result_journal, str) and Path(result_journal).is_file():
        try:
            return str(Path(result_journal).resolve().relative_to(journal_dir.resolve()))
        except ValueError:
            pass
    fresh = sorted(str(p.relative_to(journal_dir)) for p in journal_dir.glob("*/journal.json"))
    new = [p for p in fresh if p not in claimed]
    return new[-1] if new else None


def _run_one(
    plan: Plan, index: int, journal_dir: Path, inventory: Path, interval: float, claimed: set[str],
    keep_snapshot: Path | None = None,
) -> ScenarioOutcome:  # fmt: skip
    scenario = plan.scenarios[index]
    path = plan.experiment_path(scenario)
    outcome = ScenarioOutcome(name=scenario.key, experiment=str(path), started=time.time())
    reported: Any = None
    try:
        result = run_experiment_file(
            path, inventory=inventory, journal_dir=journal_dir, interval=interval,
            objectives=scenario.objectives.overrides() or None, keep_snapshot=keep_snapshot,
        )  # fmt: skip
        reported = result.hadrill.get("journal")
    except Exception as e:  # one scenario failing must not stop the exercise: record it, go on
        tail = "".join(traceback.format_exception(e)[-3:])
        outcome.error = f"{type(e).__name__}: {e}\n{tail}"[-2000:]
    outcome.ended = time.time()
    outcome.journal = _claimed_journal(reported, journal_dir, claimed)
    if outcome.journal:
        claimed.add(outcome.journal)
    journal = None
    if outcome.journal:
        try:
            journal = load_journal(journal_dir / outcome.journal)
        except (OSError, ValueError) as e:  # a torn journal: the scenario could not be recorded
            outcome.error = (outcome.error or "") + f"journal {outcome.journal} unreadable: {e}"
            outcome.journal = None
    outcome.status, outcome.reasons = scenario_status(journal, outcome.error)
    return outcome


class _Ticker:
    """Keeps a terminal's progress line showing the time elapsed while a scenario runs (bounded thread)."""

    def __init__(self, progress: Progress, t0: float, limit_s: float = 6 * 3600) -> None:
        self.progress, self.t0, self.limit_s = progress, t0, limit_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="drill-ticker", daemon=True)

    def _tick(self) -> None:
        for _ in range(int(self.limit_s)):
            if self._done.wait(1.0):
                return
            self.progress.update(f"exercise elapsed {time.time() - self.t0:.0f} s")

    def __enter__(self) -> _Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)


class _ScenarioFailed(Exception):
    """Marks a failed scenario's (or a no-go preflight's) progress step with a cross; caught right away."""


PREFLIGHT_CLUSTER = "kubernetes"


def run_preflight_record(inventory: Inventory, target_version: str) -> dict[str, Any]:
    """The pre-upgrade validation's document for ``preflight.json``: ``PreflightResult.to_dict()``; or
    ``decision`` ``not run`` without a kubernetes cluster, ``error`` when it could not be run (with a note)."""
    base = {"format": "hadrill/preflight/v1", "target_version": target_version, "checks": [], "reasons": []}
    try:
        cluster = inventory.cluster(PREFLIGHT_CLUSTER)
    except ConfigError:
        return {**base, "decision": "not run", "note": "not run: no kubernetes cluster in the inventory"}
    from hadrill.preflight import run_preflight

    try:
        return run_preflight(inventory, target_version, cluster=cluster.name).to_dict()
    except Exception as e:  # an unreachable cluster must not lose the exercise's report: record it
        note = f"could not run: {type(e).__name__}: {e}"[:2000]
        return {**base, "decision": "error", "checked_at": time.time(), "note": note}


def run_drill(
    plan: Plan,
    inventory: Path,
    out_dir: Path,
    progress: Progress | None = None,
    *,
    interval: float = 0.1,
    target_version: str | None = None,
    keep_snapshot: Path | None = None,
) -> DrillResult:
    """Run the plan's scenarios in order against ``inventory``, then (with ``target_version``) the
    pre-upgrade validation, then write the report in ``out_dir``; the restore drill keeps its etcd
    snapshot in ``keep_snapshot`` when given (else deletes it)."""
    progress = progress or Progress(quiet=True)
    inv = load_inventory(inventory)
    journal_dir = out_dir / "journals"
    journal_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with progress.step("environment and component versions"):
        environment = capture_environment()
        versions = component_versions(inv)
    outcomes: list[ScenarioOutcome] = []
    claimed: set[str] = set()
    total = len(plan.scenarios)
    for i, scenario in enumerate(plan.scenarios):
        title = f"scenario {i + 1}/{total}: {scenario.key}"
        try:
            with progress.step(title), _Ticker(progress, t0):
                outcome = _run_one(plan, i, journal_dir, inventory, interval, claimed, keep_snapshot)
                outcomes.append(outcome)
                if not outcome.ok:
                    raise _ScenarioFailed
        except _ScenarioFailed:
            pass
        progress.info(
            f"  {outcome.status}: {scenario.key} in {outcome.ended - outcome.started:.1f} s"
            f" (exercise elapsed {time.time() - t0:.0f} s)"
        )
    drill = {
        "format": "hadrill/drill/v1",
        "title": plan.title,
        "platform": plan.platform,
        "date": (plan.date or dt.date.fromtimestamp(t0)).isoformat(),
        "coordinator": plan.coordinator,
        "participants": [p.model_dump() for p in plan.participants],
        "started": t0,
        "ended": time.time(),
        "interval": interval,
        "environment": environment,
        "inventory": inv.model_dump(mode="json"),
        "versions": versions,
        "scenarios": [
            {
                "name": o.name,
                "experiment": o.experiment,
                "description": s.description,
                "objectives": s.objectives.overrides(),
                "journal": o.journal,
                "status": o.status,
                "reasons": o.reasons,
                "error": o.error,
                "started": o.started,
                "ended": o.ended,
            }
            for o, s in zip(outcomes, plan.scenarios, strict=True)
        ],
        "not_run": [n.model_dump() for n in plan.not_run],
    }
    write_journal(journal_dir / DRILL_JOURNAL, {"drill": drill})
    preflight: dict[str, Any] | None = None
    if target_version is None:
        (out_dir / PREFLIGHT_FILE).unlink(missing_ok=True)  # a former run's, in a reused directory
    else:
        record: dict[str, Any] = {}
        try:
            with progress.step(f"pre-upgrade validation to Kubernetes {target_version}"):
                record = run_preflight_record(inv, target_version)
                (out_dir / PREFLIGHT_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
                if record.get("decision") in ("no-go", "error"):
                    raise _ScenarioFailed
        except _ScenarioFailed:
            pass
        preflight = record
        why = record.get("note") or "; ".join(str(r) for r in record.get("reasons") or [])
        progress.info(
            f"  preflight to {target_version}: {str(record.get('decision')).upper()}{f' ({why})' if why else ''}"
        )
    with progress.step("report"):
        index = render_report(journal_dir, out_dir)
    return DrillResult(out_dir=out_dir, index=index, scenarios=outcomes, preflight=preflight)
