"""The agent as a subprocess of this machine, against another Claude config dir
(and ``ProcessStream``, the stream over any child process's pipes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import attrs

from session_sync.errors import TransportError
from session_sync.transports.base import AgentStream, agent_command

__all__ = ["LocalProcessTransport", "ProcessStream"]


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
