"""Transports: how the controller gets ONE byte stream to the other machine's agent.

A transport only starts ``python3 -c BOOTSTRAP NONCE`` somewhere and hands back
its stdin/stdout as an ``AgentStream``; everything above (handshake, framing,
requests) is the same for every transport. ``LocalProcessTransport`` runs the
agent as a subprocess against another Claude config dir on this machine; the
SSH and Codespaces transports will give the same stream over one connection.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Protocol

import attrs

from session_sync import agent
from session_sync.errors import TransportError

__all__ = [
    "AgentStream",
    "LocalProcessTransport",
    "ProcessStream",
    "Transport",
    "agent_command",
    "agent_shell_command",
]


class AgentStream(Protocol):
    """A running agent's byte stream."""

    @property
    def reader(self) -> IO[bytes]:
        """The agent's stdout."""

    @property
    def writer(self) -> IO[bytes]:
        """The agent's stdin."""

    def diagnostics(self) -> str:
        """What the agent (or the connection) said on stderr so far."""

    def close(self) -> int | None:
        """Close the stream and wait for the agent; its exit status if known."""

    def abort(self) -> None:
        """Tear the stream down now; may be called from another thread to end a blocked read."""


class Transport(Protocol):
    """Something that can start the agent on a machine and stream to it."""

    @property
    def description(self) -> str:
        """The other machine, for people (``dir /path``, ``host name``...)."""

    def open(self, nonce: str) -> AgentStream:
        """Start the agent with ``nonce`` and return its stream (one per sync)."""


def agent_command(python: str, nonce: str) -> list[str]:
    """argv that starts the agent: it then reads its own source from stdin."""
    return [python, "-c", agent.BOOTSTRAP, nonce]


def agent_shell_command(python: str, nonce: str) -> str:
    """The same, as one string for a remote shell (every word quoted)."""
    return " ".join(shlex.quote(word) for word in agent_command(python, nonce))


class ProcessStream:
    """An ``AgentStream`` over a child process's pipes; stderr is drained by a thread."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        self.process = process
        self._stderr: list[bytes] = []
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in iter(self.process.stderr.readline, b""):
            if sum(len(x) for x in self._stderr) < 64 * 1024:
                self._stderr.append(line)

    @property
    def reader(self) -> IO[bytes]:
        assert self.process.stdout is not None
        return self.process.stdout

    @property
    def writer(self) -> IO[bytes]:
        assert self.process.stdin is not None
        return self.process.stdin

    def diagnostics(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace").strip()

    def abort(self) -> None:
        try:
            if os.getpgid(self.process.pid) == self.process.pid:
                # Its own process group (gh and the ssh it runs): end them all.
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                self.process.kill()
        except OSError:
            pass

    def close(self) -> int | None:
        for pipe in (self.process.stdin,):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.abort()
            code = self.process.wait()
        self._drain.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


@attrs.frozen
class LocalProcessTransport:
    """The agent as a subprocess of this machine, against another config dir."""

    config_dir: Path
    """The other Claude config dir (``CLAUDE_CONFIG_DIR`` of the agent)."""
    python: str = sys.executable
    """The interpreter that runs the agent."""

    @property
    def description(self) -> str:
        return f"dir {self.config_dir}"

    def open(self, nonce: str) -> AgentStream:
        env = dict(os.environ)
        env["CLAUDE_CONFIG_DIR"] = str(self.config_dir)
        try:
            process = subprocess.Popen(
                agent_command(self.python, nonce),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            raise TransportError(f"cannot start the agent with {self.python}: {exc}") from exc
        return ProcessStream(process)
