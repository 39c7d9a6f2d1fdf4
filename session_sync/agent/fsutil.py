"""Small file-system tools every writer here uses: private dirs, our temp
files (made, found, removed), atomic writes, directory fsync, the apply lock,
and a walk that never follows links.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import socket
import time
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from .paths import TEMP_PREFIX, TEMP_SUFFIX
from .protocol import CHUNK_SIZE, Refusal

__all__ = [
    "DEFAULT_LOCK_WAIT",
    "LINK_REFUSED",
    "LOCK_WAIT_ENV",
    "STALE_TEMP_SECONDS",
    "ConfigLock",
    "current_state",
    "drain",
    "file_chunks",
    "fsync_dir",
    "make_private_dirs",
    "read_range",
    "refuse_links_below",
    "remove_made_dirs",
    "remove_orphan_temps",
    "remove_stale_temps",
    "temp_path",
    "walk_files",
    "write_atomic",
]


STALE_TEMP_SECONDS = 3600.0

_logger = logging.getLogger(__name__)


def fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_private_dirs(path: str) -> List[str]:
    """Make ``path`` and any missing parents, each 0700 (``os.makedirs`` gives
    the parents the default mode); return the dirs made, outermost first."""
    missing: List[str] = []
    here = os.path.abspath(path)
    while not os.path.isdir(here):
        missing.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    made: List[str] = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise
            continue
        made.append(directory)
    return made


def remove_made_dirs(made: List[str]) -> None:
    """Undo ``make_private_dirs`` for a write that did not happen: remove the
    dirs it made, innermost first, as long as they are empty."""
    for directory in reversed(made):
        try:
            os.rmdir(directory)
        except OSError:
            return


def temp_path(directory: str) -> str:
    return os.path.join(directory, "%s%s%s" % (TEMP_PREFIX, os.urandom(6).hex(), TEMP_SUFFIX))


def write_atomic(path: str, data: bytes, mode: int, durable: bool = True) -> None:
    """Give ``path`` the content ``data`` at once (a temp file renamed over it);
    ``durable``: fsynced first, so a crash leaves the old content or the new."""
    directory = os.path.dirname(path)
    make_private_dirs(directory)
    tmp = temp_path(directory)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _remove_temps(directory: str, names: Iterable[str], min_age: float, now: float) -> None:
    """Remove this agent's temp files among ``names`` in ``directory`` that are
    at least ``min_age`` seconds old. Never touches any other file."""
    for name in names:
        if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
            path = os.path.join(directory, name)
            with contextlib.suppress(OSError):
                if now - os.lstat(path).st_mtime >= min_age:
                    os.unlink(path)


def remove_stale_temps(directory: str, now: float) -> None:
    """Temp files over an hour old in ``directory`` (safe with or without the lock)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    _remove_temps(directory, names, STALE_TEMP_SECONDS, now)


def remove_orphan_temps(config: str, roots: List[str]) -> None:
    """Remove temp files a killed agent left under ``roots``, whatever their age.

    Only while holding this machine's apply lock: every temp file is made under
    it, so one found then belongs to no running sync.
    """
    now = time.time()
    with ConfigLock(config, wait=0.0) as lock:  # a clean-up: skipped when busy, no waiting
        if lock.error is not None:
            return
        for root in roots:
            for dirpath, _dirnames, filenames in os.walk(root):
                _remove_temps(dirpath, filenames, 0.0, now)


def drain(chunks: Iterator[bytes]) -> None:
    try:
        for _ in chunks:
            pass
    except Refusal:
        pass


def current_state(path: str, expect_size: int) -> Tuple[int, str, "hashlib._Hash"]:
    """(file size, sha256 of the first ``expect_size`` bytes, a hasher at that point)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        left = min(expect_size, size)
        while left > 0:
            chunk = fh.read(min(CHUNK_SIZE, left))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return size, digest.hexdigest(), digest


def read_range(fd: int, start: int, end: Optional[int] = None) -> Iterator[bytes]:
    """The bytes of ``fd`` from ``start`` to ``end`` (None: to the end of the file)
    in chunks, read at explicit offsets (the descriptor's position is left alone);
    it stops early where the file ends."""
    offset = start
    while end is None or offset < end:
        chunk = os.pread(fd, CHUNK_SIZE if end is None else min(CHUNK_SIZE, end - offset), offset)
        if not chunk:
            return
        yield chunk
        offset += len(chunk)


def file_chunks(path: str) -> Iterator[bytes]:
    """The bytes of the file at ``path``, a link there refused (``ELOOP``)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK_SIZE)
            if not chunk:
                return
            yield chunk


LINK_REFUSED = "a symbolic link: not followed"
"""Why a link met in a walk or a scan takes no part (it is never followed)."""


def walk_files(
    root: str,
    sub: str,
    refused: Optional[List[Tuple[str, str]]] = None,
    stats: Optional[Dict[str, os.stat_result]] = None,
) -> List[str]:
    """Regular files under ``root/sub`` as paths relative to ``root``: each dir's
    files in name order, then its subdirs' (in name order, depth first).

    No link is followed, ``root/sub`` itself included; each link or other
    non-regular entry met is added to ``refused`` as (relative path, reason)
    when a list is given (a session's folder reports them; a folder sync passes
    them over). ``stats``: filled with each found file's ``lstat`` by its path
    (one system call a file, where a later look at it would cost three)."""
    found: List[str] = []
    base = os.path.join(root, sub) if sub else root
    cut = len(root.rstrip("/")) + 1  # a path below root, less root and its "/"

    def refuse(path: str, reason: str) -> None:
        if refused is not None:
            refused.append((os.path.relpath(path, root).replace(os.sep, "/"), reason))

    if sub and os.path.islink(base):
        refuse(base, LINK_REFUSED)
        return found
    # Depth first by hand (``os.walk`` recurses): a deep tree from a far side
    # must not exhaust the stack.
    pending = [base]
    while pending:
        dirpath = pending.pop()
        try:
            with os.scandir(dirpath) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            if exc.errno != errno.ENOENT:  # gone since it was listed: nothing to tell
                refuse(exc.filename or dirpath, "cannot read: %s" % (exc.strerror or exc))
            continue
        subdirs: List["os.DirEntry[str]"] = []
        files: List["os.DirEntry[str]"] = []
        for entry in entries:
            (subdirs if _is_dir(entry) else files).append(entry)
        kept: List[str] = []
        for entry in subdirs:
            if entry.is_symlink():
                refuse(entry.path, LINK_REFUSED)
            else:
                kept.append(entry.path)
        for entry in files:
            if entry.name.startswith(TEMP_PREFIX):
                continue
            if entry.is_symlink():
                refuse(entry.path, LINK_REFUSED)
            elif not entry.is_file(follow_symlinks=False):
                refuse(entry.path, "not a regular file")
            else:
                rel = entry.path[cut:]
                found.append(rel if os.sep == "/" else rel.replace(os.sep, "/"))
                if stats is not None:
                    with contextlib.suppress(OSError):  # gone: its reader finds out
                        stats[entry.path] = entry.stat(follow_symlinks=False)
        pending.extend(reversed(kept))
    return found


def _is_dir(entry: "os.DirEntry[str]") -> bool:
    """What ``os.walk`` counts as a dir: a link to one too (refused after)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def refuse_links_below(base: str, directory: str) -> None:
    """Fail if a dir between ``base`` and ``directory`` is a symlink: a write
    must not land outside the tree it was planned for (scans skip symlinks)."""
    # RACE: a dir checked here can be swapped for a link before the write that
    # follows; the check keeps honest mistakes out, not a writer racing us.
    rel = os.path.relpath(directory, base)
    if rel == ".":
        return
    here = base
    for part in rel.split(os.sep):
        here = os.path.join(here, part)
        if os.path.islink(here):
            raise Refusal("%s is a symbolic link; not written through it" % here)
        if not os.path.isdir(here):
            return


LOCK_WAIT_ENV = "SESSION_SYNC_LOCK_WAIT"
"""Seconds a sync waits for another one's apply lock (default ``DEFAULT_LOCK_WAIT``)."""
DEFAULT_LOCK_WAIT = 45.0
"""Below the default --io-timeout (60 s): a far agent waiting for its lock is not
taken for a silent one."""


class ConfigLock:
    """An exclusive lock on this machine's session-sync state while applying.

    Two syncs that overlap (the hourly job and ``codespace-ssh``, say) take
    turns: the second waits up to ``wait`` seconds (default: ``$SESSION_SYNC_LOCK_WAIT``,
    else ``DEFAULT_LOCK_WAIT``), saying so once, then sets ``error`` if the lock
    is still held. ``wait=0`` only tries (for clean-ups that can be skipped).
    """

    def __init__(self, config: str, wait: Optional[float] = None) -> None:
        self.path = os.path.join(config, "session-sync", "lock")
        self.fd: Optional[int] = None
        self.error: Optional[str] = None
        self.wait = _lock_wait() if wait is None else max(0.0, wait)

    def __enter__(self) -> "ConfigLock":
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, as before
            return self
        try:
            make_private_dirs(os.path.dirname(self.path))
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            if not self._take(fcntl.flock, fcntl.LOCK_EX | fcntl.LOCK_NB):
                os.close(self.fd)
                self.fd = None
                self.error = "another session-sync on %s held the apply lock for %.0f s" % (
                    _machine(),
                    self.wait,
                )
                self.error += "; not written: run the sync again when it is done"
        except OSError as exc:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
            self.error = "cannot lock %s: %s" % (self.path, exc.strerror)
        return self

    def _take(self, flock: Callable[[int, int], None], flags: int) -> bool:
        """Whether the lock was taken within ``self.wait`` seconds."""
        assert self.fd is not None
        deadline = time.monotonic() + self.wait
        pause = 0.05
        said = False
        while True:
            try:
                flock(self.fd, flags)
                return True
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if not said:
                # Once: in the controller it is a line on stderr (or the job's log).
                _logger.warning(
                    "waiting for another session-sync on %s (up to %.0f s)...",
                    _machine(),
                    self.wait,
                )
                said = True
            time.sleep(min(pause, left))
            pause = min(pause * 2, 1.0)

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _lock_wait() -> float:
    try:
        return max(0.0, float(os.environ.get(LOCK_WAIT_ENV, DEFAULT_LOCK_WAIT)))
    except ValueError:
        return DEFAULT_LOCK_WAIT


def _machine() -> str:
    return socket.gethostname() or "this machine"
