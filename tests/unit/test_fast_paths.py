"""The fast paths of #20 give exactly what the general ones give.

- ``strict_yaml``'s one-walk build of a document without anchors equals PyYAML's own constructor on the
  same loader (the oracle), for generated data and for the scalars YAML 1.1 resolves in odd ways; the
  documents it leaves to the full path (merge keys, other tags) still load as before.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hadrill import strict_yaml


def _oracle(text: str) -> list[Any]:
    """PyYAML's constructor on hadrill's loader class, without the one-walk build (and without checks)."""
    return list(yaml.load_all(text, Loader=strict_yaml.StrictLoader))


ODD = """\
a: 0x1F
b: 1_000
c: 0o17
d: 1:30
e: .inf
f: -.nan_not
g: ~
h: yes
i: 2020-01-01
j: !!str 12
k: '0x1F'
l: [1, 2.5, null, true, "x", [], {}]
m: {n: {o: [{p: 1e3}]}}
q: 0b101
r: +12
s: 012
t: ""
"""


def test_odd_scalars_build_as_pyyaml_builds_them() -> None:
    assert strict_yaml.load_all(ODD) == _oracle(ODD)
    assert strict_yaml.load_one(ODD) == _oracle(ODD)[0]
    # the one-walk build took these (no fallback): same objects from _build directly
    loader = strict_yaml.StrictLoader(ODD)
    try:
        assert strict_yaml._build(loader, loader.get_single_node(), 1) == _oracle(ODD)[0]
    finally:
        loader.dispose()


def test_documents_left_to_the_full_path_still_load() -> None:
    merged = "base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n---\n<<: {x: 1}\ny: 2\n"
    assert strict_yaml.load_all(merged) == _oracle(merged)
    inline = "<<: {x: 1}\ny: 2\n"
    assert strict_yaml.load_all(inline) == [{"x": 1, "y": 2}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\nb:\n  c: 1\n  c: 2\n", "each key once: 'c' is also on line 3"),
        ("a: !!set {x}\n", "!!set tags are not read"),
        ("a: !!int x\n", "!!int 'x'"),
        ("a:\n  1: x\n", "keys that are strings"),
        ("[" * 101 + "]" * 101 + "\n", "at most 100 levels of nesting"),
    ],
)
def test_what_the_one_walk_build_leaves_is_refused_with_the_full_checks_message(text: str, expected: str) -> None:
    with pytest.raises(yaml.YAMLError, match=re.escape(expected)):
        strict_yaml.load_all(text)


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False), st.text(max_size=12), st.dates().map(str),
)  # fmt: skip
_data = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_data, min_size=1, max_size=3), st.booleans())
def test_generated_documents_build_as_pyyaml_builds_them(docs: list[Any], flow: bool) -> None:
    text = yaml.safe_dump_all(docs, default_flow_style=flow, sort_keys=False)
    assert strict_yaml.load_all(text) == _oracle(text)
