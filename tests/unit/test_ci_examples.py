"""The CI examples in examples/ci/ lint clean with the tools their platforms use, and gate as they say.

- GitHub Actions: actionlint (built from its Go module at a pinned version into hadrill's cache; it
  runs shellcheck on every ``run:`` when shellcheck is installed) and the GitHub workflow JSON schema;
- GitLab CI: the GitLab CI JSON schema, and the job's script through ``sh -n`` and shellcheck;
- systemd: ``systemd-analyze verify`` on the timer and the service in a scratch root holding the
  system's own units and the script; the script's exit status is the worst of check and drill.

Each linter is first shown a broken copy and must reject it, so a linter that checks nothing fails.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
CI = ROOT / "examples" / "ci"
GITHUB = CI / "github" / "hadrill-nightly.yml"
GITLAB = CI / "gitlab" / "hadrill-nightly.gitlab-ci.yml"
SYSTEMD = CI / "systemd"
ACTIONLINT = ("github.com/rhysd/actionlint/cmd/actionlint", "v1.7.12")
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        pytest.fail(f"{tool} is not installed: run `bash .ci/bootstrap` (it installs it)")
    return found


@pytest.fixture(scope="module")
def actionlint() -> Path:
    from hadrill.errors import HadrillError
    from hadrill.lab.gobuild import go_install

    try:
        return go_install(*ACTIONLINT)
    except HadrillError as e:  # the Go module proxy refused or is unreachable: say so, do not pass
        pytest.skip(f"actionlint {ACTIONLINT[1]} could not be built from the Go module proxy: {e}")


def test_github_workflow_passes_actionlint(actionlint: Path, tmp_path: Path) -> None:
    _need("shellcheck")  # actionlint checks the run: scripts only with it
    ok = _run(actionlint, "-no-color", GITHUB)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(GITHUB.read_text().replace('rc=0\n', 'rc=0\n          echo $UNQUOTED_VAR\n', 1)
                      .replace("steps.check.outputs.rc", "steps.chek.outputs.rc"))  # fmt: skip
    bad = _run(actionlint, "-no-color", broken)
    assert bad.returncode == 1 and "chek" in bad.stdout and "SC2086" in bad.stdout, bad.stdout + bad.stderr


@pytest.mark.parametrize(("path", "schema"), [(GITHUB, "vendor.github-workflows"), (GITLAB, "vendor.gitlab-ci")])
def test_ci_files_match_their_platform_schema(path: Path, schema: str, tmp_path: Path) -> None:
    ok = _run(CHECK_JSONSCHEMA, "--builtin-schema", schema, path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    data = yaml.safe_load(path.read_text())
    job = data["jobs"]["gate"] if "jobs" in data else data["hadrill-nightly"]
    job["timeout-minutes" if "jobs" in data else "timeout"] = {"not": "a duration"}
    broken = tmp_path / path.name
    broken.write_text(yaml.safe_dump(data))
    assert _run(CHECK_JSONSCHEMA, "--builtin-schema", schema, broken).returncode == 1


def test_gitlab_job_script_parses_and_passes_shellcheck(tmp_path: Path) -> None:
    job = yaml.safe_load(GITLAB.read_text())["hadrill-nightly"]
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\nset -e\n" + "\n".join(job["before_script"] + job["script"]) + "\n")
    assert _run("sh", "-n", script).returncode == 0
    sc = _run(_need("shellcheck"), "-s", "sh", script)
    assert sc.returncode == 0, sc.stdout
    artifacts = job["artifacts"]["reports"]["junit"]
    assert artifacts == ["out/compliance/junit.xml", "out/drill/junit.xml"]


def _verify_root(tmp_path: Path, timer_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """systemd-analyze verify in a scratch root: the system's units, ours, the script where ExecStart says."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "usr/local/bin").mkdir(parents=True)
    shutil.copy2(SYSTEMD / "hadrill-nightly", root / "usr/local/bin/hadrill-nightly")
    for unit in ("hadrill-nightly.service", "hadrill-nightly.timer"):
        shutil.copy2(SYSTEMD / unit, root / "etc/systemd/system" / unit)
    if timer_text is not None:
        (root / "etc/systemd/system/hadrill-nightly.timer").write_text(timer_text)
    return _run(_need("systemd-analyze"), "verify", "--man=no", "--generators=no", f"--root={root}",
                "/etc/systemd/system/hadrill-nightly.service", "/etc/systemd/system/hadrill-nightly.timer")  # fmt: skip


def test_systemd_units_verify(tmp_path: Path) -> None:
    ok = _verify_root(tmp_path / "good")
    assert ok.returncode == 0 and "hadrill-nightly" not in ok.stderr, ok.stderr
    timer = (SYSTEMD / "hadrill-nightly.timer").read_text().replace("OnCalendar=*-*-* 02:30:00", "OnCalendar=nightly")
    bad = _verify_root(tmp_path / "bad", timer)
    assert bad.returncode != 0 and "calendar" in bad.stderr, bad.stderr
    sc = _run(_need("shellcheck"), "-s", "sh", SYSTEMD / "hadrill-nightly")
    assert sc.returncode == 0, sc.stdout


@pytest.mark.parametrize(("check_rc", "drill_rc", "expected"), [(0, 0, 0), (1, 0, 1), (0, 1, 1), (3, 1, 3), (2, 3, 3)])
def test_nightly_script_runs_both_and_exits_with_the_worst(
    tmp_path: Path, check_rc: int, drill_rc: int, expected: int
) -> None:
    """The script's own logic, with a stand-in for hadrill that records its arguments and exits as told."""
    fake = tmp_path / "hadrill"
    fake.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/calls"\n'
                    f'case "$1" in check) exit {check_rc};; drill) exit {drill_rc};; esac\n')  # fmt: skip
    fake.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "HADRILL_BIN": str(fake), "HADRILL_STATE_DIR": str(tmp_path / "state"),
           "HADRILL_WAIVERS": "/etc/hadrill/waivers.yaml"}  # fmt: skip
    proc = subprocess.run([str(SYSTEMD / "hadrill-nightly")], env=env, capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip
    assert proc.returncode == expected, proc.stdout + proc.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["check", "drill"]
    assert "--audit-waivers" in calls[0] and "--pdf" in calls[1]
