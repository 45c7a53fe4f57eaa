"""Taking a lab down stops the host deadmen that would act on its containers, and only those: a lab of
the same name brought up later must not receive an old fault's revert. Real processes, named as the
host deadman is run (``python .../hostdeadman.py TAG DEADLINE DIR READY ACTIONS``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from hadrill.faults.deadman import disarm_for_containers


def _fake_deadman(tmp_path: Path, actions: list[dict[str, object]]) -> subprocess.Popen[bytes]:
    script = tmp_path / "hostdeadman.py"
    if not script.exists():  # written once: rewriting it could hand an empty file to a python still starting
        script.write_text("import time\ntime.sleep(60)\n")
    ready = str(tmp_path / "ready")
    argv = [sys.executable, str(script), "hadrill-deadman-x", "0", str(tmp_path), ready, json.dumps(actions)]
    return subprocess.Popen(argv)


def test_only_the_deadmen_acting_on_the_labs_containers_are_stopped(tmp_path: Path) -> None:
    mine = _fake_deadman(tmp_path, [{"op": "start", "container": "lab1-n1"}])
    lost = [{"container": "lab1-m1"}]
    rejoin = _fake_deadman(tmp_path, [{"op": "swarm_rejoin", "container": "lab1-m3", "lost": lost}])
    other = _fake_deadman(tmp_path, [{"op": "start", "container": "lab10-n1"}])  # a name that only starts alike
    try:
        time.sleep(0.3)
        stopped = disarm_for_containers({"lab1-n1", "lab1-m1"})
        assert sorted(stopped) == sorted([mine.pid, rejoin.pid])
        assert mine.wait(timeout=5) != 0 and rejoin.wait(timeout=5) != 0
        assert other.poll() is None  # another lab's deadman keeps running
    finally:
        for p in (mine, rejoin, other):
            p.kill()
            p.wait()
