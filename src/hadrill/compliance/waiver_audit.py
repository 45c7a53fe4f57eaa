"""Waiver governance: which waivers matched nothing, expire soon, or have expired, and whose they are.

A waiver is a promise with a date. ``hadrill check --audit-waivers`` lists the ones that need a person:
expired (the failure gates again; the audit exits 1), expiring within N days (renew or fix), and unused
(no failing finding matched it: the problem is gone or the selector is wrong, so delete or fix it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from hadrill.compliance.registry import Finding
from hadrill.compliance.waivers import Waiver

__all__ = ["WaiverAudit", "audit_waivers"]

Problem = Literal["expired", "expiring", "unused"]


@dataclass(frozen=True)
class WaiverAudit:
    """One waiver, what matched it, and what is wrong with it (nothing: ``problems == ()``)."""

    index: int
    waiver: Waiver
    matched: int  # failing findings the waiver matches
    days_left: int  # negative once expired
    problems: tuple[Problem, ...]

    def to_dict(self) -> dict[str, Any]:
        w = self.waiver
        return {
            "index": self.index, "check": w.check, "selector": w.selector.model_dump(exclude_none=True),
            "owner": w.owner, "reason": w.reason, "expires": w.expires.isoformat(), "days_left": self.days_left,
            "matched": self.matched, "problems": list(self.problems),
        }  # fmt: skip


def audit_waivers(
    waivers: list[Waiver], findings: Iterable[Finding], *, today: date | None = None, within_days: int = 30
) -> list[WaiverAudit]:
    """Audit every waiver against the (ungated) findings of a run.

    >>> from hadrill.compliance.waivers import parse_waivers
    >>> ws = parse_waivers("waivers: [{check: HD-X-1, owner: me, reason: r, expires: 2026-01-10}]")
    >>> audit_waivers(ws, [], today=date(2026, 1, 1))[0].problems
    ('expiring', 'unused')
    """
    today = today or date.today()
    failing = [f for f in findings if f.status == "fail"]
    out = []
    for i, w in enumerate(waivers):
        matched = sum(w.matches(f) for f in failing)
        problems: list[Problem] = []
        if w.expired(today):
            problems.append("expired")
        elif w.expires <= today + timedelta(days=within_days):
            problems.append("expiring")
        if not matched:
            problems.append("unused")
        out.append(WaiverAudit(i, w, matched, (w.expires - today).days, tuple(problems)))
    return out
