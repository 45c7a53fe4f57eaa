"""Progress for long work (image builds, lab start-up), readable on a terminal and in CI logs.

On a terminal a spinner shows the step, its latest line of output and the elapsed time; elsewhere
(CI, pipes) one line is printed when a step starts and one when it ends, with its duration.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

__all__ = ["Progress"]


class Progress:
    """Reports steps to stderr; ``Progress(quiet=True)`` reports nothing (library use, tests)."""

    def __init__(self, *, quiet: bool = False, console: Console | None = None) -> None:
        self.quiet = quiet
        self.console = console or Console(stderr=True, highlight=False)
        self._status: object | None = None
        self._title = ""
        self._t0 = 0.0
        self._lock = threading.Lock()
        self._owner: int | None = None  # the thread whose step has the spinner

    @contextmanager
    def step(self, title: str) -> Iterator[Progress]:
        """A named step; failing steps are marked with a cross and re-raise.

        Steps may run in parallel threads (image builds): one of them gets the terminal's spinner,
        the others print a line when they start and end.
        """
        if self.quiet:
            yield self
            return
        t0 = time.monotonic()
        with self._lock:
            live = self.console.is_terminal and self._owner is None
            if live:
                self._title, self._t0, self._owner = title, t0, threading.get_ident()
        if live:
            try:
                with self.console.status(title) as status:
                    self._status = status
                    try:
                        yield self
                    except BaseException:
                        self._status = None
                        self.console.print(f"[red]✗[/] {title} ({time.monotonic() - t0:.1f} s)")
                        raise
            finally:
                self._status = None
                self._owner = None
        else:
            self.console.print(f"→ {title}")
            try:
                yield self
            except BaseException:
                self.console.print(f"✗ {title} ({time.monotonic() - t0:.1f} s)")
                raise
        self.console.print(f"[green]✓[/] {title} ({time.monotonic() - t0:.1f} s)")

    def update(self, line: str) -> None:
        """Show the latest line of a step's output (terminal only: CI logs keep the full log file)."""
        if self.quiet or self._status is None or self._owner != threading.get_ident():
            return
        elapsed = time.monotonic() - self._t0
        self._status.update(f"{self._title} [dim]{elapsed:5.1f} s  {line.strip()[:70]}[/]")  # type: ignore[attr-defined]

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message)


if __name__ == "__main__":  # pragma: no cover - manual check of the look
    p = Progress()
    with p.step("demo"):
        for i in range(10):
            p.update(f"line {i}")
            time.sleep(0.1)
    sys.exit(0)
