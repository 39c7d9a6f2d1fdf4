"""New files (``copy`` ops) landed in groups, and the link that lands each.

A copy of a file the destination does not have needs no backup and no re-check
of an old inode: its temp file only has to be whole, verified and durable before
its name appears. So a batch stages and verifies each copy as its data streams
in without an fsync of its own (``CopyGroup.add``), and lands them a group at a
time: the group's fsyncs (in a thread, while the next group streams in:
``send_off``), then each temp file linked to its name (never over an existing
file: the link itself refuses one), then each distinct dir fsynced once. Per
file, an fsync and a dir fsync each cost a wait for the disk; per group, the
disk writes the group's files back together, and the waiting overlaps receiving.

At every instant a copy's name does not exist or leads to a staged, fsynced,
sha256-verified file: a kill before the link leaves a temp file (removed by a
later apply's sweep), never a name. A group is at most ``GROUP_FILES`` files and
``GROUP_BYTES`` bytes, and at most two are held (one being fsynced, one being
received): that bounds the open files held and the data received but not yet in
place. The results stay one per file, in the batch's order.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
from typing import Dict, List, Optional, Tuple

from .faults import fault_point
from .fsutil import fsync_dir, read_range, remove_made_dirs
from .messages import ApplyOp, FileResult
from .protocol import Refusal

__all__ = [
    "GROUP_BYTES",
    "GROUP_FILES",
    "CopyGroup",
    "StagedCopy",
    "failure",
    "holds",
    "link_new",
]

GROUP_FILES = 64
"""Staged copies held (each an open file) before the group is landed."""

GROUP_BYTES = 32 << 20
"""Bytes of staged copies before the group is landed."""

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

_NO_HARD_LINKS = tuple(
    getattr(errno, name)
    for name in ("EPERM", "EOPNOTSUPP", "ENOTSUP", "EXDEV", "EMLINK", "ENOSYS")
    if hasattr(errno, name)
)

_APPEARED = "destination appeared since the scan; not overwritten"


def link_new(tmp: str, target: str) -> None:
    """Give the staged file the target's name, never over an existing file."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise Refusal(_APPEARED) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        # RACE: a file system without hard links: the check and the rename are
        # two steps, and a file created between them is replaced.
        if os.path.lexists(target):
            raise Refusal(_APPEARED) from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def holds(path: str, size: int, sha256: str) -> bool:
    """Whether the regular file at ``path`` starts with ``size`` bytes hashing to
    ``sha256`` (never through a link)."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size < size:
            return False
        digest = hashlib.sha256()
        for chunk in read_range(fd, 0, size):
            digest.update(chunk)
        return digest.hexdigest() == sha256
    finally:
        os.close(fd)


def failure(exc: OSError) -> FileResult:
    """The result of a file whose apply an ``OSError`` stopped."""
    if exc.errno == errno.ENOSPC:
        message = "disk full on the destination"
    else:
        message = "%s: %s" % (exc.strerror or type(exc).__name__, exc.filename or "")
    return {"ok": False, "error": message.strip().rstrip(":")}


class StagedCopy:
    """A copy whose temp file is whole and verified (not yet fsynced), held open."""

    __slots__ = ("directory", "fd", "made", "op", "result", "target", "tmp")

    def __init__(
        self,
        op: ApplyOp,
        tmp: str,
        fd: int,
        target: str,
        made: List[str],
        result: FileResult,
    ) -> None:
        self.op = op
        self.tmp = tmp
        self.fd = fd
        self.target = target
        self.directory = os.path.dirname(target)
        self.made = made
        self.result = result


Group = List[Tuple[int, StagedCopy]]


def _fsync_each(group: Group, errors: Dict[int, OSError]) -> None:
    """fsync every staged file of ``group``; the errors by batch index."""
    for index, one in group:
        try:
            os.fsync(one.fd)
        except OSError as exc:
            errors[index] = exc


class CopyGroup:
    """The staged copies of one batch not landed yet, in the batch's order.

    A full group's fsyncs run in a thread of their own (``send_off``) while the
    next group is received and staged; its links wait for them. So at most two
    groups are held: ``2 * GROUP_FILES`` open files, ``2 * GROUP_BYTES`` bytes.
    """

    def __init__(self, config: str) -> None:
        self.config = config
        self.staged: Group = []
        self.bytes = 0
        self._flying: Optional[Tuple[Group, threading.Thread, Dict[int, OSError]]] = None

    def add(self, index: int, staged: StagedCopy) -> None:
        """Hold ``staged`` (the batch's ``index``-th op) until it lands; it owns
        its open file, temp file and made dirs from now on."""
        self.staged.append((index, staged))
        self.bytes += int(staged.op["size"])

    def full(self) -> bool:
        return len(self.staged) >= GROUP_FILES or self.bytes >= GROUP_BYTES

    def send_off(self) -> List[Tuple[int, FileResult]]:
        """Start the held group's fsyncs in a thread; land the group sent off
        before it (return its results, in order)."""
        results = self._land_flying()
        group, self.staged, self.bytes = self.staged, [], 0
        errors: Dict[int, OSError] = {}
        thread = threading.Thread(target=_fsync_each, args=(group, errors), daemon=True)
        self._flying = (group, thread, errors)
        thread.start()
        return results

    def land(self) -> List[Tuple[int, FileResult]]:
        """Land every held copy; return each one's batch index and result, in order."""
        results = self._land_flying()
        group, self.staged, self.bytes = self.staged, [], 0
        errors: Dict[int, OSError] = {}
        _fsync_each(group, errors)
        return results + self._link(group, errors)

    def _land_flying(self) -> List[Tuple[int, FileResult]]:
        if self._flying is None:
            return []
        group, thread, errors = self._flying
        thread.join()
        self._flying = None
        return self._link(group, errors)

    def _link(self, group: Group, errors: Dict[int, OSError]) -> List[Tuple[int, FileResult]]:
        """Link each fsynced file of ``group`` to its name, then fsync their dirs."""
        results: Dict[int, FileResult] = {i: failure(exc) for i, exc in errors.items()}
        try:
            for _index, one in group:
                os.close(one.fd)
                one.fd = -1
            # At this point we know every temp file not failed is whole, hashes to
            # what its sender hashed, and is on disk. None has a name yet.
            fault_point("apply.grouped", self.config)
            landed: List[StagedCopy] = []
            for index, one in group:
                if index in results:
                    continue
                # The link refuses a name that exists, whenever it appeared.
                fault_point("apply.rechecked", self.config)
                try:
                    link_new(one.tmp, one.target)
                except Refusal as exc:
                    if holds(one.target, int(one.op["size"]), str(one.op["sha256"])):
                        results[index] = {"ok": True, "bytes": 0, "backup": None, "unchanged": True}
                    else:
                        results[index] = {"ok": False, "error": str(exc)}
                except OSError as exc:
                    results[index] = failure(exc)
                else:
                    results[index] = one.result
                    landed.append(one)
            for directory in dict.fromkeys(one.directory for one in landed):
                fsync_dir(directory)
            for _one in landed:
                fault_point("apply.swapped", self.config)
        finally:
            self._clean(group, results)
        return [(index, results[index]) for index, _one in group]

    def abandon(self) -> None:
        """Give up every held copy (the batch ended without landing them)."""
        if self._flying is not None:
            group, thread, _errors = self._flying
            thread.join()
            self._flying = None
            self._clean(group, {})
        group, self.staged, self.bytes = self.staged, [], 0
        self._clean(group, {})

    @staticmethod
    def _clean(group: Group, results: Dict[int, FileResult]) -> None:
        """Close what is still open and remove the temp files and the dirs made
        for copies that did not land (after all links: a dir another copy landed
        in is not empty)."""
        for _index, one in group:
            if one.fd >= 0:
                os.close(one.fd)
                one.fd = -1
            if os.path.lexists(one.tmp):
                os.unlink(one.tmp)
        for index, one in reversed(group):
            result = results.get(index)
            if result is None or not result.get("ok") or result.get("unchanged"):
                remove_made_dirs(one.made)
