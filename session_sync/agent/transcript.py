"""Reading transcripts: complete lines only, the last message's timestamps
from the tail, the ``cwd`` recorded near the head.
"""

from __future__ import annotations

import json
import os
import re
import stat
from typing import BinaryIO, List, Optional, Tuple

__all__ = [
    "HEAD_LIMIT",
    "TAIL_BLOCK",
    "complete_size",
    "first_cwd",
    "tail_timestamps",
]


TAIL_BLOCK = 64 * 1024


HEAD_LIMIT = 256 * 1024


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def complete_size(fh: BinaryIO, size: int) -> int:
    """Bytes up to and including the last ``\\n`` (only complete lines count)."""
    end = size
    while end > 0:
        start = max(0, end - TAIL_BLOCK)
        fh.seek(start)
        block = fh.read(end - start)
        idx = block.rfind(b"\n")
        if idx >= 0:
            return start + idx + 1
        end = start
    return 0


_TIME_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _line_timestamps(line: bytes) -> Tuple[Optional[str], Optional[str], bool]:
    """(top-level timestamp, snapshot timestamp, malformed) of one line.

    A line that is not one JSON object, or whose ``timestamp`` does not look
    like a time, is malformed: it is passed over and counted, never fatal.
    """
    try:
        obj = json.loads(line)
    except ValueError:
        return None, None, True
    if not isinstance(obj, dict):
        return None, None, True
    top = obj.get("timestamp")
    snap = obj.get("snapshot")
    snap_ts = snap.get("timestamp") if isinstance(snap, dict) else None
    if top is not None and not (isinstance(top, str) and _TIME_SHAPE.match(top)):
        return None, None, True
    if not (isinstance(snap_ts, str) and _TIME_SHAPE.match(snap_ts)):
        snap_ts = None
    return top, snap_ts, False


def tail_timestamps(fh: BinaryIO, end: int) -> Tuple[List[str], int]:
    """Timestamps of the last message, scanning complete lines back from ``end``.

    Returns the raw ``timestamp`` strings from the last line that has a
    top-level ``timestamp`` through to ``end`` (snapshot timestamps after it
    included), newest line first, and the number of malformed lines passed over.
    The caller parses them and takes the latest. Reads blocks from the end: a
    real session's last lines (``last-prompt``, ``cost-state``) carry no
    timestamp, so the scan usually stops a few lines back.
    """
    found: List[str] = []
    malformed = 0
    # The pieces of the line being assembled, newest first: a line cut by
    # block boundaries is joined once when its start is found, never
    # re-joined per block (that made a long line quadratic).
    pieces: List[bytes] = []
    pos = end
    while pos > 0:
        start = max(0, pos - TAIL_BLOCK)
        fh.seek(start)
        block = fh.read(pos - start)
        pos = start
        stop = len(block)
        while True:
            idx = block.rfind(b"\n", 0, stop)
            if idx < 0 and pos > 0:
                pieces.append(block[:stop])  # cut by the block boundary: read on back
                break
            # At this point the line is whole: after a newline, or the file's first.
            line = _joined(block[idx + 1 : stop], pieces)
            pieces = []
            top, snap, bad = _line_timestamps(line) if line.strip() else (None, None, False)
            malformed += bad
            if snap is not None:
                found.append(snap)
            if top is not None:
                found.append(top)
                return found, malformed
            if idx < 0:
                break
            stop = idx
    return found, malformed


def _joined(head: bytes, pieces: List[bytes]) -> bytes:
    """``head`` followed by ``pieces`` (held newest first), copied once."""
    if not pieces:
        return head
    return head + b"".join(reversed(pieces))


def first_cwd(path: str) -> Optional[str]:
    """The first ``cwd`` recorded in a transcript's first lines (None if none).

    Reads 8 KiB at a time: the ``cwd`` is usually on the second line. A link
    (or a FIFO) in the transcript's place is not read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None
            pending = b""
            read = 0
            while read < HEAD_LIMIT:
                block = fh.read(8192)
                if not block:
                    break
                read += len(block)
                lines = (pending + block).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    cwd = _line_cwd(line)
                    if cwd is not None:
                        return cwd
    except OSError:
        return None
    return None


def _line_cwd(line: bytes) -> Optional[str]:
    if b'"cwd"' not in line:
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if isinstance(obj, dict) and isinstance(obj.get("cwd"), str):
        return str(obj["cwd"])
    return None
