"""Gluster faults: take bricks of a replicated volume away, the way a server loses them.

``StopBrick`` has three modes:

- ``kill-brick``: ``kill -9`` of the brick process (found on its server by its
  ``--brick-name``); glusterd stays up. Reverted with ``volume start VOL force``. The deadman lives in a
  surviving peer and runs that same command at the deadline.
- ``kill-node``: the server's container is killed (glusterd, brick, self-heal daemon); reverted by
  starting it again. ``pause-node``: the container is frozen, so its sockets stay open and clients
  notice only after ``network.ping-timeout``; reverted by unpausing it. The deadman lives on the
  engine's host (a dead container cannot revert itself).

On systemd hosts (``ssh://`` nodes) the same modes go through the service manager instead
(:mod:`hadrill.faults.gluster_host`), and every deadman is a transient systemd timer on a host.

Every revert then launches an index heal (``volume heal VOL``, retried until the self-heal daemons
accept it: a brick back after a freeze may otherwise wait for the 600 s crawl). Waiting for the heal
to finish is a check (:func:`hadrill.probes.gluster.wait_heal`), not part of the revert.

Several servers in one fault (``lose_quorum``) take several members: the safety gate refuses it
unless forced when that exceeds the cluster's failure budget.
"""

from __future__ import annotations

import random
import re
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from docker.errors import APIError

from hadrill.clients.docker import NO_SUCH_CONTAINER
from hadrill.clients.docker import container as _container
from hadrill.clients.gluster import GlusterCli
from hadrill.clients.targets import target
from hadrill.errors import ConfigError, InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import DEFAULT_TIME_LIMIT, Fault, wait_for
from hadrill.faults.container import start_container
from hadrill.faults.container_kill import kill, kill_witness, killed
from hadrill.faults.deadman import (
    arm_in_target,
    arm_on_host,
    disarm_in_target,
    disarm_on_host,
    fired_in_target,
    fired_on_host,
)
from hadrill.faults.gluster_host import DEFAULT_UNIT, frozen_check, inject_command, revert_command
from hadrill.faults.ledger import FaultRecord, Ledger
from hadrill.faults.picking import free_members, gate
from hadrill.faults.process import process_states
from hadrill.faults.systemd_timer import arm_timer, disarm_timer, has_systemd
from hadrill.inventory import Cluster, Inventory

__all__ = ["Mode", "StopBrick", "pick_servers", "stop_brick"]

Mode = Literal["kill-brick", "kill-node", "pause-node"]
MODES: tuple[str, ...] = ("kill-brick", "kill-node", "pause-node")
_PROVE_S = 15.0
_BACK_S = 60.0


def _heal_loop(volume: str, prefix: str = "") -> str:
    """Shell for a deadman: launch a heal, retried (bounded) until the self-heal daemons accept it."""
    heal = f"{prefix}timeout 25 gluster --mode=script --timeout=20 volume heal {shlex.quote(volume)}"
    return f"for i in $(seq 1 20); do sleep 3; {heal} >/dev/null 2>&1 && break; done"


@dataclass
class StopBrick(Fault):
    """Take away the bricks of ``servers`` (gluster host names) of ``volume``; see the module doc.

    ``urls`` are the servers' target URLs (same order), ``peer`` the URL of a server that keeps
    running: its CLI observes and repairs, and it hosts the kill-brick deadman.
    """

    mode: Mode = "kill-brick"
    volume: str = ""
    servers: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    brick: str = "/bricks/b"
    peer: str = ""
    unit: str = DEFAULT_UNIT  # glusterd's unit on systemd hosts
    kind: ClassVar[str] = "gluster.stop_brick"

    def params(self) -> dict[str, Any]:
        if self.mode not in MODES:
            raise InjectionFailed(f"gluster.stop_brick: mode {self.mode!r} is not one of {', '.join(MODES)}")
        if not self.servers or len(self.servers) != len(self.urls) or not self.peer or not self.volume:
            raise InjectionFailed("gluster.stop_brick: needs a volume, servers with their URLs, and a surviving peer")
        containers = [target(u).container for u in self.urls] if self.mode != "kill-brick" else []
        # hosts: every node-level act and deadman goes through systemd (faults/gluster_host.py)
        host = target(self.peer).container is None and has_systemd(target(self.peer))
        if host and any(c is not None for c in containers):
            raise NotImplementedError(f"{self.mode} on a mix of containers and hosts: {', '.join(self.urls)}")
        if not host and any(c is None for c in containers):
            raise NotImplementedError(f"{self.mode} needs docker:// servers or systemd hosts: {', '.join(self.urls)}")
        return {
            **super().params(),
            "mode": self.mode,
            "volume": self.volume,
            "bricks": [f"{s}:{self.brick}" for s in self.servers],
            "urls": list(self.urls),
            "containers": containers,
            "peer": self.peer,
            **({"host": True, "unit": self.unit} if host else {}),
        }

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        p = record.params
        if p.get("host"):
            if p["mode"] == "kill-brick":
                start = f"timeout 65 gluster --mode=script --timeout=60 volume start {shlex.quote(p['volume'])} force"
                p["deadman"] = arm_timer(target(p["peer"]), record, f"{start}; {_heal_loop(p['volume'])}")
                return
            back = f"{revert_command(p['mode'], p['unit'])}; {_heal_loop(p['volume'])}"
            p["deadman"] = "; ".join(arm_timer(target(u), record, back) for u in p["urls"])
            return
        if p["mode"] == "kill-brick":
            start = f"timeout 65 gluster --mode=script --timeout=60 volume start {shlex.quote(p['volume'])} force"
            arm_in_target(target(p["peer"]), record, f"{start}; {_heal_loop(p['volume'])}")
            return
        back = "unpause" if p["mode"] == "pause-node" else "start"
        actions: list[dict[str, Any]] = [{"op": back, "container": name} for name in p["containers"]]
        peer = target(p["peer"]).container
        if peer is not None:
            actions.append({"op": "exec", "container": peer, "cmd": ["sh", "-c", _heal_loop(p["volume"])]})
        arm_on_host(record, actions)

    @classmethod
    def disarm(cls, record: FaultRecord) -> None:
        p = record.params
        if p.get("host"):
            for url in [p["peer"]] if p["mode"] == "kill-brick" else p["urls"]:
                disarm_timer(target(url), record.id)
        elif record.params["mode"] == "kill-brick":
            disarm_in_target(target(record.params["peer"]), record.id)
        else:
            disarm_on_host(record.id)

    @classmethod
    def fired(cls, record: FaultRecord) -> bool:
        if record.params.get("host"):  # a systemd timer leaves no marker: it fires at the deadline
            return time.time() > record.deadline
        if record.params["mode"] == "kill-brick":
            return fired_in_target(target(record.params["peer"]), record.id)
        return fired_on_host(record.id)

    def inject(self, record: FaultRecord) -> None:
        p = record.params
        if p["mode"] == "kill-brick":
            # the brick process found on its own server by its --brick-name (one per path on a host)
            # and killed in the same call: no CLI round trip through glusterd (a second or more), and
            # one command per server (its pid printed, then killed)
            p["pids"] = {}
            for brick, url in zip(p["bricks"], p["urls"], strict=True):
                res = target(url).run(f"{_find_brick(brick)} && kill -9 $p", timeout=10)
                pid = res.stdout.strip()
                if not pid.isdigit():
                    raise InjectionFailed(f"brick {brick} of {p['volume']} not running: nothing to kill")
                p["pids"][brick] = int(pid)
                if not res.ok:
                    raise InjectionFailed(f"kill -9 {pid} (brick {brick}) on {url}: {res.stderr.strip()[-200:]}")
            return
        if p.get("host"):
            for url in p["urls"]:
                target(url).check(inject_command(p["mode"], p["unit"]), timeout=30)
            return
        if p["mode"] == "kill-node":  # every witness recorded before the first kill
            p["witness"] = {name: kill_witness(_container(name)) for name in p["containers"]}
        for name in p["containers"]:
            _stop_container(name, p["mode"], p.get("witness", {}).get(name))

    def prove(self, record: FaultRecord) -> str:
        """Seen where the effect is: the killed brick processes gone (or zombies) in /proc of their
        servers, the containers exited or paused by the engine. Not glusterd's view from a peer (a CLI
        round trip of a second or more): the revert checks that the bricks come back online."""
        p = record.params
        if p.get("host") and p["mode"] == "pause-node":

            def frozen() -> str | None:
                seen = [target(u).run(frozen_check(p["unit"]), timeout=5) for u in p["urls"]]
                if not all(r.ok for r in seen):
                    return None
                return f"{p['unit']} stopped on {len(seen)} server(s) ({', '.join(r.stdout.strip() for r in seen)})"

            seen = wait_for(frozen, timeout=_PROVE_S, what=f"{p['unit']} frozen")
            return f"{seen}: bricks frozen (clients give up on them after network.ping-timeout)"
        if p.get("host") and p["mode"] == "kill-node":
            cli = GlusterCli(p["peer"], timeout=5)

            def offline() -> str | None:
                bricks = cli.volume_status(p["volume"])
                up = [b for b in p["bricks"] if b in bricks and bricks[b].online]
                return None if up else f"brick(s) {', '.join(p['bricks'])} offline (seen from {p['peer']})"

            return wait_for(offline, timeout=_PROVE_S, what=f"brick(s) {', '.join(p['bricks'])} offline", interval=0.2)
        if p["mode"] == "kill-brick":
            bricks = zip(p["bricks"], p["urls"], strict=True)
            where = [(target(url), str(int(p["pids"][brick]))) for brick, url in bricks]

            def gone() -> str | None:
                for t, pid in where:
                    state = process_states(t.run(f"cat /proc/{pid}/stat 2>/dev/null", timeout=5).stdout).get(pid)
                    if state not in (None, "Z", "X"):  # still running (or sleeping, stopped...)
                        return None
                pids = ", ".join(f"{b} pid {p['pids'][b]}" for b in p["bricks"])
                return f"brick process(es) gone ({pids})"

            return wait_for(gone, timeout=_PROVE_S, what=f"brick(s) {', '.join(p['bricks'])} killed", interval=0.02)
        if p["mode"] == "kill-node":

            def dead() -> str | None:
                seen = [killed(n, p["witness"][n]) for n in p["containers"]]
                return "; ".join(s for s in seen if s) if all(seen) else None

            seen = wait_for(dead, timeout=_PROVE_S, what=f"{', '.join(p['containers'])} killed", interval=0.02)
            return f"{seen}: bricks {', '.join(p['bricks'])} gone with their servers"
        want = ("paused",)

        def stopped() -> str | None:
            states = [_container(n).status for n in p["containers"]]
            return f"{', '.join(p['containers'])} {states[0]}" if all(s in want for s in states) else None

        seen = wait_for(stopped, timeout=_PROVE_S, what=f"{', '.join(p['containers'])} {want[0]}", interval=0.02)
        return f"{seen}: bricks frozen (clients give up on them after network.ping-timeout)"

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        p = record.params
        cli = GlusterCli(p["peer"], timeout=20)
        peer = target(p["peer"]).container
        if peer is not None and not _exists(peer):
            return  # the platform itself is gone: nothing left to revert
        try:
            if p["mode"] == "kill-brick":
                cli.start_force(p["volume"])
            elif p.get("host"):
                for url in p["urls"]:
                    target(url).check(revert_command(p["mode"], p["unit"]), timeout=90)
            else:
                if not _containers_back(p["containers"], p.get("witness") or {}):
                    return  # the platform itself is gone: nothing left to revert
            _wait_online(cli, p["volume"], p["bricks"], [GlusterCli(u, timeout=5) for u in p["urls"]])
            cli.trigger_heal(p["volume"])
        except TargetError as e:
            raise RevertFailed(f"{record.kind} ({p['mode']}) of {', '.join(p['bricks'])}: {e}") from e


def clear_stale_pidfiles(volume: str, run_dir: str = "/var/run/gluster") -> str:
    """Shell removing the volume's brick pidfiles whose pid is no ``glusterfsd`` (printing each one).

    A server whose container was killed restarts with pids counted from 1 again; glusterd reads the old
    pidfile, finds that pid taken (by any process: a probe's shell, a heal daemon), says "discovered
    already-running brick" and never starts it, not even on ``start force``. Removed, it starts it."""
    pids = f"{shlex.quote(run_dir)}/vols/{shlex.quote(volume)}/*.pid"
    return (
        f'for f in {pids}; do [ -e "$f" ] || continue; p=$(cat "$f"); '
        f'case "$(tr "\\0" " " 2>/dev/null </proc/$p/cmdline)" in *glusterfsd*) ;; *) rm -f "$f"; echo "$f";; esac; '
        "done"
    )


def _find_brick(brick: str) -> str:
    """Shell printing the pid of the brick process serving ``brick`` (``host:/path``) on its host, and
    failing unless exactly one runs. The pattern needs a space or the end after the path, so it does
    not match the shell running it (whose command line holds the pattern followed by ``(``)."""
    path = brick.split(":", 1)[1]
    pattern = "glusterfsd .*--brick-name " + re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", path) + "( |$)"
    return f'p=$(pgrep -f {shlex.quote(pattern)}); [ "$(echo $p | wc -w)" = 1 ] && echo $p'


def _stop_container(name: str, mode: str, witness: dict[str, Any] | None, attempts: int = 5) -> None:
    """Kill (``witness``: its first process, from kill_witness) or pause a container; a pause is retried,
    since the freezer gives up while a task is in uninterruptible I/O (a brick in fsync) and runc then
    thaws the container again."""
    for attempt in range(1, attempts + 1):
        c = _container(name)
        try:
            if mode == "pause-node":
                c.pause()
            else:
                assert witness is not None, "a kill records its witness"
                kill(c, witness)
            return
        except APIError as e:
            if mode != "pause-node" or "unable to freeze" not in str(e) or attempt == attempts:
                raise InjectionFailed(f"docker {mode} {name}: {e.explanation or e}") from e
            time.sleep(0.2)


def _exists(name: str) -> bool:
    try:
        _container(name)
    except TargetError as e:
        if NO_SUCH_CONTAINER in str(e):
            return False
        raise
    return True


def _containers_back(names: Sequence[str], witness: dict[str, dict[str, Any]]) -> bool:
    """Start or unpause the containers (``witness``: of those killed); False when one no longer exists."""
    for name in names:
        try:
            # verified running; a race lost to the deadman is fine
            start_container(name, killed_instance=(witness.get(name) or {}).get("started_at"))
        except TargetError as e:
            if NO_SUCH_CONTAINER in str(e):
                return False
            raise
    return True


def _wait_online(cli: GlusterCli, volume: str, bricks: Sequence[str], servers: Sequence[GlusterCli]) -> None:
    """Bounded wait for glusterd on the servers, then for the bricks; ``start force`` once if they lag."""
    deadline = time.monotonic() + _BACK_S
    forced = False
    last = "not checked"
    for _ in range(int(_BACK_S / 0.5) + 1):
        try:
            if all(s.answers() for s in servers):
                found = cli.volume_status(volume)
                down = [b for b in bricks if b not in found or not found[b].online]
                if not down:
                    return
                last = f"offline: {', '.join(down)}"
                if not forced and time.monotonic() > deadline - _BACK_S / 2:
                    for s in servers:  # a restarted server's glusterd may take a reused pid for its brick
                        target(s.url).run(clear_stale_pidfiles(volume), timeout=10)
                    cli.start_force(volume)  # glusterd restarts bricks itself; this covers when it does not
                    forced = True
            else:
                last = "glusterd does not answer on every server"
        except TargetError as e:
            last = str(e)
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    raise TargetError(f"bricks of {volume} not back online within {_BACK_S:.0f} s ({last})")


def pick_servers(
    cluster: Cluster, server: str = "random", count: int = 1, *, ledger: Ledger | None = None
) -> list[str]:
    """``random`` (``count`` distinct servers no open fault holds) or a member name."""
    names = [m.name for m in cluster.members]
    if server == "random":
        free = [m.name for m in free_members(cluster, ledger=ledger, what="server")]
        if len(free) < count:
            raise TargetError(f"cluster {cluster.name}: {count} free server(s) wanted, only {', '.join(free)} free")
        return random.sample(free, count)
    try:
        chosen = cluster.member(server).name
    except ConfigError as e:
        raise ConfigError(e.file, e.field, f"random or {e.expected}", server) from None
    others = [n for n in names if n != chosen]
    return [chosen, *random.sample(others, count - 1)]


def stop_brick(
    inv: Inventory,
    cluster: Cluster,
    servers: Sequence[str],
    *,
    mode: Mode = "kill-brick",
    time_limit: float = DEFAULT_TIME_LIMIT,
    force: bool = False,
) -> StopBrick:
    """The fault taking the bricks of ``servers`` (member names) of a gluster cluster away."""
    members = [cluster.member(s) for s in servers]
    survivors = [m for m in cluster.members if m not in members]
    if not survivors:
        raise ConfigError("inventory", f"clusters[{cluster.name}]", "a server left to observe and repair the volume")
    bricks: dict[str, str] = cluster.settings.get("bricks", {})
    paths = {bricks.get(m.name, "/bricks/b") for m in members}
    if len(paths) != 1:
        raise NotImplementedError(f"bricks at different paths on {', '.join(servers)}: {sorted(paths)}")
    return StopBrick(
        target=inv.member_node(cluster, members[0].name).url,
        mode=mode,
        volume=str(cluster.settings["volume"]),
        servers=tuple(m.node for m in members),
        urls=tuple(inv.member_node(cluster, m.name).url for m in members),
        brick=paths.pop(),
        peer=inv.member_node(cluster, survivors[0].name).url,
        unit=str(cluster.settings.get("unit", DEFAULT_UNIT)),
        time_limit=time_limit,
        **gate(inv, cluster, members, force=force),
        description=f"{mode} on gluster {', '.join(m.name for m in members)} ({cluster.settings['volume']})",
    )
