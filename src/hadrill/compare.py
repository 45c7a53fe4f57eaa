"""Comparing two exercises (before and after an upgrade): RTO, RPO and availability regressions.

Scenarios are matched by name between two ``report.json`` files. Per scenario:

- **RTO** (longest outage, seconds): a regression when it grew by more than ``rto_tolerance_s``;
- **RPO** (acknowledged writes lost): a regression when it grew by more than ``rpo_tolerance``;
- **availability** (ratio): a regression when it dropped by more than ``availability_tolerance``;
- **result**: a regression when a scenario that passed before does not pass now.

A value measured before and unknown now, or a scenario missing from the new report, is a
regression too (the upgrade cannot be shown harmless). Improvements and new scenarios are listed,
never flagged. Exit code: 1 when anything regressed, else 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hadrill.config import load_json
from hadrill.errors import ConfigError
from hadrill.report.model import FORMAT

__all__ = ["Comparison", "Row", "compare", "compare_files", "load_report"]

# metric key in report.json "measured" -> (label, unit, higher is worse)
METRICS: dict[str, tuple[str, str, bool]] = {
    "max_outage_s": ("RTO", "s", True),
    "acked_writes_lost": ("RPO", "writes", True),
    "availability": ("availability", "ratio", False),
}


@dataclass(frozen=True)
class Row:
    scenario: str
    metric: str  # RTO, RPO, availability or result
    unit: str  # s, writes, ratio or "" (result)
    old: Any
    new: Any
    regression: bool
    note: str

    def shown(self, value: Any) -> str:
        """A value as the table shows it."""
        if not isinstance(value, int | float) or isinstance(value, bool):
            return "—" if value is None else str(value)
        if self.unit == "ratio":
            return f"{value * 100:.3f} %"
        return f"{value:.2f} s" if self.unit == "s" else f"{value:g}"


@dataclass
class Comparison:
    rows: list[Row] = field(default_factory=list)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.regression]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0


def load_report(path: Path) -> dict[str, Any]:
    """A ``report.json`` written by ``hadrill drill``; ConfigError names the file and the field."""
    data = load_json(path, "report written by hadrill drill")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ConfigError(str(path), "format", repr(FORMAT), got)
    scenarios = data.get("scenarios")
    if not isinstance(scenarios, list) or not all(isinstance(s, dict) and "name" in s for s in scenarios):
        raise ConfigError(str(path), "scenarios", "a list of scenarios with names")
    for i, s in enumerate(scenarios):
        if not isinstance(s["name"], str) or not isinstance(s.get("status", ""), str | None):
            raise ConfigError(str(path), f"scenarios[{i}]", "a name and a status that are strings")
        measured = s.get("measured")
        if measured is not None and not isinstance(measured, dict):
            raise ConfigError(str(path), f"scenarios[{i}].measured", "a mapping of metrics", measured)
        for key, m in (measured or {}).items():
            if m is not None and not isinstance(m, dict):
                raise ConfigError(str(path), f"scenarios[{i}].measured.{key}", "a mapping (measured, objective)", m)
    return data


def _value(scenario: dict[str, Any], key: str) -> float | None:
    m = (scenario.get("measured") or {}).get(key)
    value = m.get("measured") if isinstance(m, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def compare(
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    rto_tolerance_s: float = 0.5,
    rpo_tolerance: int = 0,
    availability_tolerance: float = 0.01,
) -> Comparison:
    """Rows per scenario and metric, regressions flagged (see the module docstring)."""
    tolerance = {"max_outage_s": rto_tolerance_s, "acked_writes_lost": float(rpo_tolerance),
                 "availability": availability_tolerance}  # fmt: skip
    before = {str(s["name"]): s for s in old.get("scenarios", [])}
    after = {str(s["name"]): s for s in new.get("scenarios", [])}
    out = Comparison()
    for name, o in before.items():
        n = after.get(name)
        if n is None:
            out.rows.append(Row(name, "result", "", o.get("status"), None, True, "not run in the new exercise"))
            continue
        for key, (label, unit, higher_worse) in METRICS.items():
            a, b = _value(o, key), _value(n, key)
            if a is None and b is None:
                continue
            if b is None:
                out.rows.append(Row(name, label, unit, a, b, True, "measured before, unknown now"))
                continue
            if a is None:
                out.rows.append(Row(name, label, unit, a, b, False, "not measured before"))
                continue
            worse = (b - a) if higher_worse else (a - b)
            regression = worse > tolerance[key] + 1e-12
            shown = f"{abs(b - a) * 100:.3f} points" if unit == "ratio" else f"{abs(b - a):.2f} {unit}"
            if regression:
                note = f"worse by {shown} (tolerance {tolerance[key]:g})"
            elif worse < 0:
                note = f"better by {shown}"
            else:
                note = "unchanged within tolerance"
            out.rows.append(Row(name, label, unit, a, b, regression, note))
        was, now = o.get("status"), n.get("status")
        fell = was == "passed" and now != "passed"
        out.rows.append(Row(name, "result", "", was, now, fell, "passed before, not now" if fell else ""))
    for name, n in after.items():
        if name not in before:
            out.rows.append(Row(name, "result", "", None, n.get("status"), False, "new scenario (nothing to compare)"))
    return out


def compare_files(old: Path, new: Path, **tolerances: Any) -> Comparison:
    return compare(load_report(old), load_report(new), **tolerances)
