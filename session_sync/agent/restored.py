"""Files put back by ``backups restore``, remembered so that the next sync does
not undo the restore (``<config>/session-sync/restored.json``).

A file counts as restored while its counted bytes are exactly the restored
ones; the scan says so (``FileFacts.restored``) and the restored copy wins a
divergence. Once Claude adds to it, it is an ordinary file again; once a sync
writes into it, its record goes.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Iterable, List, Tuple

from .fsutil import write_atomic
from .messages import FileFacts

__all__ = [
    "RestoredRecords",
    "forget_restored",
    "load_restored",
    "mark_restored",
    "record_restored",
    "restored_key",
]

_MAX_RECORD_BYTES = 1 << 20


def restored_key(directory: str, rel: str) -> str:
    """How a file is named in the record: its project dir (or folder) and path."""
    return "%s/%s" % (directory, rel)


def _path(config: str) -> str:
    return os.path.join(config, "session-sync", "restored.json")


RestoredRecords = Dict[str, Tuple[int, str]]
"""``{restored_key: (counted size, sha256)}`` of the files restored here."""


def load_restored(config: str) -> RestoredRecords:
    """This machine's record of restored files (empty when there is none)."""
    try:
        with open(_path(config), "rb") as fh:
            raw = json.loads(fh.read(_MAX_RECORD_BYTES).decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return {}
    out: RestoredRecords = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            if isinstance(value, dict):
                size, sha = value.get("size"), value.get("sha256")
                if isinstance(size, int) and isinstance(sha, str):
                    out[str(key)] = (size, sha)
    return out


def _save(config: str, records: RestoredRecords) -> None:
    data = {key: {"size": size, "sha256": sha} for key, (size, sha) in sorted(records.items())}
    write_atomic(_path(config), json.dumps(data, indent=1).encode(), 0o600)


def record_restored(config: str, key: str, size: int, sha256: str) -> None:
    """Remember that the file ``key`` was restored with these bytes."""
    records = load_restored(config)
    records[key] = (size, sha256)
    _save(config, records)


def forget_restored(config: str, keys: Iterable[str]) -> None:
    """A sync wrote into these files: they are no longer as restored."""
    records = load_restored(config)
    gone = [key for key in keys if key in records]
    if gone:
        for key in gone:
            del records[key]
        _save(config, records)


def mark_restored(records: RestoredRecords, directory: str, files: List[FileFacts]) -> None:
    """Set ``restored`` on the scanned files of ``directory`` that are exactly as
    ``records`` (``load_restored``, read once per scan) says they were restored."""
    if not records:
        return
    for facts in files:
        record = records.get(restored_key(directory, str(facts.get("rel"))))
        if record is not None and "error" not in facts:
            size, sha = record
            if facts.get("complete_size") == size and facts.get("sha256") == sha:
                facts["restored"] = True
