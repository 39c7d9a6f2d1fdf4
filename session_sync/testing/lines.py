"""Line bookkeeping for the tests that prove no transcript line is ever lost.

A transcript is a sequence of newline-terminated lines; a sync may add whole
lines, swap in the other side's copy, or keep a losing branch somewhere. These
helpers collect every complete line a machine still has, and judge one file's
state after an interrupted sync against what both sides had before it.

A diverged session's losing branch is kept as a forked session of its own
under ``projects/``, so only transcripts count as "still there", never backups.
Also here: what those tests share about a session's times and the apply lock.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from session_sync.agent.paths import TEMP_PREFIX
from session_sync.testing.sessions import SessionSpec

__all__ = [
    "all_lines",
    "apply_lock_free",
    "complete_lines",
    "judge_file",
    "last_time",
    "project_files",
    "temp_names",
    "transcripts",
]


def complete_lines(data: bytes) -> list[bytes]:
    """The newline-terminated lines of ``data`` (without their ``\\n``); a cut tail is left out."""
    parts = data.split(b"\n")
    return parts[:-1]


def _files_under(root: Path, suffix: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if not root.is_dir():
        return out
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            if name.startswith(TEMP_PREFIX) or not name.endswith(suffix):
                continue
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def transcripts(config: Path) -> dict[str, bytes]:
    """``{path under projects/: bytes}`` of every ``.jsonl`` (temp files left out)."""
    return _files_under(config / "projects", ".jsonl")


def project_files(project_dir: Path) -> dict[str, bytes]:
    """``{path under the project dir: bytes}`` of every file, temp files left out."""
    return _files_under(project_dir, "")


def temp_names(root: Path) -> list[str]:
    """Paths under ``root`` of files whose name starts like session-sync's temp files."""
    if not root.is_dir():
        return []
    return sorted(
        (Path(d) / n).relative_to(root).as_posix()
        for d, _, names in os.walk(root)
        for n in names
        if n.startswith(TEMP_PREFIX)
    )


def all_lines(config: Path) -> set[bytes]:
    """Every complete line of every transcript under ``config/projects``."""
    return {line for data in transcripts(config).values() for line in complete_lines(data)}


def last_time(spec: SessionSpec) -> dt.datetime:
    """The latest ``timestamp`` of ``spec``'s lines (computed here, not by the product)."""
    stamps = [json.loads(line).get("timestamp") for line in spec.lines]
    return max(
        dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in stamps if isinstance(t, str)
    )


def apply_lock_free(config: Path) -> bool:
    """Whether no process holds ``config``'s apply lock (a killed sync's far agent
    may still be finishing)."""
    try:
        fd = os.open(config / "session-sync" / "lock", os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    finally:
        os.close(fd)
    return True


def judge_file(
    rel: str,
    after: bytes,
    before_here: Mapping[str, bytes],
    before_there: Mapping[str, bytes],
) -> str | None:
    """Why ``after`` (the file at ``rel`` after an interrupted sync) is not allowed; None if it is.

    Allowed: the old bytes; the other side's bytes; for a ``.jsonl``, the old
    bytes plus whole lines of the other side's copy; for a file that did not
    exist here, a byte copy of a transcript either side had (a copy, or a
    losing branch kept as a fork).
    """
    old = before_here.get(rel)
    new = before_there.get(rel)
    if after in (old, new):
        return None
    if old is not None:
        if rel.endswith(".jsonl") and after.startswith(old) and after.endswith(b"\n"):
            if new is not None and new.startswith(after):
                return None
            return f"{rel}: old + {len(after) - len(old)} B that are not the other side's lines"
        return (
            f"{rel}: {len(after)} B, neither old ({len(old)} B) nor new "
            f"({'absent' if new is None else f'{len(new)} B'}) nor old + whole lines"
            + (" (ends inside a line)" if after.startswith(old) else "")
        )
    if rel.endswith(".jsonl") and any(
        after == data for data in _values(before_here, before_there) if data
    ):
        return None
    return f"{rel}: a new file of {len(after)} B that is no copy of what either side had"


def _values(*maps: Mapping[str, bytes]) -> Iterable[bytes]:
    for mapping in maps:
        yield from mapping.values()
