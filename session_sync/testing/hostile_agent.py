"""A hostile far side for tests: speaks the real protocol, answers what a test scripts.

``HostileTransport(far_side)`` is a real ``Transport``. Like
``InProcessTransport`` it serves in a thread of this process over a socket
pair, but what answers is a ``FarSide``: it takes the controller's payload,
prints the ready line, says a hello with the right ``agent_sha256`` (so the
controller accepts it: the digest proves the code arrived whole, not that the
far side is honest), then answers each request. By default every answer is
the real agent's, against a real config dir; a test overrides one method to
lie, and the rest of the sync stays real::

    class BigNames(FarSide):
        def scan(self, request):
            answer = super().scan(request)
            answer["sessions"][0]["id"] = "\\x1b]0;pwned\\x07"
            return answer

An answer is anything JSON can say (sent as one ``J`` frame, even when it is
not an object), ``Raw(bytes)`` (written to the stream as it is: a broken or
oversized frame), ``SILENCE`` (nothing more, ever; the far side waits for the
controller to hang up) or ``Trickle(bytes)`` (a byte at a time, forever slower
than any timeout). ``send`` writes the data frames of one pulled file.

Also a program, for the real sshd: ``python -m session_sync.testing.hostile_agent
SCENARIO -c BOOTSTRAP NONCE`` reads the payload as ``BOOTSTRAP`` would and
serves ``SCENARIOS[SCENARIO]`` against ``$CLAUDE_CONFIG_DIR`` (or ``~/.claude``);
a wrapper script that runs it is the transport's ``--remote-python``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import attrs

from session_sync import bundle
from session_sync.agent.apply import apply_batch
from session_sync.agent.backups import DEFAULT_BACKUP_RETENTION_DAYS
from session_sync.agent.knowledge import add_knowledge, apply_knowledge
from session_sync.agent.listing import list_projects
from session_sync.agent.paths import op_target
from session_sync.agent.protocol import (
    CHUNK_SIZE,
    FRAME_HEADER,
    FRAME_MAGIC,
    PROTOCOL_VERSION,
    READY_MARKER,
    ZLIB,
    FrameReader,
    FrameWriter,
    Refusal,
    agree_compression,
    send_file,
)
from session_sync.agent.scan import scan
from session_sync.testing.transports import InProcessStream
from session_sync.transports.base import AgentStream

__all__ = [
    "SCENARIOS",
    "SILENCE",
    "FarSide",
    "HostileTransport",
    "Raw",
    "Trickle",
    "frame_header",
    "main",
    "serve_far_side",
]


@attrs.frozen
class Raw:
    """Bytes written to the stream as they are, in place of an answer frame."""

    data: bytes


@attrs.frozen
class Trickle:
    """Bytes written one at a time, ``pause`` seconds apart, until the stream breaks."""

    data: bytes
    pause: float = 0.2


class _Silence:
    def __repr__(self) -> str:
        return "SILENCE"


SILENCE = _Silence()
"""No answer, ever: the far side holds the stream open until the controller hangs up."""


class _HungUp(Exception):
    """The controller closed the stream (the far side's end of serving)."""


def frame_header(kind: bytes, length: int) -> bytes:
    """A frame's header, for ``Raw`` answers that lie about their length."""
    return FRAME_HEADER.pack(FRAME_MAGIC, kind, length)


class FarSide:
    """What the far agent answers; the real agent's answers against ``config_dir``
    unless a subclass says otherwise."""

    def __init__(self, config_dir: Path | str) -> None:
        self.config_dir = str(config_dir)
        self.requests: list[dict[str, Any]] = []
        """Every request the controller sent, in order."""

    def hello(self, hello: dict[str, Any]) -> Any:
        """The first frame (``hello`` is the honest one, right digest included)."""
        return hello

    def scan(self, request: dict[str, Any]) -> Any:
        """The answer to a ``scan``."""
        return scan(self.config_dir, request)  # type: ignore[arg-type]

    def list_projects(self, request: dict[str, Any]) -> Any:
        """The answer to a ``list_projects`` (``--all``)."""
        return list_projects(self.config_dir, float(request.get("days", 7)))

    def scan_many(self, request: dict[str, Any]) -> Any:
        """The answer to a ``scan_many`` (``--all``): the real agent's, through ``scan``."""
        return {"answers": [self.scan(one) for one in request["scans"]]}

    def apply(self, request: dict[str, Any], reader: FrameReader) -> Any:
        """Take the pushed files' data (the real apply) and answer with the results."""
        answer = apply_batch(
            self.config_dir,
            list(request.get("apply") or []),
            reader.data,
            str(request.get("label", "sync")),
            float(request.get("backup_retention_days", DEFAULT_BACKUP_RETENTION_DAYS)),
        )
        landed = apply_knowledge(
            self.config_dir,
            request.get("memory"),
            request.get("history"),
            str(request.get("label", "sync")),
        )
        add_knowledge(answer, landed)
        return answer

    def send(self, op: dict[str, Any], writer: FrameWriter) -> Any:
        """Stream one pulled file (``op``: ``dir``, ``rel``, ``offset``, ``length``);
        return None, or an answer (``SILENCE``...) to stop there."""
        try:
            path = op_target(self.config_dir, op)  # type: ignore[arg-type]
        except Refusal as exc:
            writer.json(b"E", {"ok": False, "error": str(exc)})
            return None
        send_file(writer, path, int(op["offset"]), int(op["length"]))
        return None


def _say(answer: Any, inp: IO[bytes], out: IO[bytes], writer: FrameWriter) -> None:
    """Put one answer on the stream; raises ``_HungUp`` when it was the last."""
    if isinstance(answer, Raw):
        out.write(answer.data)
    elif isinstance(answer, Trickle):
        writer.flush()
        try:
            while True:
                for i in range(len(answer.data)):
                    out.write(answer.data[i : i + 1])
                    out.flush()
                    time.sleep(answer.pause)
                time.sleep(answer.pause)  # then nothing more, but slowly
        except OSError:
            raise _HungUp from None
    elif answer is SILENCE:
        writer.flush()
        while inp.read(CHUNK_SIZE):  # until the controller gives up and hangs up
            pass
        raise _HungUp
    else:
        writer.frame(b"J", json.dumps(answer, separators=(",", ":")).encode("utf-8"))
    writer.flush()


def serve_far_side(far_side: FarSide, inp: IO[bytes], out: IO[bytes], nonce: str) -> int:
    """Read the payload as ``BOOTSTRAP`` would, then answer as ``far_side`` says."""
    length = int(inp.readline())
    inp.read(length)  # the real payload: it is not run here
    out.write(b"\n" + READY_MARKER + b" " + nonce.encode("ascii") + b"\n")
    reader, writer = FrameReader(inp), FrameWriter(out)
    honest = {
        "protocol": PROTOCOL_VERSION,
        "config_dir": far_side.config_dir,
        "hostname": socket.gethostname(),
        "python": sys.version.split()[0],
        "home": os.path.expanduser("~"),
        "agent_sha256": bundle.payload_sha256(),
        "compression": [ZLIB],
    }
    try:
        _say(far_side.hello(honest), inp, out, writer)
        while True:
            try:
                request = reader.json()
            except EOFError:
                return 0
            far_side.requests.append(request)
            if request.get("op") == "compress":  # a notice: no answer
                agree_compression(request.get("mode"), [ZLIB], reader, writer)
            elif request.get("op") == "scan":
                _say(far_side.scan(request), inp, out, writer)
            elif request.get("op") == "scan_many":
                _say(far_side.scan_many(request), inp, out, writer)
            elif request.get("op") == "list_projects":
                _say(far_side.list_projects(request), inp, out, writer)
            elif request.get("op") == "exchange":
                _say(far_side.apply(request, reader), inp, out, writer)
                for op in request.get("send") or []:
                    stop = far_side.send(op, writer)
                    if stop is not None:
                        _say(stop, inp, out, writer)
                writer.flush()
            else:
                writer.json(b"X", {"error": "unknown request"})
                writer.flush()
    except (_HungUp, BrokenPipeError, ConnectionError):
        return 1


class _HostileStream(InProcessStream):
    """``InProcessStream`` whose thread serves a ``FarSide`` instead of the agent."""

    def __init__(self, far_side: FarSide, nonce: str) -> None:
        self.far_side = far_side  # before the thread starts (the base class starts it)
        super().__init__(Path(far_side.config_dir), nonce)

    def _answer(self, inp: IO[bytes], out: IO[bytes], config: str, nonce: str) -> int:
        return serve_far_side(self.far_side, inp, out, nonce)

    def _failure(self, exc: Exception) -> str:
        # The far side's own end, in one line; the controller sees the stream.
        return f"{type(exc).__name__}: {exc}"


@attrs.frozen
class HostileTransport:
    """The other machine as a ``FarSide`` in a thread of this process."""

    far_side: FarSide
    """What answers."""

    @property
    def description(self) -> str:
        return f"hostile {self.far_side.config_dir}"

    def open(self, nonce: str) -> AgentStream:
        return _HostileStream(self.far_side, nonce)


class _SilentAfterHello(FarSide):
    def scan(self, request: dict[str, Any]) -> Any:
        return SILENCE


class _NamesWithEscapes(FarSide):
    def scan(self, request: dict[str, Any]) -> Any:
        answer = scan(self.config_dir, request)  # type: ignore[arg-type]
        answer["hostname"] = "\x1b]0;owned\x07\x1b[2J"
        return answer


class _NotAnObject(FarSide):
    def scan(self, request: dict[str, Any]) -> Any:
        return [1, 2, 3]


SCENARIOS: dict[str, Callable[[str], FarSide]] = {
    "honest": FarSide,
    "silent-after-hello": _SilentAfterHello,
    "names-with-escapes": _NamesWithEscapes,
    "not-an-object": _NotAnObject,
}
"""Far sides ``main`` can be (a subprocess cannot be handed a test's class)."""


def main(argv: Sequence[str] | None = None) -> int:
    """``hostile_agent SCENARIO -c BOOTSTRAP NONCE``: serve stdin/stdout as SCENARIO."""
    args = list(sys.argv[1:] if argv is None else argv)
    scenario, nonce = args[0], args[-1]
    config = os.environ.get("CLAUDE_CONFIG_DIR") or os.path.expanduser("~/.claude")
    return serve_far_side(SCENARIOS[scenario](config), sys.stdin.buffer, sys.stdout.buffer, nonce)


if __name__ == "__main__":
    sys.exit(main())
