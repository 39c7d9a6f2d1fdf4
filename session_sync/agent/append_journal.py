"""The journal of appends made in place: what a ``kill -9`` inside one may cut, the
next apply on this machine completes.

An in-place append (``swap.append_in_place``) writes whole lines per ``write``,
but the kernel may stop one ``write`` of a line longer than a page at a page
boundary when the process is killed. So before the first byte goes in, the new
bytes and where they go are journaled (``<config>/session-sync/appending/``,
fsynced); after the last, the journal entry is removed. ``recover_appends``
(at the start of every apply, under the machine's lock) finishes what an entry
left: bytes after the old size that are the start of ours get the rest of ours;
anything else (another writer's bytes, the file replaced) is left alone.

RACE: between the kill and the next apply here, the transcript may end in a
part of a line (the scans count complete lines only, so nothing is planned on
it); a session opened in Claude meanwhile is left for an apply when it is not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from typing import BinaryIO, Dict, List, Optional

from .fsutil import fsync_dir, read_range
from .live import live_session_ids
from .protocol import CHUNK_SIZE

__all__ = ["JOURNAL_DIR", "begin_append", "end_append", "recover_appends"]

JOURNAL_DIR = os.path.join("session-sync", "appending")

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _entry(config: str, path: str) -> str:
    return os.path.join(config, JOURNAL_DIR, hashlib.sha256(path.encode()).hexdigest()[:32])


def begin_append(config: str, path: str, dest_fd: int, data: BinaryIO, length: int) -> str:
    """Journal the append of ``data``'s first ``length`` bytes to ``path`` (open as
    ``dest_fd``, as it is now); return the entry, for ``end_append``."""
    entry = _entry(config, path)
    st = os.fstat(dest_fd)
    tail = _tail_sha256(dest_fd, st.st_size)
    os.makedirs(os.path.dirname(entry), mode=0o700, exist_ok=True)
    digest = hashlib.sha256()
    fd = os.open(entry + ".data", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o600)
    try:
        data.seek(0)
        left = length
        while left:
            chunk = data.read(min(CHUNK_SIZE, left))
            if not chunk:
                break
            digest.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            left -= len(chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    facts = {
        "path": path,
        "dev": st.st_dev,
        "ino": st.st_ino,
        "size": st.st_size,
        "tail_sha256": tail,
        "length": length,
        "sha256": digest.hexdigest(),
    }
    fd = os.open(entry + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o600)
    try:
        os.write(fd, json.dumps(facts).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(entry + ".tmp", entry + ".json")  # the entry exists whole, or not at all
    fsync_dir(os.path.dirname(entry))
    return entry


def _tail_sha256(fd: int, size: int) -> str:
    """The sha256 of the ``TAIL`` bytes before ``size`` (an inode number is reused
    by a file made after one is removed: these tell the file apart)."""
    return hashlib.sha256(b"".join(read_range(fd, max(0, size - TAIL), size))).hexdigest()


TAIL = 4096


def end_append(entry: str) -> None:
    """The append is whole and fsynced: forget it."""
    for suffix in (".json", ".data"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry + suffix)


def _finish(facts: Dict[str, object], data_path: str) -> str:
    """Complete one journaled append; a note of what was done."""
    path = str(facts["path"])
    size, length = int(str(facts["size"])), int(str(facts["length"]))
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | _NOFOLLOW)
    except OSError as exc:
        return "%s: not completed (%s)" % (path, exc)
    try:
        st = os.fstat(fd)
        if (
            (st.st_dev, st.st_ino) != (facts["dev"], facts["ino"])
            or st.st_size < size
            or _tail_sha256(fd, size) != facts.get("tail_sha256")
        ):
            return "%s: replaced since the append; left alone" % path
        there = b"".join(read_range(fd, size, min(st.st_size, size + length)))
        with open(data_path, "rb") as fh:
            ours = fh.read()
        if len(ours) != length or hashlib.sha256(ours).hexdigest() != facts["sha256"]:
            return "%s: the journal's bytes are damaged; left alone" % path
        if not ours.startswith(there):
            return "%s: other bytes follow its old end; left alone" % path
        if st.st_size > size + len(there):
            return "%s: another writer's bytes follow a cut append; left alone" % path
        rest = memoryview(ours)[len(there) :]
        done = len(rest)
        while rest:
            rest = rest[os.write(fd, rest) :]
        os.fsync(fd)
        return "%s: a cut append completed (%d bytes)" % (path, done) if done else ""
    finally:
        os.close(fd)


def recover_appends(config: str, live: Optional[List[str]] = None) -> List[str]:
    """Complete every journaled append (the caller holds the machine's lock); one
    note per append that needed more than forgetting. ``live``: path fragments of
    sessions open in Claude here, whose appends wait (default: the client's
    registry says, asked only when there is an entry)."""
    base = os.path.join(config, JOURNAL_DIR)
    try:
        names = sorted(n for n in os.listdir(base) if n.endswith(".json"))
    except OSError:
        return []
    if names and live is None:
        live = live_session_ids(config)
    notes: List[str] = []
    for name in names:
        entry = os.path.join(base, name[: -len(".json")])
        try:
            with open(entry + ".json", "rb") as fh:
                facts = json.loads(fh.read())
        except (OSError, ValueError):
            end_append(entry)  # a half-written entry: its append never began
            continue
        if not isinstance(facts, dict) or not isinstance(facts.get("path"), str):
            end_append(entry)
            continue
        if live and any(one in facts["path"] for one in live):
            continue
        note = _finish(facts, entry + ".data")
        if note:
            notes.append(note)
        end_append(entry)
    return notes
