"""hadrill's small, flat exception tree.

Exceptions are for broken infrastructure and bad input; a failed check or objective is a pytest
assertion instead. Library errors (docker, requests, yaml) are converted once, at the boundary,
with ``raise ... from e`` so the cause stays visible.
"""

from __future__ import annotations


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
        where = f"{file}: {field}" if field else file
        message = f"{where}: expected {expected}"
        if got is not None:
            shown = repr(got)
            message += f", got {shown[:80]}{'...' if len(shown) > 80 else ''}"
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
