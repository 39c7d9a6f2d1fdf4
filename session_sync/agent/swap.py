"""The destination of an append or a replace, held open from the first check to
the swap, and the re-check made right before the swap.

Like Mutagen's ``ensureExpectedFile`` and Syncthing's ``scanIfItemChanged``:
what the plan was made from is checked when the op starts (size and the sha256
of the counted bytes) and again right before the staged file takes the
destination's name (same inode, same size and mtime, same tail bytes). When
anything differs, nothing is changed and the item says so.

An append to a destination this machine's scan hashed as it still is takes a
shorter way (``append_fast``): the same re-check, then its new bytes written
after the old ones in place, so it costs the new bytes, not a copy of the file.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import time
from typing import BinaryIO, Iterator, Optional

from .append_journal import begin_append, end_append
from .faults import fault_point
from .fsutil import read_range
from .messages import ApplyOp, FileResult
from .protocol import CHUNK_SIZE, Refusal

__all__ = [
    "STAGED_IN_MEMORY",
    "TAIL_BYTES",
    "Destination",
    "append_fast",
    "append_in_place",
    "catch_up",
    "open_destination",
    "stage",
]

TAIL_BYTES = 1 << 16
"""Bytes at the end of the destination compared again right before the swap."""

STAGED_IN_MEMORY = 1 << 20
"""A fast append of up to this many bytes is staged in memory, not in a temp file."""

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

CATCH_UP_WAIT_SECONDS = 1.0
"""How long a line another writer is halfway through writing is waited for."""

_CHANGED = "destination changed during the sync (another writer?); nothing changed"


class Destination:
    """An existing destination file, open for reading since its first check."""

    def __init__(self, path: str, fd: int, st: os.stat_result) -> None:
        self.path = path
        self.fd = fd
        self.stat = st
        """As first opened: what ``recheck`` compares with."""
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.size = st.st_size
        self.mtime_ns = st.st_mtime_ns
        self.mode = stat.S_IMODE(st.st_mode)
        self.tail = b""
        """The last ``TAIL_BYTES`` of the first ``size`` bytes, as read by ``read_into``."""

    def close(self) -> None:
        os.close(self.fd)

    def read_into(self, count: int, sink: Optional[BinaryIO], hasher: "hashlib._Hash") -> None:
        """Read the first ``count`` bytes into ``hasher`` (and ``sink``, a file, if given),
        keeping their tail for ``recheck``."""
        got = 0
        tail = b""
        for chunk in read_range(self.fd, 0, count):
            hasher.update(chunk)
            if sink is not None:
                sink.write(chunk)
            got += len(chunk)
            # The tail of the very bytes hashed (a whole chunk is longer than it).
            tail = chunk[-TAIL_BYTES:] if len(chunk) >= TAIL_BYTES else (tail + chunk)[-TAIL_BYTES:]
        if got < count:
            raise Refusal(_CHANGED)
        self.tail = tail

    def read_tail(self, count: int, line_end: bool) -> None:
        """Instead of ``read_into`` when a scan here vouches for the first ``count``
        bytes (``HashCache.vouches``): keep only their tail for ``recheck``, and
        with ``line_end`` check that they end a line (never half a line before ours)."""
        start = max(0, count - TAIL_BYTES)
        tail = os.pread(self.fd, count - start, start)
        if len(tail) != count - start or (line_end and count and not tail.endswith(b"\n")):
            raise Refusal(_CHANGED)
        self.tail = tail

    def recheck(self, counted: int) -> None:
        """Right before the swap: the name still leads to this inode, whose size,
        mtime and last bytes before ``counted`` are as first read."""
        try:
            now = os.lstat(self.path)
        except OSError:
            raise Refusal("destination vanished during the sync; nothing changed") from None
        held = os.fstat(self.fd)
        if (now.st_dev, now.st_ino) != (self.dev, self.ino):
            raise Refusal("destination was replaced during the sync; nothing changed")
        if held.st_size != self.size or held.st_mtime_ns != self.mtime_ns:
            raise Refusal(_CHANGED)
        start = max(0, counted - len(self.tail))
        if os.pread(self.fd, counted - start, start) != self.tail:
            raise Refusal(_CHANGED)

    def added_since(self) -> int:
        """Bytes another writer appended to the held inode since it was first read."""
        return max(0, os.fstat(self.fd).st_size - self.size)


def open_destination(path: str, file_size: int) -> Destination:
    """Open the destination of an append or replace without following a link,
    and check it is a writable regular file of the size the plan saw."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Refusal("destination is a symbolic link; not written through it") from None
        if exc.errno == errno.ENOENT:
            raise Refusal("destination vanished since the scan") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refusal("destination is not a regular file")
        if not st.st_mode & stat.S_IWUSR:
            raise Refusal(
                "destination is read-only (mode %o); left as it is" % stat.S_IMODE(st.st_mode)
            )
        if st.st_size != file_size:
            raise Refusal("destination changed since the scan; run the sync again")
    except BaseException:
        os.close(fd)
        raise
    return Destination(path, fd, st)


def catch_up(dest: Destination, sink_path: str) -> int:
    """After the swap: append to ``sink_path`` what another writer added to the
    old inode between the re-check and the swap; return how many bytes.

    A line it is halfway through is waited for briefly, so whole lines move.
    """
    extra = dest.added_since()
    if not extra:
        return 0
    deadline = time.monotonic() + CATCH_UP_WAIT_SECONDS
    while True:
        end = dest.size + dest.added_since()
        last = os.pread(dest.fd, 1, end - 1) if end > dest.size else b"\n"
        if last == b"\n" or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    fd = os.open(sink_path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
    moved = 0
    try:
        for chunk in read_range(dest.fd, dest.size, end):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            moved += len(chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    return moved


def _take_back(dest: Destination, fd: int, staged: BinaryIO) -> None:
    """After a write failed (disk full): cut the destination back to its old size
    when what follows it is ours alone (no other writer's bytes after them)."""
    extra = os.fstat(fd).st_size - dest.size
    if extra <= 0:
        return
    staged.seek(0)
    for chunk in read_range(dest.fd, dest.size, dest.size + extra):
        if staged.read(len(chunk)) != chunk:
            return
    os.ftruncate(fd, dest.size)


def append_in_place(
    dest: Destination, staged: BinaryIO, mtime_ns: int, lines: bool, config: str = ""
) -> int:
    """Append the staged (verified, fsynced) bytes to the destination itself, by
    ``O_APPEND`` writes that each end a line when they are ``lines``; return how
    many bytes.

    For a destination ``recheck`` has just found as the scan saw it: the append
    costs the new bytes, not a copy of the file. Bytes another writer adds in the
    meantime are never overwritten (``O_APPEND``); ours come after theirs.
    """
    fd = os.open(dest.path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
    written = 0
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino, st.st_size) != (dest.dev, dest.ino, dest.size):
            raise Refusal(_CHANGED)
        staged.seek(0)
        carry = b""
        try:
            while True:
                chunk = staged.read(CHUNK_SIZE)
                block = carry + chunk
                # Whole lines per write: a kill between two writes leaves the old
                # bytes plus whole lines. A kill -9 inside one write of a line
                # longer than a page can cut that line: the journal (begun by the
                # caller) has the rest, and the next apply here writes it.
                cut = len(block) if not (chunk and lines) else block.rfind(b"\n") + 1
                view = memoryview(block)[:cut]
                while view:
                    view = view[os.write(fd, view) :]
                    if view:
                        fault_point("apply.cut", config)
                written += cut
                carry = block[cut:]
                if not chunk:
                    break
            os.fsync(fd)
        except OSError:
            _take_back(dest, fd, staged)
            raise
        if os.fstat(fd).st_size == dest.size + written and os.utime in os.supports_fd:
            # As a staged append would: not older than theirs, not "just written".
            os.utime(fd, ns=(time.time_ns(), max(mtime_ns, dest.mtime_ns)))
    finally:
        os.close(fd)
    return written


def stage(
    chunks: Iterator[bytes], out: BinaryIO, hasher: "hashlib._Hash", limit: int, where: str
) -> int:
    """Write the incoming chunks to the staged file; return how many bytes."""
    staged = 0
    try:
        for chunk in chunks:
            staged += len(chunk)
            if staged > limit:
                raise Refusal("more data than announced (%d bytes); nothing changed" % limit)
            out.write(chunk)
            hasher.update(chunk)
            fault_point("apply.staged", where)
    except Refusal as exc:
        raise Refusal("transfer failed: %s" % exc) from None
    return staged


def append_fast(
    config: str, op: ApplyOp, dest: Destination, tmp: str, chunks: Iterator[bytes], incoming: int
) -> FileResult:
    """An append to a destination a scan here hashed as it still is (same inode,
    size, mtime, ctime: ``HashCache.vouches``): its bytes are not read again, only
    the tail ``recheck`` compares; the new bytes are staged (in memory when small),
    checked against the sha256 the sender's scan took of them, and written after
    the old ones (``append_in_place``)."""
    lines = str(op["rel"]).endswith(".jsonl") and not op.get("in_folder")
    dest.read_tail(dest.size, line_end=lines)
    if incoming <= STAGED_IN_MEMORY:
        buffer: BinaryIO = io.BytesIO()
    else:
        # Only a buffer, never renamed into place: it needs no fsync.
        buffer = os.fdopen(
            os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600), "w+b"
        )
    with buffer as fh:
        hasher = hashlib.sha256()
        staged = stage(chunks, fh, hasher, incoming, config)
        fh.flush()
        if hasher.hexdigest() != op.get("append_sha256"):
            raise Refusal("received data does not match its sha256; nothing changed")
        dest.recheck(dest.size)
        fault_point("apply.rechecked", config)
        # What a kill inside a write cuts, the next apply here completes.
        entry = begin_append(config, dest.path, dest.fd, fh, staged)
        fault_point("apply.journaled", config)
        append_in_place(dest, fh, int(op["mtime_ns"]), lines, config)
        fault_point("apply.appended", config)
        end_append(entry)
    fault_point("apply.swapped", config)
    return {"ok": True, "bytes": staged, "backup": None}
