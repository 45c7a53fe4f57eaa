"""hadrill's small, flat exception tree.

Exceptions are for broken infrastructure and bad input; a failed check or objective is a pytest
assertion instead. Library errors (docker, requests, yaml) are converted once, at the boundary,
with ``raise ... from e`` so the cause stays visible.
"""

from __future__ import annotations

import re

__all__ = [
    "ConfigError",
    "EngineError",
    "HadrillError",
    "ImageBuildError",
    "InjectionFailed",
    "LabError",
    "ProbeFailed",
    "RevertFailed",
    "SafetyRefused",
    "TargetError",
    "printable",
    "shown",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str, limit: int = 300) -> str:
    """``text`` safe on one terminal line: control characters (newlines, escapes, bidi overrides) as
    ``\\xNN``/``\\uNNNN``, cut to ``limit`` characters."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1] if m.group() in "\n\r\t" else f"\\u{ord(m.group()):04x}", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: object, limit: int = 80) -> str:
    """A value as an error message shows it: repr'd, one line, cut; never a 4,300-digit ``str(int)``."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int over the str() digit limit deep inside, a self-containing list
        text = f"a {type(value).__name__}"
    return printable(text, limit)


class HadrillError(Exception):
    """Base of every error hadrill raises on purpose."""


class ConfigError(HadrillError):
    """A file (lab file, inventory, kind config, plan, experiment) is not what hadrill expects.

    The message names the file, the field (dotted path) and what was expected, so an operator can
    fix the file without reading hadrill's code.
    """

    def __init__(self, file: str, field: str, expected: str, got: object = None) -> None:
        self.file = file
        self.field = field
        self.expected = expected
        self.got = got
        where = f"{printable(file, 200)}: {printable(field, 120)}" if field else printable(file, 200)
        message = f"{where}: expected {printable(expected)}"
        if got is not None:
            message += f", got {shown(got)}"
        super().__init__(message)


class EngineError(HadrillError):
    """The Docker engine is missing or does not answer."""


class ImageBuildError(HadrillError):
    """Building a lab image failed; the message carries the tail of the build log."""


class LabError(HadrillError):
    """The lab could not be brought up, inspected or taken down."""


class TargetError(HadrillError):
    """A node of the platform could not be reached or a command on it failed to run."""


class InjectionFailed(HadrillError):
    """A fault was applied but its effect could not be observed (or applying it failed)."""


class RevertFailed(HadrillError):
    """A fault could not be reverted; it stays open in the ledger for ``hadrill recover``."""


class SafetyRefused(HadrillError):
    """A fault would exceed a cluster's declared failure budget and was not forced."""


class ProbeFailed(HadrillError):
    """The service a probe samples did not answer correctly: one failed sample, not a bug."""
