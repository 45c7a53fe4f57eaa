from collections.abc import Callable, Iterable
from typing import Any

def evaluate(
    restricted: bool, relax_userns: bool, meta: Any, spec: Any, spec_path: str, meta_path: str, /
) -> tuple[tuple[str, dict[str, Any], str], ...] | None: ...
def bind_finding(cls: type, fields: tuple[str, ...], /) -> None: ...
def scan(
    objects: Iterable[Any],
    restricted: bool,
    relax_userns: bool,
    file: str | None,
    suite: str,
    templates: dict[str, tuple[tuple[str, ...], str, str, str]],
    rules: dict[str, tuple[str, str, str]],
    other: Callable[[Any], list[Any]],
    /,
) -> list[Any]: ...
