"""Checks and findings: what every compliance family produces and every output consumes.

A :class:`Check` is a rule an operator promised to keep (an id such as ``HD-DOCKER-001``, a title, a
severity, remediation text and the reference it comes from). Families register their checks with
:func:`register`; a check's function turns gathered facts into :class:`Verdict` s, and
:meth:`Check.finding` turns a verdict into a :class:`Finding` that names the host or object and the
observed value. Findings are plain data: waivers, the baseline and the outputs only read them.

>>> import hadrill.compliance  # the families register their checks on import
>>> chk = CHECKS["HD-DOCKER-003"]
>>> f = chk.finding("node1", Verdict(False, "false", "true", "live-restore is off"))
>>> (f.check_id, f.target, f.status, f.severity)
('HD-DOCKER-003', 'node1', 'fail', 'medium')
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, TypeVar

__all__ = [
    "CHECKS",
    "SEVERITIES",
    "Check",
    "Finding",
    "Severity",
    "Status",
    "Verdict",
    "checks_in",
    "register",
]

Severity = Literal["critical", "high", "medium", "low"]
Status = Literal["pass", "fail", "error", "waived"]
TargetKind = Literal["host", "network", "pod", "file"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Verdict:
    """What a check concluded about one thing: ``ok``, and the observed and expected values."""

    ok: bool
    observed: Any
    expected: Any
    message: str = ""
    object: str | None = None  # what on the target (a file, a device, an interface), when not the target itself
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's result for one host or object, ready for waivers, baselines and reports.

    ``slots``: a Pod Security scan of 10,000 objects makes tens of thousands of findings; a finding with
    a ``__dict__`` took twice the memory, and the C scan (``_pss_findings.c``) fills the slots directly."""

    check_id: str
    target: str  # a node name, a network name, or a Kubernetes object / manifest file
    status: Status
    observed: Any = None
    expected: Any = None
    message: str = ""
    object: str | None = None
    namespace: str | None = None
    severity: Severity = "medium"
    suite: str = ""
    file: str | None = None  # a local file the finding is about (manifests), for SARIF locations
    waiver: dict[str, Any] | None = None  # owner, reason, expires of the waiver that matched
    baselined: bool = False  # a failure already in the baseline: reported, not gating

    @property
    def failing(self) -> bool:
        """Counts against the gate: a failure or error that is neither waived nor in the baseline."""
        return self.status in ("fail", "error") and not self.baselined

    @property
    def fingerprint(self) -> str:
        """Stable identity across runs (not the observed value, which drifts: days to expiry...)."""
        key = "\x1f".join((self.check_id, self.target, self.namespace or "", self.object or ""))
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def with_(self, **changes: Any) -> Finding:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fingerprint"] = self.fingerprint
        return out


@dataclass(frozen=True)
class Check:
    """A rule: id, title, severity, remediation, reference, what kind of target it looks at."""

    id: str
    title: str
    severity: Severity
    remediation: str
    reference: str
    target_kind: TargetKind
    suite: str
    fn: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    def finding(self, target: str, verdict: Verdict, **extra: Any) -> Finding:
        return Finding(
            check_id=self.id,
            target=target,
            status="pass" if verdict.ok else "fail",
            observed=verdict.observed,
            expected=verdict.expected,
            message=verdict.message or (self.title if verdict.ok else f"{self.title}: not met"),
            object=verdict.object,
            namespace=verdict.namespace,
            severity=self.severity,
            suite=self.suite,
            **extra,
        )

    def error(self, target: str, message: str, *, object: str | None = None) -> Finding:
        """The check could not be evaluated (a node unreachable, a file unreadable)."""
        return Finding(
            check_id=self.id,
            target=target,
            status="error",
            message=message,
            object=object,
            severity=self.severity,
            suite=self.suite,
        )

    def evaluate(self, target: str, facts: Any, **extra: Any) -> list[Finding]:
        """Run the check's function on gathered facts; it returns one verdict or several."""
        if self.fn is None:
            raise TypeError(f"check {self.id} has no function")
        result = self.fn(facts)
        verdicts: Iterable[Verdict] = [result] if isinstance(result, Verdict) else (result or [])
        return [self.finding(target, v, **extra) for v in verdicts]


CHECKS: dict[str, Check] = {}


def register(
    id: str,
    *,
    suite: str,
    title: str,
    severity: Severity,
    remediation: str,
    reference: str,
    target_kind: TargetKind = "host",
) -> Callable[[F], F]:
    """Decorator: register the function as check ``id`` of ``suite``; ids are unique."""
    if severity not in SEVERITIES:
        raise ValueError(f"check {id}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")

    def deco(fn: F) -> F:
        known = CHECKS.get(id)
        if known is not None and _origin(known.fn) != _origin(fn):  # a reloaded module may register again
            raise ValueError(f"check id {id} registered twice ({_origin(known.fn)} and {_origin(fn)})")
        CHECKS[id] = Check(id, title, severity, remediation, reference, target_kind, suite, fn)
        return fn

    return deco


def _origin(fn: Any) -> str:
    code = getattr(fn, "__code__", None)
    return f"{getattr(code, 'co_filename', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def checks_in(suite: str) -> list[Check]:
    """The registered checks of one suite, in id order (modules register on import)."""
    return sorted((c for c in CHECKS.values() if c.suite == suite), key=lambda c: c.id)
