"""The prompt history, ``<config>/history.jsonl``: one JSON line per prompt typed
(``display``, ``pastedContents``, ``timestamp`` in ms, ``project``, ``sessionId``),
global to all projects; the client recalls a project's lines from the end.

The scan sends this project's lines (bounded); the exchange appends the other
machine's by the append's rules: the whole file staged beside it, re-checked
right before the swap, swapped atomically, and bytes another writer (Claude)
added in between moved after ours. Other projects' lines are never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from typing import Dict, Iterable, List, Optional, Set, Tuple

from .faults import fault_point
from .fsutil import fsync_dir, read_range, temp_path
from .memory import link_new
from .messages import HistoryEntry, HistoryResult, HistoryScan
from .protocol import Refusal
from .shared import remembered, shared

__all__ = [
    "HISTORY_FILE",
    "MAX_HISTORY_BYTES",
    "MAX_HISTORY_ENTRIES",
    "append_history",
    "history_key",
    "scan_history",
]

HISTORY_FILE = "history.jsonl"

MAX_HISTORY_ENTRIES = 2000
"""A project's newest lines sent in one scan, at most."""

MAX_HISTORY_BYTES = 1024 * 1024
"""Bytes of a project's lines sent in one scan, at most (the newest first)."""

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def history_key(entry: Dict[str, object]) -> Tuple[object, object]:
    """What makes two lines the same prompt: its time and its text."""
    return entry.get("timestamp"), entry.get("display")


def _needles(projects: Set[str]) -> List[bytes]:
    """Byte strings one of which a line of those projects holds (as JSON writes it)."""
    out = []
    for project in projects:
        for ascii_only in (False, True):
            out.append(json.dumps(project, ensure_ascii=ascii_only)[1:-1].encode("utf-8"))
    return out


def _project_lines(data: bytes, projects: Set[str]) -> List[Tuple[int, Dict[str, object]]]:
    """(length, entry) of each complete line whose ``project`` is one of ``projects``."""
    needles = _needles(projects)
    # The last piece is an unterminated line or b""; another project's line is not parsed.
    raws = (raw for raw in data.split(b"\n")[:-1] if any(n in raw for n in needles))
    return _parsed(raws, projects)


def _parsed(raws: Iterable[bytes], projects: Set[str]) -> List[Tuple[int, Dict[str, object]]]:
    """(length, entry) of each line of ``raws`` that is an entry of one of ``projects``."""
    out = []
    for raw in raws:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("project") in projects:
            out.append((len(raw) + 1, entry))
    return out


_PROJECT_KEY = re.compile(rb'"project"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _lines_of(path: str, projects: Set[str]) -> List[Tuple[int, Dict[str, object]]]:
    """``_project_lines`` of the history file at ``path``; while ``shared_listings``
    holds, the file is read and its lines indexed by project once for all scans."""
    if not shared():
        data = _read(path)
        return [] if data is None else _project_lines(data, projects)
    by_project = remembered("history", path, lambda: _index(_read(path) or b""))
    # In file order, each line once (a line may name two of the projects).
    lines = sorted(set(line for p in projects for line in by_project.get(p, [])))
    return _parsed((raw for _, raw in lines), projects)


def _index(data: bytes) -> Dict[str, List[Tuple[int, bytes]]]:
    """Each complete line (with its number) under every project it names: its
    ``"project": "..."`` pairs, found without parsing it (the parse checks later)."""
    index: Dict[str, List[Tuple[int, bytes]]] = {}
    for number, raw in enumerate(data.split(b"\n")[:-1]):
        for found in _PROJECT_KEY.finditer(raw):
            try:
                project = json.loads(b'"' + found.group(1) + b'"')
            except ValueError:
                continue
            if isinstance(project, str):
                index.setdefault(project, []).append((number, raw))
    return index


def _read(path: str) -> Optional[bytes]:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return b"".join(read_range(fd, 0))
    finally:
        os.close(fd)


def _stamp(item: Tuple[int, Dict[str, object]]) -> int:
    stamp = item[1].get("timestamp")
    return stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else 0


def scan_history(config: str, project_paths: List[str]) -> HistoryScan:
    """This project's lines (``project`` one of ``project_paths``), oldest first:
    the newest by time, ``MAX_HISTORY_ENTRIES`` within ``MAX_HISTORY_BYTES`` (by
    time, not file order, so two machines with the same prompts send the same)."""
    lines = sorted(_lines_of(os.path.join(config, HISTORY_FILE), set(project_paths)), key=_stamp)
    kept: List[HistoryEntry] = []
    total = 0
    for length, entry in reversed(lines):
        if len(kept) >= MAX_HISTORY_ENTRIES or total + length > MAX_HISTORY_BYTES:
            break
        total += length
        kept.append(entry)  # type: ignore[arg-type]
    kept.reverse()
    return {"entries": kept, "truncated": len(kept) < len(lines)}


def append_history(config: str, project: str, entries: List[HistoryEntry]) -> HistoryResult:
    """Append ``entries`` as lines of ``project`` (this machine's path), in
    timestamp order, leaving out those already there; the caller holds the lock."""
    path = os.path.join(config, HISTORY_FILE)
    try:
        return _append(config, path, project, entries)
    except Refusal as exc:
        return {"ok": False, "added": 0, "error": str(exc)}
    except (OSError, ValueError, TypeError) as exc:
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return {"ok": False, "added": 0, "error": "%s: %s" % (type(exc).__name__, text)}


def _line(entry: HistoryEntry, project: str) -> bytes:
    out: Dict[str, object] = {
        "display": str(entry["display"]),
        "pastedContents": entry.get("pastedContents") or {},
        "timestamp": int(entry["timestamp"]),
        "project": project,
    }
    if isinstance(entry.get("sessionId"), str):
        out["sessionId"] = entry["sessionId"]
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _append(config: str, path: str, project: str, entries: List[HistoryEntry]) -> HistoryResult:
    # Imported when a write comes: a scan needs none of the writing half.
    from .swap import catch_up, open_destination

    directory = os.path.dirname(path)
    exists = os.path.lexists(path)
    size = os.lstat(path).st_size if exists else 0
    dest = open_destination(path, size) if exists else None
    tmp = temp_path(directory)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            digest = hashlib.sha256()
            if dest is not None:
                dest.read_into(size, fh, digest)
                fh.flush()
                if size and os.pread(dest.fd, 1, size - 1) != b"\n":
                    raise Refusal("history.jsonl ends with an unterminated line; nothing appended")
            existing = _read(tmp) or b""
            seen = {history_key(e) for _, e in _project_lines(existing, {project})}
            new = []
            for entry in sorted(entries, key=lambda e: int(e["timestamp"])):
                key = history_key(entry)  # type: ignore[arg-type]
                if key not in seen:
                    seen.add(key)
                    new.append(_line(entry, project))
            if not new:
                return {"ok": True, "added": 0}
            fh.write(b"".join(new))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        if dest is None:
            fault_point("apply.rechecked", config)
            # Linked in, never over a history Claude started meanwhile.
            try:
                link_new(tmp, path)
            except Refusal:
                raise Refusal("history.jsonl appeared meanwhile; nothing appended") from None
        else:
            dest.recheck(size)
            fault_point("apply.rechecked", config)
            os.replace(tmp, path)
        fsync_dir(directory)
        fault_point("apply.swapped", config)
        result: HistoryResult = {"ok": True, "added": len(new)}
        if dest is not None:
            moved = catch_up(dest, path)
            if moved:
                result["note"] = "kept %d bytes another writer added during the swap" % moved
        return result
    finally:
        if dest is not None:
            dest.close()
        if os.path.lexists(tmp):
            os.unlink(tmp)
