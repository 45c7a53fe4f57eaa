"""Checks shared by the Swarm modules (test_swarm over ``docker://``, test_swarm_ssh over ``ssh://``): the
same scenario and the same oracle on both transports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labtools import wait_until

from hadrill.clients.targets import target
from hadrill.errors import TargetError
from hadrill.faults.base import recover
from hadrill.faults.ledger import Ledger
from hadrill.inventory import Inventory, Node
from hadrill.lab.lab import Lab

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def sh(inv: Inventory, node: str, command: str, timeout: float = 20) -> str:
    return target(inv.node(node).url).check(command, timeout=timeout)


def swarm_nodes(inv: Inventory) -> list[Node]:
    """The inventory's Swarm nodes (the lab's Gluster servers and client are nodes too)."""
    return [n for n in inv.nodes if any(r.startswith("swarm-") for r in n.roles)]


FNC_LIMIT = 75.0  # seconds: the force-new-cluster fault's time limit in the deadman test (the run gets
# there in 25-50 s: two kills, 3 s pause, the refusal measured, the force proven; more on a loaded CI)
DEADMAN_GRACE = 5.0  # seconds after its deadline the host deadman may take to fire
REJOIN_S = 240.0  # seconds for the deadman's work: two nodes booted cut off, left, reconnected, joined


def deadman_restores_the_swarm(lab: Lab, inv: Inventory, tmp_path: Path, ledger: Ledger, state_dir: Path) -> None:
    """``hadrill run`` of the drill is SIGKILLed once the survivor leads the forced single-manager swarm:
    the procedure's host deadman fires at its deadline and, alone, restores the swarm: each lost manager
    restarted cut off, left, reconnected, its stale entry removed, joined as a manager with a token read
    from the survivor when it fired. ``recover`` afterwards finds nothing left to do."""
    c = inv.cluster("swarm")
    managers = c.settings["managers"]
    text = (ROOT / "experiments" / "swarm-force-new-cluster.yaml").read_text(encoding="utf-8")
    assert text.count("time_limit: 300") == 1 and text.count("time_limit: 240") == 1
    # the kills' own deadmen (a plain start) stay after the procedure's, as in the file
    text = text.replace("time_limit: 240}", f"time_limit: {FNC_LIMIT:g}}}")
    text = text.replace("time_limit: 300", "time_limit: 240")
    experiment = tmp_path / "swarm-force-new-cluster-short.yaml"
    experiment.write_text(text, encoding="utf-8")
    inventory = Path(lab.inventory_path)
    env = {**os.environ, "HADRILL_INVENTORY": str(inventory), "HADRILL_JOURNAL_DIR": str(tmp_path / "journals")}
    with (tmp_path / "run.log").open("w") as log:
        proc = subprocess.Popen(
            [str(BIN / "hadrill"), "run", str(experiment), "--inventory", str(inventory)],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:

        def forced() -> str | None:
            recs = [r for r in ledger.open_faults() if r.kind == "swarm.force_new_cluster"]
            if not recs:
                return f"not injected yet ({[r.kind for r in ledger.open_faults()]})"
            res = target(inv.node(recs[0].params["survivor"]).url).run(
                "docker node ls --format '{{.ManagerStatus}}'", timeout=5
            )
            return None if res.ok and res.stdout.split() == ["Leader"] else f"survivor sees {res.stdout.split()}"

        wait_until("the survivor leads a forced single-manager swarm", forced, timeout=150, interval=0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    [record] = [r for r in ledger.open_faults() if r.kind == "swarm.force_new_cluster"]
    assert time.time() < record.deadline, "killed after the deadline: the injection took the whole time limit"
    assert record.deadline - record.created == pytest.approx(FNC_LIMIT, abs=0.5)
    lost = record.params["lost"]
    assert sorted(m["name"] for m in lost) == sorted(set(managers) - {record.params["survivor"]})

    fired = state_dir / "deadmen" / f"{record.id}.fired"
    wait_until(
        "the deadman fired", lambda: None if fired.exists() else "not yet",
        timeout=max(0.0, record.deadline + DEADMAN_GRACE - time.time()), interval=0.5,
    )  # fmt: skip
    # the marker holds the firing time to the millisecond
    assert record.deadline - 0.001 <= float(fired.read_text()) <= record.deadline + DEADMAN_GRACE

    def whole() -> str | None:  # the oracle: the engine's own node list, read on the survivor
        survivor = inv.node(record.params["survivor"]).url
        try:
            res = target(survivor).run(
                "docker node ls --format '{{.Hostname}}|{{.Status}}|{{.ManagerStatus}}'", timeout=30
            )
        except TargetError as e:
            return str(e)[-200:]
        if not res.ok:  # a Raft group changing size may not answer for a while
            return f"node ls: {res.stderr.strip()[-200:]}"
        out = res.stdout
        # "|"-separated: a node that just joined may list an empty hostname (a blank-split row was short)
        rows = [[*line.split("|"), "", ""][:3] for line in out.splitlines() if line.strip()]
        statuses = sorted(r[2] for r in rows if r[2])
        hosts = sorted(r[0] for r in rows)  # once each: no stale entry left
        ready = all(r[1] == "Ready" for r in rows)
        return None if hosts == all_nodes and ready and statuses == ["Leader", "Reachable", "Reachable"] else out

    all_nodes = sorted(n.name for n in swarm_nodes(inv))
    took = wait_until("the deadman alone made the swarm whole", whole, timeout=REJOIN_S, interval=2.0)
    assert time.time() - record.deadline < REJOIN_S, took
    # the labels are the deadman's last step, after the nodes are whole: its log's last line says it is done
    log = state_dir / "deadmen" / f"{record.id}.log"

    def done() -> str | None:
        last = log.read_text().strip().splitlines()[-1]
        return None if "managers again" in last else last

    wait_until("the deadman's re-join done", done, timeout=60, interval=1.0)
    deadman_log = log.read_text()
    assert deadman_log.strip().splitlines()[-1].endswith("managers again (2 re-joined)"), deadman_log
    for m in lost:  # a fresh node entry each (they left and joined), the lab's labels carried over
        labels = sh(inv, managers[0], f"docker node inspect {m['name']} --format '{{{{json .Spec.Labels}}}}'")
        assert json.loads(labels) == {"hadrill.zone": "control"}, (m["name"], labels)
    tokens = [sh(inv, managers[0], f"docker swarm join-token -q {role}").strip() for role in ("manager", "worker")]
    written = [p for p in state_dir.rglob("*") if p.is_file()]
    assert not any(t in p.read_text(errors="replace") for p in written for t in tokens), "a join token was written"

    assert [r.id for r in ledger.open_faults()][-1] == record.id  # the dead harness's faults are still open
    outcomes = recover(ledger)
    assert outcomes and all(o.startswith("reverted") for _, o in outcomes), outcomes
    assert ledger.open_faults() == []
    assert whole() is None
