#!/usr/bin/env python3
"""A bounded writer of small files on a mounted filesystem, run on the client node by a remote probe.

Writer (one JSON line per attempt, the remote-probe format)::

    fs_writer.py --dir /mnt/gv0/hadrill-probe/RUN [--root /mnt/gv0] [--interval 0.1] [--duration 180]
                 [--max 100000] [--size 8192] [--op-timeout 10] [--out FILE]

    {"start": ..., "end": ..., "ok": true, "error": null, "detail": {"key": "hadrill-probe/RUN/f000001",
     "sha256": "..."}}

Each attempt writes one new file with open/write/fsync/close; the file's key is its path relative to
``--root``. A failure's ``error`` is the errno name (``ENOTCONN``, ``EROFS``...); ``ETIMEDOUT`` means the
operation was still blocked after ``--op-timeout`` seconds (FUSE calls can block: each runs in a thread
of its own, so the writer never waits longer than that). Attempts follow a fixed schedule, one every
``--interval`` seconds; the writer stops after ``--max`` attempts or ``--duration`` seconds (at the
latest ``--duration`` + ``--op-timeout`` seconds after it started), or on SIGTERM.

Verifier: ``fs_writer.py --verify --dir ROOT`` reads ``KEY SHA256`` lines on stdin and prints the keys
whose file under ROOT has that sha256, one a line.

Standard library only: it runs on whatever Python the node has (3.9 or newer).
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import signal
import sys
import threading
import time
from typing import Any, TextIO

MAX_BLOCKED = 16  # operations still blocked in the kernel before the writer stops starting new ones


class _Op:
    """One filesystem operation in a thread of its own, so a blocked call cannot block the caller."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self.stage = "start"
        self.error: str | None = None
        self.message = ""
        self.value: Any = None
        self._fn, self._args = fn, args
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.value = self._fn(self, *self._args)
        except OSError as e:
            self.error = errno.errorcode.get(e.errno or 0, f"OSError{e.errno}")
            self.message = e.strerror or str(e)
        except Exception as e:  # a bug, not the filesystem: still one failed attempt, named
            self.error, self.message = type(e).__name__, str(e)

    def run(self, timeout: float) -> bool:
        """True when the operation finished (ok or not) within ``timeout`` seconds."""
        self.thread.start()
        self.thread.join(max(0.0, timeout))
        if self.thread.is_alive():
            self.error, self.message = "ETIMEDOUT", f"still blocked in {self.stage} after {timeout:.1f} s"
            return False
        return True


def _write(op: _Op, path: str, data: bytes) -> None:
    op.stage = "mkdir"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    op.stage = "open"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            op.stage = "write"
            view = view[os.write(fd, view) :]
        op.stage = "fsync"
        os.fsync(fd)
    finally:
        op.stage = "close"
        os.close(fd)


def _sha256(op: _Op, path: str) -> str:
    op.stage = "read"
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def content(key: str, size: int) -> bytes:
    """Deterministic content naming its own key, ``size`` bytes."""
    unit = f"{key} hadrill\n".encode()
    return (unit * (size // len(unit) + 1))[:size]


def write_loop(args: argparse.Namespace, out: TextIO) -> int:
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    root = args.root or args.dir
    t0 = time.monotonic()
    end = t0 + args.duration
    blocked: list[_Op] = []
    attempts = tick = 0
    for i in range(args.max):
        now = time.monotonic()
        if stopping.is_set() or now >= end:
            break
        tick = max(tick, int((now - t0) / args.interval))  # late ticks are skipped, never bursted
        path = os.path.join(args.dir, f"f{i:06d}")
        key = os.path.relpath(path, root)
        data = content(key, args.size)
        detail: dict[str, Any] = {"key": key, "sha256": hashlib.sha256(data).hexdigest()}
        start = time.time()
        blocked = [b for b in blocked if b.thread.is_alive()]
        if len(blocked) >= MAX_BLOCKED:
            error: str | None = "EBUSY"
            detail["message"] = f"{len(blocked)} earlier operations still blocked"
        else:
            op = _Op(_write, path, data)
            if not op.run(args.op_timeout):
                blocked.append(op)
            error = op.error
            if error:
                detail.update(op=op.stage, message=op.message)
        line = {"start": start, "end": time.time(), "ok": error is None, "error": error, "detail": detail}
        out.write(json.dumps(line) + "\n")
        out.flush()
        attempts += 1
        tick += 1
        stopping.wait(max(0.0, t0 + tick * args.interval - time.monotonic()))
    return attempts


def verify(args: argparse.Namespace, lines: TextIO, out: TextIO) -> int:
    """Print the keys whose file has the expected sha256; return how many did."""
    end = time.monotonic() + args.duration
    good = 0
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or time.monotonic() >= end:
            continue
        key, sha = parts
        op = _Op(_sha256, os.path.join(args.dir, key))
        if op.run(min(args.op_timeout, end - time.monotonic())) and op.error is None and op.value == sha:
            out.write(key + "\n")
            good += 1
    out.flush()
    return good


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--dir", required=True, help="directory the files go to (--verify: the root keys are under)")
    ap.add_argument("--root", default="", help="keys are paths relative to this (default: --dir)")
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--duration", type=float, default=180.0)
    ap.add_argument("--max", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--op-timeout", type=float, default=10.0)
    ap.add_argument("--out", default="-", help="JSON lines go here (default: stdout)")
    ap.add_argument("--verify", action="store_true", help="read KEY SHA256 lines on stdin, print the good keys")
    args = ap.parse_args(argv)
    if args.interval <= 0 or args.duration <= 0 or args.op_timeout <= 0 or args.size < 0:
        ap.error("--interval, --duration and --op-timeout must be > 0, --size >= 0")
    if args.verify:
        verify(args, sys.stdin, sys.stdout)
        return 0
    out = sys.stdout if args.out == "-" else open(args.out, "a", encoding="utf-8")  # noqa: SIM115
    write_loop(args, out)
    out.flush()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # do not wait for operations still blocked in the kernel
