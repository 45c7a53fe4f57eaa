"""False passes of issue #11, end to end: each experiment below must FAIL, saying why, under all four
runners (``hadrill run``, ``pytest`` collecting the file, ``hadrill drill`` and ``chaos run``).

- the fault action raises (a member that does not exist): nothing injected, nothing measured;
- the probes never start: every objective is "not measured";
- the service is still down when sampling stops (quorum lost, probes stopped before the heal): the
  open outage fails its objective however generous it is.

One etcd-only lab for the module (``hdt-<worker>-verdict``); each runner is a subprocess of this
venv, with the module's own state directory, so nothing meets another module's lab or ledger.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labtools import fresh_lab

from hadrill.inventory import load_inventory
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import default_lab_file

pytestmark = [pytest.mark.lab, pytest.mark.chaos]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
BIN = Path(sys.executable).parent
RUN_TIMEOUT = 240  # seconds one runner may take on one experiment (each takes ~5-25 s)

_CONTROL = [{"name": "hadrill", "provider": {"type": "python", "module": "hadrill.ctk.control"}}]


def _act(name: str, func: str, module: str = "hadrill.ctk.actions", kind: str = "action", **args: Any) -> dict:
    return {"type": kind, "name": name, "provider": {"type": "python", "module": module, "func": func,
                                                      "arguments": args}}  # fmt: skip


def _experiment(title: str, method: list[dict], objectives: dict[str, Any]) -> dict[str, Any]:
    probe = _act("objectives-met", "objectives_met", "hadrill.ctk.probes", "probe", objectives=objectives)
    return {
        "version": "1.0.0",
        "title": title,
        "description": "A scenario that must fail (tests/integration/test_verdicts.py).",
        "controls": _CONTROL,
        "steady-state-hypothesis": {"title": "objectives hold", "probes": [{**probe, "tolerance": True}]},
        "method": method,
        "rollbacks": [_act("heal-everything", "heal")],
    }


CASES = {
    # Chaos Toolkit records the failed action and still says "completed".
    "fault-raises": (
        _experiment(
            "The fault action raises",
            [
                _act("start-probes", "start_probes", cluster="etcd", probes=["write", "read"]),
                _act("kill-no-such-member", "kill_member", cluster="etcd", member="no-such-member", time_limit=30),
                _act("heal", "heal"),
                _act("stop-probes", "stop_probes", settle=1),
            ],
            {"max_outage_s": 5.0},
        ),
        "activity kill-no-such-member failed",
    ),
    # No probe: every objective asked for is "not measured" (it was True, vacuously).
    "no-probes": (
        _experiment(
            "The probes never start",
            [
                _act("kill-a-follower", "kill_member", cluster="etcd", member="follower", time_limit=30),
                _act("heal", "heal"),
            ],
            {"max_outage_s": 5.0, "availability": 0.5, "acked_writes_lost": 0},
        ),
        "not measured: no probe ran",
    ),
    # Two of three members down, sampling stopped before the heal: the outage is still open.
    "still-down": (
        _experiment(
            "The service is still down when sampling stops",
            [
                _act("start-probes", "start_probes", cluster="etcd", probes=["write"]),
                _act("kill-one", "kill_member", cluster="etcd", member="MEMBER-0", time_limit=30),
                _act("kill-another", "kill_member", cluster="etcd", member="MEMBER-1", time_limit=30, force=True),
                _act("stop-probes-while-down", "stop_probes", settle=2),
                _act("heal", "heal"),
            ],
            {"max_outage_s": 600.0},
        ),
        "not recovered while measured",
    ),
}


@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    spec = default_lab_file().with_name(f"hdt-{WORKER}-verdict")
    yield from fresh_lab(spec.model_copy(update={"nfs": None, "gluster": None, "kubernetes": None, "monitoring": None}))


def _runner(args: list[str], cwd: Path, inventory: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HADRILL_INVENTORY": str(inventory), "HADRILL_JOURNAL_DIR": str(cwd / "journals")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)


@pytest.mark.parametrize("case", sorted(CASES))
def test_fails_under_every_runner(case: str, lab: Lab, tmp_path: Path) -> None:
    experiment, why = CASES[case]
    inventory = Path(lab.inventory_path)
    folder = tmp_path / "experiments"
    folder.mkdir()
    path = folder / f"{case}.json"
    members = [m.name for m in load_inventory(inventory).cluster("etcd").members]
    text = json.dumps(experiment).replace("MEMBER-0", members[0]).replace("MEMBER-1", members[1])
    path.write_text(text, encoding="utf-8")

    # hadrill run
    done = _runner([str(BIN / "hadrill"), "run", str(path), "--inventory", str(inventory)], tmp_path, inventory)
    assert done.returncode == 1, done.stdout + done.stderr
    assert why in done.stdout, done.stdout

    # pytest, collecting the experiment file as a test (the plugin is registered by entry point)
    done = _runner(
        [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "--hadrill-inventory", str(inventory), str(path)],
        tmp_path, inventory,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed" in done.stdout and why in done.stdout, done.stdout

    # hadrill drill (the default plan over the folder)
    out = tmp_path / "report"
    args = [str(BIN / "hadrill"), "drill", "--inventory", str(inventory), "--experiments", str(folder)]
    done = _runner([*args, "--out", str(out)], tmp_path, inventory)
    assert done.returncode == 1, done.stdout + done.stderr
    assert why in done.stdout, done.stdout
    drill = json.loads((out / "journals" / "drill.json").read_text(encoding="utf-8"))["drill"]
    (scenario,) = drill["scenarios"]
    assert scenario["status"] == "failed" and any(why in r for r in scenario["reasons"])

    # chaos run: the hadrill control turns the journal's status to failed, so chaos exits 1
    journal = tmp_path / "chaos-journal.json"
    done = _runner([str(BIN / "chaos"), "run", "--journal-path", str(journal), str(path)], tmp_path, inventory)
    assert done.returncode == 1, done.stdout + done.stderr
    written = json.loads(journal.read_text(encoding="utf-8"))
    assert written["status"] == "failed"
    assert any(why in r for r in written["hadrill"]["judgement"]["reasons"]), written["hadrill"]["judgement"]
