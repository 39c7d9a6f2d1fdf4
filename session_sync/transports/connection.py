"""The controller's end of the agent protocol, over any ``AgentStream``.

Sends the agent its payload (``session_sync.bundle``), finds the ready line
(skipping whatever a login shell printed first), checks the hello, then speaks
frames (compressed as agreed in the hello: ``agent.deflate``). Counts round
trips and bytes.

Errors of the stream are translated here and only here, by ``stream_errors``
around every read and write of the stream: a cut or broken stream becomes a
``TransportError`` (its ``where`` is the other machine), garbled frames a
``ProtocolError``, a refusal of the whole request an ``AgentError``, a far side
that stops sending (or taking) frames for ``io_timeout`` seconds a
``TransportError`` that says so (``transports.watchdog``). Local work
(hashing, writing files here) is never inside it. The hello is checked here
(``model.wire``); the engine checks the answers it reads.

At debug level (``-v``) it logs the connection (where, how long) and each
request (its op, the bytes sent and answered, the time to the answer).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from session_sync import bundle
from session_sync.agent.protocol import (
    PROTOCOL_VERSION,
    READY_MARKER,
    FrameReader,
    FrameWriter,
    Refusal,
    agree_compression,
)
from session_sync.errors import AgentError, ProtocolError, TransportError
from session_sync.model.wire import check_hello
from session_sync.transports.base import AgentStream, Transport
from session_sync.transports.watchdog import DEFAULT_IO_TIMEOUT, StreamWatchdog

__all__ = ["DEFAULT_IO_TIMEOUT", "DEFAULT_START_TIMEOUT", "STRAY_OUTPUT_LIMIT", "AgentConnection"]

STRAY_OUTPUT_LIMIT = 1 << 20
"""Bytes a remote may print before the agent's ready line."""

DEFAULT_START_TIMEOUT = 120.0
"""Seconds from opening the stream to the agent's ready line (a hung ``gh`` or
login script must not hang the sync)."""


logger = logging.getLogger(__name__)

_AFTER_LOSS = "; every file is as it was or complete: run the sync again to finish"


class AgentConnection:
    """One running agent on the other machine."""

    def __init__(
        self,
        transport: Transport,
        start_timeout: float | None = DEFAULT_START_TIMEOUT,
        io_timeout: float | None = DEFAULT_IO_TIMEOUT,
        compress: str = "auto",
    ) -> None:
        """``compress``: ``auto``, ``always`` or ``never`` (``agent.deflate``);
        with an agent that does not offer compression, never."""
        self.transport = transport
        self.nonce = secrets.token_hex(8)
        started = time.perf_counter()
        logger.debug("connecting to %s", transport.description)
        try:
            self.stream: AgentStream = transport.open(self.nonce)
        except TransportError as exc:
            # Each transport says what failed; here it learns where.
            if exc.where is None:
                exc.where = transport.description
            raise
        opened = time.perf_counter()
        # What the last send asked, for the debug line of its answer.
        self._asked: tuple[str, float, int] | None = None
        self.round_trips = 0
        self.stray_output = b""
        self._timed_out = False
        watchdog = None
        if start_timeout is not None:
            watchdog = threading.Timer(start_timeout, self._start_expired)
            watchdog.daemon = True
            watchdog.start()
        self.start_timeout = start_timeout
        try:
            self._start()
        except BaseException:
            self.stream.close()
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
        self.io_timeout = io_timeout
        self.watchdog = StreamWatchdog(io_timeout, self.stream.abort)
        self.reader = FrameReader(self.stream.reader)
        self.writer = FrameWriter(self.stream.writer)
        self.reader.on_frame = self.writer.on_frame = self.watchdog.progress
        try:
            with self.stream_errors():
                self.hello = self.reader.json()
        except BaseException:
            self.close()
            raise
        where = transport.description
        if self.hello.get("protocol") != PROTOCOL_VERSION:
            self.close()
            raise ProtocolError(
                f"the agent on {where} speaks protocol"
                f" {self.hello.get('protocol')!r}, not {PROTOCOL_VERSION}",
                where=where,
            )
        sent = self.hello.get("agent_sha256")
        if sent != bundle.payload_sha256():
            # Only the payload we sent can answer with its digest: anything else
            # there (a stale agent, a garbled transfer) is not to be trusted.
            self.close()
            raise ProtocolError(
                f"the agent on {where} runs other code than was sent"
                f" (sha256 {str(sent)[:12]}..., not {bundle.payload_sha256()[:12]}...)",
                where=where,
            )
        try:
            check_hello(self.hello, where)
        except ProtocolError:
            self.close()
            raise
        logger.debug(
            "connected to %s in %.0f ms (stream %.0f ms, agent start and hello %.0f ms;"
            " python %s there)",
            where,
            (time.perf_counter() - started) * 1000,
            (opened - started) * 1000,
            (time.perf_counter() - opened) * 1000,
            self.hello.get("python", "?"),
        )
        offered = self.hello.get("compression") or []
        self.compressed = agree_compression(compress, offered, self.reader, self.writer)
        """Frames are compressed both ways (as ``compress`` says)."""
        if self.compressed:
            try:
                # A notice, not a round trip: it goes with the first request.
                with self.stream_errors():
                    self.writer.json(b"J", {"op": "compress", "mode": compress})
            except BaseException:
                self.close()
                raise

    def _start_expired(self) -> None:
        self._timed_out = True
        self.stream.abort()

    def _start(self) -> None:
        source = bundle.build_payload()
        try:
            self.stream.writer.write(str(len(source)).encode() + b"\n" + source)
            self.stream.writer.flush()
        except OSError as exc:
            # The other side exited before reading it: same as no ready line.
            raise self._broken(f"the agent did not start (it could not be sent: {exc})") from exc
        marker = READY_MARKER + b" " + self.nonce.encode()
        seen = 0
        while True:
            try:
                line = self.stream.reader.readline(STRAY_OUTPUT_LIMIT)
            except (OSError, ValueError) as exc:
                line = b""
                if not self._timed_out:
                    raise self._broken(f"the agent did not start ({exc})") from exc
            if not line:
                if self._timed_out:
                    raise self._broken(f"the agent did not start within {self.start_timeout:.0f} s")
                raise self._broken("the agent did not start")
            if line.rstrip(b"\r\n").endswith(marker):
                return
            seen += len(line)
            self.stray_output = (self.stray_output + line)[-4096:]
            if seen > STRAY_OUTPUT_LIMIT:
                raise ProtocolError(
                    f"{self.transport.description} printed over {STRAY_OUTPUT_LIMIT} bytes"
                    " before the agent started (check the login scripts there)",
                    where=self.transport.description,
                )

    def _broken(self, what: str, advice: str = "") -> TransportError:
        code = self.stream.close()
        detail = self.stream.diagnostics()
        where = self.transport.description
        suffix = f": {detail.splitlines()[-1]}" if detail else ""
        if code == 127 and "agent did not start" in what:
            # The shell could not find the interpreter.
            return TransportError(
                f"no Python on {where}{suffix} (exit status 127): install Python 3.8 or newer"
                " there, or name one with --remote-python",
                where=where,
            )
        status = f" (exit status {code})" if code not in (None, 0) else ""
        return TransportError(f"{what} on {where}{status}{suffix}{advice}", where=where)

    @contextlib.contextmanager
    def stream_errors(self, *, refusals: bool = True) -> Iterator[None]:
        """Translate what reading or writing the stream raises, once, here.

        ``refusals``: an agent's ``X`` frame (``Refusal``) refuses the whole
        request (an ``AgentError``); when False it passes through untouched, for
        file data, where a failed file is data in the report.
        """
        where = self.transport.description
        try:
            try:
                with self.watchdog.guard():
                    yield
            except Exception as exc:
                if self.watchdog.expired:
                    # Whatever the abort made the read or write raise, this is why.
                    raise TransportError(
                        f"{where}: no answer for {self.io_timeout:.0f} s (--io-timeout);"
                        " every file is as it was or complete",
                        where=where,
                    ) from exc
                raise
        except Refusal as exc:
            if not refusals:
                raise
            raise AgentError(f"the agent on {where} refused: {exc}") from exc
        except (EOFError, BrokenPipeError, ConnectionError) as exc:
            raise self._broken(f"connection lost ({exc})", _AFTER_LOSS) from exc
        except ValueError as exc:
            raise ProtocolError(f"garbled answer from {where}: {exc}", where=where) from exc

    def send(self, request: Mapping[str, Any]) -> None:
        """Send one request (its answer is read with ``receive``)."""
        self.round_trips += 1
        before = self.writer.frame_bytes
        with self.stream_errors():
            self.writer.json(b"J", request)
        if logger.isEnabledFor(logging.DEBUG):
            op = str(request.get("op", "?"))
            logger.debug("request %s: %d bytes", op, self.writer.frame_bytes - before)
            self._asked = (op, time.perf_counter(), self.reader.frame_bytes)

    def flush(self) -> None:
        """Push everything written so far to the other side."""
        with self.stream_errors():
            self.writer.flush()

    def receive(self) -> dict[str, Any]:
        """Read one JSON answer."""
        with self.stream_errors():
            answer = self.reader.json()
        asked, self._asked = self._asked, None
        if asked is not None and logger.isEnabledFor(logging.DEBUG):
            op, sent_at, read_before = asked
            logger.debug(
                "answer to %s: %d bytes, %.0f ms after the request",
                op,
                self.reader.frame_bytes - read_before,
                (time.perf_counter() - sent_at) * 1000,
            )
        return answer

    def request(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One whole round trip: send, flush, read the answer."""
        self.send(request)
        self.flush()
        return self.receive()

    def file_data(self, limit: int | None = None) -> Iterator[bytes]:
        """The chunks of the next file the agent sends; a failed send (its ``E``
        frame) raises ``Refusal`` for the file's apply to report. More than
        ``limit`` bytes is a ``ProtocolError``: the transfer stops there."""
        chunks = self.reader.data(limit)
        while True:
            # One guarded read per frame: what the caller does with a chunk
            # (write it here) is not the far side's time.
            with self.stream_errors(refusals=False):
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        """Close the stream and let the agent exit."""
        self.watchdog.close()
        self.stream.close()
