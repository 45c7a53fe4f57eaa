"""The fault ledger: an fsynced, append-only JSON Lines journal of every fault hadrill injects.

A fault is written here *before* it is injected, so that if the harness dies (SIGKILL, OOM, power)
``hadrill recover`` can replay the file and revert whatever is still open. Several processes
(pytest-xdist workers) may share one ledger; a sidecar ``<name>.lock`` file is flock'ed around
every write, and appends reopen the path so they never land in a file that compaction replaced.
:meth:`Ledger.guard` holds that lock across a read and an append (the safety gate's budget check and
the new fault's record), so two processes cannot both pass a budget that has room for one.

``recover`` replays this file as root, so it must be nobody else's: the state directory is created
0700 and the files 0600, and a directory or file owned by another user, or writable by group or
others, is refused with a message (:func:`check_private`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from hadrill.errors import ConfigError
from hadrill.paths import state_dir

__all__ = ["CloseHow", "FaultRecord", "Ledger", "check_private", "default_ledger_path", "new_fault_id"]

_log = logging.getLogger(__name__)

CloseHow = Literal["reverted", "recovered", "expired", "discarded"]  # discarded: its hosts were destroyed
_HOWS: tuple[str, ...] = get_args(CloseHow)
_TORN = object()


def new_fault_id() -> str:
    """Short enough to read in a report, random enough that xdist workers never collide."""
    return uuid.uuid4().hex[:12]


def default_ledger_path() -> Path:
    """``$HADRILL_STATE_DIR/ledger.jsonl``, else under /var/lib/hadrill (root) or ~/.local/state."""
    return state_dir() / "ledger.jsonl"


def check_private(path: Path) -> None:
    """Refuse a state directory or ledger file that another user could have written.

    Raises :class:`ConfigError` naming the path, when it is owned by someone other than this user
    (or root), or writable by group or others.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if st.st_uid not in (os.geteuid(), 0):
        raise ConfigError(str(path), "owner", f"owned by uid {os.geteuid()} (this user) or root", f"uid {st.st_uid}")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            str(path), "mode", "not writable by group or others (chmod go-w)", f"{stat.S_IMODE(st.st_mode):04o}"
        )


def _is_number(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class FaultRecord:
    """Everything needed to revert one injected fault, possibly from another process."""

    id: str
    kind: str
    target: str
    params: dict[str, Any]
    created: float
    deadline: float
    run: str | None = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object, *, file: str = "<record>", field: str = "record") -> FaultRecord:
        """Validate as well as build: one unreadable record would block every later recover."""
        if not isinstance(data, dict):
            raise ConfigError(file, field, "record as an object", data)
        values = {"run": None, "description": ""} | {k: v for k, v in data.items() if k in _FIELDS}
        for key, (ok, expected) in _FIELDS.items():
            if key not in values:
                raise ConfigError(file, field, f"record.{key} to be present")
            if not ok(values[key]):
                raise ConfigError(file, field, f"record.{key} as {expected}", values[key])
        return cls(**values)


_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "id": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "kind": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "target": (lambda v: isinstance(v, str), "a string"),
    "params": (lambda v: isinstance(v, dict), "an object"),
    "created": (_is_number, "a finite number"),
    "deadline": (_is_number, "a finite number"),
    "run": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "description": (lambda v: isinstance(v, str), "a string"),
}


def _check_event(event: object, file: str, where: str) -> dict[str, Any]:
    if not isinstance(event, dict) or event.get("event") not in ("open", "closed", "revert_failed"):
        raise ConfigError(file, where, "an object whose event is open, closed or revert_failed", event)
    if not _is_number(event.get("at")):
        raise ConfigError(file, where, "'at' as a finite number", event.get("at"))
    if event["event"] == "open":
        FaultRecord.from_dict(event.get("record"), file=file, field=where)
        return event
    if not isinstance(event.get("id"), str):
        raise ConfigError(file, where, "'id' as a string", event.get("id"))
    if event["event"] == "closed" and event.get("how") not in _HOWS:
        raise ConfigError(file, where, f"'how' as one of {', '.join(_HOWS)}", event.get("how"))
    if event["event"] == "revert_failed" and not isinstance(event.get("error"), str):
        raise ConfigError(file, where, "'error' as a string", event.get("error"))
    return event


def _still_open(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Fault id -> its open event, in opening order; revert_failed leaves a fault open."""
    opened: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["event"] == "open":
            opened[event["record"]["id"]] = event
        elif event["event"] == "closed":
            opened.pop(event["id"], None)
    return opened


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, allow_nan=False, separators=(",", ":")) + "\n").encode()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Ledger:
    """One ledger file; every method re-reads or re-opens it, so instances hold no state."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_ledger_path()
        self._held = 0  # depth of guard(): flock is per open file, so a nested lock would deadlock
        self._holder: int | None = None

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Hold the ledger's exclusive lock for the block: a check and the append it allows are atomic."""
        self._make_dir()
        with self._locked(exclusive=True):
            self._held, self._holder = self._held + 1, threading.get_ident()
            try:
                yield
            finally:
                self._held -= 1

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    def open(self, record: FaultRecord) -> None:
        """Durably record ``record``; inject the fault only after this returns."""
        try:
            FaultRecord.from_dict(record.to_dict(), file=str(self.path), field="new record")
        except ConfigError as e:
            raise ValueError(str(e)) from e
        self._append({"event": "open", "record": record.to_dict(), "at": time.time()})

    def close(self, fault_id: str, how: CloseHow = "reverted") -> None:
        """Mark a fault as gone; closing an unknown or already closed id is harmless."""
        if how not in _HOWS:
            raise ValueError(f"how must be one of {', '.join(_HOWS)}, got {how!r}")
        self._append({"event": "closed", "id": fault_id, "at": time.time(), "how": how})

    def discard_on(self, nodes: set[str]) -> list[FaultRecord]:
        """Close as ``discarded`` the open faults held only on ``nodes`` (container names, the lab's node
        names), whose hosts are being destroyed: nothing is left to revert, and an open record would
        make every later recover fail and hold a new lab's node of the same name. Returns them."""
        gone = []
        with self.guard():
            for rec in self.open_faults():
                held = set(rec.params.get("nodes") or [])
                on_container = rec.target.startswith("docker://") and rec.target[len("docker://") :] in nodes
                if on_container or (held and held <= nodes):
                    self.close(rec.id, "discarded")
                    gone.append(rec)
        return gone

    def revert_failed(self, fault_id: str, error: str | BaseException) -> None:
        """Note a failed revert; the fault stays open so ``hadrill recover`` tries again."""
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self._append({"event": "revert_failed", "id": fault_id, "at": time.time(), "error": text})

    def check_private(self) -> None:
        """Refuse (ConfigError) a ledger or directory another user could have written: recover replays it."""
        check_private(self.path.parent)
        check_private(self.path)

    def open_faults(self) -> list[FaultRecord]:
        """Faults opened and not closed, in opening order."""
        return [FaultRecord.from_dict(e["record"]) for e in _still_open(self.history()).values()]

    def history(self) -> list[dict[str, Any]]:
        """Every intact event, oldest first (a torn last line is skipped)."""
        try:
            with self._locked(exclusive=False):
                data = self.path.read_bytes()
        except FileNotFoundError:  # nothing was ever written here (maybe not even the directory)
            return []
        return self._scan(data)[0]

    def compact(self) -> None:
        """Atomically rewrite the file down to the open events of the faults still open."""
        if not self.path.exists():
            return
        with self._locked(exclusive=True):
            events, _ = self._scan(self.path.read_bytes())
            data = b"".join(_line(e) for e in _still_open(events).values())
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fchmod(f.fileno(), stat.S_IMODE(self.path.stat().st_mode))
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _fsync_dir(self.path.parent)

    def _scan(self, data: bytes) -> tuple[list[dict[str, Any]], int]:
        """Parse ``data``; return the events and the byte length of the intact part before a torn tail."""
        events: list[dict[str, Any]] = []
        lines = data.split(b"\n")  # the final item is whatever follows the last newline
        last = max((i for i, raw in enumerate(lines, start=1) if raw.strip()), default=0)
        offset = intact = 0
        for number, raw in enumerate(lines, start=1):
            offset += len(raw) + 1
            if not raw.strip():
                continue
            try:
                event = json.loads(raw) if number < len(lines) else _TORN
            except (ValueError, RecursionError):
                event = _TORN
            if event is _TORN and number < last:
                raise ConfigError(str(self.path), f"line {number}", "a JSON ledger event")
            if event is _TORN:  # the harness died writing it, so the write was never acknowledged
                _log.warning("%s: ignoring torn last line %d (%d bytes)", self.path, number, len(raw))
                break
            events.append(_check_event(event, str(self.path), f"line {number}"))
            intact = offset
        return events, intact

    def _make_dir(self) -> None:
        """Create the ledger's directory 0700 (and its missing parents), and refuse one that is not private."""
        missing = [d for d in (self.path.parent, *self.path.parent.parents) if not d.exists()]
        for directory in reversed(missing):
            directory.mkdir(mode=0o700, exist_ok=True)
            _fsync_dir(directory.parent)
        check_private(self.path.parent)
        check_private(self.path)

    def _append(self, event: dict[str, Any]) -> None:
        line = _line(event)
        self._make_dir()
        with self._locked(exclusive=True):
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                # Validate first, and cut a torn tail so this line does not get glued onto it.
                intact = self._scan(self.path.read_bytes())[1]
                if intact < os.fstat(fd).st_size:
                    os.ftruncate(fd, intact)
                if os.write(fd, line) != len(line):
                    os.ftruncate(fd, intact)
                    raise OSError(f"{self.path}: short write (disk full?)")
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.path.parent)

    @contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        if self._held and self._holder == threading.get_ident():  # inside guard(): this thread holds it
            yield
            return
        lock = self.path.with_name(self.path.name + ".lock")
        try:
            fd: int | None = os.open(lock, (os.O_RDWR if exclusive else os.O_RDONLY) | os.O_CREAT, 0o600)
        except PermissionError:
            if exclusive:
                raise
            fd = None  # a read-only state dir (someone else's ledger): read without the lock
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            if fd is not None:
                os.close(fd)
