"""The journal: the single record of a run that every report is built from.

It is Chaos Toolkit's journal (experiment, activities with timings, status) with hadrill's own part
under ``hadrill``: inventory, fault windows, events, probe histories, lost writes and verdicts.
Secrets never enter it: values under secret-looking keys, and values that look like secrets
(:mod:`hadrill.secrets`), are replaced before writing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from hadrill.paths import state_dir
from hadrill.secrets import REDACTED, redact_text

__all__ = ["default_journal_dir", "load_journal", "redact", "write_journal"]

_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|bearer|authori[sz]ation|credential|private[_-]?key|client[_-]?key|"
    r"api[_-]?key|kubeconfig|cookie)",
    re.IGNORECASE,
)


def default_journal_dir() -> Path:
    """``$HADRILL_JOURNAL_DIR``, else ``<state dir>/journals``."""
    env = os.environ.get("HADRILL_JOURNAL_DIR")
    return Path(env) if env else state_dir() / "journals"


def redact(data: Any, *, under_secret: bool = False) -> Any:
    """A copy with every value under a secret-looking key (or a ``secrets`` block) hidden, and every secret
    recognised by its value (PEM blocks, bearer tokens, URL passwords: :mod:`hadrill.secrets`) hidden too."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            secret = under_secret or (isinstance(k, str) and (k == "secrets" or bool(_SECRET_KEY.search(k))))
            if secret and not isinstance(v, dict | list):
                out[k] = REDACTED if v not in (None, "", {}, []) else v
            else:
                out[k] = redact(v, under_secret=secret)
        return out
    if isinstance(data, list):
        return [redact(v, under_secret=under_secret) for v in data]
    if under_secret and data not in (None, ""):
        return REDACTED
    return redact_text(data) if isinstance(data, str) else data


def write_journal(path: Path, data: dict[str, Any]) -> Path:
    """Write atomically, redacted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(redact(data), indent=1, default=str, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path


def load_journal(path: Path) -> dict[str, Any]:
    """A journal read back (strict JSON; a ConfigError names the file when it is not an object)."""
    from hadrill.config import load_json
    from hadrill.errors import ConfigError

    data = load_json(path, "journal")
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", "a JSON object (a journal)", type(data).__name__)
    return data
