"""What a report shows as evidence, from one journal: the event log, the activities Chaos Toolkit ran
(with their arguments and durations) and the fault records, every value redacted again through
:func:`hadrill.journal.redact` (a journal written elsewhere may not have been).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hadrill.journal import redact
from hadrill.judge import exception_summary, failed_probes

__all__ = ["activities", "clock", "events", "exception_summary", "failed_probes", "fault_records", "short_json"]

_PHASES = (
    ("steady state before", ("steady_states", "before", "probes")),
    ("method", ("run",)),
    ("steady state after", ("steady_states", "after", "probes")),
    ("rollbacks", ("rollbacks",)),
)


def clock(t: Any, *, date: bool = False) -> str:
    """``HH:MM:SS.mmm`` UTC of a wall-clock float (with the date when asked); ``?`` when it is not one."""
    if not isinstance(t, int | float) or isinstance(t, bool):
        return "?"
    try:
        moment = dt.datetime.fromtimestamp(float(t), dt.UTC)
    except (OverflowError, OSError, ValueError):
        return "?"
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f" if date else "%H:%M:%S.%f")[:-3]


def short_json(value: Any, limit: int = 400) -> str:
    """Compact, redacted JSON of a value, cut at ``limit`` characters."""
    text = json.dumps(redact(value), sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dig(journal: dict[str, Any], path: tuple[str, ...]) -> list[Any]:
    node: Any = journal
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, list) else []


def _iso_clock(text: Any) -> str:
    if not isinstance(text, str):
        return "?"
    try:
        return clock(dt.datetime.fromisoformat(text).timestamp())
    except ValueError:
        return "?"


def activities(journal: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every activity Chaos Toolkit ran, in order: phase, name, call, arguments, timing, status."""
    out: list[dict[str, Any]] = []
    for phase, path in _PHASES:
        for item in _dig(journal or {}, path):
            if not isinstance(item, dict):
                continue
            act: dict[str, Any] = item["activity"] if isinstance(item.get("activity"), dict) else {}
            provider: dict[str, Any] = act["provider"] if isinstance(act.get("provider"), dict) else {}
            call = ".".join(str(provider[k]) for k in ("module", "func") if provider.get(k))
            if provider.get("type") not in (None, "python"):
                call = f"{provider.get('type')}: {provider.get('path') or provider.get('url') or call}"
            duration = item.get("duration")
            status = str(item.get("status") or "?")
            if "tolerance_met" in item:
                status += ", tolerance met" if item["tolerance_met"] else ", tolerance NOT met"
            out.append(
                {
                    "phase": phase,
                    "type": str(act.get("type") or "?"),
                    "name": str(act.get("name") or "?"),
                    "call": call or "?",
                    "arguments": short_json(provider.get("arguments") or {}),
                    "start": _iso_clock(item.get("start")),
                    "duration": f"{duration:.3f} s" if isinstance(duration, int | float) else "?",
                    "status": status,
                    "failed": item.get("status") == "failed",
                    "output": short_json(item.get("output"), 200),
                    "error": exception_summary(item.get("exception")),
                }
            )
    return out


def events(hadrill: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's timeline: time (UTC and since the start), kind, text, and whether a check held."""
    started = hadrill.get("started")
    out = []
    for e in hadrill.get("events") or []:
        if not isinstance(e, dict):
            continue
        at = e.get("at")
        since = ""
        if isinstance(at, int | float) and isinstance(started, int | float):
            since = f"+{at - started:.2f} s"
        ok = e.get("ok")
        out.append(
            {
                "at": clock(at),
                "since": since,
                "kind": str(e.get("kind") or ""),
                "text": str(redact(e).get("text") or ""),
                "ok": ok if isinstance(ok, bool) else None,
            }
        )
    return out


def fault_records(hadrill: dict[str, Any]) -> list[dict[str, Any]]:
    """Each fault as recorded in the ledger, with its window; secrets redacted."""
    out = []
    for f in hadrill.get("faults") or []:
        if not isinstance(f, dict):
            continue
        clean = redact(f)
        out.append(
            {
                "id": str(clean.get("id") or "?"),
                "kind": str(clean.get("kind") or "?"),
                "target": str(clean.get("target") or "?"),
                "description": str(clean.get("description") or ""),
                "window": f"{clock(f.get('start'))} – {clock(f.get('end'))} UTC",
                "deadline": clock(f.get("deadline")),
                "params": short_json(clean.get("params") or {}, 600),
            }
        )
    return out
