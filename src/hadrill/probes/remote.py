"""Probes that run on a node of the platform, for services only reachable from there.

An NFS client in userspace, a FUSE mount of a Gluster volume: the service is used from a client node,
so the probe runs there, as a bounded script that appends one JSON line per operation::

    {"start": 1700000000.1, "end": 1700000000.12, "ok": true, "error": null, "detail": {"key": "f000001"}}

The harness starts it detached (it stops by itself after its duration), stops it when the
experiment is done, and reads the lines back into a :class:`History` like any in-process probe's.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import time
import uuid

from hadrill.clients.targets import target
from hadrill.errors import TargetError
from hadrill.probes.sampler import History, Sample

__all__ = ["RemoteProbe"]


class RemoteProbe:
    """Runs ``command`` on ``url``; the command must write JSON lines to ``{log}`` and stop by itself.

    ``command`` may contain ``{log}``, replaced by the log path on the node. ``script`` (path, text)
    pairs are written to the node first.
    """

    def __init__(
        self,
        url: str,
        command: str,
        *,
        name: str,
        interval: float = 0.1,
        scripts: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.interval = interval
        self._tag = f"hadrill-probe-{uuid.uuid4().hex[:8]}"
        self.log = f"/tmp/{self._tag}.jsonl"
        self.command = command.replace("{log}", self.log)
        self.scripts = scripts or {}
        self._history = History(name, interval=interval)
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    @property
    def history(self) -> History:
        """The samples read so far (refreshed by :meth:`refresh` and :meth:`stop`)."""
        return self._history

    def start(self) -> RemoteProbe:
        t = target(self.url)
        for path, text in self.scripts.items():
            t.put_file(path, text, mode="0755")
        # exec keeps the shell's pid: stop() signals exactly this probe's process.
        t.spawn(f"echo $$ > {self.log}.pid; exec {self.command}")
        self._running = True
        return self

    def refresh(self) -> History:
        """Read the node's log into a fresh history (a torn last line is skipped)."""
        out = target(self.url).run(f"cat {shlex.quote(self.log)} 2>/dev/null", timeout=30).stdout
        history = History(self.name, interval=self.interval)
        for line in out.split("\n"):
            try:
                d = json.loads(line)
                history.append(
                    Sample(float(d["start"]), float(d["end"]), bool(d["ok"]), d.get("error"), d.get("detail"))
                )
            except (ValueError, KeyError, TypeError):
                continue
        self._history = history
        return history

    def stop(self, timeout: float | None = None) -> History:
        """Stop the script (SIGTERM, then SIGKILL), read its log, remove it."""
        if self._running:
            pid = f"$(cat {shlex.quote(self.log)}.pid 2>/dev/null)"
            with contextlib.suppress(TargetError):
                target(self.url).run(f"kill -TERM {pid}; sleep 0.5; kill -KILL {pid}; true", timeout=10)
            self._running = False
            time.sleep(0.1)
        history = self.refresh()
        target(self.url).run(f"rm -f {shlex.quote(self.log)} {shlex.quote(self.log)}.pid", timeout=10)
        return history

    def check_errors(self) -> None:
        """Remote probes report failures as samples; nothing runs in this process to fail."""
