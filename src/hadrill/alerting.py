"""Alert verdicts from a record of polls: did the alert fire, how soon (time to detect), how soon did it
resolve after the heal (time to resolve), and did the alerts that must stay silent stay silent.

Definitions (the contract reports rely on):

- An :class:`Observation` is one poll of the monitoring: when its answer arrived (``at``, wall clock)
  and the names of the alerts it listed as firing, or ``None`` with the error when it could not be read.
  The judged source is Alertmanager when the inventory names one (that is where on-call is reached
  from), else Prometheus (alerts in state ``firing``, not ``pending``).
- **Time to detect** = the first readable poll after the injection that lists the alert, minus the
  injection. An alert already listed by a poll at or before the injection detects nothing: it fails.
  The measurement is an upper bound, late by at most one poll interval.
- **Time to resolve** = the first readable poll at or after the revert ended that no longer lists the
  alert, minus the end of the revert. An alert that never fired has nothing to resolve: not measured.
- A silent alert fails when any readable poll from the injection to the end of the watch lists it.
- An objective whose window no readable poll covers is "not measured", saying why (the last error).
- Objectives declared under ``with_monitoring`` apply only when the inventory names its monitoring;
  without it they are "not asked" (recorded and reported as such, never as passed), so one experiment
  file serves a platform with monitoring and one without (see :func:`split_monitored`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hadrill.slo import Verdict, not_measured

__all__ = [
    "ALERT_OBJECTIVE_KEYS",
    "MONITORED_KEY",
    "AlertObjectives",
    "Observation",
    "alert_verdicts",
    "apply_overrides",
    "check_alert_fires",
    "check_alert_resolves",
    "check_alert_silent",
    "parse_alert_objectives",
    "split_monitored",
]

ALERT_OBJECTIVE_KEYS = frozenset({"alert_fires", "alert_resolves", "alerts_silent"})
MONITORED_KEY = "with_monitoring"
_MONITORED_KEYS = ALERT_OBJECTIVE_KEYS | {"promql"}  # what only a monitoring can measure
NO_MONITORING = "no monitoring in the inventory"


def split_monitored(wanted: dict[str, Any], monitored: bool) -> tuple[dict[str, Any], list[str]]:
    """``wanted`` with its ``with_monitoring`` block applied, and the objectives not asked.

    With monitoring, the block's objectives join the others (a key in both is an error: which would
    win is not obvious). Without it, they are dropped and named in the second value, so the run
    records them as "not asked: no monitoring in the inventory" instead of judging them. An alert
    objective outside the block stays asked either way: without monitoring it is "not measured".

    >>> split_monitored({"max_outage_s": 3, "with_monitoring": {"alerts_silent": ["X"]}}, False)
    ({'max_outage_s': 3}, ['alerts_silent'])
    """
    out = {k: v for k, v in wanted.items() if k != MONITORED_KEY}
    block = wanted.get(MONITORED_KEY)
    if block is None:
        return out, []
    if not isinstance(block, dict) or not block or set(block) - _MONITORED_KEYS:
        raise ValueError(f"{MONITORED_KEY}: a mapping of objectives among {sorted(_MONITORED_KEYS)}, got {block!r}")
    both = sorted(set(block) & set(out))
    if both:
        raise ValueError(f"{MONITORED_KEY}.{both[0]}: declared once (it is also outside {MONITORED_KEY})")
    parse_alert_objectives(block)  # checked even when not asked: a typo fails the run without monitoring too
    if not monitored:
        return out, sorted(block)
    return {**out, **block}, []


def apply_overrides(objectives: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``objectives`` with each of ``overrides`` put where the experiment declared it.

    An override replaces the experiment's value whole (an ``alert_fires`` list is replaced, not merged
    alert by alert). One the experiment declares under ``with_monitoring`` is replaced there, so it is
    still judged only when the inventory names its monitoring; any other goes at the top level, asked
    outright. A ``with_monitoring`` override replaces the experiment's block whole.

    >>> exp = {"max_outage_s": 8, "with_monitoring": {"alert_resolves": {"within_s": 20}}}
    >>> apply_overrides(exp, {"alert_resolves": {"within_s": 60}, "max_outage_s": 3})
    {'max_outage_s': 3, 'with_monitoring': {'alert_resolves': {'within_s': 60}}}
    """
    out = dict(objectives)
    if MONITORED_KEY in overrides:  # a whole block replaces the experiment's block
        out[MONITORED_KEY] = overrides[MONITORED_KEY]
    block = out.get(MONITORED_KEY)
    inner = dict(block) if isinstance(block, dict) else None
    for key, value in overrides.items():
        if key == MONITORED_KEY:
            continue
        if inner is not None and key in inner:
            inner[key] = value
        else:
            out[key] = value
    if inner is not None:
        out[MONITORED_KEY] = inner
    return out


@dataclass(frozen=True)
class Observation:
    """One poll: ``firing`` is None when the monitoring could not be read (``error`` says why)."""

    at: float
    firing: frozenset[str] | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "firing": sorted(self.firing) if self.firing is not None else None, "error": self.error}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Observation:
        firing = data.get("firing")
        return cls(float(data["at"]), frozenset(firing) if firing is not None else None, data.get("error"))


@dataclass(frozen=True)
class AlertObjectives:
    """What an experiment asks of its alerts: ``fires`` maps an alert to its detection bound (s)."""

    fires: dict[str, float]
    resolve_within_s: float | None = None
    resolves: tuple[str, ...] = ()  # default: every alert in ``fires``
    silent: tuple[str, ...] = ()

    @property
    def asked(self) -> bool:
        return bool(self.fires or self.resolve_within_s is not None or self.silent)

    @property
    def longest_wait_s(self) -> float:
        """How long after the injection (fires) or the heal (resolves) a watch must last to judge."""
        return max([*self.fires.values(), self.resolve_within_s or 0.0], default=0.0)


def _bound(where: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 3600:
        raise ValueError(f"{where}: a number of seconds between 0 and 3600, got {v!r}")
    return float(v)


def _name(where: str, v: Any) -> str:
    if not isinstance(v, str) or not v or not v.replace("_", "").replace(":", "").isalnum():
        raise ValueError(f"{where}: an alert name such as EtcdMemberDown, got {v!r}")
    return v


def parse_alert_objectives(wanted: dict[str, Any]) -> AlertObjectives:
    """The alert objectives among ``wanted`` (ValueError names the key and what was expected).

    >>> parse_alert_objectives({"alert_fires": {"name": "EtcdMemberDown", "within_s": 60}}).fires
    {'EtcdMemberDown': 60.0}
    """
    fires: dict[str, float] = {}
    raw = wanted.get("alert_fires")
    items = raw if isinstance(raw, list) else [] if raw is None else [raw]
    for i, item in enumerate(items):
        if not isinstance(item, dict) or set(item) - {"name", "within_s"}:
            raise ValueError(f"alert_fires[{i}]: a mapping {{name: ALERT, within_s: SECONDS}}, got {item!r}")
        fires[_name(f"alert_fires[{i}].name", item.get("name"))] = _bound(
            f"alert_fires[{i}].within_s", item.get("within_s")
        )
    resolve_within: float | None = None
    resolves: tuple[str, ...] = ()
    res = wanted.get("alert_resolves")
    if res is not None:
        if not isinstance(res, dict) or set(res) - {"within_s", "names"}:
            raise ValueError(f"alert_resolves: a mapping {{within_s: SECONDS, names: [ALERT...]}}, got {res!r}")
        resolve_within = _bound("alert_resolves.within_s", res.get("within_s"))
        names = res.get("names", list(fires))
        if not isinstance(names, list) or not names:
            raise ValueError("alert_resolves.names: a list of alert names (default: those of alert_fires)")
        resolves = tuple(_name("alert_resolves.names", n) for n in names)
    silent_raw = wanted.get("alerts_silent") or []
    if not isinstance(silent_raw, list):
        raise ValueError(f"alerts_silent: a list of alert names, got {silent_raw!r}")
    silent = tuple(_name("alerts_silent", n) for n in silent_raw)
    return AlertObjectives(fires, resolve_within, resolves, silent)


def _readable(obs: Sequence[Observation]) -> list[Observation]:
    return sorted((o for o in obs if o.firing is not None), key=lambda o: o.at)


def _why_unread(obs: Sequence[Observation], source: str) -> str:
    errors = [o.error for o in obs if o.firing is None and o.error]
    if errors:
        return f"{source} could not be read ({len(errors)} failed polls; last: {errors[-1]})"
    return f"{source} was not watched (no poll)"


def check_alert_fires(
    obs: Sequence[Observation], name: str, fault_start: float, within_s: float, *, source: str = "monitoring"
) -> Verdict:
    """Time to detect ``name`` after the injection must be at most ``within_s``."""
    vname = f"{name} time_to_detect"
    readable = _readable(obs)
    before = [o for o in readable if o.at <= fault_start and name in (o.firing or ())]
    if before:
        return not_measured(
            vname, within_s, "s", f"{name} was already firing before the fault (poll at {before[-1].at:.1f})"
        )
    after = [o for o in readable if o.at > fault_start]
    seen = next((o for o in after if name in (o.firing or ())), None)
    if seen is not None:
        ttd = seen.at - fault_start
        ok = ttd <= within_s
        return Verdict(
            vname,
            within_s,
            ttd,
            "s",
            ok,
            f"{name} fired {ttd:.1f} s after the injection {'<=' if ok else '>'} objective {within_s:.1f} s ({source})",
        )
    watched = (after[-1].at - fault_start) if after else 0.0
    if watched >= within_s:
        return Verdict(
            vname, within_s, None, "s", False,
            f"{name} did not fire within {within_s:.1f} s of the injection"
            f" (watched {watched:.1f} s, {source}): a silent failure",
        )  # fmt: skip
    return not_measured(
        vname, within_s, "s", f"{_why_unread(obs, source)}; {name} watched only {watched:.1f} s of {within_s:.1f} s"
    )


def check_alert_resolves(
    obs: Sequence[Observation],
    name: str,
    fault_start: float,
    healed_at: float | None,
    within_s: float,
    *,
    source: str = "monitoring",
) -> Verdict:
    """Time to resolve ``name`` after the revert ended must be at most ``within_s``."""
    vname = f"{name} time_to_resolve"
    if healed_at is None:
        return not_measured(vname, within_s, "s", "no fault was reverted, so nothing can resolve")
    readable = _readable(obs)
    if not any(o.at > fault_start and name in (o.firing or ()) for o in readable):
        return not_measured(vname, within_s, "s", f"{name} never fired after the injection, so it cannot resolve")
    after = [o for o in readable if o.at >= healed_at]
    clear = next((o for o in after if name not in (o.firing or ())), None)
    if clear is not None:
        ttr = clear.at - healed_at
        ok = ttr <= within_s
        return Verdict(
            vname,
            within_s,
            ttr,
            "s",
            ok,
            f"{name} resolved {ttr:.1f} s after the heal {'<=' if ok else '>'} objective {within_s:.1f} s ({source})",
        )
    watched = (after[-1].at - healed_at) if after else 0.0
    if watched >= within_s:
        return Verdict(
            vname,
            within_s,
            None,
            "s",
            False,
            f"{name} still firing {watched:.1f} s after the heal > objective {within_s:.1f} s ({source})",
        )
    return not_measured(
        vname, within_s, "s", f"{_why_unread(obs, source)}; watched only {watched:.1f} s after the heal"
    )


def check_alert_silent(obs: Sequence[Observation], name: str, start: float, *, source: str = "monitoring") -> Verdict:
    """``name`` must not be listed by any poll from ``start`` (the injection) to the end of the watch."""
    vname = f"{name} silent"
    readable = [o for o in _readable(obs) if o.at >= start]
    if not readable:
        return not_measured(vname, 0.0, "alerts", _why_unread(obs, source))
    fired = [o for o in readable if name in (o.firing or ())]
    if fired:
        return Verdict(
            vname,
            0.0,
            1.0,
            "alerts",
            False,
            f"{name} fired {fired[0].at - start:.1f} s after the injection; it must not ({source})",
        )
    span = readable[-1].at - start
    return Verdict(
        vname,
        0.0,
        0.0,
        "alerts",
        True,
        f"{name} did not fire over {span:.1f} s from the injection ({len(readable)} polls, {source})",
    )


def alert_verdicts(
    objectives: AlertObjectives,
    obs: Sequence[Observation],
    fault_start: float | None,
    healed_at: float | None,
    *,
    source: str = "monitoring",
) -> list[Verdict]:
    """A verdict for every alert objective asked for; without a fault every one is "not measured"."""
    out: list[Verdict] = []
    if fault_start is None:
        why = "no fault was injected, so there is nothing to detect"
        out += [not_measured(f"{n} time_to_detect", w, "s", why) for n, w in objectives.fires.items()]
        if objectives.resolve_within_s is not None:
            out += [
                not_measured(f"{n} time_to_resolve", objectives.resolve_within_s, "s", why) for n in objectives.resolves
            ]
        out += [not_measured(f"{n} silent", 0.0, "alerts", why) for n in objectives.silent]
        return out
    out += [check_alert_fires(obs, n, fault_start, w, source=source) for n, w in objectives.fires.items()]
    if objectives.resolve_within_s is not None:
        out += [
            check_alert_resolves(obs, n, fault_start, healed_at, objectives.resolve_within_s, source=source)
            for n in objectives.resolves
        ]
    out += [check_alert_silent(obs, n, fault_start, source=source) for n in objectives.silent]
    return out
