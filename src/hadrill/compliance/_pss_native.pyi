from typing import Any

def evaluate(
    restricted: bool, relax_userns: bool, meta: Any, spec: Any, spec_path: str, meta_path: str, /
) -> tuple[tuple[str, dict[str, Any], str], ...] | None: ...
