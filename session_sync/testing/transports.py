"""An in-process transport for tests: the agent serves in a thread of this
process, over a socket pair, against a config dir of your choosing.

Like httpx's ``MockTransport``, it takes the network out and leaves everything
else real: the controller sends the real payload (read and checked here, then
set aside), the agent's real ``serve`` loop answers with real frames, and
files are really scanned and written. Faster than ``LocalProcessTransport``
(no interpreter to start) and debuggable with breakpoints on both sides.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import traceback
from pathlib import Path
from typing import IO

import attrs

from session_sync import bundle
from session_sync.agent.serve import serve
from session_sync.transports.base import AgentStream

__all__ = ["InProcessStream", "InProcessTransport"]


class InProcessStream:
    """The controller's end of a socket pair whose other end a thread serves."""

    def __init__(self, config_dir: Path, nonce: str) -> None:
        self._mine, self._theirs = socket.socketpair()
        self._reader = self._mine.makefile("rb")
        self._writer = self._mine.makefile("wb")
        self._errors: list[str] = []
        self.exit_status: int | None = None
        self._thread = threading.Thread(
            target=self._serve, args=(str(config_dir), nonce), daemon=True
        )
        self._thread.start()

    def _serve(self, config: str, nonce: str) -> None:
        inp = self._theirs.makefile("rb")
        out = self._theirs.makefile("wb")
        try:
            self.exit_status = self._answer(inp, out, config, nonce)
        except Exception as exc:  # the thread's end: what went wrong is the stream's diagnostics
            self._errors.append(self._failure(exc))
            self.exit_status = 1
        finally:
            for handle in (out, inp):
                with contextlib.suppress(OSError):
                    handle.close()
            self._theirs.close()

    def _answer(self, inp: IO[bytes], out: IO[bytes], config: str, nonce: str) -> int:
        """The far end: the real agent's ``serve`` loop; its exit status."""
        # What BOOTSTRAP would read and exec: here it must be today's payload.
        length = int(inp.readline())
        if inp.read(length) != bundle.build_payload():
            raise ValueError("the controller sent another payload than bundle builds")
        return serve(inp, out, nonce, config=config, payload_sha256=bundle.payload_sha256())

    def _failure(self, exc: Exception) -> str:
        """What the diagnostics say when the far end raised ``exc``."""
        return traceback.format_exc()

    @property
    def reader(self) -> IO[bytes]:
        return self._reader

    @property
    def writer(self) -> IO[bytes]:
        return self._writer

    def diagnostics(self) -> str:
        return "".join(self._errors).strip()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._mine.shutdown(socket.SHUT_RDWR)

    def close(self) -> int | None:
        with contextlib.suppress(OSError):
            self._writer.close()
        with contextlib.suppress(OSError):
            self._mine.shutdown(socket.SHUT_WR)
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            # Still writing to a reader that stopped reading: cut it off.
            self.abort()
            self._thread.join(timeout=5)
        self._reader.close()
        self._mine.close()
        return self.exit_status


@attrs.frozen
class InProcessTransport:
    """The other machine as a thread of this process, against ``config_dir``."""

    config_dir: Path
    """The other side's Claude config dir."""

    @property
    def description(self) -> str:
        return f"in-process {self.config_dir}"

    def open(self, nonce: str) -> AgentStream:
        return InProcessStream(self.config_dir, nonce)
