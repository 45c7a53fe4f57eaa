"""Loading YAML files into pydantic models, with errors that name the file and the field.

Every file hadrill reads (lab file, inventory, kind config, plan) goes through :func:`load_model`,
so a typo anywhere reads the same way: ``lab.yaml: etcd.members: expected an integer >= 1, got 'x'``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hadrill.errors import ConfigError

__all__ = ["check_cidr", "load_model", "load_yaml", "parse_model"]

M = TypeVar("M", bound=BaseModel)

_EXPECTED = {
    "missing": "this field to be present",
    "extra_forbidden": "no such field (check its spelling)",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "float_type": "a number",
    "float_parsing": "a number",
}


def check_cidr(value: str, example: str = "10.213.4.0/24") -> str:
    """A pydantic-validator body: the value must be a CIDR subnet."""
    try:
        ipaddress.ip_network(value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"a CIDR subnet such as {example}") from e
    return value


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML text; a syntax error becomes a ConfigError naming the line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(source, where, f"valid YAML ({getattr(e, 'problem', None) or e})") from e
    except Exception as e:  # PyYAML constructors raise plain errors on odd tagged scalars (!!int, !!timestamp)
        raise ConfigError(source, "", f"valid YAML ({e})") from e


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_model(model: type[M], data: Any, source: str) -> M:
    """Validate already-parsed data; the first error names the dotted field and the expectation."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, "", "a YAML mapping at the top level", type(data).__name__)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        expected = _EXPECTED.get(err["type"]) or err["msg"].removeprefix("Value error, ").removeprefix(
            "Input should be "
        )
        got = err.get("input") if err["type"] != "missing" else None
        if isinstance(got, dict | list):
            got = type(got).__name__
        raise ConfigError(source, _field(tuple(err["loc"])), expected, got) from e


def load_model(model: type[M], path: Path) -> M:
    """Read and validate one YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(str(path), "", "an existing file") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(str(path), "", f"a readable UTF-8 file ({e})") from e
    return parse_model(model, load_yaml(text, str(path)), str(path))
