"""Putting a backup set's files back: a restore is a copy, or a replace that
backs up the file it replaces, so it can itself be undone.
"""

from __future__ import annotations

import os
from typing import List, Optional

from .apply import apply_file
from .backups import BackupSet, list_backups, open_backup_set
from .fsutil import ConfigLock, current_state, file_chunks
from .live import live_session_ids
from .messages import ApplyOp, BackupEntry, FileResult
from .paths import op_target, session_of_rel
from .protocol import JSON, Refusal
from .restored import record_restored, restored_key
from .transcript import complete_size

__all__ = [
    "restore_backup",
    "restore_request",
]


def restore_request(config: str, request: JSON) -> JSON:
    """The ``restore`` op: ``{"backup_id": SET, "file": REL or None}`` ->
    ``{"restored": [FileResult...]}`` (a set that is not there is a ``Refusal``)."""
    backup_id = request.get("backup_id")
    rel = request.get("file")
    if not isinstance(backup_id, str) or not (rel is None or isinstance(rel, str)):
        raise Refusal("a restore names a backup set (and maybe a file) as strings")
    return {"restored": restore_backup(config, backup_id, rel)}


def restore_backup(config: str, backup_id: str, rel: Optional[str] = None) -> List[FileResult]:
    """Put the files of a backup set back in place.

    The file being restored over is itself backed up first (restoring is a
    replace like any other), so a restore can be undone.
    """
    sets = {b["id"]: b for b in list_backups(config)}
    if backup_id not in sets:
        raise Refusal("no backup set %r" % backup_id)
    backup = sets[backup_id]
    backups = open_backup_set(config, "restore of %s" % backup_id)
    results: List[FileResult] = []
    live = set(live_session_ids(config))
    with ConfigLock(config) as lock:
        for entry in backup.get("entries", []):
            if rel is not None and entry["rel"] != rel and not entry["rel"].startswith(rel + "/"):
                continue
            if lock.error is not None:
                results.append({"rel": entry["rel"], "ok": False, "error": lock.error})
            elif not entry.get("folder") and session_of_rel(entry["rel"]) in live:
                # Never written into a session open in Claude here.
                error = "open in Claude here: not restored (run the restore once it is closed)"
                results.append({"rel": entry["rel"], "ok": False, "error": error})
            else:
                results.append(_restore_entry(config, backup, entry, backups))
    return results


def _restore_entry(config: str, backup: JSON, entry: BackupEntry, backups: BackupSet) -> FileResult:
    """Put one backed-up file back (a copy, or a replace that backs up the current one)."""
    source = os.path.join(backup["path"], entry["dir"], *entry["rel"].split("/"))
    folder = entry.get("folder")
    op: ApplyOp = {
        "action": "copy",
        "dir": folder if folder else entry["dir"],
        "in_folder": bool(folder),
        "rel": entry["rel"],
        "sha256": entry["sha256"],
        "size": entry["size"],
        "mode": entry["mode"],
        "mtime_ns": entry["mtime_ns"],
        "reason": "restore of backup %s" % backup["id"],
    }
    try:
        target = op_target(config, op)
    except Refusal as exc:
        return {"rel": entry["rel"], "ok": False, "error": str(exc)}
    if os.path.lexists(target):
        try:
            size = os.path.getsize(target)
            _, sha, _ = current_state(target, size)
        except OSError as exc:
            return {"rel": entry["rel"], "ok": False, "error": str(exc)}
        if sha == entry["sha256"]:
            _sticks(config, op)
            return {"rel": entry["rel"], "ok": True, "unchanged": True}
        op["action"] = "replace"
        op["expect"] = {"complete_size": size, "file_size": size, "sha256": sha}
    result = apply_file(config, op, file_chunks(source), backups)
    result["rel"] = entry["rel"]
    if result.get("ok"):
        _sticks(config, op)
    return result


def _sticks(config: str, op: ApplyOp) -> None:
    """Remember the restore, so that the next sync does not undo it: by the bytes
    a scan counts (for a transcript, up to its last complete line)."""
    key = restored_key(str(op["dir"]), str(op["rel"]))
    size, sha = int(op["size"]), str(op["sha256"])
    if str(op["rel"]).endswith(".jsonl") and not op.get("in_folder"):
        target = op_target(config, op)
        try:
            with open(target, "rb") as fh:
                size = complete_size(fh, size)
            _, sha, _ = current_state(target, size)
        except OSError:
            return
    record_restored(config, key, size, sha)
