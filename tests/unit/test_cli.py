"""The command line's shared plumbing: which inventory a command acts on (--inventory, then
$HADRILL_INVENTORY, then the default lab's) and the one error-to-exit-code path."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from docker.errors import DockerException

from hadrill.cli import main
from hadrill.cli._common import handle_errors

BAD_INVENTORY = "platform: [not, a, string]\n"  # exists, so the command must read it to reject it

# Each command loads the inventory before it touches a platform; a bad one is exit 2 naming the file.
COMMANDS = {
    "check": ["check"],
    "drill": ["drill", "--experiments", "{empty}"],
    "preflight": ["preflight", "--target-version", "1.35"],
}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "empty").mkdir()
    env_inv = tmp_path / "from-env.yaml"
    opt_inv = tmp_path / "from-option.yaml"
    for f in (env_inv, opt_inv):
        f.write_text(BAD_INVENTORY, encoding="utf-8")
    return {"env": env_inv, "opt": opt_inv, "state": tmp_path / "state", "empty": tmp_path / "empty"}


def _invoke(name: str, files: dict[str, Path], env: dict[str, str], *extra: str) -> tuple[int, str]:
    args = [a.format(empty=files["empty"]) for a in COMMANDS[name]] + list(extra)
    result = CliRunner().invoke(main, args, env={"HADRILL_STATE_DIR": str(files["state"]), **env})
    return result.exit_code, result.stderr


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_hadrill_inventory_environment_names_the_inventory(name: str, files: dict[str, Path]) -> None:
    code, stderr = _invoke(name, files, {"HADRILL_INVENTORY": str(files["env"])})
    assert code == 2, stderr
    assert str(files["env"]) in stderr.replace("\n", "")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_inventory_option_wins_over_the_environment(name: str, files: dict[str, Path]) -> None:
    code, stderr = _invoke(name, files, {"HADRILL_INVENTORY": str(files["env"])}, "--inventory", str(files["opt"]))
    assert code == 2, stderr
    flat = stderr.replace("\n", "")
    assert str(files["opt"]) in flat and str(files["env"]) not in flat


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_without_either_the_default_lab_inventory_is_used(name: str, files: dict[str, Path]) -> None:
    code, stderr = _invoke(name, files, {"HADRILL_INVENTORY": ""})
    assert code == 2, stderr
    assert str(files["state"] / "labs" / "hadrill" / "inventory.yaml") in stderr.replace("\n", "")


def test_a_docker_engine_failure_is_infrastructure_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    @handle_errors
    def broken() -> None:
        raise DockerException("engine went away")

    with pytest.raises(SystemExit) as exc:
        broken()
    assert exc.value.code == 3
    assert "Docker engine: engine went away" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["drill", "preflight"])
def test_a_bad_target_version_is_bad_input_before_anything_runs(name: str, files: dict[str, Path]) -> None:
    args = [name, "--target-version", "one.two", "--inventory", str(files["opt"])]
    result = CliRunner().invoke(main, args, env={"HADRILL_STATE_DIR": str(files["state"])})
    assert result.exit_code == 2, result.stderr
    flat = result.stderr.replace("\n", "")
    assert "--target-version" in flat and "a version such as 1.35" in flat and "one.two" in flat
    assert str(files["opt"]) not in flat  # refused before the inventory was read
