"""Small file-system tools every writer here uses: private dirs, our temp
files (made, found, removed), atomic writes, directory fsync, the apply lock,
and a walk that never follows links.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import time
from typing import Iterable, Iterator, List, Optional, Tuple

from .paths import TEMP_PREFIX, TEMP_SUFFIX
from .protocol import CHUNK_SIZE, Refusal

__all__ = [
    "STALE_TEMP_SECONDS",
    "ConfigLock",
    "current_state",
    "drain",
    "file_chunks",
    "fsync_dir",
    "make_private_dirs",
    "refuse_links_below",
    "remove_made_dirs",
    "remove_orphan_temps",
    "remove_stale_temps",
    "temp_path",
    "walk_files",
    "write_atomic",
]


STALE_TEMP_SECONDS = 3600.0


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


def write_atomic(path: str, data: bytes, mode: int) -> None:
    directory = os.path.dirname(path)
    make_private_dirs(directory)
    tmp = temp_path(directory)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
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
    with ConfigLock(config) as lock:
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


def file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK_SIZE)
            if not chunk:
                return
            yield chunk


def walk_files(root: str, sub: str) -> List[str]:
    """Regular files under ``root/sub`` as paths relative to ``root`` (no symlinks)."""
    found: List[str] = []
    base = os.path.join(root, sub)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            if name.startswith(TEMP_PREFIX):
                continue
            full = os.path.join(dirpath, name)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            found.append(os.path.relpath(full, root).replace(os.sep, "/"))
    return found


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


class ConfigLock:
    """An exclusive lock on this machine's session-sync state while applying."""

    def __init__(self, config: str) -> None:
        self.path = os.path.join(config, "session-sync", "lock")
        self.fd: Optional[int] = None
        self.error: Optional[str] = None

    def __enter__(self) -> "ConfigLock":
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, as before
            return self
        try:
            make_private_dirs(os.path.dirname(self.path))
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                self.error = "another session-sync is applying changes on this machine"
            else:
                self.error = "cannot lock %s: %s" % (self.path, exc.strerror)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
