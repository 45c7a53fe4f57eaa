#!/usr/bin/env python3
"""NFS write probe, run on a client node: userspace NFSv3 through libnfs (ctypes), bounded.

Write mode (default): mount ``--url`` and write one file per sample under ``--dir``: create, write,
fsync (COMMIT), close. A sample is ok only when every call returned success; its detail is
``{"key": "<path under the export>", "sha256": "<content digest>"}``. After any failure the context is
destroyed and the next sample reconnects (new context, new mount), after a fast TCP check of
``host:2049``: while the VIP moves, libnfs' own connect would sit in the kernel's SYN back-off for
seconds, which would make the measured outage longer than the real one. One JSON line per sample::

    {"start": ..., "end": ..., "ok": true, "error": null, "detail": {"key": ..., "sha256": ...}}

Verify mode (``--verify FILE``, ``-`` for stdin): FILE holds JSON lines ``{"key", "sha256"}``; print
one JSON object ``{"good": [keys read back with the right content], "missing": n, "corrupt": n,
"errors": n}``.

Every loop is bounded: ``--duration`` seconds and ``--max`` operations; one RPC times out after
``--timeout`` s (libnfs, whole seconds), one whole operation after ``--op-timeout`` s (a watchdog
shuts the socket down; if libnfs still does not return, the script exits). Standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from typing import Any

NFS_PORT = 2049
MAX_READ = 1 << 20  # a probe file is small; never read more than this back


def load_libnfs() -> ctypes.CDLL:
    name = ctypes.util.find_library("nfs") or "libnfs.so.13"
    lib = ctypes.CDLL(name, use_errno=True)
    vp, cp, ci, u64 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint64
    sigs: dict[str, tuple[list[Any], Any]] = {
        "nfs_init_context": ([], vp),
        "nfs_destroy_context": ([vp], None),
        "nfs_get_error": ([vp], cp),
        "nfs_set_timeout": ([vp, ci], None),
        "nfs_set_autoreconnect": ([vp, ci], None),
        "nfs_get_fd": ([vp], ci),
        "nfs_mount": ([vp, cp, cp], ci),
        "nfs_mkdir": ([vp, cp], ci),
        "nfs_create": ([vp, cp, ci, ci, ctypes.POINTER(vp)], ci),
        "nfs_open": ([vp, cp, ci, ctypes.POINTER(vp)], ci),
        "nfs_write": ([vp, vp, u64, cp], ci),
        "nfs_read": ([vp, vp, u64, vp], ci),
        "nfs_fsync": ([vp, vp], ci),
        "nfs_close": ([vp, vp], ci),
    }
    for fn, (args, res) in sigs.items():
        f = getattr(lib, fn)
        f.argtypes, f.restype = args, res
    return lib


class NfsError(Exception):
    def __init__(self, message: str, rc: int = 0) -> None:
        super().__init__(message)
        self.rc = rc


class Watchdog:
    """Bounds one operation: past ``limit`` s, shut the context's socket down (libnfs then fails)."""

    def __init__(self, lib: ctypes.CDLL, limit: float) -> None:
        self.lib, self.limit = lib, limit
        self.ctx: int | None = None
        self.started = 0.0
        self.seq = 0
        self.fired = -1
        self.lock = threading.Lock()
        threading.Thread(target=self._watch, daemon=True).start()

    def arm(self, ctx: int | None) -> None:
        with self.lock:
            self.seq += 1
            self.ctx, self.started = ctx, time.monotonic()

    def disarm(self) -> None:
        with self.lock:
            self.ctx = None

    def _watch(self) -> None:
        while True:  # daemon thread: ends with the process (which is bounded)
            time.sleep(0.1)
            with self.lock:
                ctx, seq, late = self.ctx, self.seq, time.monotonic() - self.started
                if ctx is None or late < self.limit:
                    continue
                if self.fired == seq:
                    if late > self.limit + 5.0:  # libnfs ignored the shutdown: give up, bounded
                        os._exit(3)
                    continue
                self.fired = seq
                # under the lock: close() disarms (takes the lock) before it destroys the context
                fd = self.lib.nfs_get_fd(ctx)
                if fd >= 0:
                    try:
                        with socket.socket(fileno=os.dup(fd)) as s:
                            s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass


class Client:
    """One libnfs context mounted on the export; every call's return code is checked."""

    def __init__(self, lib: ctypes.CDLL, url: str, timeout: float, precheck: float, dog: Watchdog) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme != "nfs" or not parsed.hostname or not parsed.path:
            raise SystemExit(f"--url must look like nfs://HOST/EXPORT, not {url!r}")
        self.lib, self.host, self.export = lib, parsed.hostname, parsed.path
        self.timeout, self.precheck, self.dog = timeout, precheck, dog
        self.ctx: int | None = None

    def _error(self, what: str, rc: int) -> NfsError:
        msg = self.lib.nfs_get_error(self.ctx) if self.ctx else None
        return NfsError(f"{what} rc={rc} {(msg or b'').decode(errors='replace')}".strip(), rc)

    def connect(self) -> None:
        if self.ctx is not None:
            return
        if self.precheck > 0:
            try:
                socket.create_connection((self.host, NFS_PORT), timeout=self.precheck).close()
            except OSError as e:
                raise NfsError(f"precheck {self.host}:{NFS_PORT}: {e}") from None
        ctx = self.lib.nfs_init_context()
        if not ctx:
            raise NfsError("nfs_init_context failed")
        self.ctx = ctx
        self.lib.nfs_set_autoreconnect(ctx, 0)  # fail fast; this script reconnects itself
        self.lib.nfs_set_timeout(ctx, max(1000, int(self.timeout) * 1000))
        self.dog.arm(ctx)
        rc = self.lib.nfs_mount(ctx, self.host.encode(), self.export.encode())
        if rc != 0:
            err = self._error("mount", rc)
            self.close()
            raise err

    def close(self) -> None:
        if self.ctx is not None:
            self.dog.disarm()
            self.lib.nfs_destroy_context(self.ctx)
            self.ctx = None

    def mkdirs(self, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):
            self.lib.nfs_mkdir(self.ctx, ("/" + "/".join(parts[:i])).encode())  # EEXIST is fine

    def put(self, path: str, data: bytes) -> None:
        fh = ctypes.c_void_p()
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        rc = self.lib.nfs_create(self.ctx, path.encode(), flags, 0o644, ctypes.byref(fh))
        if rc != 0:
            raise self._error("create", rc)
        try:
            rc = self.lib.nfs_write(self.ctx, fh, len(data), data)
            if rc != len(data):
                raise self._error(f"write ({len(data)} bytes)", rc)
            rc = self.lib.nfs_fsync(self.ctx, fh)
            if rc != 0:
                raise self._error("fsync", rc)
        except NfsError:
            self.lib.nfs_close(self.ctx, fh)
            raise
        rc = self.lib.nfs_close(self.ctx, fh)
        if rc != 0:
            raise self._error("close", rc)

    def get(self, path: str) -> bytes:
        fh = ctypes.c_void_p()
        rc = self.lib.nfs_open(self.ctx, path.encode(), os.O_RDONLY, ctypes.byref(fh))
        if rc != 0:
            raise self._error("open", rc)
        buf = ctypes.create_string_buffer(65536)
        out = bytearray()
        try:
            while len(out) <= MAX_READ:
                n = self.lib.nfs_read(self.ctx, fh, len(buf), buf)
                if n < 0:
                    raise self._error("read", n)
                if n == 0:
                    break
                out += buf.raw[:n]
        finally:
            self.lib.nfs_close(self.ctx, fh)
        return bytes(out)

    def op(self, fn: Any, *args: Any) -> Any:
        """Connect if needed, run one operation under the watchdog; drop the context on failure."""
        try:
            self.connect()
            self.dog.arm(self.ctx)
            return fn(*args)
        except NfsError:
            self.close()
            raise
        finally:
            self.dog.disarm()


def write_loop(a: argparse.Namespace, client: Client) -> None:
    directory = "/" + a.dir.strip("/")
    run = os.path.basename(directory)
    deadline = time.monotonic() + a.duration
    made = False
    with open(a.log, "a", buffering=1) as log:
        for i in range(a.max):
            tick = time.monotonic()
            if tick >= deadline:
                break
            start = time.time()
            key = f"{directory}/w{i:07d}"
            data = (f"{run} {i:07d} {start:.6f}\n" * 8).encode()
            rec: dict[str, Any] = {"start": start, "ok": False, "error": None, "detail": {"key": key}}
            try:
                if not made:
                    client.op(client.mkdirs, directory)
                    made = True
                client.op(client.put, key, data)
                rec.update(ok=True, detail={"key": key, "sha256": hashlib.sha256(data).hexdigest()})
            except NfsError as e:
                rec["error"] = str(e)[:300]
            rec["end"] = time.time()
            log.write(json.dumps(rec) + "\n")
            time.sleep(max(0.0, min(a.interval - (time.monotonic() - tick), deadline - time.monotonic())))
    client.close()


def verify(a: argparse.Namespace, client: Client) -> None:
    src = sys.stdin if a.verify == "-" else open(a.verify)  # noqa: SIM115 - closed below
    with src:
        wanted = [json.loads(line) for line in src if line.strip()]
    deadline = time.monotonic() + a.duration
    good: list[str] = []
    missing = corrupt = errors = 0
    for item in wanted[: a.max]:
        key, digest = str(item["key"]), str(item["sha256"])
        for _ in range(5):  # bounded retries of a failed read (the VIP may be settling)
            if time.monotonic() >= deadline:
                break
            try:
                data = client.op(client.get, key)
            except NfsError as e:
                if e.rc == -errno.ENOENT:
                    missing += 1
                    break
                time.sleep(0.2)
                continue
            if hashlib.sha256(data).hexdigest() == digest:
                good.append(key)
            else:
                corrupt += 1
            break
        else:
            errors += 1
    client.close()
    unchecked = max(0, len(wanted) - len(good) - missing - corrupt - errors)
    print(json.dumps({"good": good, "missing": missing, "corrupt": corrupt, "errors": errors + unchecked}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="nfs://HOST/EXPORT (HOST: the VIP)")
    ap.add_argument("--dir", default="hadrill-probe", help="directory under the export for the files")
    ap.add_argument("--interval", type=float, default=0.1, help="seconds between the starts of two writes")
    ap.add_argument("--duration", type=float, default=120.0, help="hard wall-clock bound, seconds")
    ap.add_argument("--max", type=int, default=100_000, help="hard bound on the number of operations")
    ap.add_argument("--timeout", type=float, default=1.0, help="libnfs RPC timeout, whole seconds")
    ap.add_argument("--op-timeout", type=float, default=3.0, help="hard bound on one operation, seconds")
    ap.add_argument("--precheck", type=float, default=0.3, help="TCP check of HOST:2049 before mounting (0: off)")
    ap.add_argument("--log", default="/dev/stdout", help="where the JSON lines go (write mode)")
    ap.add_argument("--verify", metavar="FILE", help="read back the keys in FILE (JSON lines key, sha256)")
    a = ap.parse_args()
    lib = load_libnfs()
    client = Client(lib, a.url, a.timeout, a.precheck, Watchdog(lib, a.op_timeout))
    if a.verify:
        verify(a, client)
    else:
        write_loop(a, client)


if __name__ == "__main__":
    main()
