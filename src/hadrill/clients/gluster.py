"""GlusterFS through its CLI on a server node: bounded calls and parsed answers.

Every call is ``gluster --mode=script --timeout=N`` (no prompt; the CLI gives up after N seconds)
inside the target's own ``timeout`` (a frozen peer can otherwise hang the CLI for 120 s). Answers
come from ``--xml`` where the CLI has it, so the lab, the faults and the probes read one format.

>>> parse_heal_counts("Brick a:/b\\nNumber of entries: 3\\n\\nBrick c:/b\\nNumber of entries: -\\n")
{'a:/b': 3, 'c:/b': None}
"""

from __future__ import annotations

import re
import shlex
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from hadrill.clients.targets import Result, target
from hadrill.errors import TargetError

__all__ = [
    "BrickStatus",
    "GlusterCli",
    "VolumeInfo",
    "parse_heal_counts",
    "parse_peers",
    "parse_volume_info",
    "parse_volume_status",
]

CLI_TIMEOUT = 20.0
_ENTRIES = re.compile(r"^Brick (\S+)\s*$|^Number of entries:\s*(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class BrickStatus:
    """One brick as glusterd reports it (``volume status --xml``)."""

    host: str
    path: str
    online: bool
    pid: int | None = None
    port: int | None = None

    @property
    def name(self) -> str:
        return f"{self.host}:{self.path}"


@dataclass(frozen=True)
class VolumeInfo:
    """What ``volume info --xml`` says of a volume."""

    name: str
    status: str  # Created, Started, Stopped
    bricks: tuple[str, ...]
    options: dict[str, str] = field(default_factory=dict)


def _root(text: str) -> ET.Element:
    try:
        root = ET.fromstring(text[text.find("<") :] if "<" in text else text)
    except (ET.ParseError, UnicodeEncodeError) as e:
        raise TargetError(f"gluster answered no XML: {text.strip()[-200:]!r}") from e
    if root.findtext("opRet", "0") != "0":
        raise TargetError(f"gluster: {root.findtext('opErrstr', '') or 'failed'}")
    return root


def _int(text: str | None) -> int | None:
    try:
        value = int(text or "")
    except ValueError:
        return None
    return value if value > 0 else None


def parse_volume_status(text: str) -> dict[str, BrickStatus]:
    """Bricks by ``host:path`` (daemons such as the self-heal daemon left out)."""
    out: dict[str, BrickStatus] = {}
    for node in _root(text).iter("node"):
        path = node.findtext("path", "")
        if not path.startswith("/"):
            continue  # "Self-heal Daemon" on "localhost"
        host = node.findtext("hostname", "")
        brick = BrickStatus(
            host=host,
            path=path,
            online=node.findtext("status") == "1",
            pid=_int(node.findtext("pid")),
            port=_int(node.findtext("port")),
        )
        out[brick.name] = brick
    return out


def parse_volume_info(text: str) -> VolumeInfo:
    vol = _root(text).find("volInfo/volumes/volume")
    if vol is None:
        raise TargetError("gluster volume info: no volume in the answer")
    return VolumeInfo(
        name=vol.findtext("name", ""),
        status=vol.findtext("statusStr", ""),
        bricks=tuple(b.findtext("name", "") for b in vol.iter("brick")),
        options={o.findtext("name", ""): o.findtext("value", "") for o in vol.iter("option")},
    )


def parse_peers(text: str) -> dict[str, bool]:
    """``pool list --xml``: every host name a peer is known by, and whether it is connected."""
    out: dict[str, bool] = {}
    for peer in _root(text).iter("peer"):
        connected = peer.findtext("connected") == "1"
        names = {peer.findtext("hostname", "")} | {h.text or "" for h in peer.iter("hostname")}
        for name in names - {""}:
            out[name] = connected
    return out


def _count(text: str) -> int | None:
    """A count of entries: ASCII digits only ("-": the brick is down; anything else: unknown)."""
    if not (text.isascii() and text.isdigit()):
        return None
    try:
        return int(text)
    except ValueError:  # more digits than int() converts from a string
        return None


def parse_heal_counts(text: str) -> dict[str, int | None]:
    """``volume heal VOL statistics heal-count``: pending entries per brick (None: brick unreachable)."""
    out: dict[str, int | None] = {}
    brick = None
    for m in _ENTRIES.finditer(text):
        if m.group(1):
            brick = m.group(1)
        elif brick is not None:
            out[brick] = _count(m.group(2))
    return out


class GlusterCli:
    """The ``gluster`` CLI on one server node (a target URL)."""

    def __init__(self, url: str, *, timeout: float = CLI_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout

    def run(self, args: str, *, timeout: float | None = None) -> Result:
        t = timeout or self.timeout
        return target(self.url).run(f"gluster --mode=script --timeout={int(t)} {args}", timeout=t + 5)

    def check(self, args: str, *, timeout: float | None = None) -> str:
        res = self.run(args, timeout=timeout)
        if not res.ok:
            detail = (res.stderr.strip() or res.stdout.strip())[-300:]
            raise TargetError(f"{self.url}: gluster {args} exited {res.rc}: {detail}")
        return res.stdout

    def _xml(self, args: str, timeout: float | None) -> str:
        # With --xml the CLI exits non-zero on errors but still prints the reason as XML.
        res = self.run(f"{args} --xml", timeout=timeout)
        if "<cliOutput" not in res.stdout:
            detail = (res.stderr.strip() or res.stdout.strip())[-300:]
            raise TargetError(f"{self.url}: gluster {args} exited {res.rc}: {detail}")
        return res.stdout

    def answers(self, timeout: float = 5.0) -> bool:
        """Whether glusterd on this node answers at all."""
        try:
            return self.run("pool list", timeout=timeout).ok
        except TargetError:
            return False

    def peers(self, timeout: float | None = None) -> dict[str, bool]:
        return parse_peers(self._xml("pool list", timeout))

    def volume_info(self, volume: str, timeout: float | None = None) -> VolumeInfo | None:
        """The volume, or None when it does not exist."""
        res = self.run(f"volume info {shlex.quote(volume)} --xml", timeout=timeout)
        if "does not exist" in res.stdout + res.stderr:
            return None
        if "<cliOutput" not in res.stdout:
            raise TargetError(f"{self.url}: gluster volume info {volume}: {(res.stderr or res.stdout).strip()[-300:]}")
        return parse_volume_info(res.stdout)

    def volume_status(self, volume: str, brick: str = "", timeout: float | None = None) -> dict[str, BrickStatus]:
        """Bricks of the volume (or only ``brick``, ``host:path``) by name; a brick of a peer that
        glusterd cannot reach is missing from the answer: treat it as offline."""
        which = f"{shlex.quote(volume)} {shlex.quote(brick)}" if brick else shlex.quote(volume)
        return parse_volume_status(self._xml(f"volume status {which}", timeout))

    def heal_counts(self, volume: str, timeout: float | None = None) -> dict[str, int | None]:
        """Pending heal entries per brick (cheap: index counts only, unlike ``heal info``)."""
        out = self.check(f"volume heal {shlex.quote(volume)} statistics heal-count", timeout=timeout)
        counts = parse_heal_counts(out)
        if not counts:
            raise TargetError(f"{self.url}: no heal counts in {out.strip()[-200:]!r}")
        return counts

    def start_force(self, volume: str, timeout: float = 60.0) -> None:
        """Start every brick process of the volume that is not running (idempotent)."""
        self.check(f"volume start {shlex.quote(volume)} force", timeout=timeout)

    def trigger_heal(self, volume: str, *, within: float = 90.0, interval: float = 2.0) -> float:
        """Launch an index heal, retried until the self-heal daemons accept it; return seconds taken.

        Without it, a brick back after a freeze may wait for the daemon's 600 s crawl.
        """
        start = time.monotonic()
        last = ""
        for _ in range(int(within / interval) + 1):
            res = self.run(f"volume heal {shlex.quote(volume)}", timeout=30)
            if res.ok:
                return time.monotonic() - start
            last = (res.stderr.strip() or res.stdout.strip())[-200:]
            if time.monotonic() - start >= within:
                break
            time.sleep(interval)
        raise TargetError(f"{self.url}: gluster volume heal {volume} not accepted within {within:.0f} s: {last}")
