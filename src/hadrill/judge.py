"""The one judge: whether a scenario passed, and why not, from its journal alone.

``hadrill run``, the pytest plugin (experiment files collected as tests), ``hadrill drill``, the
report and ``chaos run`` (through the ``hadrill.ctk.control`` control, which writes the judgement
into Chaos Toolkit's journal and marks it ``failed``) all call :func:`judge`, so one file gets one
verdict whichever runner ran it.

A scenario *passes* only when every one of these holds; each that does not is a reason it failed:

- the harness ran it (no error outside the experiment) and wrote a journal;
- Chaos Toolkit's status is ``completed`` and the steady state did not deviate;
- no activity failed (method, steady-state probes, rollbacks): Chaos Toolkit records a failed method
  action and still says "completed", so this is checked here;
- when the experiment declares a steady-state hypothesis, it was evaluated before and after the method;
- at least one verdict was recorded, and every verdict holds ("not measured" verdicts fail);
- no guard stopped it ("stopped by guard X at T": every fault was reverted at once and the method was
  cut short; listed first, apart from the objectives it may also have missed).

A journal without Chaos Toolkit's part (a pytest ``hadrill_run``'s) is judged on its verdicts.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Judgement", "exception_summary", "failed_probes", "judge"]

_EXC_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Failed|Refused|Interrupt|Exit)\b[^\n]*")


@dataclass(frozen=True)
class Judgement:
    """``passed``, ``failed`` or ``error`` (the harness could not run it), and every reason."""

    status: str
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reasons": list(self.reasons)}


def exception_summary(exc: Any, limit: int = 400) -> str:
    """The root cause of a Chaos Toolkit activity's exception (a list of traceback lines)."""
    if not exc:
        return ""
    lines = "".join(str(x) for x in exc).splitlines() if isinstance(exc, list) else str(exc).splitlines()
    found = [m.group(0) for line in lines if (m := _EXC_LINE.match(line.strip()))]
    text = found[0] if found else (lines[-1] if lines else "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dig(journal: dict[str, Any], *path: str) -> Any:
    node: Any = journal
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def failed_probes(journal: dict[str, Any] | None) -> list[str]:
    """Steady-state probes that failed or missed their tolerance, with their root cause."""
    out = []
    for phase in ("before", "after"):
        probes = _dig(journal or {}, "steady_states", phase, "probes")
        for item in probes if isinstance(probes, list) else []:
            if not isinstance(item, dict):
                continue
            act: dict[str, Any] = item["activity"] if isinstance(item.get("activity"), dict) else {}
            name = act.get("name", "?")
            if item.get("status") == "failed":
                out.append(f"steady-state probe {name} ({phase}) failed: {exception_summary(item.get('exception'))}")
            elif item.get("tolerance_met") is False:
                out.append(f"steady-state probe {name} ({phase}) did not meet its tolerance")
    return out


def _failed_activities(journal: dict[str, Any]) -> list[str]:
    acts = list(journal.get("run") or []) + list(journal.get("rollbacks") or [])
    return [
        f"activity {(a.get('activity') or {}).get('name')} failed: {exception_summary(a.get('exception'))}"
        for a in acts
        if isinstance(a, dict) and a.get("status") == "failed"
    ]


def _hypothesis_not_evaluated(journal: dict[str, Any]) -> list[str]:
    declared = _dig(journal, "experiment", "steady-state-hypothesis", "probes")
    if not declared:
        return []
    out = []
    for phase, when in (("before", "before the method"), ("after", "after the method")):
        if not isinstance(_dig(journal, "steady_states", phase), dict):
            out.append(f"the steady-state hypothesis was not evaluated {when}")
    return out


def judge(journal: dict[str, Any] | None, error: str | None = None) -> Judgement:
    """The scenario's result and every reason it did not pass (see the module docstring)."""
    if journal is None:
        return Judgement("error", [error or "no journal was written"])
    reasons = [f"the harness failed: {error.splitlines()[0]}"] if error else []
    hadrill: dict[str, Any] = journal["hadrill"] if isinstance(journal.get("hadrill"), dict) else {}
    stopped = hadrill.get("stopped_by")
    if isinstance(stopped, dict):
        at = stopped.get("at")
        when = time.strftime("%H:%M:%S", time.gmtime(at)) + " UTC" if isinstance(at, int | float) else "?"
        reasons.append(f"stopped by guard {stopped.get('guard')} at {when}: {stopped.get('why')}")
    if journal.get("experiment"):  # a Chaos Toolkit journal (not a pytest run's)
        # the control may have marked it failed itself: judge what Chaos Toolkit said
        status = hadrill.get("ctk_status", journal.get("status"))
        if status != "completed":
            reasons.append(f"Chaos Toolkit status {status}")
        if journal.get("deviated"):
            reasons.append("the steady state deviated")
        reasons += failed_probes(journal)
        reasons += _failed_activities(journal)
        reasons += _hypothesis_not_evaluated(journal)
    reasons += [f"activity {a} failed" for a in hadrill.get("failed_activities") or [] if not journal.get("run")]
    verdicts = [v for v in hadrill.get("verdicts") or [] if isinstance(v, dict)]
    if not verdicts:
        reasons.append("no objective was measured (no verdict was recorded)")
    reasons += [f"{v.get('name')}: {v.get('detail')}" for v in verdicts if not v.get("ok")]
    return Judgement("failed" if reasons else "passed", reasons)
