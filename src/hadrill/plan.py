"""The exercise plan: which scenarios a disaster-recovery exercise runs, against what objectives, and who
coordinates and signs it.

Format (YAML; ``hadrill drill --plan PLAN``)::

    api_version: hadrill/v1          # fixed (optional)
    kind: Plan                       # fixed (optional)
    title: Yearly PRA exercise       # optional; the report's title
    platform: prod-eu1               # the platform the exercise tests (required)
    date: 2026-11-23                 # the day of the exercise (optional: the day it runs)
    coordinator: Alice Martin        # who runs the exercise and signs the report (required)
    participants:                    # who takes part (optional)
      - {name: Bob Durand, role: etcd on-call}
      - {name: Chloé Petit, role: auditor}
    scenarios:                       # run in this order (at least one)
      - experiment: experiments/etcd-kill-leader.yaml   # relative to the plan file
        name: kill-leader            # optional: unique in the plan; default: the file's stem
        description: The leader's node dies.            # optional: default: the experiment's
        objectives:                  # optional: override the experiment's own objectives
          max_outage_s: 3.0          # measured RTO: longest outage, seconds
          availability: 0.8          # ok samples / samples, per probe (0..1)
          acked_writes_lost: 0       # measured RPO: acknowledged writes lost
          steady_state_s: 5.0        # heal to 5 consecutive ok samples, seconds
          alert_fires: {name: EtcdMemberDown, within_s: 60}   # or a list: time to detect, s (0-3600)
          alert_resolves: {within_s: 120}                     # time to resolve after the heal, s;
                                                              # names: [ALERT...] (default: alert_fires')
          alerts_silent: [EtcdInsufficientMembers]            # alerts that must not fire
        # An alert objective replaces the experiment's whole, where the experiment declares it: under
        # with_monitoring it is still judged only when the inventory names its monitoring.

A mistake names the file and the field:
``plan.yaml: scenarios[1].objectives.availability: expected less than or equal to 1, got 1.5``.
Without ``--plan``, ``hadrill drill`` uses :func:`default_plan` over ``experiments/``: every experiment
file there, sorted by name, with the experiments' own objectives.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, StrictInt, field_validator

from hadrill.config import load_yaml, parse_model, read_text
from hadrill.errors import ConfigError
from hadrill.experiment import load_experiment_file, looks_like_experiment

__all__ = [
    "AlertFires",
    "AlertResolves",
    "NotRun",
    "Participant",
    "Plan",
    "PlanObjectives",
    "Scenario",
    "default_plan",
    "load_plan",
    "parse_plan",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _a_number(v: Any) -> Any:
    if isinstance(v, bool) or (v is not None and not isinstance(v, int | float)):
        raise ValueError("a number")
    return v


def _alert_name(v: str) -> str:
    """An alert's name as a Prometheus rule spells it (its ``alert:``)."""
    if not re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", v):
        raise ValueError("an alert name such as EtcdMemberDown")
    return v


def _some(v: list[Any] | None) -> list[Any] | None:
    if v is not None and not v:
        raise ValueError("at least one alert (leave the field out to keep the experiment's)")
    return v


AlertName = Annotated[str, AfterValidator(_alert_name)]


class AlertFires(_Strict):
    """An alert expected to fire within ``within_s`` seconds of the injection (time to detect)."""

    name: AlertName
    within_s: float = Field(gt=0, le=3600, allow_inf_nan=False)  # seconds, as hadrill.alerting bounds them

    _number = field_validator("within_s", mode="before")(_a_number)


class AlertResolves(_Strict):
    """The fired alerts (``names``, default: those of ``alert_fires``) resolve within ``within_s`` of the heal."""

    within_s: float = Field(gt=0, le=3600, allow_inf_nan=False)  # seconds, as hadrill.alerting bounds them
    names: list[AlertName] | None = None

    _number = field_validator("within_s", mode="before")(_a_number)
    _nonempty = field_validator("names")(_some)


class PlanObjectives(_Strict):
    """Objectives that override the experiment's own (unset ones keep the experiment's). An alert
    objective replaces the experiment's whole, where the experiment declares it (under
    ``with_monitoring`` or not: :func:`hadrill.alerting.apply_overrides`)."""

    max_outage_s: float | None = Field(None, ge=0, allow_inf_nan=False)
    availability: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    acked_writes_lost: StrictInt | None = Field(None, ge=0)
    steady_state_s: float | None = Field(None, ge=0, allow_inf_nan=False)
    alert_fires: list[AlertFires] | None = None
    alert_resolves: AlertResolves | None = None
    alerts_silent: list[AlertName] | None = None

    _number = field_validator("max_outage_s", "availability", "steady_state_s", mode="before")(_a_number)
    _nonempty = field_validator("alerts_silent")(_some)

    @field_validator("alert_fires", mode="before")
    @classmethod
    def _one_or_more(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v  # {name, within_s} alone, as experiments write it

    @field_validator("alert_fires")
    @classmethod
    def _unique_alerts(cls, v: list[AlertFires] | None) -> list[AlertFires] | None:
        names = [a.name for a in _some(v) or []]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"each alert once (twice: {', '.join(twice)})")
        return v

    def overrides(self) -> dict[str, Any]:
        """The objectives set here, as ``run_experiment_file(objectives=...)`` takes them."""
        return self.model_dump(exclude_none=True)


class Participant(_Strict):
    name: str = Field(min_length=1)
    role: str = ""


class Scenario(_Strict):
    experiment: str = Field(min_length=1)
    name: str | None = Field(None, min_length=1, max_length=80)
    description: str | None = None
    objectives: PlanObjectives = Field(default_factory=PlanObjectives)

    @property
    def key(self) -> str:
        """The scenario's name in reports and comparisons."""
        return self.name or Path(self.experiment).stem


class NotRun(_Strict):
    """An experiment the plan left out, and why (``not run: needs cluster(s) nfs``)."""

    experiment: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class Plan(_Strict):
    api_version: Literal["hadrill/v1"] = "hadrill/v1"
    kind: Literal["Plan"] = "Plan"
    title: str = Field("Disaster-recovery exercise", min_length=1)
    platform: str = Field(min_length=1)
    date: dt.date | None = None
    coordinator: str = Field(min_length=1)
    participants: list[Participant] = Field(default_factory=list)
    scenarios: list[Scenario] = Field(min_length=1)
    # experiments the default plan left out, each "not run: needs …" (kept in drill.json and the report)
    not_run: list[NotRun] = Field(default_factory=list)
    _base_dir: str = PrivateAttr("")  # where relative experiment paths start: the plan file's folder

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        if isinstance(v, dt.datetime):
            return v.date()
        if v is not None and not isinstance(v, dt.date | str):
            raise ValueError("a date such as 2026-11-23")
        return v

    def experiment_path(self, scenario: Scenario) -> Path:
        path = Path(scenario.experiment)
        return path if path.is_absolute() else Path(self._base_dir or ".") / path


def parse_plan(data: Any, source: str, base_dir: Path | None = None, *, check_files: bool = True) -> Plan:
    """Validate plan data; every error is a ConfigError naming ``source`` and the field.

    With ``check_files`` every scenario's experiment must exist (relative to ``base_dir``) and be a
    valid experiment file (its own errors name the experiment file and its field).
    """
    plan = parse_model(Plan, data, source)
    plan._base_dir = str(base_dir) if base_dir is not None else ""
    seen: dict[str, int] = {}
    for i, scenario in enumerate(plan.scenarios):
        if scenario.key in seen:
            field = f"scenarios[{i}].name"
            raise ConfigError(
                source, field, f"a name unique in the plan (scenarios[{seen[scenario.key]}] has it)", scenario.key
            )
        seen[scenario.key] = i
        if not check_files:
            continue
        path = plan.experiment_path(scenario)
        try:
            exists = path.is_file()
        except (OSError, ValueError):  # a NUL byte or an over-long name
            exists = False
        if not exists:
            field = f"scenarios[{i}].experiment"
            raise ConfigError(
                source, field, "an existing experiment file (relative to the plan file)", scenario.experiment
            )
        load_experiment_file(path)
    return plan


def load_plan(path: Path) -> Plan:
    """Read and validate a plan file (experiments relative to its folder)."""
    return parse_plan(load_yaml(read_text(path, "plan file"), str(path)), str(path), path.parent)


def default_plan(
    experiments_dir: Path,
    *,
    platform: str = "the platform under test",
    coordinator: str = "(to be named)",
    clusters: set[str] | None = None,
) -> Plan:
    """Every experiment file in ``experiments_dir`` (sorted), with its own objectives; with ``clusters``
    (the inventory's cluster names), only those whose declared requirements they meet: the others are
    listed in ``not_run`` ("not run: needs cluster(s) …") and the title says some were left out."""
    try:
        files = sorted(p for p in experiments_dir.iterdir() if p.is_file() and looks_like_experiment(p))
    except OSError as e:
        raise ConfigError(str(experiments_dir), "", "a directory of experiment files (or a plan: --plan PLAN)") from e
    not_run: list[dict[str, str]] = []
    if clusters is not None:
        from hadrill.experiment import cluster_fit

        kept = []
        for p in files:
            missing, excluding = cluster_fit(p, clusters)
            if missing:
                not_run.append({"experiment": p.name, "reason": f"not run: needs cluster(s) {', '.join(missing)}"})
            elif excluding:
                reason = f"not run: excludes {', '.join(excluding)}, which the inventory has (see its file)"
                not_run.append({"experiment": p.name, "reason": reason})
            else:
                kept.append(p)
        files = kept
    if not files:
        why = "; ".join(f"{n['experiment']}: {n['reason']}" for n in not_run)
        raise ConfigError(
            str(experiments_dir), "", "at least one experiment file (*.yaml with title and method)"
            + (f" the inventory can run ({why})" if why else "")
        )  # fmt: skip
    every = f"{len(files)} of {len(files) + len(not_run)} experiments, {len(not_run)} not run" if not_run else None
    data = {
        "title": f"Disaster-recovery exercise (default plan: {every or 'every experiment'})",
        "platform": platform,
        "coordinator": coordinator,
        "scenarios": [{"experiment": p.name} for p in files],
        "not_run": not_run,
    }
    return parse_plan(data, f"<default plan over {experiments_dir}>", experiments_dir)
