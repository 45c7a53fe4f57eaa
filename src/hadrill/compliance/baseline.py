"""The nightly gate: a baseline file of known failures, so only new findings fail the build.

A platform adopting hadrill starts with findings it cannot fix tonight. ``hadrill check
--write-baseline FILE`` records the fingerprints of today's failures; later runs with ``--baseline
FILE`` still report those (marked ``baselined``) but fail only on findings that are not in it. A
fingerprint is the check id, the target, the namespace and the object: not the observed value, so a
certificate getting closer to expiry stays the same known finding. The file is JSON, sorted, diffable::

    {"api_version": "hadrill/v1", "kind": "ComplianceBaseline",
     "findings": [{"fingerprint": "...", "check_id": "HD-DOCKER-001", "target": "node1", "object": null}]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hadrill.compliance.registry import Finding
from hadrill.config import load_json
from hadrill.errors import ConfigError

__all__ = ["apply_baseline", "load_baseline", "write_baseline"]


def write_baseline(findings: Iterable[Finding], path: Path) -> int:
    """Record every failing or erroring finding; returns how many. Written atomically."""
    rows = sorted(
        ({"fingerprint": f.fingerprint, "check_id": f.check_id, "target": f.target, "object": f.object}
         for f in findings if f.status in ("fail", "error")),
        key=lambda r: (r["check_id"], r["target"], r["object"] or ""),
    )  # fmt: skip
    unique = list({r["fingerprint"]: r for r in rows}.values())
    doc = {"api_version": "hadrill/v1", "kind": "ComplianceBaseline", "findings": unique}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return len(unique)


def load_baseline(path: Path) -> set[str]:
    """The fingerprints in a baseline file; errors name the file and the field."""
    doc: Any = load_json(path, "baseline file")
    if not isinstance(doc, dict) or doc.get("kind") != "ComplianceBaseline":
        raise ConfigError(str(path), "kind", "ComplianceBaseline (written by hadrill check --write-baseline)")
    rows = doc.get("findings")
    if not isinstance(rows, list):
        raise ConfigError(str(path), "findings", "a list")
    out = set()
    for i, row in enumerate(rows):
        fp = row.get("fingerprint") if isinstance(row, dict) else None
        if not isinstance(fp, str) or not fp:
            raise ConfigError(str(path), f"findings[{i}].fingerprint", "a fingerprint string")
        out.add(fp)
    return out


def apply_baseline(findings: Iterable[Finding], fingerprints: set[str]) -> list[Finding]:
    """Failures and errors already in the baseline are marked ``baselined`` (reported, not gating)."""
    return [
        f.with_(baselined=True) if f.status in ("fail", "error") and f.fingerprint in fingerprints else f
        for f in findings
    ]
