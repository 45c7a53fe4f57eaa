"""ForceNewCluster's revert, one implementation for the harness and for the host deadman.

It imports only the standard library and takes the Docker SDK client it is given, so the host deadman
(:mod:`hadrill.faults.hostdeadman`, run as a file) loads it by path, as it loads the BMC client.

A node is a lab container (``container``: commands through the engine's exec, cut off by leaving its
networks) or a host (``ssh``: its ``ssh://`` URL, commands over SSH with the inventory's config and key;
a lost host is powered on by the ``power`` action of the fault that cut it, and cut off by iptables rules
that drop Swarm's ports, 2377 and 7946 both ways and 4789, with a timer of its own that lifts them after
:data:`CUTOFF_UNDO_S` if nothing else does). A host boots connected: its engine starts with the old
membership before the rules are in. That is safe one host at a time, as here: the survivor refuses the
members the procedure removed (swarmkit's ``loadAndStart`` puts them on its removed list), and the
other lost managers are still off, so a lone booted manager has no majority to elect a leader with.

Every step is decided from the new leader's view, so a retry from any point converges:

- the survivor must lead. If it has had no leader for :data:`LEADERLESS_S` (a two-member group whose
  new member never came up: the procedure's own failure mode), the procedure is run again on it;
- a lost manager the leader counts as a Raft member (Leader, Reachable, Unreachable) is never made to
  leave: in a two-member group that would cost the quorum;
- before the first join of a round, the survivor takes a fresh Raft snapshot. A joining manager is
  caught up from the leader's newest snapshot and, in Docker 20.10's swarmkit, drops every Raft member
  that snapshot does not list: a survivor that itself joined after the snapshot was taken (a manager
  re-joined by an earlier drill, the snapshot from an earlier key rotation) is dropped, the new member
  cannot answer it ("sending message MsgAppResp to an unrecognized member ID") and the two-member group
  loses its quorum at once. The snapshot interval is set to 1 for a write, then given back;
- any other lost manager is restarted cut off from its networks (so it cannot meet the others with the
  old membership and elect a leader of the old swarm), leaves its old swarm, is connected again at its
  own addresses; its stale entries are removed (labels kept), it joins as a manager with a token read
  from the leader now, and the next one joins only once it is Ready and Reachable: the fragile
  two-member group lasts one join. If that join costs the quorum (the leader silent for
  :data:`LEADERLESS_S` while the new member never takes part), the survivor is forced again at once and
  the joins start over, at most :data:`ROUNDS` times.

Join tokens travel only in an exec's environment (over SSH: in the script on ssh's standard input) and
are scrubbed from any output: none is written.
"""

from __future__ import annotations

import fcntl
import json
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["RejoinError", "needs_engine", "rejoin", "ssh_argv"]

LEADERLESS_S = 20.0  # Raft elects within its 10 s election timeout: no leader for 20 s means none will come
JOIN_S = 120  # one manager join, bounded in the node
CLIENT_TIMEOUT_S = 150.0  # the Docker client's read timeout: longer than any command here (join, force)
READY_S = 120.0  # a joined manager listed Ready and Reachable
LOCK_WAIT_S = 900  # seconds a re-join waits for another one of the same fault to finish
RAFT = ("Leader", "Reachable", "Unreachable")
ROUNDS = 3  # rounds of joins: a join that costs the quorum is followed by forcing a new cluster again

# in a lost manager restarted cut off: wait for its engine, then leave the old swarm unless already out.
# An engine that cannot start cut off (a manager joined without --listen-addr finds its own address by
# dialling the others: "could not find local IP address", and systemd gives up) is started again
# without its swarm state, /var/lib/docker/swarm: that is what a forced leave removes.
_ENGINE = (
    "for i in $(seq 90); do docker info >/dev/null 2>&1 && break; systemctl is-failed -q docker && break; sleep 1; done"
)
_LEAVE = (
    f"{_ENGINE}; "
    "if ! docker info >/dev/null 2>&1 && systemctl is-failed -q docker; then "
    "systemctl stop docker.socket docker; rm -rf /var/lib/docker/swarm; "
    f"systemctl reset-failed docker docker.socket; systemctl start docker; {_ENGINE}; fi; "
    "[ \"$(docker info --format '{{.Swarm.LocalNodeState}}')\" = inactive ] || timeout 30 docker swarm leave --force"
    " || [ \"$(docker info --format '{{.Swarm.LocalNodeState}}')\" = inactive ]"  # out already ("not part of a swarm")
)
_JOIN = (
    f'timeout {JOIN_S} docker swarm join --token "$HADRILL_JOIN_TOKEN" --advertise-addr "$HADRILL_ADDR" '
    '--listen-addr "$HADRILL_ADDR:2377" "$HADRILL_REMOTE"'
)
_FORCE = (
    'timeout 90 docker swarm init --force-new-cluster --advertise-addr "$HADRILL_ADDR" '
    '--listen-addr "$HADRILL_ADDR:2377" >/dev/null'
)
_ROWS = "timeout 20 docker node ls --format '{{.ID}} {{.Hostname}} {{.Status}} {{.ManagerStatus}}'"
# the newest Raft snapshot's file: %016x-%016x.snap (term-index), so the last in order is the newest
_NEWEST_SNAPSHOT = "ls /var/lib/docker/swarm/raft/snap-v3-encrypted 2>/dev/null | grep '[.]snap$' | sort | tail -1"
_SNAPSHOT_INTERVAL = "timeout 20 docker info --format '{{.Swarm.Cluster.Spec.Raft.SnapshotInterval}}'"
BOOT_S = 180.0  # a lost host powered on answers SSH again (a node boots in 10-20 s on a loaded machine)
CUTOFF_UNDO_S = 900  # a host's own timer lifts its cut-off rules: longer than a whole re-join
_CUT_PORTS = ("tcp 2377", "tcp 7946", "udp 7946", "udp 4789")  # Swarm's control, gossip and overlay ports
_UNCUT = (
    "for c in INPUT:HADRILL-CUTOFF-IN OUTPUT:HADRILL-CUTOFF-OUT; do "
    "for i in 1 2 3 4; do iptables -w -D ${c%%:*} -j ${c#*:} 2>/dev/null || break; done; "
    "iptables -w -F ${c#*:} 2>/dev/null; iptables -w -X ${c#*:} 2>/dev/null; done; true"
)
_CUT = (
    "systemctl stop hadrill-swarm-cutoff-undo.timer 2>/dev/null; systemctl reset-failed hadrill-swarm-cutoff-undo "
    f"2>/dev/null; systemd-run --quiet --collect --unit=hadrill-swarm-cutoff-undo --on-active={CUTOFF_UNDO_S} "
    f"/bin/sh -c {shlex.quote(_UNCUT)} && "
    "for c in INPUT:HADRILL-CUTOFF-IN:-i OUTPUT:HADRILL-CUTOFF-OUT:-o; do "
    "chain=${c%%:*}; rest=${c#*:}; mine=${rest%%:*}; lo=${rest#*:}; "
    "iptables -w -N $mine 2>/dev/null || iptables -w -F $mine || exit 1; "
    "iptables -w -A $mine $lo lo -j RETURN || exit 1; "
    "for p in " + " ".join(p.replace(" ", ":") for p in _CUT_PORTS) + "; do "
    "for way in --dport --sport; do iptables -w -A $mine -p ${p%%:*} $way ${p#*:} -j DROP || exit 1; done; done; "
    "iptables -w -C $chain -j $mine 2>/dev/null || iptables -w -I $chain 1 -j $mine || exit 1; done"
)
DEFAULT_SNAPSHOT_INTERVAL = 10000  # swarmkit's, when the cluster spec says 0
SNAPSHOT_WRITES = 5  # writes (a snapshot-interval update each) before a fresh snapshot must be on disk


class RejoinError(RuntimeError):
    """A step of the re-join failed; the swarm is left as the leader saw it (a retry goes on from there)."""


class Node(Protocol):
    """A swarm node the re-join acts on: a lab container or a host reached over SSH."""

    name: str

    def sh(self, cmd: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        """Run ``cmd`` in ``sh`` with ``env`` in its environment only; (status, stdout and stderr)."""
        ...

    def cut_off(self) -> None:
        """Running, and unable to reach the other managers (or be reached by them)."""
        ...

    def reconnect(self) -> None:
        """Back on the network at its own address."""
        ...


PowerOn = Callable[[dict[str, Any]], str]


class _Container:
    """A lab node: commands through the engine's exec, cut off by leaving its networks."""

    def __init__(self, client: Any, name: str, networks: dict[str, str] | None = None) -> None:
        self.client, self.name, self.networks = client, name, networks or {}

    def sh(self, cmd: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        rc, out = self.client.containers.get(self.name).exec_run(["sh", "-c", cmd], environment=env)
        return int(rc), (out or b"").decode(errors="replace").strip()

    def cut_off(self) -> None:
        c = self.client.containers.get(self.name)
        attached = set((c.attrs.get("NetworkSettings", {}).get("Networks") or {}).keys())
        for net in self.networks:
            if net in attached:
                self.client.networks.get(net).disconnect(c, force=True)
        c.reload()
        if c.status != "running":
            c.start()

    def reconnect(self) -> None:
        c = self.client.containers.get(self.name)
        for net, ip in self.networks.items():
            self.client.networks.get(net).connect(c, ipv4_address=ip or None)


def ssh_argv(url: str) -> list[str]:
    """The ``ssh`` command line for an ``ssh://[user@]host[:port]?ssh_config=..&ssh_identity_file=..``
    URL (testinfra's form, the inventory's): a connection of its own (no multiplexing: a master to a
    host that lost its power would hold the command until its keep-alives give up), batch mode."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ControlPath=none",
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]  # fmt: skip
    for key, flag in (("ssh_config", "-F"), ("ssh_identity_file", "-i")):
        if query.get(key):
            argv += [flag, unquote(query[key][0])]
    if parts.port:
        argv += ["-p", str(parts.port)]
    user = f"{unquote(parts.username)}@" if parts.username else ""
    return [*argv, f"{user}{parts.hostname}"]


class _Host:
    """A host reached over SSH. The environment travels in the script on ssh's standard input, never on a
    command line; a lost host is powered on by its ``power`` action and cut off by iptables rules."""

    def __init__(self, name: str, url: str, power: dict[str, Any] | None = None, power_on: PowerOn | None = None):
        self.name, self.url, self.power, self.power_on = name, url, power, power_on

    def sh(self, cmd: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        script = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in (env or {}).items()) + cmd + "\n"
        try:
            done = subprocess.run(
                [*ssh_argv(self.url), "sh -s"], input=script.encode(), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, timeout=CLIENT_TIMEOUT_S,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return 124, f"no answer over ssh within {CLIENT_TIMEOUT_S:g} s"
        return done.returncode, done.stdout.decode(errors="replace").strip()

    def cut_off(self) -> None:
        if self.sh("true")[0] != 0:
            if not self.power or self.power_on is None:
                raise RejoinError(f"{self.name} does not answer over ssh and no power action can start it")
            self.power_on(self.power)
            _poll(f"{self.name} answering over ssh after power on", lambda: self.sh("true")[0] == 0, BOOT_S)
        rc, out = self.sh(_CUT)
        if rc != 0:
            raise RejoinError(f"{self.name}: cut off by iptables: {out[-200:]}")

    def reconnect(self) -> None:
        rc, out = self.sh(f"{_UNCUT}; systemctl stop hadrill-swarm-cutoff-undo.timer 2>/dev/null; true")
        if rc != 0:
            raise RejoinError(f"{self.name}: iptables cut-off not lifted: {out[-200:]}")


def _node(client: Any, desc: dict[str, Any], name: str, power_on: PowerOn | None) -> Node:
    """The node ``desc`` names: ``container`` (with ``networks``) or ``ssh`` (with ``power``)."""
    if desc.get("container"):
        return _Container(client, desc["container"], desc.get("networks"))
    return _Host(name, desc["ssh"], desc.get("power"), power_on)


def needs_engine(action: dict[str, Any]) -> bool:
    """Whether the re-join reaches the Docker engine: a container node, or a host the lab's engine powers on."""
    nodes = [action, *action.get("lost", ())]
    return any(n.get("container") or (n.get("power") or {}).get("op") == "start" for n in nodes)


def _rows(leader: Node) -> list[list[str]]:
    """``docker node ls`` on the leader: [id, hostname, status, manager status?] per node."""
    rc, out = leader.sh(_ROWS)
    if rc != 0:
        raise RejoinError(f"docker node ls on the leader: {out[-200:]}")
    return [line.split() for line in out.splitlines() if line.strip()]


def _member(rows: list[list[str]], host: str) -> bool:
    return any(r[1] == host and r[3:4] and r[3] in RAFT for r in rows)


def _joined(rows: list[list[str]], host: str) -> bool:
    mine = [r for r in rows if r[1] == host]
    return len(mine) == 1 and mine[0][2] == "Ready" and mine[0][3:4] in (["Reachable"], ["Leader"])


def _all_joined(leader: Node, hosts: list[str]) -> Callable[[], bool]:
    def check() -> bool:
        rows = _rows(leader)
        return all(_joined(rows, h) for h in hosts)

    return check


class Leaderless(RejoinError):
    """The leader stopped answering for :data:`LEADERLESS_S` while a manager joined: the two-member
    group lost its quorum, and only forcing a new cluster again on the survivor ends that."""


def _poll(what: str, check: Callable[[], bool], timeout: float, *, leaderless: bool = False) -> None:
    """Call ``check`` every second until true; a leader that does not answer meanwhile is waited for,
    for :data:`LEADERLESS_S` at most when ``leaderless`` (then :class:`Leaderless` is raised)."""
    last = "never checked"
    start = time.monotonic()
    deadline, silent_since = start + timeout, None
    for _ in range(int(timeout) + 2):  # bounded in count and time
        try:
            if check():
                return
            last, silent_since = "not yet", None
        except RejoinError as e:  # a Raft group changing size may not answer for a while
            last = str(e)
            silent_since = time.monotonic() if silent_since is None else silent_since
            if leaderless and time.monotonic() - silent_since >= LEADERLESS_S:
                raise Leaderless(f"{what}: the leader has not answered for {LEADERLESS_S:g} s ({last})") from e
        if time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    raise RejoinError(f"{what}: not true after {timeout:g} s ({last})")


def _leading(leader: Node, address: str, say: Callable[[str], None], patience: float = LEADERLESS_S) -> list[list[str]]:
    """The leader's rows. A survivor whose engine is in a swarm but that has not answered as a leader
    for :data:`LEADERLESS_S` (three tries at least: one slow answer is not enough) gets the procedure
    again: no leader in a two-member group, or a manager stuck after a join that went wrong ("the
    client connection is closing")."""
    last = "never asked"
    deadline = time.monotonic() + patience
    for tries in range(1, int(patience) + 10):  # bounded in count and time
        try:
            return _rows(leader)
        except RejoinError as e:
            last = str(e)
        if tries >= 3 and time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    state = leader.sh("docker info --format '{{.Swarm.LocalNodeState}}'")[1]
    if state not in ("active", "error"):
        raise RejoinError(f"the survivor does not lead ({last}) and its engine says {state[-120:] or 'nothing'}")
    say(f"no leader answered for {LEADERLESS_S:g} s ({last}): swarm init --force-new-cluster again on the survivor")
    rc, out = leader.sh(_FORCE, {"HADRILL_ADDR": address})
    if rc != 0:
        raise RejoinError(f"force-new-cluster again: {out[-200:]}")
    rows: list[list[str]] = []

    def answers() -> bool:
        rows[:] = _rows(leader)
        return True

    _poll("the survivor leading again", answers, 60.0)
    return rows


def _fresh_snapshot(leader: Node, say: Callable[[str], None]) -> str:
    """Have the survivor write a Raft snapshot that lists it (see the module's docstring); its file name.
    swarmkit snapshots after applying a write when ``SnapshotInterval`` entries have passed since the
    last one, reading the interval before the write: the interval is set to 1, then written again until
    a new snapshot file is there (:data:`SNAPSHOT_WRITES` at most), then given back."""
    before = leader.sh(_NEWEST_SNAPSHOT)[1]
    rc, out = leader.sh(_SNAPSHOT_INTERVAL)
    if rc != 0 or not out.isdigit():
        raise RejoinError(f"the survivor's snapshot interval unread: {out[-200:]}")
    interval = int(out) or DEFAULT_SNAPSHOT_INTERVAL
    newest = before
    try:
        for _ in range(SNAPSHOT_WRITES):  # bounded
            rc, out = leader.sh("timeout 30 docker swarm update --snapshot-interval 1")
            if rc != 0:
                raise RejoinError(f"docker swarm update --snapshot-interval 1: {out[-200:]}")
            for _ in range(10):  # the snapshot is written in the background: 5 s at most
                newest = leader.sh(_NEWEST_SNAPSHOT)[1]
                if newest and newest != before:
                    say(f"the survivor wrote a fresh Raft snapshot ({newest})")
                    return newest
                time.sleep(0.5)
    finally:
        rc, out = leader.sh(f"timeout 30 docker swarm update --snapshot-interval {interval}")
        if rc != 0:
            raise RejoinError(f"the snapshot interval not given back ({interval}): {out[-200:]}")
    raise RejoinError(
        f"no fresh Raft snapshot on the survivor after {SNAPSHOT_WRITES} writes (newest {newest or 'none'})"
    )


def _cut_off_and_leave(node: Node) -> None:
    """Restart ``node`` cut off from the others, make it leave its old swarm, connect it again."""
    node.cut_off()
    rc, out = node.sh(_LEAVE)
    if rc != 0:
        raise RejoinError(f"{node.name}: leave: {out[-200:]}")
    node.reconnect()


def _remove_stale(leader: Node, host: str, kept: Path) -> None:
    """Remove ``host``'s entries that are no Raft member (the old one, after the leave). Their labels
    are written to ``kept`` first, so a retry after the removal still carries them over."""
    for r in _rows(leader):
        if r[1] != host or (r[3:4] and r[3] in RAFT):
            continue
        rc, out = leader.sh(f"docker node inspect --format '{{{{json .Spec.Labels}}}}' {r[0]}")
        if rc != 0 and "No such node" in out:
            continue  # removed meanwhile: by a deadman or an earlier try
        if rc != 0:
            raise RejoinError(f"labels of {host}'s old entry {r[0]} unread (not removed): {out[-200:]}")
        labels = _kept(kept)
        labels[host] = {**labels.get(host, {}), **(json.loads(out) or {})}
        kept.write_text(json.dumps(labels), encoding="utf-8")
        rm = f"docker node rm --force {r[0]}"
        # force-new-cluster dropped it from the Raft members, though its spec may still say manager
        rc, out = leader.sh(f"{rm} || {{ docker node demote {r[0]} && {rm}; }}")
        if rc != 0 and "No such node" not in out:
            raise RejoinError(f"docker node rm {r[0]} ({host}): {out[-200:]}")


def _kept(path: Path) -> dict[str, dict[str, str]]:
    """The labels of removed entries, by host name (the file beside the fault's lock)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _join(node: Node, leader: Node, address: str, remote: str) -> None:
    if node.sh("docker info --format '{{.Swarm.LocalNodeState}}'")[1] != "inactive":
        raise RejoinError(f"{node.name} is not out of every swarm: not joined")
    rc, token = leader.sh("docker swarm join-token -q manager")
    if rc != 0 or not token.startswith("SWMTKN-"):
        raise RejoinError("no manager join token from the leader")
    env = {"HADRILL_JOIN_TOKEN": token, "HADRILL_ADDR": address, "HADRILL_REMOTE": remote}
    rc, out = node.sh(_JOIN, env)
    if rc != 0 and "will continue in the background" not in out:
        raise RejoinError(f"{node.name} join: {out.replace(token, '<token>')[-200:]}")
    # dockerd answers "Timeout was reached before node joined" after ~20 s on a loaded host and goes on
    # joining: not a failure (the wait that follows decides). Failing here made the retry cut off and
    # make leave a node that had just become the second member of the group: quorum lost.


def _label(leader: Node, host: str, labels: dict[str, str]) -> None:
    """Carry the old entry's labels over, and read them back: the revert says they were carried over only
    once the node's spec shows them. Retried: a node update races the join's own ("out of sequence")."""
    if not labels:
        return
    adds = " ".join(f"--label-add '{k}={v}'" for k, v in sorted(labels.items()))
    out = ""
    for _ in range(10):  # bounded
        rc, out = leader.sh(f"docker node update {adds} {host}")
        if rc == 0:
            time.sleep(2.0)
            rc, got = leader.sh(f"docker node inspect --format '{{{{json .Spec.Labels}}}}' {host}")
            try:
                kept = json.loads(got) or {} if rc == 0 else {}
            except ValueError:
                kept = {}
            if all(kept.get(k) == v for k, v in labels.items()):
                return
            out = f"updated, then read back without them: {got[-200:]}"
        time.sleep(2.0)
    raise RejoinError(f"labels of {host} not carried over: {out[-200:]}")


@contextmanager
def _exclusive(path: str) -> Iterator[None]:
    """One re-join of a fault at a time. The harness retries a failed revert and re-arms the deadman to
    fire 5 s later each time: run side by side, one would make a node leave while another joins it, or
    force a new cluster under a join (found on the lab: a survivor stuck, a manager in state "error")."""
    with open(path, "a") as fh:
        for _ in range(LOCK_WAIT_S):  # bounded: another re-join takes minutes at most
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(1.0)
        else:
            raise RejoinError(f"another re-join of this fault still holds {path} after {LOCK_WAIT_S} s")
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def rejoin(
    client: Any, action: dict[str, Any], say: Callable[[str], None] = lambda s: None, power_on: PowerOn | None = None
) -> str:
    """Restore the lost managers of ``action`` (``container`` or ``ssh``: the survivor, ``advertise``: its
    address, ``lost``: name, address and ``container`` and ``networks``, or ``ssh`` and ``power``, of each;
    ``lock``: the file that serialises the fault's re-joins); what was done. ``client``: the Docker SDK's
    (None when :func:`needs_engine` says none is needed); ``power_on`` runs a ``power`` action (a host
    deadman's ``start`` or ``bmc-on``). Raises :class:`RejoinError`."""
    with _exclusive(action["lock"]):
        return _rejoin(client, action, say, power_on)


def _join_each(
    lost: list[tuple[dict[str, Any], Node]], leader: Node, action: dict[str, Any], kept: Path, joined: list[str],
    say: Callable[[str], None], patience: float,
) -> None:  # fmt: skip
    """One round: the survivor leading, each lost manager that is no Raft member joined in turn."""
    rows = _leading(leader, action["advertise"], say, patience)
    snapshot = ""
    for m, node in lost:
        if _member(rows, m["name"]):
            continue
        snapshot = snapshot or _fresh_snapshot(leader, say)  # once a round, before its first join
        say(f"{m['name']}: restarted cut off, leaves its old swarm, joins as a manager")
        _cut_off_and_leave(node)
        _remove_stale(leader, m["name"], kept)
        _join(node, leader, m["address"], f"{action['advertise']}:2377")
        _poll(f"{m['name']} Ready and Reachable", _all_joined(leader, [m["name"]]), READY_S, leaderless=True)
        joined.append(m["name"])
        rows = _rows(leader)


def _rejoin(client: Any, action: dict[str, Any], say: Callable[[str], None], power_on: PowerOn | None) -> str:
    leader = _node(client, action, "the survivor", power_on)
    lost = [(m, _node(client, m, m["name"], power_on)) for m in action["lost"]]
    kept = Path(f"{action['lock']}.labels.json")
    joined: list[str] = []
    patience = LEADERLESS_S
    for _ in range(ROUNDS):  # bounded: each round after the first starts by forcing a new cluster again
        try:
            _join_each(lost, leader, action, kept, joined, say, patience)
            break
        except Leaderless as e:  # a join cost the quorum: the survivor is forced again at once
            say(str(e))
            patience = 0.0
    else:
        raise RejoinError(f"the group lost its leader in each of {ROUNDS} rounds of joins")
    names = [m["name"] for m in action["lost"]]
    _poll("every lost manager Ready and Reachable", _all_joined(leader, names), READY_S)
    for host, labels in _kept(kept).items():  # every time: a retry after a join still labels its node
        _label(leader, host, labels)
    return f"swarm_rejoin: {', '.join(sorted(names))} managers again ({len(joined)} re-joined)"
