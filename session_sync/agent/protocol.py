"""The wire protocol between the controller and an agent, over one byte stream.

* The controller starts ``python3 -c BOOTSTRAP NONCE`` and writes the payload
  (``session_sync.bundle``, zlib-compressed) as ``<length>\\n<bytes>``. The agent
  then prints ``READY_MARKER NONCE`` on a line of its own. Anything before that
  line (a chatty login shell) is stray output and is skipped by the controller;
  after it, only frames follow.
* A frame is ``b"SS" + kind (1 byte) + length (4 bytes, big endian) + payload``.
  A ``D`` frame holds at most ``CHUNK_SIZE`` bytes, any other at most
  ``MAX_JSON_FRAME``: a longer one is refused before its payload is read.
  Kinds: ``J`` a JSON request/response, ``D`` a chunk of file data, ``Z`` a ``D``
  chunk zlib-compressed (only once both sides agreed: ``deflate``), ``E`` the end
  of one file's data (JSON: ``{"ok": bool, "error": str}``), ``X`` a fatal error
  (JSON: ``{"error": str}``).
* Requests are JSON frames with an ``op``: ``scan`` (one response frame) and
  ``exchange`` (the request is followed by the data of every file the agent must
  apply; the response is a results frame followed by the data of every file the
  agent was asked to send). Two requests make a whole sync, however many
  sessions there are. ``compress`` is a notice, not a request: no answer.
"""

from __future__ import annotations

import json
import struct
from typing import IO, Any, Callable, Dict, Iterator, Mapping, Optional, Sequence, Tuple

from .deflate import MODES, Deflater, inflate

__all__ = [
    "BOOTSTRAP",
    "CHUNK_SIZE",
    "FRAME_HEADER",
    "FRAME_MAGIC",
    "JSON",
    "MAX_JSON_FRAME",
    "PROTOCOL_VERSION",
    "READY_MARKER",
    "ZLIB",
    "FrameReader",
    "FrameWriter",
    "Refusal",
    "agree_compression",
    "loads",
    "send_file",
    "send_opened",
]


PROTOCOL_VERSION = 1


READY_MARKER = b"@@session-sync-agent-ready@@"


BOOTSTRAP = (
    "import sys,zlib;r=sys.stdin.buffer;n=int(r.readline());"
    "exec(compile(zlib.decompress(r.read(n)),'session_sync_agent','exec'))"
)
"""Run as ``python3 -c BOOTSTRAP NONCE``: reads ``<length>\\n`` and that many bytes
of zlib-compressed payload, and execs it. Compressed, the payload fits in a
pipe's buffer (64 KiB), so a login shell that prints a lot before it starts
the interpreter cannot deadlock the controller's write of it."""


FRAME_MAGIC = b"SS"


FRAME_HEADER = struct.Struct(">2scI")


CHUNK_SIZE = 1 << 20


MAX_JSON_FRAME = 256 << 20
"""Bytes of one JSON frame, at most (a scan answer of a large folder fits)."""


JSON = Dict[str, Any]


ZLIB = "zlib"
"""The compression an agent offers in its hello (``compression``: a list)."""


class Refusal(Exception):
    """The agent will not do this: one file (then it is that file's result) or one
    request (then an ``X`` frame). Never raised past the agent's boundary: the
    controller's connection turns a refused request into ``errors.AgentError``."""


class FrameWriter:
    """Writes frames to a binary stream and counts the file bytes it sends
    (``data_bytes``) and what that took on the stream (``frame_bytes``)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.data_bytes = 0
        self.frame_bytes = 0
        self.on_frame: Optional[Callable[[], None]] = None
        self.deflater: Optional[Deflater] = None
        """Set once compression is agreed: ``D`` chunks may go as ``Z`` frames."""

    def frame(self, kind: bytes, payload: bytes) -> None:
        size = len(payload)
        packed = None
        if kind == b"D" and self.deflater is not None:
            packed = self.deflater.pack(payload)
        wire = payload if packed is None else packed
        header = FRAME_HEADER.pack(FRAME_MAGIC, kind if packed is None else b"Z", len(wire))
        if len(wire) < 65536:
            self.out.write(header + wire)  # one write for small frames
        else:
            self.out.write(header)  # no copy of a 1 MiB chunk just to prepend 7 bytes
            self.out.write(wire)
        if self.deflater is not None:
            self.deflater.wrote(kind)
        self.frame_bytes += FRAME_HEADER.size + len(wire)
        if kind == b"D":
            self.data_bytes += size
        if self.on_frame is not None:
            self.on_frame()

    def json(self, kind: bytes, obj: Mapping[str, Any]) -> None:
        self.frame(kind, json.dumps(obj, separators=(",", ":")).encode("utf-8"))

    def flush(self) -> None:
        self.out.flush()


def loads(payload: bytes) -> Any:
    """A frame's JSON; ``ValueError`` for anything that is not JSON (a far side's
    ``[[[[...`` too: the parser's RecursionError is not a traceback to show)."""
    try:
        return json.loads(payload.decode("utf-8"))
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _error_text(payload: bytes, default: str) -> str:
    """The ``error`` of an ``X`` or failed ``E`` frame, whatever shape it came in."""
    obj = loads(payload)
    error = obj.get("error") if isinstance(obj, dict) else None
    return error if isinstance(error, str) and error else default


class FrameReader:
    """Reads frames from a binary stream; raises EOFError when it is cut and
    ValueError when what comes is not what the protocol allows.

    ``on_frame`` (if set) is called after each whole frame: the controller's
    watchdog counts that as progress."""

    def __init__(self, inp: IO[bytes]) -> None:
        self.inp = inp
        self.data_bytes = 0
        self.frame_bytes = 0
        self.on_frame: Optional[Callable[[], None]] = None
        self.inflate = False
        """Set once compression is agreed: ``Z`` frames are read (as ``D``);
        before, one is refused."""

    def _exact(self, n: int) -> bytes:
        parts = []
        while n > 0:
            chunk = self.inp.read(n)
            if not chunk:
                raise EOFError("stream ended in the middle of a frame")
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def frame(self) -> Tuple[bytes, bytes]:
        header = self.inp.read(FRAME_HEADER.size)
        if not header:
            raise EOFError("stream ended")
        if len(header) < FRAME_HEADER.size:
            header += self._exact(FRAME_HEADER.size - len(header))
        magic, kind, length = FRAME_HEADER.unpack(header)
        if magic != FRAME_MAGIC:
            raise ValueError("stream out of step: bad frame header %r" % header)
        if kind == b"Z" and not self.inflate:
            raise ValueError("a compressed data frame, but no compression was agreed")
        # Checked before the payload is read: a frame is never held beyond its limit.
        if kind in (b"D", b"Z") and not 0 < length <= CHUNK_SIZE:
            raise ValueError("data frame of %d bytes (1 to %d)" % (length, CHUNK_SIZE))
        if kind not in (b"D", b"Z") and length > MAX_JSON_FRAME:
            raise ValueError("frame too large: %d bytes" % length)
        payload = self._exact(length)
        self.frame_bytes += FRAME_HEADER.size + length
        if kind == b"Z":
            kind, payload = b"D", inflate(payload, CHUNK_SIZE)
        if kind == b"D":
            self.data_bytes += len(payload)
        # Progress is a whole message, or a full chunk of data: a far side that
        # trickles small frames does not keep the io timeout from running out.
        if self.on_frame is not None and (kind != b"D" or len(payload) == CHUNK_SIZE):
            self.on_frame()
        return kind, payload

    def json(self, expect: bytes = b"J") -> JSON:
        kind, payload = self.frame()
        if kind == b"X":
            raise Refusal(_error_text(payload, "agent failed"))
        if kind != expect:
            raise ValueError("expected a %r frame, got %r" % (expect, kind))
        obj = loads(payload)
        if not isinstance(obj, dict):
            raise ValueError("frame is not a JSON object")
        return obj

    def data(self, limit: Optional[int] = None) -> Iterator[bytes]:
        """Yield the chunks of one file's data; raises Refusal when the
        sender could not send it all (its ``E`` frame says why), and
        ValueError as soon as more than ``limit`` bytes (if given) arrive."""
        received = 0
        while True:
            kind, payload = self.frame()
            if kind == b"D":
                received += len(payload)
                if limit is not None and received > limit:
                    raise ValueError(
                        "more file data than the %d bytes asked for (%d so far)" % (limit, received)
                    )
                yield payload
                continue
            if kind == b"E":
                end = loads(payload)
                if not isinstance(end, dict) or not isinstance(end.get("ok"), bool):
                    raise ValueError("an end-of-file frame without its ok")
                if not end["ok"]:
                    raise Refusal(_error_text(payload, "sender failed"))
                return
            if kind == b"X":
                raise Refusal(_error_text(payload, "agent failed"))
            raise ValueError("expected file data, got a %r frame" % kind)


def agree_compression(
    mode: Any, offered: Sequence[Any], reader: FrameReader, writer: FrameWriter
) -> bool:
    """Take ``Z`` frames on ``reader`` and send them on ``writer`` as ``mode`` says,
    if ``offered`` (what the other side said it speaks) includes ``ZLIB`` and the
    mode is not ``never``; True when so. An unknown mode is a ``ValueError``."""
    if mode not in MODES:
        raise ValueError("unknown compression mode %r" % (mode,))
    if mode == "never" or ZLIB not in offered:
        return False
    reader.inflate = True
    writer.deflater = Deflater(mode)
    return True


def send_file(
    writer: FrameWriter,
    path: str,
    offset: int,
    length: int,
    progress: Optional[Callable[[int], None]] = None,
) -> None:
    """Send ``length`` bytes of ``path`` from ``offset`` as data frames, then E."""

    def opener() -> IO[bytes]:
        return open(path, "rb")  # closed by send_opened

    send_opened(writer, opener, offset, length, progress)


def send_opened(
    writer: FrameWriter,
    opener: Callable[[], IO[bytes]],
    offset: int,
    length: int,
    progress: Optional[Callable[[int], None]] = None,
) -> None:
    """Send ``length`` bytes from ``offset`` of the file ``opener()`` opens as data
    frames, then E.

    A file that cannot be opened or read (``OSError``, or a ``Refusal`` of the
    opener), or is shorter than promised, ends with a failed ``E``: the receiver
    discards what it staged.
    """
    error = None
    try:
        with opener() as fh:
            fh.seek(offset)
            left = length
            while left > 0:
                chunk = fh.read(min(CHUNK_SIZE, left))
                if not chunk:
                    error = "source shrank since the scan"
                    break
                writer.frame(b"D", chunk)
                left -= len(chunk)
                if progress is not None:
                    progress(len(chunk))
    except Refusal as exc:
        error = "cannot read source: %s" % exc
    except OSError as exc:
        error = "cannot read source: %s" % (exc.strerror or exc)
    writer.json(b"E", {"ok": error is None, "error": error})
