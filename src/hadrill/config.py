"""Reading the files hadrill is given, and validating them into pydantic models.

Every file hadrill reads (lab file, inventory, kind config, plan, experiment, policy, waivers,
baseline, manifests, journals and reports read back) goes through :func:`read_text`, and every YAML
one through :func:`load_yaml` (:mod:`hadrill.strict_yaml`), so a mistake anywhere reads the same way:
``lab.yaml: etcd.members: expected an integer >= 1, got 'x'``, and no input crashes, hangs or slips by:

- only regular files are read (a FIFO, a directory or a device is an error, checked before opening
  and opened non-blocking), at most :data:`MAX_FILE_BYTES`, in UTF-8;
- YAML goes through the strict loader (no duplicate keys, no alias bombs, dates stay strings);
- JSON rejects duplicate keys, NaN and Infinity, and nesting beyond :data:`MAX_DEPTH`;
- every failure (OS, decoding, syntax, validation, recursion) is a :class:`ConfigError` naming the
  file, the line where known, and the field.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import stat
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hadrill import strict_yaml
from hadrill.errors import ConfigError

__all__ = [
    "MAX_FILE_BYTES",
    "check_cidr",
    "load_json",
    "load_model",
    "load_yaml",
    "load_yaml_all",
    "parse_model",
    "read_text",
]

MAX_FILE_BYTES = 16 * 1024 * 1024  # the largest file hadrill reads (a big manifest bundle is ~2 MiB)
MAX_DEPTH = strict_yaml.MAX_DEPTH

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


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_text(path: Path | str, what: str = "file") -> str:
    """A regular file's text (UTF-8, at most MAX_FILE_BYTES); anything else is a ConfigError.

    Never blocks: the type is checked with ``stat`` before opening, and the open is non-blocking (a
    file swapped for a FIFO in between is caught by ``fstat`` on the open descriptor).
    """
    src = str(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(src, "", f"a regular {what}", _Shown(_kind(st.st_mode)))
        if st.st_size > MAX_FILE_BYTES:
            raise ConfigError(src, "", f"a {what} of at most {MAX_FILE_BYTES // 2**20} MiB",
                              _Shown(f"{st.st_size} bytes"))  # fmt: skip
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ConfigError(src, "", f"a regular {what}", _Shown(_kind(st.st_mode)))
            chunks, size = [], 0
            while size <= MAX_FILE_BYTES:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
    except FileNotFoundError as e:
        raise ConfigError(src, "", f"an existing {what}") from e
    except OSError as e:
        reason = "its name is too long" if e.errno == errno.ENAMETOOLONG else (e.strerror or type(e).__name__)
        raise ConfigError(src, "", f"a readable {what}", _Shown(reason)) from e
    except ValueError as e:  # a NUL byte in the name
        raise ConfigError(src, "", f"a {what} name without NUL bytes") from e
    data = b"".join(chunks)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(src, "", f"a {what} of at most {MAX_FILE_BYTES // 2**20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(src, f"line {line}", f"UTF-8 text (byte {data[e.start]:#04x} is not)") from e


class _Shown(str):
    """A ``got`` that is a description, printed as is (not repr'd)."""

    def __repr__(self) -> str:
        return str(self)


def _yaml_error(e: yaml.YAMLError, source: str, text: str) -> ConfigError:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    if mark is not None:
        where = f"line {mark.line + 1}"
    elif isinstance(e, yaml.reader.ReaderError):  # an unacceptable character: give its line
        where = f"line {text[: e.position].count(chr(10)) + 1}"
    else:
        where = ""
    if isinstance(e, yaml.reader.ReaderError):
        char = chr(e.character) if isinstance(e.character, int) else str(e.character)
        problem = f"no control character (U+{ord(char[:1] or chr(0)):04X} is one)"
    else:
        problem = str(getattr(e, "problem", None) or e)
    if isinstance(e, strict_yaml.RuleBroken):
        return ConfigError(source, where, problem)  # the strict loader's own wording
    return ConfigError(source, where, f"valid YAML ({problem})")


def load_yaml(text: str, source: str) -> Any:
    """Parse one YAML document strictly; every error is a ConfigError naming ``source`` and the line."""
    try:
        return strict_yaml.load_one(text)
    except yaml.YAMLError as e:
        raise _yaml_error(e, source, text) from e
    except RecursionError as e:  # the pure-Python composer on deep nesting
        raise ConfigError(source, "", f"at most {MAX_DEPTH} levels of nesting") from e


def load_yaml_all(text: str, source: str) -> list[Any]:
    """Every ``---``-separated YAML document (manifests), strictly."""
    try:
        return strict_yaml.load_all(text)
    except yaml.YAMLError as e:
        raise _yaml_error(e, source, text) from e
    except RecursionError as e:
        raise ConfigError(source, "", f"at most {MAX_DEPTH} levels of nesting") from e


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"each key once ({key[:60]!r} is repeated)")
        out[key] = value
    return out


def _json_constant(name: str) -> Any:
    raise ValueError(f"finite numbers ({name} is not)")


def _json_depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            return depth
        nxt: list[Any] = []
        for v in level:
            if isinstance(v, dict):
                nxt += v.values()
            elif isinstance(v, list):
                nxt += v
        level = nxt
    return depth


def load_json(path: Path | str, what: str = "file") -> Any:
    """Read a JSON file hadrill wrote (baseline, journal, report, lab spec) strictly."""
    src = str(path)
    text = read_text(path, what)
    try:
        data = json.loads(text, object_pairs_hook=_json_pairs, parse_constant=_json_constant)
    except json.JSONDecodeError as e:
        raise ConfigError(src, f"line {e.lineno}", f"a JSON {what} ({e.msg})") from e
    except RecursionError as e:
        raise ConfigError(src, "", f"JSON nested at most {MAX_DEPTH} levels") from e
    except ValueError as e:  # duplicate keys, NaN, an integer over Python's digit limit
        problem = "integers of at most 4300 digits" if "integer string conversion" in str(e) else str(e)[:100]
        raise ConfigError(src, "", f"a JSON {what}: {problem}") from e
    if _json_depth(data) > MAX_DEPTH:
        raise ConfigError(src, "", f"JSON nested at most {MAX_DEPTH} levels")
    return data


def _field(loc: tuple[int | str, ...], data: Any) -> str:
    """The dotted field of a pydantic error location, without the union tags pydantic adds
    (``options.timeo.bool`` is ``options.timeo``): a part is kept only when the data has it."""
    out = ""
    for part in loc:
        if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            out += f"[{part}]"
            data = data[part]
        elif isinstance(data, dict) and part in data:
            out += f".{part}" if out else str(part)
            data = data[part]
        elif not isinstance(data, dict | list) or isinstance(part, int) or "[" in str(part) or str(part) in _TAGS:
            continue  # a union member's tag (or past the data's end)
        else:
            out += f".{part}" if out else str(part)  # a missing field
            data = None
    return out


_TAGS = {"bool", "int", "float", "str", "none", "list", "dict", "tuple", "date", "datetime"}


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
        if isinstance(got, dict | list) and err["type"] in ("value_error", "assertion_error"):
            got = None  # the message says what is wrong inside it
        elif isinstance(got, dict | list):
            got = _Shown(f"a {'mapping' if isinstance(got, dict) else 'list'}")
        raise ConfigError(source, _field(tuple(err["loc"]), data), expected, got) from e


def load_model(model: type[M], path: Path, what: str = "file") -> M:
    """Read and validate one YAML file (``what`` it is, for the error: "inventory", "lab file")."""
    return parse_model(model, load_yaml(read_text(path, what), str(path)), str(path))
