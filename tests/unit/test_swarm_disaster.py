"""The disaster procedure's pure parts: the re-join's decisions, as the host deadman and the harness
run them (a recorded fake engine: the real one is exercised by tests/integration/test_swarm.py), and
the deadman plan of ForceNewCluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hadrill.faults.hostdeadman import fire
from hadrill.faults.ledger import FaultRecord

TOKEN = "SWMTKN-1-secret"


class _Net:
    def __init__(self, name: str, engine: _Engine) -> None:
        self.name, self.engine = name, engine

    def disconnect(self, c: Any, force: bool = False) -> None:
        self.engine.calls.append(("disconnect", c.name, self.name))
        c.nets.discard(self.name)

    def connect(self, c: Any, ipv4_address: str | None = None) -> None:
        self.engine.calls.append(("connect", c.name, self.name, ipv4_address))
        c.nets.add(self.name)


class _Container:
    """A lost manager (state: old swarm, left, joined) or the new leader answering docker node commands."""

    def __init__(self, name: str, engine: _Engine) -> None:
        self.name, self.engine, self.status, self.state = name, engine, "exited", "active"
        self.nets = {"lab-net"}

    @property
    def attrs(self) -> dict[str, Any]:
        return {"NetworkSettings": {"Networks": {n: {} for n in self.nets}}}

    def reload(self) -> None: ...

    def start(self) -> None:
        self.engine.calls.append(("start", self.name))
        self.status = "running"

    def exec_run(self, cmd: list[str], environment: dict[str, str] | None = None) -> tuple[int, bytes]:
        text, env = cmd[-1], environment or {}
        e = self.engine
        if self.name == "m3":  # the new leader
            if text.startswith("timeout 20 docker node ls"):
                if e.leaderless > 0:
                    e.leaderless -= 1
                    return 1, b"Error response from daemon: The swarm does not have a leader."
                return 0, "\n".join(" ".join(r) for r in e.rows).encode()
            if "docker swarm init --force-new-cluster" in text:
                assert env["HADRILL_ADDR"] == "10.0.0.83"
                e.calls.append(("force", env["HADRILL_ADDR"]))
                e.leaderless = 0
                e.rows = [r[:3] if r[1] != "m3" else r for r in e.rows]  # the others drop out of Raft
                return 0, b""
            if "json .Spec.Labels" in text:
                if text.split()[-1] in ("m1", "m2") and e.labels_dropped:  # the read-back of a label update
                    e.labels_dropped -= 1
                    return 0, b"{}"
                return 0, b'{"hadrill.zone":"control"}'
            if text.startswith("docker node rm"):
                node_id = text.split()[4]
                e.calls.append(("rm", node_id))
                e.rows = [r for r in e.rows if r[0] != node_id]
                return 0, b""
            if text == "docker info --format '{{.Swarm.LocalNodeState}}'":
                return 0, b"active"
            if text == "docker swarm join-token -q manager":
                return 0, TOKEN.encode()
            if text.startswith("docker node update"):
                e.calls.append(("label", text.split()[-1], text.split()[4]))
                return 0, b""
            if text.startswith("ls /var/lib/docker/swarm/raft/snap-v3-encrypted"):
                return 0, f"0000000000000002-{e.snapshot:016x}.snap".encode()
            if "{{.Swarm.Cluster.Spec.Raft.SnapshotInterval}}" in text:
                return 0, str(e.interval).encode()
            if text.startswith("timeout 30 docker swarm update --snapshot-interval"):
                # swarmkit reads the interval before applying the write: a snapshot only once it was 1
                e.calls.append(("interval", text.split()[-1]))
                e.snapshot += 100 if e.interval == 1 and e.snapshots_work else 0
                e.interval = int(text.split()[-1])
                return 0, b""
            raise AssertionError(text)
        if text.startswith("for i in $(seq 90)") and self.state == "inactive":
            return 0, b""
        if "docker swarm leave" in text:
            e.calls.append(("leave", self.name))
            self.state = "inactive"
            return 0, b"Node left the swarm."
        if text == "docker info --format '{{.Swarm.LocalNodeState}}'":
            return 0, self.state.encode()
        if "docker swarm join" in text:
            assert TOKEN not in text and env["HADRILL_JOIN_TOKEN"] == TOKEN  # the token: only in the environment
            assert self.nets == {"lab-net"}, "joined while cut off"
            e.calls.append(("join", self.name, env["HADRILL_ADDR"], env["HADRILL_REMOTE"]))
            self.state = "active"
            e.rows.append([f"new-{self.name}", self.name, "Ready", "Reachable"])
            return 0, b"This node joined a swarm as a manager."
        raise AssertionError(text)


class _Engine:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.leaderless = 0  # node ls answers "no leader" this many times
        self.snapshot, self.interval, self.snapshots_work = 0x3B, 10000, True  # the leader's newest Raft snapshot
        self.labels_dropped = 0  # label updates read back without the labels this many times
        self._c: dict[str, _Container] = {}
        self.containers, self.networks = self, self
        # force-new-cluster: m3 leads alone; m1 and m2 are stale entries (Down, no Raft status)
        self.rows = [["id3", "m3", "Ready", "Leader"], ["idw", "w1", "Ready"], ["old-m1", "m1", "Down"],
                     ["old-m2", "m2", "Down"]]  # fmt: skip

    def get(self, name: str) -> Any:  # containers.get and networks.get
        if name.endswith("-net"):
            return _Net(name, self)
        return self._c.setdefault(name, _Container(name, self))


def _record() -> FaultRecord:
    lost = [
        {"name": f"m{i}", "url": f"docker://m{i}", "container": f"m{i}", "address": f"10.0.0.8{i}",
         "networks": {"lab-net": f"10.0.0.8{i}"}}
        for i in (1, 2)
    ]  # fmt: skip
    params = {"lost": lost, "survivor": "m3", "survivor_url": "docker://m3", "advertise": "10.0.0.83"}
    return FaultRecord(
        id="abc", kind="swarm.force_new_cluster", target="docker://m3", params=params, created=0.0,
        deadline=1.0, run="t", description="",
    )  # fmt: skip


def test_deadman_restarts_each_lost_manager_cut_off_leaves_reconnects_then_joins_it(
    monkeypatch: Any, tmp_path: Path
) -> None:
    from hadrill.faults import hostdeadman, swarm_disaster

    monkeypatch.setenv("HADRILL_STATE_DIR", str(tmp_path))
    planned: list[list[dict[str, Any]]] = []
    monkeypatch.setattr(swarm_disaster, "arm_on_host", lambda record, actions: planned.append(actions))
    monkeypatch.setattr(hostdeadman.time, "sleep", lambda s: None)
    swarm_disaster.ForceNewCluster.arm_deadman(_record())
    assert TOKEN not in str(planned) and "token" not in str(planned).lower()  # nothing to store: read when firing
    assert planned[0][0]["lock"] == str(tmp_path / "deadmen" / "abc.rejoin.lock")  # shared with the harness
    engine = _Engine()
    lines = fire(engine, planned[0])
    # one manager after the other (the two-member group lasts one join): off the network, started, left
    # its old swarm, back at its own address, its stale entry removed, joined as a manager at its
    # address, its labels carried over
    assert engine.calls == [
        # the survivor's fresh snapshot first: one write with the interval at 1, one more that swarmkit
        # judges with it (snapshot), then the interval given back
        ("interval", "1"), ("interval", "1"), ("interval", "10000"),
        ("disconnect", "m1", "lab-net"), ("start", "m1"), ("leave", "m1"), ("connect", "m1", "lab-net", "10.0.0.81"),
        ("rm", "old-m1"), ("join", "m1", "10.0.0.81", "10.0.0.83:2377"),
        ("disconnect", "m2", "lab-net"), ("start", "m2"), ("leave", "m2"), ("connect", "m2", "lab-net", "10.0.0.82"),
        ("rm", "old-m2"), ("join", "m2", "10.0.0.82", "10.0.0.83:2377"),
        ("label", "m1", "'hadrill.zone=control'"), ("label", "m2", "'hadrill.zone=control'"),
    ]  # fmt: skip
    assert lines == ["swarm_rejoin: m1, m2 managers again (2 re-joined)"], lines
    assert TOKEN not in str(lines)

    # a retry (the deadman's loop, or a second deadman) decides from the leader's view: both are members,
    # so nothing is cut off, left or joined again; the labels kept beside the lock are put again
    engine.calls.clear()
    assert fire(engine, planned[0]) == ["swarm_rejoin: m1, m2 managers again (0 re-joined)"]
    assert engine.calls == [("label", "m1", "'hadrill.zone=control'"), ("label", "m2", "'hadrill.zone=control'")]


def _action(lock: Path, managers: int = 2) -> dict[str, Any]:
    """The re-join of the first ``managers`` lost managers, m3 surviving, serialised by ``lock``."""
    return {"container": "m3", "advertise": "10.0.0.83", "lost": _record().params["lost"][:managers], "lock": str(lock)}


def _rejoin_env(monkeypatch: Any) -> Any:
    """The re-join module with its own fake clock (a second per reading, no sleeping). Only the module's
    name ``time`` is replaced: patching the time module itself handed the fake clock to every thread of
    the test process (a leftover writer thread of another test used it up)."""
    import itertools
    from types import SimpleNamespace

    from hadrill.faults import swarm_rejoin

    clock = itertools.count()
    fake = SimpleNamespace(sleep=lambda s: None, monotonic=lambda: float(next(clock)))
    monkeypatch.setattr(swarm_rejoin, "time", fake)
    return swarm_rejoin


def test_a_survivor_left_without_a_leader_is_forced_again_and_a_stale_ready_member_is_joined_again(
    monkeypatch: Any, tmp_path: Path
) -> None:
    """The procedure's own failure mode: m1 joined, the two-member group lost its leader. The survivor
    is forced again only after 20 s without a leader; m1, Ready but no longer a Raft member, then
    leaves and joins again like m2; m1's old entry (Ready, no Raft status) is the one removed."""
    swarm_rejoin = _rejoin_env(monkeypatch)
    lock = tmp_path / "f.rejoin.lock"
    engine = _Engine()
    engine.rows = [["id3", "m3", "Ready", "Leader"], ["new-m1", "m1", "Ready", "Unreachable"], ["old-m2", "m2", "Down"]]
    engine.get("m1").status = "running"
    engine.leaderless = 1000  # never answers until forced (after 20 s of looks, a second each)
    action = _action(lock)
    assert swarm_rejoin.rejoin(engine, action) == "swarm_rejoin: m1, m2 managers again (2 re-joined)"
    assert engine.calls[0] == ("force", "10.0.0.83")
    assert ("rm", "new-m1") in engine.calls and ("join", "m1", "10.0.0.81", "10.0.0.83:2377") in engine.calls
    assert ("start", "m1") not in engine.calls  # it was running: only cut off and made to leave
    assert [r[1] for r in engine.rows].count("m1") == 1


def test_a_leader_answering_again_within_20_s_is_not_forced_and_a_raft_member_never_leaves(
    monkeypatch: Any, tmp_path: Path
) -> None:
    """A leader election (no leader for a few seconds) is waited out, not forced; m1, Reachable, is a
    member: it is not made to leave (in a two-member group that would cost the quorum)."""
    swarm_rejoin = _rejoin_env(monkeypatch)
    lock = tmp_path / "f.rejoin.lock"
    engine = _Engine()
    engine.rows = [["id3", "m3", "Ready", "Leader"], ["new-m1", "m1", "Ready", "Reachable"], ["old-m2", "m2", "Down"]]
    engine.leaderless = 5
    action = _action(lock)
    assert swarm_rejoin.rejoin(engine, action) == "swarm_rejoin: m1, m2 managers again (1 re-joined)"
    assert not any(c[0] == "force" or c[1:2] == ("m1",) for c in engine.calls), engine.calls


def test_a_join_that_dockerd_says_goes_on_in_the_background_is_waited_for(monkeypatch: Any, tmp_path: Path) -> None:
    """dockerd's own join timeout (about 20 s) is not the join's end: the node is waited for, not cut
    off again by a retry (that made it leave a group it had just joined: quorum lost, on the lab)."""
    swarm_rejoin = _rejoin_env(monkeypatch)
    lock = tmp_path / "f.rejoin.lock"
    engine = _Engine()
    action = _action(lock, managers=1)
    real = _Container.exec_run

    def slow_join(self: _Container, cmd: list[str], environment: dict[str, str] | None = None) -> Any:
        rc, out = real(self, cmd, environment)
        if "docker swarm join --token" in cmd[-1]:
            return 1, (
                b"Error response from daemon: Timeout was reached before node joined. The attempt to join the "
                b"swarm will continue in the background. Use the \"docker info\" command to see the current status"
            )
        return rc, out

    monkeypatch.setattr(_Container, "exec_run", slow_join)
    assert swarm_rejoin.rejoin(engine, action) == "swarm_rejoin: m1 managers again (1 re-joined)"
    assert [c[0] for c in engine.calls].count("leave") == 1


def test_a_join_that_costs_the_quorum_is_followed_by_forcing_again_at_once(monkeypatch: Any, tmp_path: Path) -> None:
    """m1's join leaves the two-member group without a leader (m1 never takes part). After 20 s of no
    answer (not the 120 s wait for m1), the survivor is forced again at once, with no second 20 s wait;
    m1 then leaves and joins again, and m2 after it (the lab's failure of the deadman test, stop 25)."""
    swarm_rejoin = _rejoin_env(monkeypatch)
    lock = tmp_path / "f.rejoin.lock"
    engine = _Engine()
    action = _action(lock)
    real = _Container.exec_run
    silent = []

    def first_join_loses_quorum(self: _Container, cmd: list[str], environment: dict[str, str] | None = None) -> Any:
        if self.name == "m3" and cmd[-1].startswith("timeout 20 docker node ls") and self.engine.leaderless:
            silent.append(1)
        rc, out = real(self, cmd, environment)
        if "docker swarm join --token" in cmd[-1] and self.name == "m1" and not self.engine.lost_once:
            self.engine.lost_once = True
            self.engine.rows[-1][2:] = ["Unknown", "Unreachable"]
            self.engine.leaderless = 1000  # until forced again
        return rc, out

    engine.lost_once = False  # type: ignore[attr-defined]
    monkeypatch.setattr(_Container, "exec_run", first_join_loses_quorum)
    said: list[str] = []
    assert swarm_rejoin.rejoin(engine, action, said.append) == "swarm_rejoin: m1, m2 managers again (2 re-joined)"
    assert [c[0] for c in engine.calls].count("force") == 1
    assert [c[:2] for c in engine.calls if c[0] == "join"] == [("join", "m1"), ("join", "m1"), ("join", "m2")]
    # the fake clock moves a second per reading, two readings per look: 20 s are ~11 silent looks in the
    # wait for m1, then the 3 tries the survivor gets before it is forced (not 20 s more: ~11 looks)
    assert 11 <= len(silent) <= 16, len(silent)
    assert any("has not answered for 20 s" in line for line in said), said
    assert [r[1] for r in engine.rows].count("m1") == 1


def test_a_join_that_never_becomes_reachable_fails_naming_it(monkeypatch: Any, tmp_path: Path) -> None:
    swarm_rejoin = _rejoin_env(monkeypatch)
    lock = tmp_path / "f.rejoin.lock"
    engine = _Engine()
    action = _action(lock, managers=1)
    real = _Container.exec_run

    def join_stays_down(self: _Container, cmd: list[str], environment: dict[str, str] | None = None) -> Any:
        rc, out = real(self, cmd, environment)
        if "docker swarm join" in cmd[-1]:
            self.engine.rows[-1][2:] = ["Down", "Unreachable"]
        return rc, out

    monkeypatch.setattr(_Container, "exec_run", join_stays_down)
    try:
        swarm_rejoin.rejoin(engine, action)
    except swarm_rejoin.RejoinError as e:
        assert str(e).startswith("m1 Ready and Reachable: not true after 120 s"), e
    else:
        raise AssertionError("a manager that never became Reachable was called re-joined")


def test_a_second_re_join_of_the_same_fault_waits_for_the_first(monkeypatch: Any, tmp_path: Path) -> None:
    """The harness's retry and the deadmen it re-arms must not run the procedure side by side: while
    another process holds the fault's lock, a re-join waits (bounded), then says who holds it."""
    import fcntl
    import subprocess
    import sys

    swarm_rejoin = _rejoin_env(monkeypatch)
    monkeypatch.setattr(swarm_rejoin, "LOCK_WAIT_S", 3)
    lock = tmp_path / "f.rejoin.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1],'a'); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('held', flush=True); time.sleep(30)", str(lock)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        engine = _Engine()
        action = _action(lock)
        try:
            swarm_rejoin.rejoin(engine, action)
        except swarm_rejoin.RejoinError as e:
            assert "another re-join of this fault still holds" in str(e), e
        else:
            raise AssertionError("a re-join ran while another held the fault's lock")
        assert engine.calls == []  # nothing was done meanwhile
    finally:
        holder.kill()
        holder.wait()
    with open(lock, "a") as fh:  # released with its holder
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_default_drill_of_a_swarm_inventory_runs_the_five_swarm_scenarios() -> None:
    from pathlib import Path

    from hadrill.plan import default_plan

    folder = Path(__file__).resolve().parents[2] / "experiments"
    plan = default_plan(folder, clusters={"swarm"})  # over docker:// or ssh:// alike
    names = [Path(str(s.experiment)).stem for s in plan.scenarios]
    assert [n for n in names if n.startswith("swarm-")] == [
        "swarm-drain-node", "swarm-force-new-cluster", "swarm-kill-leader", "swarm-kill-worker", "swarm-lose-quorum",
    ]  # fmt: skip
    assert not any(n.startswith("kube-") for n in names)  # they need a kubernetes cluster: listed as not run
    assert {n.experiment for n in plan.not_run} >= {"kube-kill-master.yaml", "kube-drain-worker-pdb.yaml"}


def test_the_survivor_writes_a_fresh_snapshot_before_a_round_of_joins_and_gets_its_interval_back(
    monkeypatch: Any, tmp_path: Path
) -> None:
    """A joiner restores the leader's newest snapshot and drops the members it does not list (the lab:
    m2, re-joined by an earlier drill, forced, then dropped by m1's join: quorum lost). The survivor
    snapshots before the first join of each round: after a forced retry, again; the interval it had
    (5000 here) is given back each time."""
    swarm_rejoin = _rejoin_env(monkeypatch)
    engine = _Engine()
    engine.interval = 5000
    engine.rows = [["id3", "m3", "Ready", "Leader"], ["new-m1", "m1", "Ready", "Unreachable"], ["old-m2", "m2", "Down"]]
    engine.get("m1").status = "running"
    engine.leaderless = 1000  # forced again first: a second round, with its own snapshot
    lock = tmp_path / "f.rejoin.lock"
    action = _action(lock)
    said: list[str] = []
    assert swarm_rejoin.rejoin(engine, action, said.append) == "swarm_rejoin: m1, m2 managers again (2 re-joined)"
    kinds = [c[0] if c[0] != "interval" else f"interval {c[1]}" for c in engine.calls]
    first_join = kinds.index("join")
    assert kinds[:4] == ["force", "interval 1", "interval 1", "interval 5000"], kinds
    assert "interval 1" not in kinds[first_join:], "one snapshot a round, before its first join"
    # the write giving the interval back is judged with interval 1 too: a second snapshot, harmless
    assert engine.interval == 5000 and engine.snapshot == 0x3B + 200
    assert [s for s in said if "fresh Raft snapshot" in s] == [
        "the survivor wrote a fresh Raft snapshot (0000000000000002-000000000000009f.snap)"
    ]


def test_no_fresh_snapshot_fails_before_any_join_and_the_interval_is_given_back(
    monkeypatch: Any, tmp_path: Path
) -> None:
    swarm_rejoin = _rejoin_env(monkeypatch)
    engine = _Engine()
    engine.snapshots_work = False
    lock = tmp_path / "f.rejoin.lock"
    action = _action(lock)
    try:
        swarm_rejoin.rejoin(engine, action)
    except swarm_rejoin.RejoinError as e:
        assert "no fresh Raft snapshot on the survivor after 5 writes" in str(e), e
    else:
        raise AssertionError("rejoined without a fresh snapshot")
    assert [c for c in engine.calls if c[0] != "interval"] == []  # no node cut off, left or joined
    assert engine.calls[-1] == ("interval", "10000") and engine.interval == 10000


def test_labels_read_back_without_them_are_put_again(monkeypatch: Any, tmp_path: Path) -> None:
    """The labels are read back after the update, and put again when the spec does not show them."""
    swarm_rejoin = _rejoin_env(monkeypatch)
    engine = _Engine()
    engine.labels_dropped = 1
    lock = tmp_path / "f.rejoin.lock"
    action = _action(lock)
    assert swarm_rejoin.rejoin(engine, action) == "swarm_rejoin: m1, m2 managers again (2 re-joined)"
    labels = [c[1] for c in engine.calls if c[0] == "label"]
    assert labels == ["m1", "m1", "m2"], labels  # m1's read back empty once: labelled again


# -- lost managers that are hosts (ssh://): powered on by their cut's driver, cut off by iptables ----------
def test_ssh_argv_reads_the_inventory_url_and_never_multiplexes() -> None:
    from hadrill.faults.swarm_rejoin import ssh_argv

    url = "ssh://root@10.0.0.81:2222?ssh_config=/var/lib/hadrill/labs/a%20b/ssh/config&ssh_identity_file=/k/id"
    argv = ssh_argv(url)
    assert argv[0] == "ssh" and argv[-1] == "root@10.0.0.81"
    assert "ControlPath=none" in argv and "BatchMode=yes" in argv
    flags = dict(zip(argv[1:-1:2], argv[2:-1:2], strict=True))  # flag → value, in pairs
    assert (flags["-F"], flags["-i"], flags["-p"]) == ("/var/lib/hadrill/labs/a b/ssh/config", "/k/id", "2222")
    assert ssh_argv("ssh://node7")[-1] == "node7" and "-F" not in ssh_argv("ssh://node7")


def test_a_host_command_gets_its_environment_on_stdin_never_on_a_command_line(
    monkeypatch: Any, tmp_path: Path
) -> None:
    """An ``ssh`` on PATH that records its arguments and runs the remote command here: the token reaches
    the command's environment and appears in no argument."""
    import os

    from hadrill.faults.swarm_rejoin import _Host

    fake = tmp_path / "bin" / "ssh"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {tmp_path}/argv\nfor last; do :; done\nexec sh -c "$last"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    host = _Host("m1", "ssh://root@10.0.0.81")
    rc, out = host.sh('echo "got ${#HADRILL_JOIN_TOKEN} chars"; [ "$HADRILL_JOIN_TOKEN" = "$X" ]', {
        "HADRILL_JOIN_TOKEN": TOKEN, "X": TOKEN,
    })  # fmt: skip
    assert (rc, out) == (0, f"got {len(TOKEN)} chars")
    assert TOKEN not in (tmp_path / "argv").read_text()
    assert host.sh("exit 3") == (3, "")


class _FakeHosts:
    """Lost managers that are hosts: off until powered on, then answering the re-join's commands."""

    def __init__(self, engine: _Engine) -> None:
        self.engine, self.on, self.cut, self.state = engine, set[str](), set[str](), {"m1": "active", "m2": "active"}

    def power_on(self, op: dict[str, Any]) -> str:
        self.engine.calls.append(("power-on", op["container"]))
        self.on.add(op["container"])
        return "started"

    def sh(self, host: Any, cmd: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        from hadrill.faults import swarm_rejoin

        name, calls = host.name, self.engine.calls
        if name not in self.on:
            return 255, "ssh: connect to host: No route to host"
        if cmd == "true":
            return 0, ""
        if cmd == swarm_rejoin._CUT:
            calls.append(("cut", name))
            self.cut.add(name)
            return 0, ""
        if cmd.startswith(swarm_rejoin._UNCUT):
            calls.append(("uncut", name))
            self.cut.discard(name)
            return 0, ""
        if cmd == swarm_rejoin._LEAVE:
            assert name in self.cut, "left while connected"
            calls.append(("leave", name))
            self.state[name] = "inactive"
            return 0, ""
        if cmd == "docker info --format '{{.Swarm.LocalNodeState}}'":
            return 0, self.state[name]
        if "docker swarm join" in cmd:
            assert name not in self.cut and (env or {})["HADRILL_JOIN_TOKEN"] == TOKEN
            calls.append(("join", name, (env or {})["HADRILL_ADDR"]))
            self.engine.rows.append([f"new-{name}", name, "Ready", "Reachable"])
            return 0, ""
        raise AssertionError(cmd)


def test_each_lost_host_is_powered_on_by_its_cut_s_driver_cut_off_left_reconnected_and_joined_in_turn(
    monkeypatch: Any, tmp_path: Path
) -> None:
    """The order that keeps the old membership from electing: one host at a time, the next still off,
    and the join only once its rules are lifted (the survivor here a lab container: the steps are the
    same whichever way a node is reached)."""
    swarm_rejoin = _rejoin_env(monkeypatch)
    engine = _Engine()
    hosts = _FakeHosts(engine)
    monkeypatch.setattr(swarm_rejoin._Host, "sh", lambda self, cmd, env=None: hosts.sh(self, cmd, env))
    lost = [
        {"name": f"m{i}", "address": f"10.0.0.8{i}", "ssh": f"ssh://root@10.0.0.8{i}",
         "power": {"op": "start", "container": f"m{i}"}}
        for i in (1, 2)
    ]  # fmt: skip
    action = {"container": "m3", "advertise": "10.0.0.83", "lost": lost, "lock": str(tmp_path / "f.lock")}
    assert swarm_rejoin.needs_engine(action) and not swarm_rejoin.needs_engine(
        {"ssh": "ssh://m3", "lost": [{**lost[0], "power": {"op": "bmc-on", "bmc": {}}}]}
    )
    done = swarm_rejoin.rejoin(engine, action, power_on=hosts.power_on)
    assert done == "swarm_rejoin: m1, m2 managers again (2 re-joined)"
    steps = [c for c in engine.calls if c[0] not in ("interval", "label")]
    assert steps == [
        ("power-on", "m1"), ("cut", "m1"), ("leave", "m1"), ("uncut", "m1"), ("rm", "old-m1"),
        ("join", "m1", "10.0.0.81"),
        ("power-on", "m2"), ("cut", "m2"), ("leave", "m2"), ("uncut", "m2"), ("rm", "old-m2"),
        ("join", "m2", "10.0.0.82"),
    ]  # fmt: skip


def test_a_lost_host_that_does_not_answer_and_has_no_power_action_fails_naming_it(
    monkeypatch: Any, tmp_path: Path
) -> None:
    swarm_rejoin = _rejoin_env(monkeypatch)
    engine = _Engine()
    hosts = _FakeHosts(engine)
    monkeypatch.setattr(swarm_rejoin._Host, "sh", lambda self, cmd, env=None: hosts.sh(self, cmd, env))
    lost = [{"name": "m1", "address": "10.0.0.81", "ssh": "ssh://root@10.0.0.81"}]
    action = {"container": "m3", "advertise": "10.0.0.83", "lost": lost, "lock": str(tmp_path / "f.lock")}
    try:
        swarm_rejoin.rejoin(engine, action, power_on=hosts.power_on)
    except swarm_rejoin.RejoinError as e:
        assert str(e) == "m1 does not answer over ssh and no power action can start it", e
    else:
        raise AssertionError("a host that is off was called re-joined")
