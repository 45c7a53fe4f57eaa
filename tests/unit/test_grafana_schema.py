"""The shipped Grafana dashboards against Grafana's own dashboard schema (vendored, offline).

The schema is the ``Dashboard`` type of the npm package ``@grafana/schema`` as a JSON Schema
(``deploy/grafana/schema/``, with how it was made); it is upstream's, not this project's code.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "deploy" / "grafana" / "schema" / "dashboard.schema.json").read_text())
DASHBOARDS = sorted((ROOT / "deploy" / "grafana").glob("*.json"))


def _errors(board: dict[str, Any]) -> list[str]:
    """Every error with its path, including why each branch of an anyOf (panel or row) refused it."""
    out: list[str] = []
    stack = list(jsonschema.Draft7Validator(SCHEMA).iter_errors(board))
    while stack:
        e = stack.pop()
        out.append(f"{'/'.join(map(str, e.absolute_path))}: {e.message}")
        stack.extend(e.context or [])
    return sorted(out)


def test_the_vendored_schema_is_a_valid_draft7_schema_of_the_dashboard() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["$ref"] == "#/definitions/Dashboard"


def test_there_is_a_dashboard_to_check() -> None:
    assert [p.name for p in DASHBOARDS] == ["hadrill-dashboard.json"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_shipped_dashboard_loads_in_grafanas_schema(path: Path) -> None:
    assert _errors(json.loads(path.read_text())) == []


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        # by hand from Grafana's schema: gridPos.w is a number of columns
        (lambda b: b["panels"][0]["gridPos"].update(w="6"), "panels/0/gridPos/w: '6' is not of type 'number'"),
        # the pre-5.0 "rows" layout is not a dashboard property any more
        (lambda b: b.update(rows=[]), "Additional properties are not allowed ('rows' was unexpected)"),
        # schemaVersion is the one required property of a dashboard
        (lambda b: b.pop("schemaVersion"), "'schemaVersion' is a required property"),
        # graphTooltip is 0, 1 or 2 (no shared crosshair, crosshair, crosshair and tooltip)
        (lambda b: b.update(graphTooltip=5), "graphTooltip: 5 is not one of"),
        # a template variable needs a name
        (lambda b: b["templating"]["list"][0].pop("name"), "'name' is a required property"),
    ],
    ids=["gridpos-string", "rows", "no-schema-version", "graph-tooltip", "variable-without-name"],
)
def test_the_schema_refuses_a_planted_mistake(mistake: Any, expected: str) -> None:
    board = copy.deepcopy(json.loads(DASHBOARDS[0].read_text()))
    mistake(board)
    errors = _errors(board)
    assert any(expected in e for e in errors), errors
