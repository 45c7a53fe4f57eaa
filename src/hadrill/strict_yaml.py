"""The YAML loader for every file hadrill reads: safe, and strict where PyYAML is lenient.

PyYAML's safe loader still lets a mistake through or blow up: duplicate keys keep the last value,
anchors and aliases expand a few hundred bytes into gigabytes (or into a structure that contains
itself), dates such as ``2020-02-30`` and tags such as ``!!int x`` raise plain Python errors without a
line. This loader parses with libyaml when present (``CSafeLoader``), then checks the node graph
before building anything:

- a mapping key appears once (``<<`` merges may still be overridden, as YAML intends);
- keys are strings (``on:``/``yes:`` are booleans in YAML 1.1: quote them);
- aliases add at most :data:`MAX_ALIAS_NODES` nodes and never make a structure contain itself;
- nesting stays under :data:`MAX_DEPTH` levels (what reads the data afterwards recurses).

Dates stay strings (pydantic parses the fields that are dates, and names them when they are wrong);
an explicit tag that cannot be built (``!!int x``, ``!!bool maybe``, ``!!timestamp 2020-02-30``)
is a :class:`yaml.constructor.ConstructorError` with its line, like every other YAML error.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "RuleBroken", "StrictLoader", "load_all", "load_one"]

MAX_ALIAS_NODES = 10_000  # nodes that aliases may add beyond the file's own (a few merges use dozens)
MAX_DEPTH = 100  # nesting levels (Kubernetes manifests use about 15)

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"


class RuleBroken(ConstructorError):
    """One of this loader's own rules is broken; ``problem`` says what is expected instead."""


class StrictLoader(_Base):  # type: ignore[misc]
    """``CSafeLoader`` (or ``SafeLoader``) without implicit timestamps, and whose scalar errors carry a line."""


def _with_line(construct: Any) -> Any:
    """A scalar constructor whose plain Python errors (``!!int x``) become errors with the node's line."""

    def wrapped(loader: Any, node: Node) -> Any:
        try:
            return construct(loader, node)
        except ConstructorError:
            raise
        except (ValueError, TypeError, LookupError, ArithmeticError) as e:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            value = str(node.value)[:40] if isinstance(node, ScalarNode) else "..."
            raise ConstructorError(None, None, f"{tag} {value!r}: {_short(e)}", node.start_mark) from e

    return wrapped


def _not_read(loader: Any, node: Node) -> Any:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise ConstructorError(None, None, f"{tag[:40]} tags are not read: use plain values, lists and mappings",
                           node.start_mark)  # fmt: skip


# JSON's types only: what every file format hadrill reads is made of. Strings, mappings and lists cannot
# fail to build; the scalars that can say on which line.
for _tag in ("int", "float", "bool", "null"):
    _full = f"tag:yaml.org,2002:{_tag}"
    StrictLoader.add_constructor(_full, _with_line(_Base.yaml_constructors[_full]))
for _tag in ("set", "omap", "pairs", "binary", "timestamp"):
    StrictLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _not_read)


# Timestamps stay strings: copy the resolvers without the timestamp one (on our class only).
StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}


def _short(e: BaseException) -> str:
    if isinstance(e, KeyError):
        return f"unknown value {e.args[0]!r:.40}"
    if "integer string conversion" in str(e):
        return "an integer of at most 4300 digits"
    return str(e)[:100]


def _key_text(node: Node) -> str:
    return str(node.value)[:60] if isinstance(node, ScalarNode) else node.tag


def check_tree(root: Node) -> None:
    """:func:`check_graph` for a document without anchors (so without aliases): a walk over its
    mappings and lists only (scalars cannot break these rules; their tags are the constructors')."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RuleBroken(None, None, f"at most {MAX_DEPTH} levels of nesting", node.start_mark)
        if type(node) is MappingNode:
            _check_keys(node)
            stack += [(value, depth + 1) for _, value in node.value if type(value) is not ScalarNode]
        elif type(node) is SequenceNode:
            stack += [(item, depth + 1) for item in node.value if type(item) is not ScalarNode]


def check_graph(root: Node) -> None:
    """Reject duplicate and non-string keys, alias bombs, self-reference and deep nesting (before building).

    Iterative (no recursion): a file may be nested deeper than Python's stack.
    """
    size: dict[int, int] = {}  # id(node) -> expanded size
    on_path: set[int] = set()
    distinct = 0
    stack: list[tuple[Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            continue
        if key in size:
            continue
        if key in on_path:
            raise RuleBroken(None, None, "a structure that does not contain itself (an alias refers to "
                                   "its own anchor)", node.start_mark)  # fmt: skip
        if depth > MAX_DEPTH:
            raise RuleBroken(None, None, f"at most {MAX_DEPTH} levels of nesting", node.start_mark)
        distinct += 1
        if isinstance(node, MappingNode):
            _check_keys(node)
        on_path.add(key)
        stack.append((node, depth, True))
        for child in _children(node):
            if id(child) in on_path:
                raise RuleBroken(None, None, "a structure that does not contain itself (an alias refers "
                                       "to its own anchor)", child.start_mark)  # fmt: skip
            if id(child) not in size:
                stack.append((child, depth + 1, False))
    if size[id(root)] - distinct > MAX_ALIAS_NODES:
        raise RuleBroken(None, None, f"aliases that add at most {MAX_ALIAS_NODES} nodes (they add "
                               f"{size[id(root)] - distinct})", root.start_mark)  # fmt: skip


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_keys(node: MappingNode) -> None:
    seen: dict[str, Any] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE:
            continue
        if not isinstance(key_node, ScalarNode) or key_node.tag != _STR:
            what = f"not a string ({key_node.value!r:.40})" if isinstance(key_node, ScalarNode) else "a collection"
            raise RuleBroken(None, None, f"keys that are strings (quote it): this key is {what}",
                                   key_node.start_mark)  # fmt: skip
        text = key_node.value
        if text in seen:
            raise RuleBroken(
                None, None, f"each key once: {text[:60]!r} is also on line {seen[text].line + 1}", key_node.start_mark
            )
        seen[text] = key_node.start_mark


class _Unusual(Exception):
    """Something :func:`_build` leaves to PyYAML's constructor and the full checks (merge keys, other tags,
    any broken rule): that path then decides, and raises exactly the error it always raised."""


_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


def _build(loader: Any, node: Node, depth: int) -> Any:
    """Check and build a document without anchors in one walk: string keys once each, at most
    :data:`MAX_DEPTH` levels, scalars through the loader's own constructors (so values are identical).

    PyYAML's construct_object keeps bookkeeping for aliases and recursive structures a document without
    anchors cannot have; with check_tree it was two walks. Anything else raises :class:`_Unusual`.
    """
    kind = type(node)
    if kind is ScalarNode:
        if node.tag == _STR:
            return node.value
        construct = _SCALARS.get(node.tag)
        if construct is None:
            raise _Unusual
        return construct(loader, node)
    if depth > MAX_DEPTH:
        raise _Unusual
    if kind is MappingNode and node.tag == _MAP:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is not ScalarNode or key_node.tag != _STR:
                raise _Unusual  # a merge key, a non-string key
            key = key_node.value
            if key in out:
                raise _Unusual  # a duplicate: the full check names both lines
            out[key] = (
                value_node.value
                if type(value_node) is ScalarNode and value_node.tag == _STR
                else _build(loader, value_node, depth + 1)
            )
        return out
    if kind is SequenceNode and node.tag == _SEQ:
        return [
            item.value if type(item) is ScalarNode and item.tag == _STR else _build(loader, item, depth + 1)
            for item in node.value
        ]
    raise _Unusual


_SCALARS = {
    tag: StrictLoader.yaml_constructors[tag]
    for tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null")
}


def _document(loader: Any, node: Node, anchors: bool) -> Any:
    """One checked document: the one-walk build when it has no anchors, else (or when that walk meets
    anything unusual) the full graph/tree check then PyYAML's constructor."""
    if not anchors:
        try:
            return _build(loader, node, 1)
        except (_Unusual, yaml.YAMLError, ValueError, TypeError, LookupError, ArithmeticError):
            pass  # the full path below raises the error it always raised (or builds what is fine)
    (check_graph if anchors else check_tree)(node)
    return loader.construct_document(node)


def load_one(text: str) -> Any:
    """One YAML document (None when empty); yaml.YAMLError on anything not allowed."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _document(loader, node, "&" in text)
    finally:
        loader.dispose()


def load_all(text: str) -> list[Any]:
    """Every ``---``-separated document."""
    loader = StrictLoader(text)
    out = []
    anchors = "&" in text
    try:
        while loader.check_node():
            out.append(_document(loader, loader.get_node(), anchors))
    finally:
        loader.dispose()
    return out
