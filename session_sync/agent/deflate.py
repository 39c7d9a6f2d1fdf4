"""Frame-level compression of file data: a ``Z`` frame is one ``D`` chunk, zlib level 1.

Agreed at the start, never assumed: the agent's hello lists ``"zlib"`` under
``compression``; the controller, unless told ``never``, answers with a
``compress`` notice (a request with no answer) that names its mode. From then
on each side compresses what it sends as its mode says, and both accept ``Z``
frames. A side that never agreed refuses them.

Each side decides for its own sends, chunk by chunk (``Deflater``): a chunk is
sent compressed only when that made it smaller, and in ``auto`` only while the
link is measured slower than the compressor (when it is faster, compressing
would make the copy slower: the bytes could have gone as they are in less time).
Inflating is bounded (``inflate``): a far side's zip bomb is refused at the
frame limit, never held.
"""

from __future__ import annotations

import time
import zlib
from typing import Optional

__all__ = ["LEVEL", "MIN_CHUNK", "MODES", "Deflater", "inflate"]

MODES = ("auto", "always", "never")
"""What ``--compress`` can say."""

LEVEL = 1
"""zlib level: level 1 deflates transcripts to ~15% at ~190 MB/s on one core;
level 6 gains a few percent more at half the speed."""

MIN_CHUNK = 4096
"""Chunks shorter than this go as they are (headers and a round trip's tail:
too little to win)."""

_INCOMPRESSIBLE = 0.9
"""A chunk that deflates to more than this share of its size is not worth it."""

_SKIP_AFTER_INCOMPRESSIBLE = 8
"""Chunks sent as they are after one that did not compress, before trying again."""

_PROBE_EVERY = 32
"""In ``auto``, one chunk in this many goes the other way, to keep both
measurements fresh."""

_TIMED_CHUNK = 65536
"""Only writes this large say how fast the link is (smaller ones land in buffers)."""

_WEIGHT = 0.3
"""Weight of the newest measurement in the running averages."""


def inflate(payload: bytes, limit: int) -> bytes:
    """The data of one ``Z`` frame; ``ValueError`` unless it is one whole zlib
    stream of 1 to ``limit`` bytes. Never inflates more than ``limit + 1`` bytes."""
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(payload, limit + 1)
    except zlib.error as exc:
        raise ValueError("compressed data frame is not zlib data (%s)" % exc) from None
    if len(data) > limit:
        raise ValueError("compressed data frame inflates beyond %d bytes" % limit)
    if not inflater.eof or inflater.unused_data:
        raise ValueError("compressed data frame is cut short or has bytes after its end")
    if not data:
        raise ValueError("compressed data frame of no data")
    return data


def _average(old: Optional[float], new: float) -> float:
    return new if old is None else old + _WEIGHT * (new - old)


class Deflater:
    """One side's choice, chunk by chunk, of what to compress (``mode``: one of
    ``MODES``), with what it measured: seconds per byte of the compressor and
    of writes of uncompressed chunks (a write blocks while the link is full)."""

    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError("unknown compression mode %r" % mode)
        self.mode = mode
        self.zip_spb: Optional[float] = None
        """Compressor seconds per input byte (running average)."""
        self.link_spb: Optional[float] = None
        """Write seconds per byte of uncompressed chunks (running average)."""
        self._skip = 0
        self._count = 0

    def _want(self, size: int) -> bool:
        if self.mode == "never" or size < MIN_CHUNK:
            return False
        if self.mode == "always":
            return True
        if self._skip > 0:
            self._skip -= 1
            return False
        self._count += 1
        # Unmeasured, compress: it is on slow links that it matters.
        want = self.link_spb is None or self.zip_spb is None or self.link_spb > self.zip_spb
        return want != (self._count % _PROBE_EVERY == 0)

    def pack(self, chunk: bytes) -> Optional[bytes]:
        """``chunk`` compressed, or None to send it as it is."""
        if not self._want(len(chunk)):
            return None
        started = time.perf_counter()
        packed = zlib.compress(chunk, LEVEL)
        if len(chunk) >= _TIMED_CHUNK:
            self.zip_spb = _average(self.zip_spb, (time.perf_counter() - started) / len(chunk))
        if len(packed) >= len(chunk):
            self._skip = _SKIP_AFTER_INCOMPRESSIBLE
            return None
        if len(packed) > _INCOMPRESSIBLE * len(chunk) and self.mode == "auto":
            self._skip = _SKIP_AFTER_INCOMPRESSIBLE
        return packed

    def wrote(self, size: int, seconds: float, packed: bool) -> None:
        """A data frame of ``size`` bytes took ``seconds`` to write."""
        if not packed and size >= _TIMED_CHUNK:
            self.link_spb = _average(self.link_spb, seconds / size)
