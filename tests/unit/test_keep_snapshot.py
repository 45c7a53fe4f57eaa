"""``--keep-snapshot DIR`` (#12): ``hadrill run`` and ``hadrill drill`` hand the directory to the restore drill
(which otherwise deletes its snapshot, every Secret of the cluster in it); a path that is a file is bad input.

The restore drill itself needs a Kubernetes lab (tests/integration/test_restore_preflight.py moves the
snapshot there); here ``run_restore_drill`` is replaced to see what the command line gave it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hadrill.cli import main


class _Result:
    verdicts: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {}


@pytest.fixture
def given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path | None]:
    seen: list[Path | None] = []

    def fake_drill(inventory: Any, **kwargs: Any) -> _Result:
        seen.append(kwargs.get("keep_snapshot"))
        return _Result()

    monkeypatch.setattr("hadrill.restore.run_restore_drill", fake_drill)
    monkeypatch.delenv("HADRILL_KEEP_SNAPSHOT", raising=False)
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "restore.yaml").write_text(yaml.safe_dump({
        "title": "restore", "description": "the restore drill's action only",
        "controls": [{"name": "hadrill", "provider": {"type": "python", "module": "hadrill.ctk.control"}}],
        "method": [{"type": "action", "name": "restore", "provider": {
            "type": "python", "module": "hadrill.ctk.actions", "func": "etcd_restore_drill"}}],
    }))  # fmt: skip
    (tmp_path / "inv.yaml").write_text(yaml.safe_dump({"platform": "keep", "nodes": [], "clusters": []}))
    return seen


def _hadrill(tmp_path: Path, *args: str) -> Any:
    env = {"HADRILL_STATE_DIR": str(tmp_path / "state")}
    return CliRunner().invoke(main, [*args, "--inventory", str(tmp_path / "inv.yaml")], env=env)


def test_run_hands_the_directory_to_the_restore_drill(given: list[Path | None], tmp_path: Path) -> None:
    exp = str(tmp_path / "experiments" / "restore.yaml")
    r = _hadrill(tmp_path, "run", exp, "--journal-dir", str(tmp_path / "j"), "--keep-snapshot", str(tmp_path / "kept"))
    assert r.exit_code in (0, 1), r.output + r.stderr
    r = _hadrill(tmp_path, "run", exp, "--journal-dir", str(tmp_path / "j"))
    assert r.exit_code in (0, 1), r.output + r.stderr
    assert given == [tmp_path / "kept", None]  # without the flag: nothing kept


def test_drill_hands_the_directory_to_the_restore_drill(given: list[Path | None], tmp_path: Path) -> None:
    r = _hadrill(tmp_path, "drill", "--experiments", str(tmp_path / "experiments"), "--out", str(tmp_path / "out"),
                 "--keep-snapshot", str(tmp_path / "kept"))  # fmt: skip
    assert r.exit_code in (0, 1), r.output + r.stderr
    assert given == [tmp_path / "kept"]


@pytest.mark.parametrize("command", ["run", "drill"])
def test_a_file_is_not_a_directory_to_keep_it_in(given: list[Path | None], tmp_path: Path, command: str) -> None:
    (tmp_path / "a-file").write_text("x")
    target = str(tmp_path / "experiments" / ("restore.yaml" if command == "run" else ""))
    args = [command, target] if command == "run" else [command, "--experiments", target]
    r = _hadrill(tmp_path, *args, "--keep-snapshot", str(tmp_path / "a-file"))
    assert r.exit_code == 2, r.output + r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and "--keep-snapshot" in line and "a directory" in line, line
    assert given == []
