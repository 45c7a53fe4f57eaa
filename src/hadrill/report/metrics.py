"""An exercise's results as Prometheus metrics: a textfile-collector file and a Pushgateway push.

Built from ``report.json`` only (like every other report file), so a dashboard tracks exactly what the
report says. Every series is a gauge labelled ``plan`` (the exercise's title) and ``platform``; the
scenario series add ``scenario``. A measurement that was not made is left out, never written as 0:
a dashboard shows a gap, not a perfect RTO.

Series (``deploy/grafana/hadrill-dashboard.json`` and ``deploy/prometheus/hadrill-results.rules.yml``
read them)::

    hadrill_drill_passed{plan,platform}                      1 when every scenario passed
    hadrill_drill_timestamp_seconds{plan,platform}           when the exercise ended (started if not)
    hadrill_drill_scenarios{plan,platform,status}            scenarios per status (passed, failed, error)
    hadrill_scenario_passed{plan,platform,scenario}          1 passed, 0 otherwise
    hadrill_scenario_rto_seconds{...}                        measured RTO (longest outage)
    hadrill_scenario_rpo_writes{...}                         acknowledged writes lost
    hadrill_scenario_availability_ratio{...}                 availability over the fault window
    hadrill_scenario_time_to_detect_seconds{...}             slowest expected alert's time to detect
    hadrill_scenario_duration_seconds{...}                   how long the scenario ran
    hadrill_scenario_timestamp_seconds{...}                  when it ended
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import os
from pathlib import Path
from typing import Any

import requests

from hadrill.errors import TargetError

__all__ = ["METRICS_FILE", "compliance_metrics", "push_metrics", "report_metrics", "write_textfile"]

METRICS_FILE = "metrics.prom"

_HELP = {
    "hadrill_drill_passed": "1 when every scenario of the exercise passed",
    "hadrill_drill_timestamp_seconds": "When the exercise ended (Unix time)",
    "hadrill_drill_scenarios": "Scenarios of the exercise per status",
    "hadrill_scenario_passed": "1 when the scenario passed (fault proven, every objective measured and met)",
    "hadrill_scenario_rto_seconds": "Measured RTO: the longest outage of the scenario's worst probe",
    "hadrill_scenario_rpo_writes": "Measured RPO: acknowledged writes lost",
    "hadrill_scenario_availability_ratio": "Availability over the fault and recovery window (worst probe)",
    "hadrill_scenario_time_to_detect_seconds": "Time from the injection to the slowest expected alert firing",
    "hadrill_scenario_duration_seconds": "How long the scenario ran",
    "hadrill_scenario_timestamp_seconds": "When the scenario ended (Unix time)",
}
_COMPLIANCE_HELP = {
    "hadrill_compliance_findings": "Findings of the last compliance check per suite and status",
    "hadrill_compliance_timestamp_seconds": "When the compliance check ran (Unix time)",
}
_MEASURED = {
    "max_outage_s": "hadrill_scenario_rto_seconds",
    "acked_writes_lost": "hadrill_scenario_rpo_writes",
    "availability": "hadrill_scenario_availability_ratio",
    "alert_fires": "hadrill_scenario_time_to_detect_seconds",
}


def _escape(value: str) -> str:
    """A label value as the exposition format wants it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _number(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else ("NaN" if math.isnan(value) else "+Inf")


def report_metrics(report: dict[str, Any]) -> str:
    """The exposition-format text of one report (``report.json``'s document).

    >>> text = report_metrics({"title": "nightly", "platform": "lab:x", "ok": True, "scenarios": []})
    >>> 'hadrill_drill_passed{plan="nightly",platform="lab:x"} 1.0' in text
    True
    """
    base = {"plan": str(report.get("title") or "exercise"), "platform": str(report.get("platform") or "unknown")}
    series: dict[str, list[tuple[dict[str, str], float]]] = {name: [] for name in _HELP}
    scenarios = [s for s in report.get("scenarios") or [] if isinstance(s, dict)]
    series["hadrill_drill_passed"].append((base, 1.0 if report.get("ok") else 0.0))
    ended = [t for t in (_epoch(s.get("ended")) or _epoch(s.get("started")) for s in scenarios) if t is not None]
    when = max(ended, default=None) or _epoch(report.get("started")) or _epoch(report.get("generated"))
    if when is not None:
        series["hadrill_drill_timestamp_seconds"].append((base, when))
    counts: dict[str, int] = {"passed": 0, "failed": 0, "error": 0}
    seen: dict[str, int] = {}
    for s in scenarios:
        status = str(s.get("status") or "error")
        counts[status] = counts.get(status, 0) + 1
        name = str(s.get("name") or "scenario")
        seen[name] = seen.get(name, 0) + 1
        # one series per scenario: a repeated name (a report over several runs of one file) is numbered,
        # or Prometheus and the Pushgateway refuse the duplicate series
        labels = {**base, "scenario": name if seen[name] == 1 else f"{name} ({seen[name]})"}
        series["hadrill_scenario_passed"].append((labels, 1.0 if status == "passed" else 0.0))
        found = s.get("measured")
        measured: dict[str, Any] = found if isinstance(found, dict) else {}
        for key, name in _MEASURED.items():
            m = measured.get(key)
            if isinstance(m, dict) and isinstance(m.get("measured"), int | float):
                series[name].append((labels, float(m["measured"])))
        if isinstance(s.get("duration_s"), int | float):
            series["hadrill_scenario_duration_seconds"].append((labels, float(s["duration_s"])))
        t = _epoch(s.get("ended")) or _epoch(s.get("started"))
        if t is not None:
            series["hadrill_scenario_timestamp_seconds"].append((labels, t))
    for status, count in sorted(counts.items()):
        series["hadrill_drill_scenarios"].append(({**base, "status": status}, float(count)))
    lines: list[str] = []
    for name, samples in series.items():
        if not samples:
            continue
        lines += [f"# HELP {name} {_HELP[name]}", f"# TYPE {name} gauge"]
        lines += [f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def compliance_metrics(findings: list[tuple[str, str]], *, platform: str, at: float) -> str:
    """Per suite, how many findings of each status (``(suite, status)`` pairs; every status listed, 0 too).

    >>> print(compliance_metrics([("docker", "pass"), ("docker", "waived")], platform="p", at=1.0).splitlines()[2])
    hadrill_compliance_findings{platform="p",suite="docker",status="error"} 0.0
    """
    counts: dict[str, dict[str, int]] = {}
    for suite, status in findings:
        per = counts.setdefault(suite or "checks", dict.fromkeys(("error", "fail", "pass", "waived"), 0))
        per[status] = per.get(status, 0) + 1
    name = "hadrill_compliance_findings"
    lines = [f"# HELP {name} {_COMPLIANCE_HELP[name]}", f"# TYPE {name} gauge"]
    for suite, per in sorted(counts.items()):
        lines += [
            f"{name}{_labels({'platform': platform, 'suite': suite, 'status': s})} {float(n)!r}"
            for s, n in sorted(per.items())
        ]
    stamp = "hadrill_compliance_timestamp_seconds"
    lines += [f"# HELP {stamp} {_COMPLIANCE_HELP[stamp]}", f"# TYPE {stamp} gauge"]
    lines.append(f"{stamp}{_labels({'platform': platform})} {float(at)!r}")
    return "\n".join(lines) + "\n"


def write_textfile(path: Path, text: str) -> Path:
    """Write atomically (the node exporter's textfile collector must never read half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def push_metrics(url: str, text: str, *, instance: str, timeout: float = 10.0) -> str:
    """Replace this platform's group on a Pushgateway (``PUT /metrics/job/hadrill/instance@base64/…``).

    One group per platform: the last exercise's results stay until the next one replaces them.
    """
    encoded = base64.urlsafe_b64encode(instance.encode()).decode() or "="
    target = f"{url.rstrip('/')}/metrics/job/hadrill/instance@base64/{encoded}"
    try:
        resp = requests.put(target, data=text.encode(), timeout=timeout, headers={"Content-Type": "text/plain"})
    except requests.RequestException as e:
        raise TargetError(f"push to {target} failed: {e}") from e
    if resp.status_code >= 300:
        raise TargetError(f"push to {target} failed: HTTP {resp.status_code}: {resp.text[:200]}")
    return target
