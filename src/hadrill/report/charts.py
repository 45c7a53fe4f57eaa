"""Inline SVG timeline charts: probe success over time, the fault windows shaded, recovery marked.

One lane per probe; each time bucket is a stacked bar, green for the share of ok samples and red
for the failed ones (samples counted by start time), grey when the probe did not sample. Each fault
window (from the start of its injection to its revert) is shaded across every lane. *Recovery* is
the first steady acknowledgement after the heal: the end of the first of 5 consecutive ok samples
started after the last fault ended (the latest over probes, as
:func:`hadrill.slo.time_to_steady_state` measures it). No script, no external resource; every piece
of text is escaped.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from markupsafe import Markup, escape

from hadrill.slo import Sample, time_to_steady_state

__all__ = ["recovery", "timeline_svg"]

WIDTH = 960
LEFT, RIGHT, TOP = 130, 20, 40
LANE, GAP = 30, 10
OK, FAILED, NONE, FAULT, RECOVERY = "#2e9e5b", "#d64541", "#e4e6ea", "#f4b400", "#1f4fa3"
_BUCKETS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
_TICKS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)


def _samples(history: Any) -> list[Sample]:
    out = []
    for item in (history or {}).get("samples") or [] if isinstance(history, dict) else []:
        try:
            s = Sample(start=float(item["start"]), end=float(item["end"]), ok=bool(item["ok"]))
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(s.start) and math.isfinite(s.end):
            out.append(s)
    return sorted(out, key=lambda s: (s.start, s.end))


def _windows(hadrill: dict[str, Any]) -> list[tuple[float, float | None, str]]:
    """Each fault's window: from the start of its injection (its ``inject`` event) to its revert."""
    injected: dict[str, float] = {}
    for e in hadrill.get("events") or []:
        if not isinstance(e, dict) or e.get("kind") != "fault" or e.get("fault") is None:
            continue
        if str(e.get("text", "")).startswith("inject") and isinstance(e.get("at"), int | float):
            injected.setdefault(str(e["fault"]), float(e["at"]))
    out = []
    for f in hadrill.get("faults") or []:
        if isinstance(f, dict) and isinstance(f.get("start"), int | float):
            start = min(float(f["start"]), injected.get(str(f.get("id", f.get("fault"))), math.inf))
            end = f.get("end") if isinstance(f.get("end"), int | float) else None
            out.append((start, float(end) if end is not None else None, str(f.get("description") or "")))
    return out


def _revert_starts(hadrill: dict[str, Any]) -> list[float]:
    """When each revert started (``revert_start``; older journals: the window's end): recovery's zero."""
    out = []
    for f in hadrill.get("faults") or []:
        if isinstance(f, dict):
            at = f.get("revert_start", f.get("end"))
            if isinstance(at, int | float):
                out.append(float(at))
    return out


def recovery(hadrill: dict[str, Any]) -> float | None:
    """Wall-clock time of the first steady good sample after the last revert started (latest over probes),
    measured as the steady-state verdict measures it (same instant, same threshold)."""
    starts = _revert_starts(hadrill)
    if not starts:
        return None
    healed = max(starts)
    found = []
    for history in (hadrill.get("histories") or {}).values():
        samples = _samples(history)
        threshold = history.get("threshold") if isinstance(history, dict) else None
        delay = time_to_steady_state(samples, healed, threshold=threshold)
        if delay is None:
            return None  # a probe never recovered: no recovery to mark
        first = next(s for s in samples if s.start >= healed + delay - 1e-9)
        found.append(first.end)
    return max(found) if found else None


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%H:%M:%S")


def _fmt(seconds: float) -> str:
    return f"{seconds:g} s"


def timeline_svg(hadrill: dict[str, Any], *, label: str = "timeline") -> Markup:
    """The scenario's chart as an inline ``<svg>`` element (see the module docstring)."""
    histories = {str(k): _samples(v) for k, v in (hadrill.get("histories") or {}).items()}
    histories = {k: v for k, v in histories.items() if v}
    windows = _windows(hadrill)
    lanes = max(len(histories), 1)
    plot_h = lanes * (LANE + GAP) - GAP
    height = TOP + plot_h + 76
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>'
    )
    if not histories:
        head = head.replace(f'viewBox="0 0 {WIDTH} {height}"', f'viewBox="0 0 {WIDTH} 50"')
        text = '<text x="20" y="30" class="lane">no probe samples were recorded</text>'
        return Markup(f"{head}{text}</svg>")
    every = [s for v in histories.values() for s in v]
    t0 = min([s.start for s in every] + [w[0] for w in windows])
    t1 = max([s.end for s in every] + [w[1] for w in windows if w[1] is not None])
    span = max(t1 - t0, 1.0)
    plot_w = WIDTH - LEFT - RIGHT

    def x(t: float) -> float:
        return round(LEFT + (t - t0) / span * plot_w, 2)

    parts = [head, f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafbfc" stroke="#c9ccd1"/>']
    bucket = next((b for b in _BUCKETS if span / b <= 240), _BUCKETS[-1])
    n_buckets = math.ceil(span / bucket)
    bar_w = plot_w / n_buckets
    for lane, (name, samples) in enumerate(histories.items()):
        y0 = TOP + lane * (LANE + GAP)
        parts.append(
            f'<text x="{LEFT - 8}" y="{y0 + LANE / 2 + 4}" text-anchor="end" class="lane">{escape(name)}</text>'
        )
        counts = [[0, 0] for _ in range(n_buckets)]
        for s in samples:
            i = min(int((s.start - t0) / bucket), n_buckets - 1)
            counts[i][0 if s.ok else 1] += 1
        for i, (oks, fails) in enumerate(counts):
            bx = round(LEFT + i * bar_w, 2)
            w = round(max(bar_w - 0.6, 0.6), 2)
            when = f"{_clock(t0 + i * bucket)}+{bucket:g} s"
            if oks + fails == 0:
                parts.append(f'<rect x="{bx}" y="{y0}" width="{w}" height="{LANE}" fill="{NONE}"/>')
                continue
            ok_h = round(LANE * oks / (oks + fails), 2)
            bar_tip = escape(f"{name} {when}: {oks}/{oks + fails} samples ok")
            parts.append(f"<g><title>{bar_tip}</title>")
            if fails:
                parts.append(f'<rect x="{bx}" y="{y0}" width="{w}" height="{round(LANE - ok_h, 2)}" fill="{FAILED}"/>')
            if oks:
                parts.append(
                    f'<rect x="{bx}" y="{round(y0 + LANE - ok_h, 2)}" width="{w}" height="{ok_h}" fill="{OK}"/>'
                )
            parts.append("</g>")
    for start, end, description in windows:  # fault windows, over the bars
        stop = end if end is not None else t1
        tip = f"fault: {description} ({_clock(start)}–{_clock(stop)} UTC{'' if end is not None else ', never healed'})"
        parts.append(
            f'<rect class="fault" x="{x(start)}" y="{TOP - 14}" width="{max(x(stop) - x(start), 1)}" '
            f'height="{plot_h + 14}" fill="{FAULT}" fill-opacity="0.2" stroke="#b07d00" stroke-width="1.5" '
            f'stroke-dasharray="5 3">'
            f"<title>{escape(tip)}</title></rect>"
        )
        short = description if len(description) <= 60 else description[:57] + "…"
        parts.append(f'<text x="{x(start) + 4}" y="{TOP - 4}" class="small">fault: {escape(short)}</text>')
    rec = recovery(hadrill)
    if rec is not None:
        healed = max(_revert_starts(hadrill))
        tip = f"recovered: first steady good sample {rec - healed:.2f} s after the revert started ({_clock(rec)} UTC)"
        parts.append(
            f'<line class="recovery" x1="{x(rec)}" x2="{x(rec)}" y1="{TOP - 14}" y2="{TOP + plot_h + 4}" '
            f'stroke="{RECOVERY}" stroke-width="2" stroke-dasharray="6 3"><title>{escape(tip)}</title></line>'
        )
        parts.append(
            f'<text x="{x(rec) + 4}" y="{TOP + plot_h + 16}" class="small" fill="{RECOVERY}">'
            f"recovered +{rec - healed:.2f} s</text>"
        )
    step = next((t for t in _TICKS if span / t <= 12), _TICKS[-1])
    axis_y = TOP + plot_h + 30
    parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{axis_y - 8}" y2="{axis_y - 8}" stroke="#6b7078"/>')
    for k in range(int(span / step) + 1):
        tx = x(t0 + k * step)
        parts.append(f'<line x1="{tx}" x2="{tx}" y1="{axis_y - 8}" y2="{axis_y - 3}" stroke="#6b7078"/>')
        parts.append(f'<text x="{tx}" y="{axis_y + 8}" text-anchor="middle" class="small">{_fmt(k * step)}</text>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{axis_y + 26}" text-anchor="middle" class="small">'
        f"seconds since {_clock(t0)} UTC ({bucket:g} s buckets)</text>"
    )
    legend = [(OK, "ok"), (FAILED, "failed"), (FAULT, "fault window")]
    lx = 8
    for colour, text in legend:
        parts.append(f'<rect x="{lx}" y="{axis_y + 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 14}" y="{axis_y + 23}" class="small">{text}</text>')
        lx += 14 + 8 * len(text) + 10
    ry = axis_y + 19
    dash = f'stroke="{RECOVERY}" stroke-width="2" stroke-dasharray="6 3"'
    parts.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{ry}" y2="{ry}" {dash}/>')
    parts.append(f'<text x="{lx + 22}" y="{axis_y + 23}" class="small">recovery</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
