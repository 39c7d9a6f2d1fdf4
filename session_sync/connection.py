"""The controller's end of the agent protocol, over any ``AgentStream``.

Sends the agent its own source, finds the ready line (skipping whatever a
login shell printed first), then speaks frames. Counts round trips and bytes.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any

from session_sync import agent
from session_sync.errors import AgentError, ProtocolError, TransportError
from session_sync.transport import AgentStream, Transport

__all__ = ["DEFAULT_START_TIMEOUT", "STRAY_OUTPUT_LIMIT", "AgentConnection", "agent_source"]

STRAY_OUTPUT_LIMIT = 1 << 20
"""Bytes a remote may print before the agent's ready line."""

DEFAULT_START_TIMEOUT = 120.0
"""Seconds from opening the stream to the agent's ready line (a hung ``gh`` or
login script must not hang the sync)."""


_AFTER_LOSS = "; every file is as it was or complete: run the sync again to finish"


def agent_source() -> bytes:
    """The agent module's source, as shipped to the other machine."""
    return Path(agent.__file__).read_bytes()


class AgentConnection:
    """One running agent on the other machine."""

    def __init__(
        self, transport: Transport, start_timeout: float | None = DEFAULT_START_TIMEOUT
    ) -> None:
        self.transport = transport
        self.nonce = secrets.token_hex(8)
        self.stream: AgentStream = transport.open(self.nonce)
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
        self.reader = agent.FrameReader(self.stream.reader)
        self.writer = agent.FrameWriter(self.stream.writer)
        self.hello = self._guard(self.reader.json)
        if self.hello.get("protocol") != agent.PROTOCOL_VERSION:
            self.close()
            raise ProtocolError(
                f"the agent on {transport.description} speaks protocol"
                f" {self.hello.get('protocol')!r}, not {agent.PROTOCOL_VERSION}"
            )

    def _start_expired(self) -> None:
        self._timed_out = True
        self.stream.abort()

    def _start(self) -> None:
        source = agent_source()
        try:
            self.stream.writer.write(str(len(source)).encode() + b"\n" + source)
            self.stream.writer.flush()
        except OSError as exc:
            # The other side exited before reading it: same as no ready line.
            raise self._broken(f"the agent did not start (it could not be sent: {exc})") from exc
        marker = agent.READY_MARKER + b" " + self.nonce.encode()
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
                    " before the agent started (check the login scripts there)"
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
                " there, or name one with --remote-python"
            )
        status = f" (exit status {code})" if code not in (None, 0) else ""
        return TransportError(f"{what} on {where}{status}{suffix}{advice}")

    def _guard(self, call: Any, *args: Any) -> Any:
        """Turn a broken stream into a TransportError, an agent refusal into an AgentError."""
        try:
            return call(*args)
        except EOFError as exc:
            raise self._broken(f"connection lost ({exc})", _AFTER_LOSS) from exc
        except (BrokenPipeError, ConnectionError) as exc:
            raise self._broken(f"connection lost ({exc})", _AFTER_LOSS) from exc
        except agent.AgentFailure as exc:
            raise AgentError(f"the agent on {self.transport.description} refused: {exc}") from exc
        except ValueError as exc:
            raise ProtocolError(f"garbled answer from {self.transport.description}: {exc}") from exc

    def send(self, request: dict[str, Any]) -> None:
        """Send one request (its answer is read with ``receive``)."""
        self.round_trips += 1
        self._guard(self.writer.json, b"J", request)

    def flush(self) -> None:
        """Push everything written so far to the other side."""
        self._guard(self.writer.flush)

    def receive(self) -> dict[str, Any]:
        """Read one JSON answer."""
        answer: dict[str, Any] = self._guard(self.reader.json)
        return answer

    def request(self, request: dict[str, Any]) -> dict[str, Any]:
        """One whole round trip: send, flush, read the answer."""
        self.send(request)
        self.flush()
        return self.receive()

    def guard(self, call: Any, *args: Any) -> Any:
        """Run a stream operation with the connection's error mapping."""
        return self._guard(call, *args)

    def close(self) -> None:
        """Close the stream and let the agent exit."""
        self.stream.close()
