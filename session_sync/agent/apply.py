"""Applying planned file changes from the stream.

Invariants of applying (see ``apply_file``), whatever is killed when:

* a destination name only ever changes by ``os.replace`` (append, replace) or
  ``os.link`` (copy: never over an existing file) of a staged, fsynced and
  sha256-verified temp file, so at every instant it is the old file or the new
  one — for an append, its old bytes plus whole lines;
* right before the swap the destination is checked again against the plan
  (same inode, size, mtime, last bytes); when it changed, nothing is changed;
* bytes another writer adds between that check and the swap land in the old
  inode and are appended after ours (an append) or kept in the backup (a
  replace): never overwritten;
* every replaced file is first copied into a backup set; nothing is ever
  deleted except this agent's own temp files, the empty dirs a refused op made,
  and expired backup sets.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Callable, Iterator, List, Optional, Set

from .append_journal import recover_appends
from .backups import BackupSet, open_backup_set, prune_backups
from .branches import keep_branch
from .faults import fault_point
from .fsutil import (
    ConfigLock,
    drain,
    fsync_dir,
    make_private_dirs,
    refuse_links_below,
    remove_made_dirs,
    remove_stale_temps,
    temp_path,
)
from .hashcache import HashCache
from .landing import CopyGroup, StagedCopy, failure, holds, link_new
from .messages import ApplyOp, ExchangeAnswer, FileResult
from .paths import encode_project_path, op_base, op_target
from .protocol import Refusal
from .restored import forget_restored, restored_key
from .swap import Destination, append_fast, catch_up, open_destination, stage

__all__ = [
    "apply_batch",
    "apply_file",
    "apply_or_stage",
]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


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
    cache: Optional[HashCache] = None,
    paranoid: bool = False,
    swept: Optional[Set[str]] = None,
) -> FileResult:
    """Apply one planned file change from ``chunks`` (see ``apply_or_stage``)."""
    result = apply_or_stage(config, op, chunks, backups, now, cache, paranoid, swept)
    assert result is not None  # without a group, every op is applied here
    return result


def apply_or_stage(
    config: str,
    op: ApplyOp,
    chunks: Iterator[bytes],
    backups: BackupSet,
    now: Optional[float] = None,
    cache: Optional[HashCache] = None,
    paranoid: bool = False,
    swept: Optional[Set[str]] = None,
    group: Optional[CopyGroup] = None,
    index: int = 0,
) -> Optional[FileResult]:
    """Apply one planned file change from ``chunks``; return its result as data.

    ``op``: ``action`` (copy | append | replace), ``dir``, ``rel``, ``sha256``
    (of the whole resulting content), ``size`` (its length), ``mode``,
    ``mtime_ns``, and for append/replace ``expect`` (``complete_size``, ``file_size``,
    ``sha256`` of the destination as scanned). ``chunks`` always gets drained.
    ``cache``: this machine's hash cache; an append whose destination it vouches
    for is written in place without re-reading it, unless ``paranoid``.
    ``swept``: the dirs whose stale temp files this batch has removed already (a
    dir is listed once per batch, not once per file); this one is added.
    ``group``: a copy whose temp file is whole and verified goes into it (as the
    batch's ``index``-th op) instead of being landed here; None is returned and
    ``CopyGroup.land`` gives its result.
    """
    now = time.time() if now is None else now
    tmp = None
    dest: Optional[Destination] = None
    made: List[str] = []
    landed = False
    held: Optional[int] = None
    try:
        target = op_target(config, op)
        refuse_links_below(op_base(config, op), os.path.dirname(target))
        action = op["action"]
        if action not in ("copy", "append", "replace"):
            raise Refusal("unknown action %r" % (action,))
        directory = os.path.dirname(target)
        if op.get("in_folder"):
            parent = os.path.dirname(str(op["dir"]).rstrip("/"))
            if not os.path.isdir(parent):
                # A wrong workspace path must not conjure up a checkout dir.
                raise Refusal("%s does not exist here; nothing written" % parent)
        # At this point we know the target's name is confined to its base dir and
        # no dir between the base and the target is a symbolic link.
        made = make_private_dirs(directory)
        if swept is None or directory not in swept:
            remove_stale_temps(directory, now)
            if swept is not None:
                swept.add(directory)
        expect = op.get("expect")
        hasher = hashlib.sha256()
        incoming = int(op["size"])
        counted = 0
        if action == "copy":
            if os.path.lexists(target):
                if holds(target, int(op["size"]), str(op["sha256"])):
                    drain(chunks)
                    return {"ok": True, "bytes": 0, "backup": None, "unchanged": True}
                raise Refusal("destination appeared since the scan; not overwritten")
        else:
            if not isinstance(expect, dict):
                raise Refusal("missing expected destination state")
            counted, file_size = int(expect["complete_size"]), int(expect["file_size"])
            if action == "append" and counted != file_size:
                raise Refusal("destination ends with an unterminated line; nothing appended")
            dest = open_destination(target, file_size)
            if action == "append":
                incoming -= counted
        if incoming < 0:
            raise Refusal("bad request: the result is shorter than the destination")
        if (
            action == "append"
            and dest is not None
            and not paranoid
            and cache is not None
            and isinstance(op.get("append_sha256"), str)
            and cache.vouches(target, dest.stat, counted, str(expect["sha256"]))  # type: ignore[index]
        ):
            tmp = temp_path(directory)
            appended = append_fast(config, op, dest, tmp, chunks, incoming)
            landed = True
            return appended

        # Stage the result beside the target: for an append, the destination's
        # bytes (read from the inode we hold) and then the incoming ones.
        tmp = temp_path(directory)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            if dest is not None:
                prefix = hashlib.sha256()
                dest.read_into(counted, fh if action == "append" else None, prefix)
                if prefix.hexdigest() != expect["sha256"]:  # type: ignore[index]
                    raise Refusal("destination changed since the scan; run the sync again")
                if action == "append":
                    hasher = prefix.copy()
            staged = stage(chunks, fh, hasher, incoming, config)
            fh.flush()
            if group is not None and action == "copy":
                held = os.dup(fh.fileno())  # fsynced with its group's (``CopyGroup.land``)
            else:
                os.fsync(fh.fileno())
        if hasher.hexdigest() != op["sha256"]:
            raise Refusal("received data does not match its sha256; nothing changed")
        # At this point we know the staged file is the whole result and hashes to
        # what the sender hashed (fsynced, unless its group fsyncs it before its
        # link). Nothing outside it has been touched.

        result: FileResult = {"ok": True, "bytes": staged, "backup": None}
        # Received modes are masked to the permission bits; an append keeps the
        # destination's.
        # Received modes keep only the permission bits, never group or other write,
        # always the owner's read and write; an append keeps the destination's.
        mode = dest.mode if action == "append" and dest else (int(op["mode"]) & 0o755) | 0o600
        mtime_ns = int(op["mtime_ns"])
        if action == "append" and dest:
            # Our lines are not older than theirs: an old time from the far side
            # must not hand this file to Claude's 30-day cleanup.
            mtime_ns = max(mtime_ns, dest.mtime_ns)
        os.chmod(tmp, mode)
        os.utime(tmp, ns=(time.time_ns(), mtime_ns))
        if action == "copy" and group is not None and held is not None:
            group.add(index, StagedCopy(op, tmp, held, target, made, result))
            # The group owns the open file, the temp file and the made dirs now.
            tmp, held, landed = None, None, True
            return None
        if action == "copy":
            fault_point("apply.rechecked", config)
            link_new(tmp, target)
            tmp, landed = None, True
            fsync_dir(directory)
            fault_point("apply.swapped", config)
            return result
        assert dest is not None
        if action == "replace":
            fork_rel = op.get("fork_rel")
            if fork_rel is not None:
                # Checked first too: a fork is not made for a copy that is changing.
                dest.recheck(counted)
                fork_op: ApplyOp = dict(op, rel=str(fork_rel))  # type: ignore[assignment]
                kept_as = keep_branch(
                    dest,
                    counted,
                    str(expect["sha256"]),  # type: ignore[index]
                    op_target(config, fork_op),
                )
                planned = os.path.basename(str(fork_rel))
                if kept_as != planned:
                    result["note"] = "its branch is kept as session %s (%s holds another now)" % (
                        kept_as[: -len(".jsonl")],
                        planned[: -len(".jsonl")],
                    )
            result["backup"] = backups.keep(
                dest.fd,
                _backup_dir_name(op),
                str(op["rel"]),
                str(op["sha256"]),
                str(op.get("reason", "")),
                folder=str(op["dir"]) if op.get("in_folder") else None,
            )
        dest.recheck(counted)
        # At this point we know the name still leads to the inode the plan saw,
        # unchanged. RACE: a writer can still add bytes to it until the rename
        # below; they are moved after ours (append) or into the backup (replace).
        # A kill between the rename and that move loses them with the old inode:
        # a window of microseconds, and only for a writer in a session the
        # registry says is closed.
        fault_point("apply.rechecked", config)
        os.replace(tmp, target)
        tmp, landed = None, True
        fsync_dir(directory)
        fault_point("apply.swapped", config)
        if action == "append":
            # RACE: a writer that keeps the old file open (rather than opening it
            # by name for each write, as Claude does) goes on writing to the old
            # inode after this.
            moved = catch_up(dest, target)
            if moved:
                result["note"] = "kept %d bytes another writer added during the swap" % moved
        elif dest.added_since() and result["backup"]:
            backups.refresh(str(result["backup"]), dest.fd)
            added = "lines another writer added during the swap are in the backup"
            result["note"] = "; ".join(x for x in (result.get("note"), added) if x)
        return result
    except Refusal as exc:
        drain(chunks)
        return {"ok": False, "error": str(exc)}
    except (OSError, KeyError, ValueError, TypeError) as exc:
        drain(chunks)
        if isinstance(exc, OSError):
            return failure(exc)
        return {"ok": False, "error": ("bad request: %s" % exc).strip().rstrip(":")}
    finally:
        if held is not None:
            os.close(held)
        if dest is not None:
            dest.close()
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)
        if not landed:
            # Nothing was written: the dirs made for it go too.
            remove_made_dirs(made)


def apply_batch(
    config: str,
    ops: List[ApplyOp],
    next_file: Callable[[], Iterator[bytes]],
    label: str,
    retention_days: float,
    paranoid: bool = False,
) -> ExchangeAnswer:
    """Apply ``ops`` in order, each from the chunks ``next_file()`` yields, under this
    machine's lock; one failed file does not stop the others (``paranoid``: every
    append re-reads its destination whole, see ``apply_file``). Returns
    ``{"results": [...], "backup_set": path or None, "pruned_backups": [...]}``."""
    results: List[Optional[FileResult]] = []
    backups = open_backup_set(config, label)
    pruned: List[str] = []
    cache = HashCache(config)
    written: List[str] = []
    swept: Set[str] = set()
    group = CopyGroup(config)

    def done(index: int, result: FileResult) -> None:
        op = ops[index]
        if result.get("ok") and not result.get("unchanged"):
            cache.record_written(op_target(config, op), int(op["size"]), str(op["sha256"]))
            written.append(restored_key(str(op["dir"]), str(op["rel"])))
        results[index] = result
        fault_point("apply.done", config)

    def land() -> None:
        for index, result in group.land():
            done(index, result)

    def send_off() -> None:
        for index, result in group.send_off():
            done(index, result)

    # Another sync's lock is waited for (bounded) only when there is something to write.
    with ConfigLock(config, wait=None if ops else 0.0) as lock:
        try:
            if lock.error is None:
                # An in-place append a kill cut short is completed first (its journal).
                recover_appends(config)
            for index, op in enumerate(ops):
                results.append(None)
                if lock.error is not None:
                    drain(next_file())
                    results[index] = {"ok": False, "error": lock.error}
                    continue
                if op.get("action") != "copy":
                    land()  # an append or replace comes after every copy before it
                result = apply_or_stage(
                    config,
                    op,
                    next_file(),
                    backups,
                    cache=cache,
                    paranoid=paranoid,
                    swept=swept,
                    group=group,
                    index=index,
                )
                if result is not None:
                    done(index, result)
                elif group.full():
                    send_off()  # its fsyncs run while the next group streams in
            land()
        except Exception:
            # The stream broke off (cut, out of step): the copies staged and
            # verified before it land, as they would have one by one.
            land()
            raise
        finally:
            group.abandon()  # nothing, unless landing them failed too
        cache.save()
        # A file a sync wrote into is no longer as a restore left it.
        forget_restored(config, written)
        if lock.error is None and backups.root is not None:
            pruned = prune_backups(config, retention_days)
    final = [result for result in results if result is not None]
    assert len(final) == len(ops)  # every staged copy was landed
    return {"results": final, "backup_set": backups.root, "pruned_backups": pruned}
