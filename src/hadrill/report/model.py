"""The report's data, built from journals only: what ``report.json`` holds and every output shows.

A journal directory is either a drill's (``drill.json`` naming each scenario's ``RUN/journal.json``,
plus the plan's people, environment and component versions) or any directory of run journals
(``RUN/journal.json``, rendered in start order, without plan or environment).

A scenario's status is :func:`hadrill.judge.judge`'s: it *passes* when Chaos Toolkit completed it
without deviation, no activity failed, its hypothesis was evaluated, at least one objective was
measured and every verdict holds; it *fails* otherwise; it is an *error* when the harness could not
run it at all (no journal). Per objective the summary takes the worst probe:
longest outage (measured RTO), lowest availability, total acknowledged writes lost (measured RPO),
slowest return to steady state.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hadrill.config import load_json
from hadrill.errors import ConfigError
from hadrill.experiment import failure_report
from hadrill.journal import load_journal, redact
from hadrill.judge import judge

__all__ = [
    "FORMAT",
    "OBJECTIVES",
    "PREFLIGHT_FILE",
    "Loaded",
    "build_report",
    "iso",
    "load_journals",
    "load_preflight",
    "preflight_section",
    "scenario_status",
]

FORMAT = "hadrill/report/v1"
DRILL_JOURNAL = "drill.json"
PREFLIGHT_FILE = "preflight.json"  # in the report directory: ``hadrill preflight --json``'s document
_VERDICTS = {"go": "GO", "no-go": "NO-GO", "not run": "NOT RUN", "error": "ERROR"}

# objective key -> (verdict kind, label, how the worst probe is picked)
OBJECTIVES: dict[str, tuple[str, str, str]] = {
    "max_outage_s": ("max_outage", "RTO (longest outage)", "max"),
    "acked_writes_lost": ("acked_writes_lost", "RPO (acknowledged writes lost)", "sum"),
    "availability": ("availability", "Availability", "min"),
    "steady_state_s": ("steady_state", "Back to steady state", "max"),
    "alert_fires": ("time_to_detect", "Detected (time to detect)", "max"),  # the slowest expected alert
}
_KINDS = {kind: key for key, (kind, _, _) in OBJECTIVES.items()}

Loaded = tuple[dict[str, Any], list[tuple[dict[str, Any], dict[str, Any] | None]]]


def iso(t: Any) -> str | None:
    """A wall-clock float as ISO 8601 UTC (``2026-11-23T12:06:14.797Z``); None stays None."""
    if not isinstance(t, int | float) or isinstance(t, bool):
        return None
    try:
        moment = dt.datetime.fromtimestamp(float(t), dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seconds(value: Any) -> float | None:
    """A wall-clock float, from a float or an ISO 8601 string (Chaos Toolkit's times)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
    return None


def _read(path: Path) -> dict[str, Any]:
    data: Any = redact(load_journal(path))  # a journal written by another tool or version may hold secrets
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", "a JSON object (a journal)", type(data).__name__)
    for key in ("hadrill", "experiment", "steady_states"):
        if not isinstance(data.setdefault(key, {}), dict):
            raise ConfigError(str(path), key, "a mapping", type(data[key]).__name__)
    for key in ("run", "rollbacks"):
        if not isinstance(data.get(key) or [], list):
            raise ConfigError(str(path), key, "a list of activities", type(data[key]).__name__)
    return data


def load_journals(journal_dir: Path) -> Loaded:
    """The drill's record (or a stand-in) and, per scenario, its entry and its journal (None if missing)."""
    if not journal_dir.is_dir():
        raise ConfigError(str(journal_dir), "", "a directory of journals (drill.json, RUN/journal.json)")
    drill_path = journal_dir / DRILL_JOURNAL
    if drill_path.is_file():
        drill = _read(drill_path).get("drill")
        if not isinstance(drill, dict) or not isinstance(drill.get("scenarios"), list):
            raise ConfigError(str(drill_path), "drill.scenarios", "a list of scenarios")
        pairs: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for i, entry in enumerate(drill["scenarios"]):
            if not isinstance(entry, dict):
                raise ConfigError(str(drill_path), f"drill.scenarios[{i}]", "a mapping", entry)
            rel = entry.get("journal")
            path = journal_dir / str(rel) if rel else None
            pairs.append((entry, _read(path) if path is not None and path.is_file() else None))
        return drill, pairs
    paths = sorted(journal_dir.glob("*/journal.json"))
    if (journal_dir / "journal.json").is_file():
        paths.insert(0, journal_dir / "journal.json")
    if not paths:
        raise ConfigError(str(journal_dir), "", "drill.json or at least one RUN/journal.json")
    journals = sorted(((p, _read(p)) for p in paths), key=lambda pj: _seconds(pj[1]["hadrill"].get("started")) or 0)
    entries: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for path, journal in journals:
        title = journal["experiment"].get("title") or journal["hadrill"].get("title") or path.parent.name
        entries.append(({"name": str(title), "journal": str(path.relative_to(journal_dir))}, journal))
    first = entries[0][1] or {}
    stand_in = {
        "title": "Disaster-recovery exercise (from stored journals)",
        "platform": first.get("hadrill", {}).get("platform", "unknown"),
        "coordinator": "not recorded",
        "participants": [],
        "inventory": first.get("hadrill", {}).get("inventory"),
        "scenarios": [e for e, _ in entries],
    }
    return stand_in, entries


def scenario_status(journal: dict[str, Any] | None, error: str | None = None) -> tuple[str, list[str]]:
    """``passed``, ``failed`` or ``error``, and why: :func:`hadrill.judge.judge`'s judgement."""
    judgement = judge(journal, error)
    return judgement.status, judgement.reasons


def _summarise(verdicts: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """Per objective the worst probe's measurement; the other verdicts (checks) counted."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    checks = {"passed": 0, "total": 0}
    for v in verdicts:
        kind = str(v.get("name", "")).rsplit(" ", 1)[-1]
        if " " in str(v.get("name", "")) and kind in _KINDS:
            grouped.setdefault(_KINDS[kind], []).append(v)
        else:
            checks["total"] += 1
            checks["passed"] += bool(v.get("ok"))
    out: dict[str, dict[str, Any]] = {}
    for key, (_, label, how) in OBJECTIVES.items():
        found = grouped.get(key)
        if not found:
            continue
        nums = [float(v["measured"]) for v in found if isinstance(v.get("measured"), int | float)]
        measured: float | None = None
        if len(nums) == len(found):  # one unknown measurement makes the worst unknown
            measured = max(nums) if how == "max" else min(nums) if how == "min" else sum(nums)
        out[key] = {
            "label": label,
            "objective": found[0].get("objective"),
            "measured": measured,
            "unit": found[0].get("unit"),
            "ok": all(bool(v.get("ok")) for v in found),
            "probes": len(found),
        }
    return out, checks


def _not_asked(value: Any) -> dict[str, Any] | None:
    """The journal's objectives not asked (``with_monitoring`` without monitoring), or None."""
    if not isinstance(value, dict) or not isinstance(value.get("objectives"), list) or not value["objectives"]:
        return None
    return {"objectives": [str(k) for k in value["objectives"]], "why": str(value.get("why") or "")}


def _scenario(entry: dict[str, Any], journal: dict[str, Any] | None) -> dict[str, Any]:
    status, reasons = scenario_status(journal, entry.get("error"))
    j = journal or {}
    h = j.get("hadrill") or {}
    experiment = j.get("experiment") or {}
    verdicts = [
        {"name": str(v.get("name") or "?"), "objective": v.get("objective"), "measured": v.get("measured"),
         "unit": str(v.get("unit") or ""), "ok": bool(v.get("ok")), "detail": str(v.get("detail") or "")}
        for v in h.get("verdicts") or [] if isinstance(v, dict)
    ]  # fmt: skip
    measured, checks = _summarise(verdicts)
    started = _seconds(entry.get("started")) or _seconds(h.get("started")) or _seconds(j.get("start"))
    ended = _seconds(entry.get("ended")) or _seconds(j.get("end"))
    if journal is None:
        failure = entry.get("error") or "no journal was written"
    elif status != "passed":
        failure = failure_report(j, entry.get("error"))
    else:
        failure = ""
    return {
        "name": str(entry.get("name") or h.get("title") or "scenario"),
        "title": str(experiment.get("title") or h.get("title") or ""),
        "description": str(entry.get("description") or experiment.get("description") or "").strip(),
        "experiment": entry.get("experiment"),
        "journal": entry.get("journal"),
        "run": h.get("run"),
        "status": status,
        "ok": status == "passed",
        "reasons": reasons,
        "failure": failure,
        "started": iso(started),
        "ended": iso(ended),
        "duration_s": ended - started if ended is not None and started is not None else None,
        "objective_overrides": entry.get("objectives") or {},
        "not_asked": _not_asked(h.get("not_asked")),
        "not_asked_keys": (_not_asked(h.get("not_asked")) or {}).get("objectives", []),
        "measured": measured,
        "checks": checks,
        "verdicts": verdicts,
        "lost": {k: len(v) for k, v in (h.get("lost") or {}).items() if isinstance(v, list)},
        "faults": [
            {
                "id": f.get("id"),
                "kind": f.get("kind"),
                "description": f.get("description"),
                "target": f.get("target"),
                "start": iso(f.get("start")),
                "end": iso(f.get("end")),
            }
            for f in h.get("faults") or []
            if isinstance(f, dict)
        ],
    }


def load_preflight(path: Path) -> dict[str, Any]:
    """A stored ``preflight.json`` (a JSON object); ConfigError names the file."""
    data = load_json(path, "preflight result")
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", "a JSON object (hadrill preflight --json)", type(data).__name__)
    return data


def preflight_section(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """The report's pre-upgrade validation from a preflight document (``PreflightResult.to_dict``, or a
    record ``{"decision": "not run" | "error", "note": ...}``); None when there is none."""
    if data is None:
        return None
    decision = str(data.get("decision") or "error").lower()
    if decision not in _VERDICTS:
        decision = "error"
    checks = [
        {"name": str(c.get("name") or "?"), "ok": bool(c.get("ok")), "blocking": bool(c.get("blocking")),
         "summary": str(c.get("summary") or ""),
         "details": [str(d) for d in c.get("details") or [] if d is not None] if isinstance(c.get("details"), list)
         else []}
        for c in data.get("checks") or [] if isinstance(c, dict)
    ]  # fmt: skip
    if decision in ("go", "no-go"):  # the checks decide, as PreflightResult.go does
        decision = "no-go" if any(c["blocking"] and not c["ok"] for c in checks) else "go"
    reasons = [f"{c['name']}: {c['summary']}" for c in checks if c["blocking"] and not c["ok"]]
    warnings = [f"{c['name']}: {c['summary']}" for c in checks if not c["blocking"] and not c["ok"]]
    return {
        "target_version": str(data.get("target_version") or "?"),
        "current_version": str(data.get("current_version") or "unknown"),
        "checked_at": iso(data.get("checked_at")),
        "decision": decision,
        "verdict": _VERDICTS[decision],
        "ok": decision != "no-go" and decision != "error",
        "note": str(data.get("note") or ""),
        "reasons": reasons,
        "warnings": warnings,
        "checks": checks,
    }


def build_report(
    loaded: Loaded, generated: float | None = None, *, preflight: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``report.json`` document (JSON-serialisable; the source for ``hadrill compare``); ``preflight``:
    the stored preflight document, shown as the pre-upgrade validation (key ``preflight``, null without)."""
    drill, pairs = loaded
    scenarios = [_scenario(entry, journal) for entry, journal in pairs]
    counts = {s: sum(1 for x in scenarios if x["status"] == s) for s in ("passed", "failed", "error")}
    starts = [t for t in (_seconds(s["started"]) for s in scenarios) if t is not None]
    ends = [t for t in (_seconds(s["ended"]) for s in scenarios) if t is not None]
    started = _seconds(drill.get("started")) or min(starts, default=None)
    ended = _seconds(drill.get("ended")) or max(ends, default=None)
    date = drill.get("date") or (iso(started) or iso(generated) or "")[:10]
    return {
        "format": FORMAT,
        "generated": iso(generated),
        "title": str(drill.get("title") or "Disaster-recovery exercise"),
        "platform": str(drill.get("platform") or "unknown"),
        "date": str(date),
        "coordinator": str(drill.get("coordinator") or "not recorded"),
        "participants": [
            {"name": str(p.get("name", "")), "role": str(p.get("role", ""))}
            for p in drill.get("participants") or []
            if isinstance(p, dict)
        ],
        "started": iso(started),
        "ended": iso(ended),
        "ok": bool(scenarios) and all(s["ok"] for s in scenarios),
        "counts": counts,
        "environment": drill.get("environment") or {},
        "versions": drill.get("versions") or {},
        "inventory": drill.get("inventory") or {},
        "scenarios": scenarios,
        "not_run": [
            {"experiment": str(n.get("experiment", "?")), "reason": str(n.get("reason", ""))}
            for n in drill.get("not_run") or []
            if isinstance(n, dict)
        ],
        "preflight": preflight_section(preflight),
    }
