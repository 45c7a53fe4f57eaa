"""NFS probes: fsync'd writes through the VIP from the client node, and reading them back.

The write probe runs ``nfs_writer.py`` on the cluster's client node (a :class:`RemoteProbe`): libnfs
in userspace through ctypes, one file per sample (create, write, COMMIT, close, every return code
checked), a new context and mount after any failure. An ok sample's detail holds ``key`` (the
file's path under the export) and ``sha256``: the acknowledgement. :func:`nfs_read_back` reads the
acknowledged files back through the VIP (the same script, ``--verify``) and returns the keys whose
content is intact: the measured RPO is what is missing.
"""

from __future__ import annotations

import json
import shlex
import time
import uuid
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from hadrill.clients.targets import target
from hadrill.errors import TargetError
from hadrill.inventory import Cluster, Inventory, Node
from hadrill.probes.remote import RemoteProbe

__all__ = ["SCRIPT", "acked_files", "nfs_read_back", "nfs_read_back_for", "nfs_write_probe"]

SCRIPT = "/tmp/hadrill-nfs-writer.py"
PROBE_DIR = "hadrill-probe"


def _script_text() -> str:
    return resources.files("hadrill.probes.scripts").joinpath("nfs_writer.py").read_text(encoding="utf-8")


def _client(inv: Inventory, c: Cluster) -> Node:
    return inv.node(str(c.settings["client"]))


def _url(c: Cluster) -> str:
    return f"nfs://{c.settings['vip']}{c.settings.get('export', '/export')}"


def nfs_write_probe(
    inv: Inventory, cluster: str = "nfs", interval: float = 0.1, duration: float = 120.0
) -> RemoteProbe:
    """A remote probe writing one COMMITted file through the VIP every ``interval`` s, for ``duration`` s."""
    c = inv.cluster(cluster)
    folder = f"{PROBE_DIR}/{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    most = int(duration / interval) + 10 if interval > 0 else 100_000
    command = (
        f"python3 {SCRIPT} --url {shlex.quote(_url(c))} --dir {shlex.quote(folder)} --interval {interval:g} "
        f"--duration {duration:g} --max {most} --log {{log}}"
    )
    return RemoteProbe(
        _client(inv, c).url, command, name=f"{c.name}-write", interval=interval, scripts={SCRIPT: _script_text()}
    )


def acked_files(details: list[dict[str, Any]]) -> dict[str, str]:
    """Acknowledged files from ok samples' details: key → sha256."""
    return {str(d["key"]): str(d["sha256"]) for d in details if "key" in d and "sha256" in d}


def nfs_read_back(inv: Inventory, cluster: str, keys: Mapping[str, str], *, timeout: float = 120.0) -> set[str]:
    """The keys (path under the export → sha256) readable through the VIP with the right content."""
    if not keys:
        return set()
    c = inv.cluster(cluster)
    t = target(_client(inv, c).url)
    t.put_file(SCRIPT, _script_text(), mode="0755")
    listing = f"/tmp/hadrill-nfs-verify-{uuid.uuid4().hex[:8]}.jsonl"
    t.put_file(listing, "".join(json.dumps({"key": k, "sha256": h}) + "\n" for k, h in sorted(keys.items())))
    try:
        cmd = (
            f"python3 {SCRIPT} --url {shlex.quote(_url(c))} --verify {listing} --duration {timeout:g} --max {len(keys)}"
        )
        out = t.check(cmd, timeout=timeout + 15)
    finally:
        t.run(f"rm -f {listing}", timeout=10)
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        raise TargetError(f"NFS read-back on {t.url} printed no result: {out[-300:]!r}") from e
    return {str(k) for k in result.get("good", [])}


def nfs_read_back_for(inv: Inventory, cluster: str = "nfs") -> Callable[[list[dict[str, Any]]], set[str]]:
    """A read-back for :meth:`hadrill.run.Run.add_probe`: acknowledged details → keys present and intact."""
    return lambda details: nfs_read_back(inv, cluster, acked_files(details))
