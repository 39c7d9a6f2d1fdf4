"""Reading a file below a trusted dir without following a symbolic link on
the way: the scan, the sender and the hash cache open files only through
``open_below``.

The dir itself (a project dir, a synced folder) is opened as named: a config
dir kept in a dotfiles checkout is a link, and that is the user's choice. Every
name below it is opened with ``O_NOFOLLOW`` relative to the dir before it, so
a link planted anywhere under a session (``<uuid>/`` -> ``~/.ssh``) is refused
at the moment of reading, not only when the scan looked.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Callable, List, Optional

from .protocol import FrameWriter, Refusal, send_opened

__all__ = [
    "open_below",
    "open_leaf",
    "send_below",
]


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO put in a file's place must not hang us
_AT_SUPPORTED = os.open in os.supports_dir_fd and bool(_NOFOLLOW)


def _refuse_if_link(path: str, shown: str) -> None:
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise Refusal("%s is a symbolic link: not followed" % shown)
    except OSError:
        pass


def open_below(base: str, rel: str) -> int:
    """A read-only fd of the regular file ``base/rel`` (``/``-separated), opened
    without following a link at any name of ``rel``.

    Raises ``Refusal`` when a name is a link or the file is not a regular file,
    ``OSError`` when it cannot be opened (missing, permissions).
    """
    parts = rel.split("/")
    if not _AT_SUPPORTED:  # no openat here: check the names, then open (racy)
        here = base
        for i, part in enumerate(parts):
            here = os.path.join(here, part)
            _refuse_if_link(here, "/".join(parts[: i + 1]))
        fd = os.open(here, os.O_RDONLY | _NONBLOCK)
        return _regular(fd, rel)
    dir_fd = os.open(base, os.O_RDONLY | _DIRECTORY)
    try:
        for i in range(len(parts) - 1):
            fd = _open_at(dir_fd, base, parts, i, os.O_RDONLY | _NOFOLLOW | _DIRECTORY)
            os.close(dir_fd)
            dir_fd = fd
        fd = _open_at(dir_fd, base, parts, len(parts) - 1, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    finally:
        os.close(dir_fd)
    return _regular(fd, rel)


def open_leaf(base: str, rel: str) -> int:
    """Like ``open_below`` with one ``open``: only the last name is not followed.

    For a look at a file's identity (``fstat``) when its facts may be cached:
    a dir of ``rel`` turned into a link leads to another inode, so to a cache
    miss, and the file is then read through ``open_below``."""
    try:
        fd = os.open(os.path.join(base, *rel.split("/")), os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            _refuse_if_link(os.path.join(base, *rel.split("/")), rel)
        raise
    return _regular(fd, rel)


def _open_at(dir_fd: int, base: str, parts: List[str], i: int, flags: int) -> int:
    """Open ``parts[i]`` in ``dir_fd``; a link there is a ``Refusal``."""
    try:
        return os.open(parts[i], flags, dir_fd=dir_fd)
    except OSError as exc:
        # O_NOFOLLOW on a link: ELOOP (Linux, macOS), EMLINK (FreeBSD), ENOTDIR
        # when a dir was asked for.
        if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENOTDIR):
            _refuse_if_link(os.path.join(base, *parts[: i + 1]), "/".join(parts[: i + 1]))
        raise


def _regular(fd: int, rel: str) -> int:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise Refusal("%s is not a regular file" % rel)
    return fd


def send_below(
    writer: FrameWriter,
    base: str,
    rel: str,
    offset: int,
    length: int,
    progress: Optional[Callable[[int], None]] = None,
) -> None:
    """Send ``length`` bytes of ``base/rel`` from ``offset`` as data frames, then E
    (``protocol.send_opened``, opened with ``open_below``): a file reached
    through a link ends with a failed ``E`` like one that cannot be read."""
    send_opened(writer, lambda: os.fdopen(open_below(base, rel), "rb"), offset, length, progress)
