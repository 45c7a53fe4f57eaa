"""The pytest plugin's experiment items under ``--hadrill-lab``: what is skipped without a lab, and what
a lab that never came up makes every later item say.

A real pytest runs in a subprocess on a scratch directory, with ``DOCKER_HOST`` pointing at a socket
that does not exist: any attempt to bring a lab up fails, so a skip proves no lab was asked for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pytest(tmp_path: Path, *experiments: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "experiments").mkdir()
    for name in experiments:
        shutil.copy(ROOT / "experiments" / name, tmp_path / "experiments" / name)
    env = {
        **os.environ,
        "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
        "HADRILL_STATE_DIR": str(tmp_path / "state"),
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("HADRILL_INVENTORY", None)
    lab = ["--hadrill-lab", "hdt-unit", "--hadrill-lab-file", str(ROOT / "tests" / "lab.yaml")]
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q", "--rootdir", str(tmp_path), *lab]
    args.append("experiments")
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_an_experiment_needing_a_part_the_lab_file_lacks_is_skipped_without_a_lab(tmp_path: Path) -> None:
    # tests/lab.yaml has etcd, nfs and gluster, no swarm and no kubernetes part
    out = _pytest(tmp_path, "swarm-kill-leader.yaml", "kube-kill-master.yaml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 skipped" in out.stdout, out.stdout
    assert "needs cluster(s) swarm in the inventory (a lab file with swarm: {})" in out.stdout, out.stdout
    assert "(a lab file with kubernetes: {})" in out.stdout, out.stdout
    assert not (tmp_path / "state" / "labs" / "hdt-unit").exists()


def test_a_lab_that_did_not_come_up_is_named_by_every_later_item(tmp_path: Path) -> None:
    out = _pytest(tmp_path, "etcd-kill-leader.yaml", "etcd-partition-member.yaml")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "2 failed" in out.stdout, out.stdout
    # the first item fails on the engine itself, the second on the remembered failure, which names it
    assert "EngineError: No Docker engine answers" in out.stdout, out.stdout
    assert "hadrill: the session's lab did not come up: No Docker engine answers" in out.stdout, out.stdout
    assert "expected an existing inventory" not in out.stdout, out.stdout
