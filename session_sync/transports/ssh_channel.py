"""The agent's stream over one paramiko session channel: raw bytes both ways,
stderr drained by a thread, stalls and drops reported as ``ConnectionError``."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable
from typing import IO, Any

import paramiko
from fabric import Connection

__all__ = ["ChannelStream"]


class _ChannelReader(io.RawIOBase):
    """The channel's stdout as a raw stream; errors become ``ConnectionError``."""

    def __init__(self, channel: paramiko.Channel, where: str) -> None:
        self._channel = channel
        self._where = where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._channel.recv(len(buffer))
        except TimeoutError as exc:
            raise ConnectionError(
                f"no data from {self._where} for {self._channel.gettimeout():.0f} s"
            ) from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise ConnectionError(str(exc) or type(exc).__name__) from exc
        buffer[: len(data)] = data
        return len(data)


class _ChannelWriter(io.RawIOBase):
    """The channel's stdin as a raw stream; closing it sends EOF."""

    def __init__(self, channel: paramiko.Channel, where: str) -> None:
        self._channel = channel
        self._where = where

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        total = len(view)
        # A packet's worth per call: paramiko's sendall would slice what is left of
        # a 1 MiB write anew for each 32 KiB packet (16 MiB copied per MiB sent).
        packet = max(1024, self._channel.out_max_packet_size - 64)
        try:
            while view:
                sent = self._channel.send(view[:packet].tobytes())
                if not sent:
                    raise BrokenPipeError(f"{self._where} closed the stream")
                view = view[sent:]
        except TimeoutError as exc:
            raise ConnectionError(f"{self._where} stopped reading") from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            # paramiko raises EOFError when the socket under the channel breaks.
            raise BrokenPipeError(str(exc) or type(exc).__name__) from exc
        return total

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                self._channel.shutdown_write()
        super().close()


class ChannelStream:
    """An ``AgentStream`` over one SSH session channel (stderr drained by a thread)."""

    def __init__(
        self,
        connection: Connection,
        channel: paramiko.Channel,
        where: str,
        extra_diagnostics: Callable[[], str] | None = None,
    ) -> None:
        self.connection = connection
        self.channel = channel
        self._reader = io.BufferedReader(_ChannelReader(channel, where), 1 << 20)
        self._writer = io.BufferedWriter(_ChannelWriter(channel, where), 1 << 20)
        self._stderr: list[bytes] = []
        self._extra = extra_diagnostics
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        # Unread stderr would hold the shared flow-control window: always drain it.
        while True:
            try:
                data = self.channel.recv_stderr(65536)
            except (OSError, paramiko.SSHException):
                return
            if not data:
                return
            if sum(len(x) for x in self._stderr) < 64 * 1024:
                self._stderr.append(data)

    @property
    def reader(self) -> IO[bytes]:
        return self._reader

    @property
    def writer(self) -> IO[bytes]:
        return self._writer

    def diagnostics(self) -> str:
        text = b"".join(self._stderr).decode("utf-8", "replace").strip()
        extra = self._extra() if self._extra is not None else ""
        return "\n".join(x for x in (extra, text) if x)

    def abort(self) -> None:
        """Drop the connection now (from another thread: unblocks a pending read)."""
        self.connection.close()

    def close(self) -> int | None:
        # A broken stream fails the flush in close(); the raw channel is closed regardless.
        with contextlib.suppress(OSError, EOFError, ValueError):
            self._writer.close()
        code: int | None = None
        if self.channel.status_event.wait(30):
            code = self.channel.recv_exit_status()
            if code == -1:  # paramiko's "no exit status came": not the agent's
                code = None
        self._drain.join(timeout=5)
        self.connection.close()
        return code
