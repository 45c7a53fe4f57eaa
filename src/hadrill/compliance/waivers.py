"""Waivers: a failing check accepted on purpose, by someone, for a reason, until a date.

A waiver that expires turns back into a failure that says so, so an exception granted for a quarter
cannot quietly become permanent (InSpec's waivers work the same way)::

    api_version: hadrill/v1
    kind: Waivers
    waivers:
      - check: HD-DOCKER-001            # a check id (or a glob: HD-PSS-*)
        selector:                       # every given field must match (globs allowed); none = everything
          host: etcd-*                  # the finding's target (a node, a network, an object ref)
          namespace: monitoring         # Kubernetes namespace
          object: DaemonSet/node-exporter
        owner: platform-team@example.com
        reason: "userns-remap breaks the storage driver on these hosts; vendor fix in Q3"
        expires: 2026-03-31             # the waiver stops applying after this day

A mistake reads ``waivers.yaml: waivers[0].expires: expected a valid date``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hadrill.compliance.registry import Finding
from hadrill.config import load_yaml, parse_model, read_text

__all__ = ["Selector", "Waiver", "WaiverFile", "apply_waivers", "load_waivers", "parse_waivers"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Selector(_Strict):
    host: str | None = None
    namespace: str | None = None
    object: str | None = None


class Waiver(_Strict):
    check: str = Field(min_length=1)
    selector: Selector = Field(default_factory=Selector)
    owner: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    expires: date

    @field_validator("owner", "reason")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a non-empty text")
        return v

    def matches(self, f: Finding) -> bool:
        if not fnmatch.fnmatchcase(f.check_id, self.check):
            return False
        s = self.selector
        return all(
            pattern is None or (value is not None and fnmatch.fnmatchcase(value, pattern))
            for pattern, value in ((s.host, f.target), (s.namespace, f.namespace), (s.object, f.object))
        )

    def expired(self, today: date) -> bool:
        return today > self.expires


class WaiverFile(_Strict):
    api_version: Literal["hadrill/v1"] = "hadrill/v1"
    kind: Literal["Waivers"] = "Waivers"
    waivers: list[Waiver] = Field(default_factory=list)


def parse_waivers(text: str, source: str = "waivers.yaml") -> list[Waiver]:
    return parse_model(WaiverFile, load_yaml(text, source), source).waivers


def load_waivers(path: Path) -> list[Waiver]:
    return parse_waivers(read_text(path, "waivers file"), str(path))


def apply_waivers(findings: Iterable[Finding], waivers: list[Waiver], today: date | None = None) -> list[Finding]:
    """Waived failures become ``waived``; failures matched only by an expired waiver say so and still fail.

    Passing findings are left alone; a live waiver wins over an expired one for the same finding.
    """
    today = today or date.today()
    out = []
    for f in findings:
        if f.status != "fail" or not waivers:
            out.append(f)
            continue
        matching = [w for w in waivers if w.matches(f)]
        live = [w for w in matching if not w.expired(today)]
        if live:
            w = live[0]
            info = {"owner": w.owner, "reason": w.reason, "expires": w.expires.isoformat(), "expired": False}
            out.append(f.with_(status="waived", waiver=info, message=f"{f.message} [waived by {w.owner} until "
                                                                      f"{w.expires}: {w.reason}]"))  # fmt: skip
        elif matching:
            w = matching[0]
            info = {"owner": w.owner, "reason": w.reason, "expires": w.expires.isoformat(), "expired": True}
            note = f" [waiver by {w.owner} EXPIRED on {w.expires}: {w.reason}]"
            out.append(f.with_(waiver=info, message=f.message + note))
        else:
            out.append(f)
    return out
