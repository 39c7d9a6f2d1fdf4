"""Applying planned file changes from the stream.

Invariants of applying (see ``apply_file``): a destination file is only ever
changed by ``os.replace`` of a staged, fsynced and sha256-verified temp file,
or by appending bytes whose resulting hash was verified before the first byte
was written; every replaced file is first copied into a backup set; nothing is
ever deleted except this agent's own temp files and expired backup sets.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from typing import Callable, Iterator, List, Optional

from .backups import BackupSet, open_backup_set, prune_backups
from .fsutil import (
    ConfigLock,
    current_state,
    drain,
    fsync_dir,
    make_private_dirs,
    refuse_links_below,
    remove_stale_temps,
    temp_path,
)
from .hashcache import HashCache
from .messages import ApplyOp, ExchangeAnswer, FileResult
from .paths import encode_project_path, op_base, op_target
from .protocol import CHUNK_SIZE, Refusal

__all__ = [
    "apply_batch",
    "apply_file",
]


def _backup_dir_name(op: ApplyOp) -> str:
    """The dir of an op's backups inside a backup set (one path component)."""
    if op.get("in_folder"):
        return "folder" + encode_project_path(str(op["dir"]), resolve=False)
    return str(op["dir"])


def apply_file(
    config: str,
    op: ApplyOp,
    chunks: Iterator[bytes],
    backups: BackupSet,
    now: Optional[float] = None,
) -> FileResult:
    """Apply one planned file change from ``chunks``; return its result as data.

    ``op``: ``action`` (copy | append | replace), ``dir``, ``rel``, ``sha256``
    (of the whole resulting content), ``size`` (its length), ``mode``,
    ``mtime_ns``, and for append/replace ``expect`` (``complete_size``, ``file_size``,
    ``sha256`` of the destination as scanned). ``chunks`` always gets drained.
    """
    now = time.time() if now is None else now
    tmp = None
    try:
        target = op_target(config, op)
        refuse_links_below(op_base(config, op), os.path.dirname(target))
        action = op["action"]
        directory = os.path.dirname(target)
        if op.get("in_folder"):
            parent = os.path.dirname(str(op["dir"]).rstrip("/"))
            if not os.path.isdir(parent):
                # A wrong workspace path must not conjure up a checkout dir.
                raise Refusal("%s does not exist here; nothing written" % parent)
        # At this point we know the target's name is confined to its base dir and
        # no dir between the base and the target is a symbolic link.
        make_private_dirs(directory)
        remove_stale_temps(directory, now)
        expect = op.get("expect")
        hasher = hashlib.sha256()
        if action == "copy":
            if os.path.lexists(target):
                raise Refusal("destination appeared since the scan; not overwritten")
        else:
            if not isinstance(expect, dict):
                raise Refusal("missing expected destination state")
            try:
                st = os.lstat(target)
            except OSError:
                raise Refusal("destination vanished since the scan") from None
            if not stat.S_ISREG(st.st_mode):
                raise Refusal("destination is not a regular file")
            if not st.st_mode & stat.S_IWUSR:
                raise Refusal(
                    "destination is read-only (mode %o); left as it is" % stat.S_IMODE(st.st_mode)
                )
            size, sha, prefix_hasher = current_state(target, int(expect["complete_size"]))
            if size != int(expect["file_size"]) or sha != expect["sha256"]:
                raise Refusal("destination changed since the scan; run the sync again")
            if action == "append":
                # The result must hash to op["sha256"]: our bytes, then theirs.
                hasher = prefix_hasher
            # At this point we know the destination is a writable regular file
            # whose size and bytes are exactly what the plan was made from.
            # RACE: nothing stops another writer (Claude takes no lock) between
            # this check and the write below; the window spans the whole transfer.

        # Stage the incoming bytes beside the target.
        tmp = temp_path(directory)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        staged = 0
        with os.fdopen(fd, "wb") as fh:
            try:
                for chunk in chunks:
                    fh.write(chunk)
                    hasher.update(chunk)
                    staged += len(chunk)
            except Refusal as exc:
                raise Refusal("transfer failed: %s" % exc) from None
            fh.flush()
            os.fsync(fh.fileno())
        if hasher.hexdigest() != op["sha256"]:
            raise Refusal("received data does not match its sha256; nothing changed")
        # At this point we know the staged bytes are complete and fsynced, and the
        # result they make (alone, or after the destination's bytes) is the one
        # the sender hashed. Nothing outside our temp file has been touched yet.

        result: FileResult = {"ok": True, "bytes": staged, "backup": None}
        mtime_ns = int(op["mtime_ns"])
        mode = int(op["mode"]) & 0o7777
        if action == "append":
            old_size = int(expect["file_size"])  # type: ignore[index]
            with open(target, "r+b") as out, open(tmp, "rb") as src:
                if os.fstat(out.fileno()).st_size != old_size:
                    raise Refusal("destination changed during the sync; nothing appended")
                # RACE: the size is re-checked, the bytes are not, and the file is
                # written at explicit offsets (no O_APPEND): a line another writer
                # adds from here on is overwritten, and a kill mid-write leaves
                # whole chunks of a line. The hash check below covers only
                # old + staged bytes.
                out.seek(old_size)
                try:
                    while True:
                        chunk = src.read(CHUNK_SIZE)
                        if not chunk:
                            break
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                except OSError:
                    out.truncate(old_size)
                    out.flush()
                    os.fsync(out.fileno())
                    raise
            _, final_sha, _ = current_state(target, old_size + staged)
            if final_sha != op["sha256"]:
                with open(target, "r+b") as out:
                    out.truncate(old_size)
                    os.fsync(out.fileno())
                raise Refusal("appended file failed its hash check; rolled back")
            os.utime(target, ns=(time.time_ns(), mtime_ns))
            os.unlink(tmp)
            tmp = None
        else:
            os.chmod(tmp, mode)
            os.utime(tmp, ns=(time.time_ns(), mtime_ns))
            if action == "replace":
                # RACE: the destination was compared with the scan before the data
                # streamed, not again here: bytes added before the copy below
                # survive only in this backup, and bytes added between the copy
                # and the rename are lost.
                result["backup"] = backups.keep(
                    target,
                    _backup_dir_name(op),
                    str(op["rel"]),
                    str(op["sha256"]),
                    str(op.get("reason", "")),
                    folder=str(op["dir"]) if op.get("in_folder") else None,
                )
            elif os.path.lexists(target):
                # RACE: a file created between this check and the rename is replaced.
                raise Refusal("destination appeared since the scan; not overwritten")
            os.replace(tmp, target)
            tmp = None
            fsync_dir(directory)
        return result
    except Refusal as exc:
        drain(chunks)
        return {"ok": False, "error": str(exc)}
    except (OSError, KeyError, ValueError, TypeError) as exc:
        drain(chunks)
        if isinstance(exc, OSError):
            if exc.errno == errno.ENOSPC:
                message = "disk full on the destination"
            else:
                message = "%s: %s" % (exc.strerror or type(exc).__name__, exc.filename or "")
        else:
            message = "bad request: %s" % exc
        return {"ok": False, "error": message.strip().rstrip(":")}
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def apply_batch(
    config: str,
    ops: List[ApplyOp],
    next_file: Callable[[], Iterator[bytes]],
    label: str,
    retention_days: float,
) -> ExchangeAnswer:
    """Apply ``ops`` in order, each from the chunks ``next_file()`` yields, under this
    machine's lock; one failed file does not stop the others. Returns
    ``{"results": [...], "backup_set": path or None, "pruned_backups": [...]}``."""
    results: List[FileResult] = []
    backups = open_backup_set(config, label)
    pruned: List[str] = []
    cache = HashCache(config)
    # Another sync's lock is waited for (bounded) only when there is something to write.
    with ConfigLock(config, wait=None if ops else 0.0) as lock:
        for op in ops:
            if lock.error is not None:
                drain(next_file())
                results.append({"ok": False, "error": lock.error})
                continue
            result = apply_file(config, op, next_file(), backups)
            if result.get("ok"):
                cache.record_written(op_target(config, op), int(op["size"]), str(op["sha256"]))
            results.append(result)
        cache.save()
        if lock.error is None and backups.root is not None:
            pruned = prune_backups(config, retention_days)
    return {"results": results, "backup_set": backups.root, "pruned_backups": pruned}
