"""The io timeout of every transport: a stream that makes no progress is torn down.

Pipes have no read timeout, a socket timeout bounds one ``recv`` (a far side
that sends a byte every few seconds never trips it), and a blocked write has
none at all. So the timeout is kept here, above the bytes and the same for
every transport: while the controller waits on the stream (a read or a write
under ``guard``) each whole frame that passes counts as progress
(``progress``); when ``limit`` seconds go by without one, the watchdog calls
the stream's ``abort`` (which every ``AgentStream`` has for exactly this: it
ends a blocked read or write from another thread) and says so in
``expired``. Time spent on this machine's own work (hashing, writing files
here) is outside any ``guard`` and never counts.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

__all__ = ["DEFAULT_IO_TIMEOUT", "StreamWatchdog"]

DEFAULT_IO_TIMEOUT = 60.0
"""Seconds the far side may take to send (or take) one whole frame."""


class StreamWatchdog:
    """Calls ``abort`` once when a guarded read or write makes no progress for
    ``limit`` seconds (None: never)."""

    def __init__(self, limit: float | None, abort: Callable[[], None]) -> None:
        self.limit = limit
        self._abort = abort
        self._lock = threading.Condition()
        self._guards = 0
        self._deadline: float | None = None
        self._left: float | None = None
        """What was left of the clock when the last guard ended (None: all of it):
        the clock pauses while we work here and starts again only on progress."""
        self._closed = False
        self.expired = False
        """The limit ran out and the stream was aborted."""
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """The block waits on the stream: the clock runs (nested guards: one clock)."""
        if self.limit is None:
            yield
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="session-sync io watchdog", daemon=True
                )
                self._thread.start()
            self._guards += 1
            if self._guards == 1:
                left = self.limit if self._left is None else self._left
                self._deadline = time.monotonic() + left
                self._lock.notify()
        try:
            yield
        finally:
            with self._lock:
                self._guards -= 1
                if self._guards == 0:
                    if self._deadline is not None:
                        self._left = max(0.0, self._deadline - time.monotonic())
                    self._deadline = None

    def progress(self) -> None:
        """A whole frame passed: the clock starts again."""
        if self.limit is None:
            return
        with self._lock:
            self._left = None
            if self._deadline is not None:
                self._deadline = time.monotonic() + self.limit

    def close(self) -> None:
        """Stop watching (the thread ends)."""
        with self._lock:
            self._closed = True
            self._lock.notify()

    def _watch(self) -> None:
        with self._lock:
            while not self._closed:
                if self._deadline is None:
                    self._lock.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._lock.wait(left)
                    continue
                self.expired = True
                break
        if self.expired:
            self._abort()
