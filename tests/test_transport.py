"""The handshake and the byte stream, through real transports.

``ShellTransport`` is a real transport (like an SSH login) that runs the agent
command through ``sh -c`` after a prelude: a chatty login script, a missing
interpreter. Nothing is monkeypatched.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO, cast

import attrs
import pytest

from session_sync.agent.paths import encode_project_path
from session_sync.agent.protocol import PROTOCOL_VERSION
from session_sync.engine import SyncRequest, run_sync
from session_sync.errors import ProtocolError, TransportError
from session_sync.transports.base import AgentStream, agent_command
from session_sync.transports.connection import STRAY_OUTPUT_LIMIT, AgentConnection
from session_sync.transports.local import LocalProcessTransport, ProcessStream


@attrs.frozen
class ShellTransport:
    """Runs ``prelude; exec <agent command>`` under ``sh``, like a remote login shell."""

    config_dir: Path
    prelude: str
    python: str = sys.executable

    @property
    def description(self) -> str:
        return f"shell {self.config_dir}"

    def open(self, nonce: str) -> AgentStream:
        command = " ".join(shlex.quote(w) for w in agent_command(self.python, nonce))
        env = dict(os.environ, CLAUDE_CONFIG_DIR=str(self.config_dir))
        process = subprocess.Popen(
            ["sh", "-c", f"{self.prelude}\nexec {command}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        return ProcessStream(process)


S1, S2, S3 = (str(uuid.UUID(int=n)) for n in (1, 2, 3))
"""Session ids (only uuid-named files are sessions)."""


def _session(config: Path, project: str, name: str) -> bytes:
    line = json.dumps(
        {"type": "user", "timestamp": "2026-11-20T10:00:00.000Z", "cwd": project, "uuid": name}
    ).encode()
    data = line + b"\n" + b'{"type":"cost-state"}\n'
    folder = config / "projects" / encode_project_path(project)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jsonl"
    path.write_bytes(data)
    old = time.time() - 3600
    os.utime(path, (old, old))
    return data


def test_stray_login_output_is_skipped(tmp_path: Path) -> None:
    a, b, project = tmp_path / "a", tmp_path / "b", tmp_path / "project"
    for p in (a, b, project):
        p.mkdir()
    data = _session(b, str(project), S1)
    # A login script that prints text, binary junk, and something frame-like.
    prelude = "echo 'Welcome to the codespace!'; printf 'SS\\001\\002junk\\n'; echo motd"
    request = SyncRequest(local_config=a, local_path=str(project), remote_path=str(project))
    report = run_sync(request, ShellTransport(b, prelude))
    assert report.pulled == 1
    assert report.round_trips == 2
    copied = a / "projects" / encode_project_path(str(project)) / f"{S1}.jsonl"
    assert copied.read_bytes() == data


def test_too_much_stray_output_is_a_protocol_error(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    noise = STRAY_OUTPUT_LIMIT // 1000 + 10
    prelude = f"i=0; while [ $i -lt {noise} ]; do printf '%01000d\\n' 0; i=$((i+1)); done"
    with pytest.raises(ProtocolError, match="before the agent started"):
        AgentConnection(ShellTransport(tmp_path / "b", prelude))


def test_missing_python_is_a_clear_transport_error(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    transport = ShellTransport(tmp_path / "b", "", python="/nonexistent/python3")
    with pytest.raises(TransportError, match=r"no Python on .*--remote-python") as caught:
        AgentConnection(transport)
    # The shell's own complaint is passed on, so the user sees why.
    assert "python3" in str(caught.value)


def test_agent_that_exits_early_is_a_transport_error(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    transport = ShellTransport(tmp_path / "b", "echo 'disk quota exceeded' >&2; exit 3")
    with pytest.raises(TransportError, match=r"exit status 3.*disk quota exceeded"):
        AgentConnection(transport)


def test_unknown_interpreter_path_for_local_transport(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    with pytest.raises(TransportError, match="cannot start the agent"):
        AgentConnection(LocalProcessTransport(tmp_path / "b", python="/nonexistent/python3"))


def test_hello_reports_the_other_side(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    connection = AgentConnection(LocalProcessTransport(tmp_path / "b"))
    try:
        assert connection.hello["protocol"] == PROTOCOL_VERSION
        assert connection.hello["config_dir"] == str(tmp_path / "b")
        assert connection.round_trips == 0
        answer = connection.request({"op": "backups"})
        assert answer == {"backups": []}
        assert connection.round_trips == 1
    finally:
        connection.close()


def test_unknown_request_is_refused_and_the_agent_goes_on(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    connection = AgentConnection(LocalProcessTransport(tmp_path / "b"))
    try:
        with pytest.raises(Exception, match="unknown request"):
            connection.request({"op": "format-disk"})
        assert connection.request({"op": "backups"}) == {"backups": []}
    finally:
        connection.close()


def test_a_transport_error_says_where_it_happened(tmp_path: Path) -> None:
    """A transport that cannot start, and a stream that is cut: both name the machine."""
    missing = LocalProcessTransport(tmp_path, python=str(tmp_path / "no-such-python"))
    with pytest.raises(TransportError) as cannot_start:
        AgentConnection(missing)
    assert cannot_start.value.where == f"dir {tmp_path}"
    quitter = ShellTransport(tmp_path, "exit 3")
    with pytest.raises(TransportError) as no_agent:
        AgentConnection(quitter)
    assert no_agent.value.where == f"shell {tmp_path}"


class GarbleDataFrame:
    """The agent's stdout, passed through frame by frame, with the kind byte of the
    ``nth`` data frame changed: a stream out of step in the middle of a pull."""

    def __init__(self, inner: IO[bytes], nth: int) -> None:
        self.inner = inner
        self.nth = nth
        self.data_frames = 0
        self.header = b""
        self.payload_left = 0

    def readline(self, size: int = -1) -> bytes:
        return self.inner.readline(size)  # the ready line, before any frame

    def read(self, n: int = -1) -> bytes:
        data = bytearray(self.inner.read(n))
        i = 0
        while i < len(data):
            if self.payload_left:
                step = min(self.payload_left, len(data) - i)
                self.payload_left -= step
                i += step
                continue
            self.header += bytes(data[i : i + 1])
            if len(self.header) == 3 and self.header[2:3] == b"D":
                self.data_frames += 1
                if self.data_frames == self.nth:
                    data[i] = ord("Q")
            if len(self.header) == 7:
                self.payload_left = int.from_bytes(self.header[3:7], "big")
                self.header = b""
            i += 1
        return bytes(data)

    def close(self) -> None:
        self.inner.close()


@attrs.frozen
class GarblingTransport:
    """A real agent process whose answers are garbled at the ``nth`` data frame."""

    config_dir: Path
    nth: int

    @property
    def description(self) -> str:
        return f"garbled {self.config_dir}"

    def open(self, nonce: str) -> AgentStream:
        stream = LocalProcessTransport(self.config_dir).open(nonce)
        assert isinstance(stream, ProcessStream)
        return _WithReader(stream, GarbleDataFrame(stream.reader, self.nth))


class _WithReader:
    """A stream whose reader is replaced (everything else is the process's)."""

    def __init__(self, stream: ProcessStream, reader: GarbleDataFrame) -> None:
        self._stream = stream
        self._reader = reader

    @property
    def reader(self) -> IO[bytes]:
        return cast(IO[bytes], self._reader)  # it has what FrameReader uses

    @property
    def writer(self) -> IO[bytes]:
        return self._stream.writer

    def diagnostics(self) -> str:
        return self._stream.diagnostics()

    def close(self) -> int | None:
        return self._stream.close()

    def abort(self) -> None:
        self._stream.abort()


def test_a_stream_out_of_step_mid_pull_stops_the_sync_with_one_error(tmp_path: Path) -> None:
    """Garbled frames in the middle of the pulled data: the sync stops with a
    ProtocolError that names the machine (the stream can no longer be trusted, so no
    file after it is read from it), and every file is as it was or complete."""
    a, b, project = tmp_path / "a", tmp_path / "b", tmp_path / "project"
    for path in (a, b, project):
        path.mkdir()
    pulled = {name: _session(b, str(project), name) for name in (S1, S2, S3)}
    request = SyncRequest(local_config=a, local_path=str(project), remote_path=str(project))
    with pytest.raises(ProtocolError) as caught:
        run_sync(request, GarblingTransport(b, nth=2))
    assert caught.value.where == f"garbled {b}"
    here = a / "projects" / encode_project_path(str(project))
    arrived = {p.stem: p.read_bytes() for p in here.glob("*.jsonl")}
    assert 0 < len(arrived) < len(pulled), "the garbled frame came after the first file"
    for name, data in arrived.items():
        assert data == pulled[name], f"{name} is neither absent nor complete"
    assert not [p for p in here.iterdir() if p.name.startswith(".session-sync-")]
    # The next sync, over a sound stream, finishes the job.
    report = run_sync(request, LocalProcessTransport(b))
    assert report.ok
    assert {p.stem: p.read_bytes() for p in here.glob("*.jsonl")} == pulled
