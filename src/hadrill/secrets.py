"""Secrets recognised by their value, wherever they appear: hadrill never writes them out.

Key names catch ``password: x``; they miss a private key pasted into a setting, a ``Bearer`` header in
an exception, a kubeconfig embedded in a string, or ``https://user:pass@host`` in a URL. These
patterns replace the secret part and keep the rest readable (the URL's host, the header's name).

>>> redact_text("GET https://admin:hunter2@db:5432/x with Authorization: Bearer abc.def")
'GET https://admin:***redacted***@db:5432/x with Authorization: Bearer ***redacted***'
"""

from __future__ import annotations

import logging
import re
from typing import Any

__all__ = ["REDACTED", "RedactingFilter", "install_log_redaction", "redact_text", "redact_values"]

REDACTED = "***redacted***"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # PEM blocks of any kind (private keys above all), including escaped newlines as in JSON strings
    (re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?(?:-----END \1-----|\Z)", re.S), f"-----PEM {REDACTED}-----"),
    # Authorization headers and bare bearer/basic tokens
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*", re.I), rf"\1 {REDACTED}"),
    # JWTs (Kubernetes service-account tokens, OIDC id tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), REDACTED),
    # user:password@ in URLs
    (re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s/:@'\"]+:)[^\s@/'\"]+@", re.I), rf"\1{REDACTED}@"),
    # key: value / key=value for kubeconfig and credential keys inside free text (YAML, INI, env, JSON)
    (
        re.compile(
            r"""(["']?\b(?:client-key-data|client-certificate-data|token|id-token|refresh-token|password|passwd|"""
            r"""secret|api[_-]?key|access[_-]?key|private[_-]?key)["']?\s*[:=]\s*["']?)(?!\*\*\*redacted)"""
            r"""[^\s"',}\]\\<>&]+""",
            re.I,
        ),
        rf"\1{REDACTED}",
    ),
]


def redact_text(text: str) -> str:
    """``text`` with every secret-looking value replaced (cheap when there is none)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_values(data: Any) -> Any:
    """A copy of a JSON-like structure with :func:`redact_text` applied to every string (keys kept)."""
    if isinstance(data, str):
        return redact_text(data)
    if isinstance(data, dict):
        return {k: redact_values(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_values(v) for v in data]
    return data


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with its secrets hidden (Chaos Toolkit logs arguments and outputs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def install_log_redaction(*names: str) -> None:
    """Attach :class:`RedactingFilter` to the named loggers (default: Chaos Toolkit's and hadrill's), once."""
    for name in names or ("chaostoolkit", "hadrill"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
