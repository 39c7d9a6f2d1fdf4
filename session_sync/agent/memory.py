"""Claude's auto memory of a project: ``<config>/projects/<dir>/memory/*.md``.

The scan reads the folder's files whole (they are small and bounded) into the
answer; the controller merges and sends back the writes, which land here by
the apply's rules: staged beside the file, verified by sha256, re-checked
right before the swap (the file is still the one the plan saw), the replaced
copy backed up first, modes masked, never a deletion.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import time
from typing import TYPE_CHECKING, List, Optional

from .fsutil import fsync_dir, make_private_dirs, refuse_links_below, remove_made_dirs, temp_path
from .messages import MemoryFileFacts, MemoryResult, MemoryScan, MemoryWrite
from .paths import op_base
from .protocol import Refusal
from .reading import open_below

if TYPE_CHECKING:  # the writing half is imported when a write comes (a scan needs none)
    from .backups import BackupSet

__all__ = [
    "MAX_MEMORY_FILES",
    "MAX_MEMORY_FILE_BYTES",
    "MAX_MEMORY_TOTAL_BYTES",
    "MEMORY_DIR",
    "apply_memory",
    "is_memory_name",
    "link_new",
    "scan_memory",
]

MEMORY_DIR = "memory"
"""The folder of a project dir that holds Claude's auto memory."""

MAX_MEMORY_FILE_BYTES = 256 * 1024
"""A memory file larger than this is not read (nor synced)."""

MAX_MEMORY_TOTAL_BYTES = 2 * 1024 * 1024
"""The memory files of one project read in one scan, at most."""

MAX_MEMORY_FILES = 500
"""Memory files of one project listed in one scan, at most."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,195}\.md$")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def is_memory_name(name: str) -> bool:
    """A plain ``*.md`` name right in ``memory/`` (no dir, no dot file, no temp)."""
    return bool(_NAME.match(name)) and ".." not in name


def scan_memory(config: str, dir_name: str) -> MemoryScan:
    """The memory files of project dir ``dir_name``: each file's facts and text,
    or why it is left out (a link, too large, not UTF-8)."""
    base = op_base(config, {"dir": dir_name})
    folder = os.path.join(base, MEMORY_DIR)
    out: MemoryScan = {"dir": dir_name, "files": []}
    try:
        st = os.lstat(folder)
    except OSError:
        return out
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        out["error"] = "memory/ is a symbolic link or not a folder: not followed"
        return out
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        out["error"] = "memory/ cannot be listed: %s" % (exc.strerror or exc)
        return out
    total = 0
    for name in names:
        if not is_memory_name(name):
            continue
        if len(out["files"]) >= MAX_MEMORY_FILES:
            out["error"] = "more than %d memory files: the rest are left out" % MAX_MEMORY_FILES
            break
        fact = _read_memory_file(base, name, MAX_MEMORY_TOTAL_BYTES - total)
        total += int(fact.get("size", 0))
        out["files"].append(fact)
    return out


def _read_memory_file(base: str, name: str, room: int) -> MemoryFileFacts:
    rel = MEMORY_DIR + "/" + name
    try:
        fd = open_below(base, rel)
    except Refusal as exc:
        return {"name": name, "error": str(exc)}
    except OSError as exc:
        return {"name": name, "error": exc.strerror or str(exc)}
    try:
        st = os.fstat(fd)
        limit = min(MAX_MEMORY_FILE_BYTES, room)
        if st.st_size > limit:
            why = "larger than %d bytes" % MAX_MEMORY_FILE_BYTES
            if st.st_size <= MAX_MEMORY_FILE_BYTES:
                why = "over the %d bytes read per scan" % MAX_MEMORY_TOTAL_BYTES
            return {"name": name, "error": why + ": not synced"}
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        return {"name": name, "error": "grew while it was read: not synced this time"}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {"name": name, "error": "not UTF-8 text: not synced"}
    return {
        "name": name,
        "size": len(data),
        "mtime_ns": st.st_mtime_ns,
        "mode": stat.S_IMODE(st.st_mode),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content": text,
    }


def apply_memory(
    config: str, dir_name: str, writes: List[MemoryWrite], backups: BackupSet
) -> List[MemoryResult]:
    """Land each write (the caller holds this machine's apply lock); one result each."""
    results: List[MemoryResult] = []
    for write in writes:
        try:
            results.append(_apply_one(config, dir_name, write, backups))
        except Refusal as exc:
            results.append({"ok": False, "error": str(exc)})
        except (OSError, KeyError, ValueError, TypeError) as exc:
            if isinstance(exc, OSError):
                message = "%s: %s" % (exc.strerror or type(exc).__name__, exc.filename or "")
            else:
                message = "bad request: %s" % exc
            results.append({"ok": False, "error": message.strip().rstrip(":")})
    return results


def _apply_one(config: str, dir_name: str, write: MemoryWrite, backups: BackupSet) -> MemoryResult:
    name = str(write["name"])
    if not is_memory_name(name):
        raise Refusal("not a memory file name (a plain *.md in memory/): %r" % name)
    base = op_base(config, {"dir": dir_name})
    folder = os.path.join(base, MEMORY_DIR)
    target = os.path.join(folder, name)
    data = str(write["content"]).encode("utf-8")
    if len(data) > MAX_MEMORY_FILE_BYTES:
        raise Refusal("larger than %d bytes: not written" % MAX_MEMORY_FILE_BYTES)
    if hashlib.sha256(data).hexdigest() != write["sha256"]:
        raise Refusal("content does not match its sha256; nothing changed")
    expect: Optional[str] = write.get("expect")
    refuse_links_below(os.path.join(config, "projects"), folder)
    made = make_private_dirs(folder)
    landed = False
    tmp = temp_path(folder)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.utime(tmp, ns=(time.time_ns(), int(write["mtime_ns"])))
        if expect is None:
            os.chmod(tmp, (int(write["mode"]) & 0o755) | 0o600)
            link_new(tmp, target)
            landed = True
            fsync_dir(folder)
            return {"ok": True, "bytes": len(data), "backup": None}
        result = _replace(target, tmp, name, dir_name, str(expect), write, backups)
        landed = True
        return result
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        if not landed:
            remove_made_dirs(made)


def link_new(tmp: str, target: str) -> None:
    """The staged file ``tmp`` takes the name ``target``, never over a file that
    appeared (``Refusal``); ``tmp`` is left for the caller to remove."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise Refusal("appeared since the scan; not overwritten") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # RACE: no hard links here: the check and the rename are two steps.
        if os.path.lexists(target):
            raise Refusal("appeared since the scan; not overwritten") from None
        os.replace(tmp, target)


def _replace(
    target: str,
    tmp: str,
    name: str,
    dir_name: str,
    expect: str,
    write: MemoryWrite,
    backups: BackupSet,
) -> MemoryResult:
    from .swap import open_destination

    try:
        size = os.lstat(target).st_size
    except OSError:
        raise Refusal("vanished since the scan; nothing changed") from None
    dest = open_destination(target, size)
    try:
        digest = hashlib.sha256()
        dest.read_into(size, None, digest)
        if digest.hexdigest() != expect:
            raise Refusal("changed since the scan; nothing changed: run the sync again")
        os.chmod(tmp, (dest.mode & 0o755) | 0o600)
        backup = backups.keep(
            dest.fd,
            dir_name,
            MEMORY_DIR + "/" + name,
            str(write["sha256"]),
            str(write.get("reason", "memory")),
        )
        # At this point the replaced copy is kept; the name must still lead to
        # the very bytes the plan saw.
        dest.recheck(size)
        os.replace(tmp, target)
        fsync_dir(os.path.dirname(target))
        result: MemoryResult = {"ok": True, "bytes": os.path.getsize(target), "backup": backup}
        if dest.added_since():
            backups.refresh(backup, dest.fd)
            result["note"] = "lines another writer added during the swap are in the backup"
        return result
    finally:
        dest.close()
