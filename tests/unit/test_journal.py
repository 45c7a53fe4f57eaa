"""Journals never carry secrets."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hadrill.journal import REDACTED, redact, write_journal


def test_secret_keys_and_secret_blocks_are_hidden(tmp_path: Path) -> None:
    data = {
        "experiment": {"secrets": {"k8s": {"KUBERNETES_TOKEN": "abc123", "nested": ["x"]}}},
        "configuration": {"api_password": "hunter2", "client_key": "-----BEGIN PRIVATE KEY-----", "host": "h"},
        "samples": [{"key": "/hadrill/probe/1", "ok": True}],
        "Authorization": "Bearer zzz",
    }
    path = write_journal(tmp_path / "j.json", data)
    text = path.read_text()
    for secret in ("abc123", "hunter2", "BEGIN PRIVATE KEY", "Bearer zzz"):
        assert secret not in text
    back = json.loads(text)
    assert back["configuration"]["host"] == "h"
    assert back["samples"][0]["key"] == "/hadrill/probe/1"  # a probe's key is data, not a secret
    assert back["configuration"]["api_password"] == REDACTED


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=3),
)


@given(_json)
def test_redact_keeps_shape_and_never_fails(data: object) -> None:
    out = redact(data)
    assert type(out) is type(data) or out == REDACTED
    json.dumps(out)
