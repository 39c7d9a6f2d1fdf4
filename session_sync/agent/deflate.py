"""Frame-level compression of file data: a ``Z`` frame is one ``D`` chunk, deflated.

Agreed at the start, never assumed: the agent's hello lists ``"zlib"`` under
``compression``; the controller, unless told ``never``, answers with a
``compress`` notice (a request with no answer) that names its mode. From then
on each side compresses what it sends as its mode says, and both accept ``Z``
frames. A side that never agreed refuses them.

Each side decides for its own sends (``Deflater``). ``always`` deflates every
chunk at zlib level 9: on transcripts that is fewer bytes than SSH's own
compression (a level-6 stream), on any link. ``auto`` sends each window of file
data the way it measures moving it fastest over this link: level 1 (faster
than a slow link), level 9 (when even that is slower), or raw (when the link
outruns the compressor); raw is not tried where the link is what compressed
windows waited for; raw is kept unless compressing measured 2x faster (that
costs the far side and the CPUs a fast link waits for), and near a tie level 9
over level 1; a window sent a new way is measured from its second half. A
chunk goes compressed only when that made it smaller. Inflating is bounded
(``inflate``): a far side's zip bomb is refused at the frame limit, never held.
"""

from __future__ import annotations

import time
import zlib
from typing import Dict, Optional, Tuple

__all__ = ["FAST", "MIN_CHUNK", "MODES", "TIGHT", "Deflater", "inflate"]

MODES = ("auto", "always", "never")
"""What ``--compress`` can say."""

FAST, TIGHT = 1, 9
"""The zlib levels used: on transcripts, level 1 deflates 1 MiB chunks to ~14% at
~175 MB/s on one core, level 9 to ~11.2% at ~45 MB/s (SSH's own compression, a
level-6 stream, gets ~11.6%)."""

MIN_CHUNK = 4096
"""Chunks shorter than this go as they are (too little to win)."""

_RAW = 0

_INCOMPRESSIBLE = 0.9
"""A chunk that deflates to more than this share of its size is not worth it."""

_SKIP_AFTER_INCOMPRESSIBLE = 8
"""Chunks ``auto`` sends as they are after one that did not compress, before trying again."""

WINDOW = 8 << 20
"""File bytes sent one way before that way's speed is taken: more than the
pipes and socket buffers on the way hold, so the speed is the link's or the
compressor's, not how fast a buffer filled."""

_EXPLORE_EVERY = 8
_EXPLORE_MAX = 40
"""Windows between tries of a way slower than the fastest: this many times how
much slower it measured, at most ``_EXPLORE_MAX`` (so a link that got faster or
slower is noticed, and a slow way costs little)."""

_BEFORE_RAW = 3
"""Compressed windows before raw is tried (until the buffers on the way are full,
a slow link does not make a compressed window wait)."""

_WEIGHT = 0.5
"""Weight of the newest window in each way's running speed."""

_PREFER = {_RAW: 2.0, TIGHT: 1.25, FAST: 1.0}
"""``auto`` counts each way's measured speed times this: raw is sent unless a
compressed way measured 2x faster, level 9 unless level 1 measured 1.25x faster
(near a tie, the fewer bytes). Raw's margin is wide because what the sender
measures of a compressed way leaves out what it costs past the sender: the far
side inflates, and on a fast link the CPUs of both sides (and of the relay
between) are what the copy waits for, the compressor taking one of them (on 2
cores over loopback, level 1 measured 1.5-1.8x raw and made the copy 15% slower)."""


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
    """One side's choice of how to send file data (``mode``: one of ``MODES``),
    from what it measured: file bytes per second of each way (raw, level 1,
    level 9), over windows of ``WINDOW`` bytes, from the first chunk's
    compressing to the last one's write (a write waits while the link is full,
    so a slow link shows). Each window goes the way that was fastest; ways
    never measured go first (level 1 first: it is on slow links that it
    matters; level 9 once level 1 waited for the link; raw last, and only if
    the link could be faster than the compressed ways: what a compressed window
    spent writing says how fast the link takes bytes); a slower way is tried
    again now and then, the less often the slower it was. ``auto`` chooses
    among all three; ``always`` sends every chunk at level 9. Neither sends
    compressed a chunk that did not shrink.
    """

    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError("unknown compression mode %r" % mode)
        self.mode = mode
        self.ways: Tuple[int, ...] = (FAST, TIGHT, _RAW) if mode == "auto" else (TIGHT,)
        self.speed: Dict[int, float] = {}
        """File bytes per second of each way measured (running average)."""
        self.link: Optional[float] = None
        """Bytes per second the stream took while compressed windows were written
        (running average): what raw would move, for as long as raw is not measured."""
        self.sent: Dict[int, int] = {_RAW: 0, FAST: 0, TIGHT: 0}
        """Chunks sent each way (0: raw)."""
        self._way = self.ways[0]
        self._windows = 0
        self._skip = 0
        self._bytes = 0
        self._wire = 0
        self._compressing = 0.0
        self._started: Optional[float] = None
        self._settling = False
        self._tried: Dict[int, int] = {}

    def pack(self, chunk: bytes) -> Optional[bytes]:
        """``chunk`` compressed, or None to send it as it is."""
        if self.mode == "never" or len(chunk) < MIN_CHUNK:
            return None
        started = time.perf_counter()
        if self._started is None:
            self._started = started
        way = self._way
        if self._skip > 0:
            self._skip -= 1
            way = _RAW
        packed = None
        if way != _RAW:
            packed = zlib.compress(chunk, way)
            self._compressing += time.perf_counter() - started
        if packed is not None and len(packed) > _INCOMPRESSIBLE * len(chunk):
            if self.mode == "auto":
                self._skip = _SKIP_AFTER_INCOMPRESSIBLE
            if len(packed) >= len(chunk):
                packed = None
        self.sent[_RAW if packed is None else way] += 1
        self._bytes += len(chunk)
        self._wire += len(chunk) if packed is None else len(packed)
        return packed

    def wrote(self, kind: bytes) -> None:
        """A frame of ``kind`` went on the stream: a window may be complete."""
        if kind == b"J" or kind == b"X":
            # Another request: the time between is not the link's.
            self._restart()
            return
        if kind != b"D" or self._started is None:
            return
        if self._settling and self._bytes >= WINDOW // 2:
            # The first half-window after a change of way waited on what the
            # last way left in the buffers on the way: the window starts now.
            self._settling = False
            self._restart()
            return
        if self._bytes < WINDOW:
            return
        elapsed = time.perf_counter() - self._started
        if elapsed > 0:
            self.speed[self._way] = _average(self.speed.get(self._way), self._bytes / elapsed)
        writing = elapsed - self._compressing
        if self._way != _RAW and writing > self._compressing:
            # This window waited for the link more than it compressed: the link
            # took its bytes at about this rate (a window the buffers on the way
            # absorbed says nothing about it).
            self.link = _average(self.link, self._wire / writing)
        self._restart()
        self._windows += 1
        self._tried[self._way] = self._windows
        way = self._next()
        self._settling = way != self._way
        self._way = way

    def _restart(self) -> None:
        self._started, self._bytes, self._wire, self._compressing = None, 0, 0, 0.0

    def _next(self) -> int:
        speed = dict(self.speed)
        # Raw moves file bytes no faster than the link takes them: tried only if
        # that could beat what compressing measured.
        if (
            _RAW in self.ways
            and _RAW not in speed
            and self._windows >= _BEFORE_RAW
            and self.link is not None
            and self.link * _PREFER[_RAW] < max(speed.values(), default=0.0)
        ):
            speed[_RAW] = self.link
        for way in self.ways:
            # Raw last: until a few compressed windows filled the buffers on the
            # way, a slow link does not show in them. Level 9 only once the link
            # showed: it compresses 4x slower than level 1, so it can be faster
            # only where level 1 waited for the link.
            untried = way not in speed
            if way == _RAW:
                untried = untried and self._windows >= _BEFORE_RAW
            elif way == TIGHT and self.mode == "auto":
                untried = untried and self.link is not None
            if untried:
                return way
        measured = [way for way in self.ways if way in speed]

        def rate(way: int) -> float:
            return speed[way] * _PREFER[way]

        best = max(measured, key=rate)
        for way in measured:
            # A way tried again the less often, the slower it measured (as
            # weighed, or as it is: raw over a slow link costs what it measured).
            slower = max(rate(best) / rate(way), speed[best] / speed[way])
            gap = min(_EXPLORE_MAX, _EXPLORE_EVERY * slower)
            if way != best and self._windows - self._tried.get(way, 0) >= gap:
                return way
        return best
