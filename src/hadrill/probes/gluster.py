"""Gluster probes and checks: fsync'd writes through the client's mount, and what the bricks hold.

The write probe runs ``fs_writer.py`` on the client node (a :class:`RemoteProbe`): small files, each
acknowledged only after open/write/fsync/close returned, keyed by their path under the mount. After
the fault the acknowledged files are read back through the mount (the measured RPO) and straight
from every brick directory on every server (replication, not just the client's view), and the heal
after a brick's return is timed with ``volume heal VOL statistics heal-count``.
"""

from __future__ import annotations

import json
import shlex
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from importlib import resources
from typing import Any

from hadrill.clients.gluster import GlusterCli
from hadrill.clients.targets import target
from hadrill.errors import TargetError
from hadrill.inventory import Cluster, Inventory, Node
from hadrill.probes.remote import RemoteProbe
from hadrill.probes.sampler import History
from hadrill.slo import Verdict

__all__ = [
    "SCRIPT",
    "acked_files",
    "acked_files_check",
    "gluster_read_back_for",
    "gluster_write_probe",
    "heal_count",
    "read_through_mount",
    "verify_on_every_brick",
    "volume_problem",
    "wait_heal",
    "writes_fail_without_quorum",
]

SCRIPT = "/tmp/hadrill-fs-writer.py"
PROBE_DIR = "hadrill-probe"


def _script_text() -> str:
    return resources.files("hadrill.probes.scripts").joinpath("fs_writer.py").read_text(encoding="utf-8")


def _client(inv: Inventory, c: Cluster) -> Node:
    return inv.node(str(c.settings["client"]))


def _op_timeout(c: Cluster) -> float:
    """Long enough for a write held by a frozen brick until ``network.ping-timeout`` gives up on it."""
    return max(10.0, 2.0 * float(c.settings.get("ping_timeout", 42)) + 2.0)


def _clock(t: float) -> str:
    moment = datetime.fromtimestamp(t)
    return f"{moment:%H:%M:%S}.{moment.microsecond // 100_000}"


def gluster_write_probe(
    inv: Inventory, cluster: str = "gluster", interval: float = 0.1, duration: float = 180.0, *, size: int = 8192
) -> RemoteProbe:
    """A remote probe writing one fsync'd file every ``interval`` seconds on the client's mount.

    Its ok samples' details hold ``key`` (path under the mount) and ``sha256``: the acknowledgements.
    """
    c = inv.cluster(cluster)
    mount = str(c.settings["mount"])
    folder = f"{mount}/{PROBE_DIR}/{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    command = (
        f"python3 {SCRIPT} --dir {shlex.quote(folder)} --root {shlex.quote(mount)} --interval {interval:g} "
        f"--duration {duration:g} --size {size} --op-timeout {_op_timeout(c):g} --out {{log}}"
    )
    return RemoteProbe(
        _client(inv, c).url, command, name=f"{c.name}-write", interval=interval, scripts={SCRIPT: _script_text()}
    )


def acked_files(acked: History | Iterable[dict[str, Any]]) -> dict[str, str]:
    """Acknowledged files, from a write probe's history or its ok samples' details: key → sha256."""
    details = [s.detail for s in acked.oks() if s.detail] if isinstance(acked, History) else acked
    return {str(d["key"]): str(d["sha256"]) for d in details if "key" in d and "sha256" in d}


def _verify(url: str, root: str, acked: dict[str, str], timeout: float = 120.0) -> set[str]:
    """Keys whose file under ``root`` on the node has the acknowledged sha256."""
    t = target(url)
    t.put_file(SCRIPT, _script_text(), mode="0755")
    listing = f"/tmp/hadrill-verify-{uuid.uuid4().hex[:8]}.txt"
    t.put_file(listing, "".join(f"{k} {h}\n" for k, h in sorted(acked.items())))
    try:
        cmd = f"python3 {SCRIPT} --verify --dir {shlex.quote(root)} --duration {timeout:g} < {listing}"
        out = t.check(cmd, timeout=timeout + 10)
    finally:
        t.run(f"rm -f {listing}", timeout=10)
    return set(out.split())


def read_through_mount(inv: Inventory, cluster: str, acked: dict[str, str]) -> set[str]:
    """The acknowledged files readable through the client's mount with the right content."""
    c = inv.cluster(cluster)
    return _verify(_client(inv, c).url, str(c.settings["mount"]), acked) if acked else set()


def gluster_read_back_for(inv: Inventory, cluster: str = "gluster") -> Callable[[list[dict[str, Any]]], set[str]]:
    """A read-back for :meth:`hadrill.run.Run.add_probe`: acknowledged details → keys intact through the mount."""
    return lambda details: read_through_mount(inv, cluster, acked_files(details))


def verify_on_every_brick(inv: Inventory, cluster: str, acked: dict[str, str]) -> dict[str, set[str]]:
    """Per server: the acknowledged keys missing from its brick directory, or with the wrong content."""
    c = inv.cluster(cluster)
    bricks: dict[str, str] = c.settings.get("bricks", {})
    out: dict[str, set[str]] = {}
    for m in c.members:
        good = _verify(inv.member_node(c, m.name).url, bricks.get(m.name, "/bricks/b"), acked) if acked else set()
        out[m.name] = set(acked) - good
    return out


def acked_files_check(inv: Inventory, cluster: str, acked: dict[str, str]) -> Verdict:
    """Every acknowledged file is on every brick with its sha256 (replicated, not just visible)."""
    c = inv.cluster(cluster)
    bad = verify_on_every_brick(inv, cluster, acked)
    worst = sum(len(v) for v in bad.values())
    if not acked:
        return Verdict("acked_files_on_every_brick", 0, None, "files", False, "no acknowledged file to look for")
    if not worst:
        detail = f"all {len(acked)} acknowledged files on the {len(bad)} bricks of {c.name}, with the right sha256"
        return Verdict("acked_files_on_every_brick", 0, 0, "files", True, detail)
    parts = [f"{s}: {len(v)} missing or wrong (first: {', '.join(sorted(v)[:3])})" for s, v in bad.items() if v]
    detail = f"{worst} acknowledged file copies of {len(acked)} files missing or wrong; " + "; ".join(parts)
    return Verdict("acked_files_on_every_brick", 0, worst, "files", False, detail)


def _answering_cli(inv: Inventory, c: Cluster, timeout: float = 10.0) -> GlusterCli:
    last = "no server"
    for m in c.members:
        cli = GlusterCli(inv.member_node(c, m.name).url, timeout=timeout)
        if cli.answers(timeout=min(timeout, 5.0)):
            return cli
        last = m.name
    raise TargetError(f"no gluster server of {c.name} answers (last tried {last})")


def heal_count(inv: Inventory, cluster: str) -> int:
    """Entries pending heal on the volume, summed over bricks; TargetError when a brick cannot say."""
    c = inv.cluster(cluster)
    counts = _answering_cli(inv, c).heal_counts(str(c.settings["volume"]))
    unknown = sorted(b for b, n in counts.items() if n is None)
    if unknown or len(counts) < len(c.members):
        raise TargetError(f"heal count unknown: brick(s) {', '.join(unknown) or 'missing'} not reachable")
    return sum(n for n in counts.values() if n is not None)


def wait_heal(
    inv: Inventory, cluster: str, objective_s: float, *, since: float | None = None, limit: float = 300.0
) -> Verdict:
    """Time from ``since`` (default: now) until no entry is pending heal; bounded by ``limit``."""
    since = time.time() if since is None else since
    deadline = time.monotonic() + max(limit, objective_s)
    first: int | None = None
    last = "not checked"
    while True:
        try:
            pending = heal_count(inv, cluster)
            first = pending if first is None else first
            last = f"{pending} entries pending"
            if pending == 0:
                took = max(0.0, time.time() - since)
                ok = took <= objective_s
                detail = (
                    f"heal complete {took:.2f} s after {_clock(since)} ({first} entries pending at the first look) "
                    f"{'<=' if ok else '>'} objective {objective_s:.2f} s"
                )
                return Verdict("heal_s", objective_s, took, "s", ok, detail)
        except TargetError as e:
            last = str(e)[-120:]
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    waited = max(limit, objective_s)
    detail = f"heal not complete {waited:.0f} s after {_clock(since)}: {last} (objective {objective_s:.2f} s)"
    return Verdict("heal_s", objective_s, None, "s", False, detail)


def _keys_on_bricks(inv: Inventory, c: Cluster, keys: Iterable[str]) -> dict[str, list[str]]:
    """Which of ``keys`` exist on each brick a command still reaches (frozen or dead servers skipped)."""
    bricks: dict[str, str] = c.settings.get("bricks", {})
    found: dict[str, list[str]] = {}
    for m in c.members:
        root = bricks.get(m.name, "/bricks/b")
        tests = " ".join(f"[ -e {shlex.quote(root + '/' + k)} ] && echo {shlex.quote(k)};" for k in keys)
        try:
            res = target(inv.member_node(c, m.name).url).run(f"{tests} true", timeout=10)
        except TargetError:
            continue
        if res.ok and res.stdout.split():
            found[m.name] = res.stdout.split()
    return found


def writes_fail_without_quorum(inv: Inventory, cluster: str, *, bound_s: float | None = None) -> Verdict:
    """While quorum is lost, one write through the mount must fail (ENOTCONN/EROFS) within ``bound_s``
    and land on no brick: refused, not accepted by a minority (split brain)."""
    c = inv.cluster(cluster)
    bound = bound_s if bound_s is not None else _op_timeout(c)
    mount = str(c.settings["mount"])
    folder = f"{mount}/{PROBE_DIR}/quorum-{uuid.uuid4().hex[:8]}"
    t = target(_client(inv, c).url)
    t.put_file(SCRIPT, _script_text(), mode="0755")
    cmd = (
        f"python3 {SCRIPT} --dir {shlex.quote(folder)} --root {shlex.quote(mount)} --max 1 --duration {bound:g} "
        f"--op-timeout {bound:g} --size 4096"
    )
    out = t.run(cmd, timeout=bound + 15).stdout.strip().splitlines()
    name = "writes_fail_without_quorum"
    try:
        line = json.loads(out[-1])
    except (IndexError, ValueError):
        return Verdict(name, bound, None, "s", False, f"the quorum-loss write gave no answer: {out[-3:]}")
    took = float(line["end"]) - float(line["start"])
    key = str(line["detail"]["key"])
    landed = _keys_on_bricks(inv, c, [key])
    if line["ok"]:
        where = f" (on {', '.join(landed)})" if landed else ""
        return Verdict(name, bound, took, "s", False, f"a write was ACCEPTED without quorum: {key}{where}")
    error = str(line["error"])
    refused = error in ("ENOTCONN", "EROFS")
    ok = refused and took <= bound and not landed
    detail = (
        f"a write without quorum failed with {error} after {took:.2f} s ({'<=' if took <= bound else '>'} {bound:g} s)"
    )
    if not refused:
        detail += f"; expected ENOTCONN or EROFS ({line['detail'].get('message', '')})"
    if landed:
        detail += f"; but its file is on brick(s) {', '.join(sorted(landed))}: split brain"
    return Verdict(name, bound, took, "s", ok, detail)


def volume_problem(inv: Inventory, cluster: str = "gluster") -> str | None:
    """What keeps the volume from being healthy (None: every brick online and the client mounted)."""
    c = inv.cluster(cluster)
    try:
        bricks = _answering_cli(inv, c).volume_status(str(c.settings["volume"]))
    except TargetError as e:
        return str(e)
    paths: dict[str, str] = c.settings.get("bricks", {})
    offline = [
        n
        for n in (f"{m.node}:{paths.get(m.name, '/bricks/b')}" for m in c.members)
        if not (n in bricks and bricks[n].online)
    ]
    if offline:
        return f"bricks offline: {', '.join(offline)}"
    mount = shlex.quote(str(c.settings["mount"]))
    if not target(_client(inv, c).url).run(f"mountpoint -q {mount}", timeout=10).ok:
        return f"{c.settings['mount']} is not mounted on {c.settings['client']}"
    return None
