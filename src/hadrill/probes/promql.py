"""PromQL as a probe, as an objective over the fault window, and as a guard's condition.

- :class:`PromqlProbe` evaluates an expression each interval into the same sample stream as the other
  probes: a sample is good when the expression returns at least one element and none is 0 (a
  comparison such as ``sum(up{service="etcd"}) >= 2`` returns nothing when false, a ``bool`` one 0).
- A PromQL objective (``promql: [{name, expr, max | min}]``) bounds the expression's every value from
  the injection to the end of the revert (``/api/v1/query_range``, one step a second): the worst value
  is the measurement. No value in the window is "not measured", never a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hadrill.clients.prometheus import PrometheusClient
from hadrill.errors import ProbeFailed, TargetError
from hadrill.slo import Verdict, not_measured

__all__ = ["PromqlBound", "PromqlProbe", "check_promql_bound", "parse_promql_bounds", "truthy"]


def truthy(result: list[tuple[dict[str, str], float]]) -> bool:
    """An expression holds when it returns something and nothing it returns is 0 (or NaN)."""
    return bool(result) and all(v != 0 and not math.isnan(v) for _, v in result)


class PromqlProbe:
    """One instant query per sample; a failed read of Prometheus is a failed sample that says so."""

    def __init__(self, client: PrometheusClient, expr: str, *, name: str = "promql") -> None:
        self.client = client
        self.expr = expr
        self.name = name

    def sample(self) -> dict[str, Any] | None:
        try:
            result = self.client.query(self.expr)
        except TargetError as e:
            raise ProbeFailed(f"prometheus unreadable: {e}") from e
        if not truthy(result):
            shown = ", ".join(f"{v:g}" for _, v in result[:3]) or "no result"
            raise ProbeFailed(f"{self.expr} is false ({shown})")
        return {"value": min(v for _, v in result)}


@dataclass(frozen=True)
class PromqlBound:
    """An objective on an expression: every value in the window at most ``max`` / at least ``min``."""

    name: str
    expr: str
    bound: float
    upper: bool  # True: ``max`` (values must not exceed it); False: ``min``


def parse_promql_bounds(raw: Any) -> list[PromqlBound]:
    """``promql: [{name, expr, max: N}]`` (or ``min: N``); ValueError names the field."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"promql: a list of {{name, expr, max | min}}, got {raw!r}")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) - {"name", "expr", "max", "min"}:
            raise ValueError(f"promql[{i}]: a mapping {{name, expr, max | min}}, got {item!r}")
        if not isinstance(item.get("expr"), str) or not item["expr"].strip():
            raise ValueError(f"promql[{i}].expr: a PromQL expression")
        if ("max" in item) == ("min" in item):
            raise ValueError(f"promql[{i}]: exactly one of max and min")
        key = "max" if "max" in item else "min"
        value = item[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"promql[{i}].{key}: a finite number, got {value!r}")
        name = str(item.get("name") or f"promql[{i}]")
        out.append(PromqlBound(name, item["expr"], float(value), key == "max"))
    return out


def check_promql_bound(bound: PromqlBound, series: list[list[tuple[float, float]]], window: str) -> Verdict:
    """The worst value of every series over the window against the bound.

    >>> b = PromqlBound("errors", "rate(x[5s])", 0.5, True)
    >>> check_promql_bound(b, [[(1.0, 0.1), (2.0, 0.7)], [(1.0, 0.2)]], "the fault").measured
    0.7
    """
    values = [v for s in series for _, v in s if not math.isnan(v)]
    vname = f"{bound.name} promql"
    if not values:
        return not_measured(vname, bound.bound, "value", f"{bound.expr} returned no value over {window}")
    worst = max(values) if bound.upper else min(values)
    ok = worst <= bound.bound if bound.upper else worst >= bound.bound
    cmp = ("<=" if ok else ">") if bound.upper else (">=" if ok else "<")
    what = "highest" if bound.upper else "lowest"
    detail = (
        f"{what} value of {bound.expr} over {window}: {worst:g} {cmp} objective {bound.bound:g} ({len(values)} points)"
    )
    return Verdict(vname, bound.bound, worst, "value", ok, detail)


def judge_promql(
    client: PrometheusClient | None, wanted: dict[str, Any], start: float | None, end: float | None
) -> list[Verdict]:
    """A verdict per PromQL objective, over ``start``-``end`` (the injection to the end of the revert)."""
    bounds = parse_promql_bounds(wanted.get("promql"))
    out = []
    for b in bounds:
        if client is None:
            out.append(not_measured(f"{b.name} promql", b.bound, "value", "the inventory names no monitoring"))
        elif start is None or end is None:
            why = "no fault was injected" if start is None else "the fault was never reverted"
            out.append(not_measured(f"{b.name} promql", b.bound, "value", why))
        else:
            try:
                series = client.query_range(b.expr, start, end, step=1.0)
            except TargetError as e:
                out.append(not_measured(f"{b.name} promql", b.bound, "value", f"prometheus could not be read: {e}"))
                continue
            out.append(check_promql_bound(b, series, f"the fault window ({end - start:.1f} s)"))
    return out
