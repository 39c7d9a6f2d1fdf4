"""What ``session-sync learnings`` reads: this project's sessions on this machine
(every project dir that holds the project, so sessions pulled from codespaces
count), from where the last run stopped.

Only ``<uuid>.jsonl`` files of the project dirs are read, never the ``<uuid>/``
folders beside them (subagent transcripts, tool results). A session open in
Claude is skipped: by the client's registry where it keeps one, else by a write
in the last ``ACTIVE_WINDOW_SECONDS``. Of each line only what was said is kept:
the user's text and the assistant's text; tool calls and results, thinking,
meta lines (``isMeta``), sidechains, ``attachment``/``api-request-blob`` and
every other kind of line are passed over. Read marks are byte offsets of
complete lines, one small JSON file per session file under
``<config>/session-sync/learnings/marks/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import attrs

from session_sync.agent.live import has_registry, live_session_ids
from session_sync.agent.paths import (
    is_session_id,
)
from session_sync.agent.scan import ACTIVE_WINDOW_SECONDS, matching_project_dirs

__all__ = [
    "MESSAGE_CHARS",
    "ReadMark",
    "SessionRead",
    "Turn",
    "marks_dir",
    "project_dirs",
    "read_sessions",
    "save_mark",
]

MESSAGE_CHARS = 8000
"""Characters kept of one message (a pasted log is cut, with a note)."""
_HEAD_BYTES = 4096
_EXTRACTION_HEAD_BYTES = 1 << 20
_OWN_PROMPT_START = "Review this Claude Code session and extract learnings"
"""How our own extraction prompt starts: a session that ran it is not read (an
``--llm`` command that keeps its sessions must not feed on itself)."""


@attrs.frozen
class Turn:
    """One message of a session as it is sent to the LLM."""

    session_id: str
    """The session it belongs to."""
    timestamp: str
    """Its ``timestamp`` field (ISO, UTC), or "" when it had none."""
    role: str
    """``user`` or ``assistant``."""
    text: str
    """What was said (cut at ``MESSAGE_CHARS``)."""

    @property
    def sort_key(self) -> float:
        """Seconds since the epoch (0 for a missing or bad timestamp)."""
        from dateutil.parser import isoparse  # here: 40 ms that --help would pay

        try:
            return isoparse(self.timestamp).timestamp()
        except (ValueError, OverflowError):
            return 0.0


@attrs.frozen
class ReadMark:
    """How far a session file has been read."""

    offset: int
    """Bytes read: the end of the last complete line."""
    check: str
    """sha256 of the first and last up to 4 KiB before ``offset``: a file rewritten
    there (or shrunk) is read anew."""


@attrs.frozen
class SessionRead:
    """What one session file gave this run."""

    path: Path
    """The ``<uuid>.jsonl`` file."""
    mark_key: str
    """``<project dir>/<uuid>``: where its read mark is kept."""
    turns: tuple[Turn, ...]
    """Its new turns, in file order."""
    new_mark: ReadMark
    """The mark to save once the turns have been dealt with."""
    bad_lines: int
    """Complete lines that were not JSON objects (passed over)."""


def marks_dir(config: Path) -> Path:
    """``<config>/session-sync/learnings/marks``."""
    return config / "session-sync" / "learnings" / "marks"


def project_dirs(config: Path, project_path: str, repo: str | None) -> list[str]:
    """Names of the project dirs under ``<config>/projects`` that hold the project, as a
    sync finds them (``agent.scan.matching_project_dirs``); a linked dir is passed over."""
    projects = config / "projects"
    try:
        names = sorted(e.name for e in os.scandir(projects) if e.is_dir(follow_symlinks=False))
    except OSError:
        return []
    return [d["name"] for d in matching_project_dirs(str(projects), names, project_path, repo)]


def _check_of(fd: int, offset: int) -> str:
    digest = hashlib.sha256(str(offset).encode())
    digest.update(os.pread(fd, min(_HEAD_BYTES, offset), 0))
    start = max(0, offset - _HEAD_BYTES)
    digest.update(os.pread(fd, offset - start, start))
    return digest.hexdigest()


def _load_mark(path: Path) -> ReadMark | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mark = ReadMark(int(data["offset"]), str(data["check"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return mark if mark.offset >= 0 else None


def save_mark(config: Path, read: SessionRead) -> None:
    """Keep ``read``'s new mark (atomically)."""
    path = marks_dir(config) / f"{read.mark_key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"offset": read.new_mark.offset, "check": read.new_mark.check, "file": str(read.path)}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _texts(content: object, role: str) -> Iterator[str]:
    if isinstance(content, str):
        yield content
        return
    if not isinstance(content, list):
        return
    for block in content:
        # Only "text" blocks: tool_use, tool_result, thinking, images are not what was said.
        if isinstance(block, dict) and block.get("type") == "text":
            text = block.get("text")
            if isinstance(text, str):
                yield text


_NOT_SAID = ("<local-command-", "<command-name>", "<command-message>", "[Request interrupted")


def turn_of(record: object, session_id: str) -> Turn | None:
    """The turn a transcript line holds, or None when it holds nothing said."""
    if not isinstance(record, dict) or record.get("type") not in ("user", "assistant"):
        return None
    if record.get("isMeta") or record.get("isSidechain") or record.get("isCompactSummary"):
        return None
    message = record.get("message")
    if not isinstance(message, dict):
        return None
    role = str(record["type"])
    text = "\n".join(t.strip() for t in _texts(message.get("content"), role) if t.strip())
    if not text or text.startswith(_NOT_SAID) or text.startswith(_OWN_PROMPT_START):
        return None
    if len(text) > MESSAGE_CHARS:
        text = text[:MESSAGE_CHARS] + f" [... {len(text) - MESSAGE_CHARS} characters cut]"
    stamp = record.get("timestamp")
    return Turn(session_id, stamp if isinstance(stamp, str) else "", role, text)


def _read_one(
    config: Path, dir_name: str, entry: os.DirEntry[str], cutoff: float
) -> SessionRead | None:
    session_id = entry.name[: -len(".jsonl")]
    mark_key = f"{dir_name}/{session_id}"
    mark = _load_mark(marks_dir(config) / f"{mark_key}.json")
    try:
        fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        start = 0
        if (
            mark is not None
            and mark.offset <= st.st_size
            and _check_of(fd, mark.offset) == mark.check
        ):
            start = mark.offset
        elif st.st_mtime < cutoff:
            return None  # never read (or rewritten) and not recent: not this run's
        if _is_extraction_session(fd, st.st_size):
            return SessionRead(Path(entry.path), mark_key, (), ReadMark(0, ""), 0)
        data = b"".join(_chunks(fd, start, st.st_size))
        end = start + data.rfind(b"\n") + 1  # complete lines only
        turns, bad = [], 0
        for line in data[: end - start].split(b"\n"):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                bad += 1
                continue
            turn = turn_of(record, session_id)
            if turn is not None:
                turns.append(turn)
        new_mark = ReadMark(end, _check_of(fd, end))
    finally:
        os.close(fd)
    return SessionRead(Path(entry.path), mark_key, tuple(turns), new_mark, bad)


def _is_extraction_session(fd: int, size: int) -> bool:
    """Whether the session's first user message is our extraction prompt (an ``--llm``
    command that keeps its sessions made it): none of it is read, ever."""
    head = os.pread(fd, min(size, _EXTRACTION_HEAD_BYTES), 0)
    for line in head.split(b"\n")[:-1]:
        if b'"user"' not in line:
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and record.get("type") == "user" and not record.get("isMeta"):
            message = record.get("message")
            content = message.get("content") if isinstance(message, dict) else None
            text = "\n".join(_texts(content, "user")).lstrip()
            if text:
                return text.startswith(_OWN_PROMPT_START)
    return False


def _chunks(fd: int, start: int, end: int) -> Iterator[bytes]:
    at = start
    while at < end:
        chunk = os.pread(fd, min(1 << 20, end - at), at)
        if not chunk:
            return
        yield chunk
        at += len(chunk)


def read_sessions(
    config: Path, dirs: list[str], *, days: float, now: float
) -> tuple[list[SessionRead], list[str]]:
    """The new turns of every session of ``dirs`` not open in Claude, and the ids of
    the open ones that were skipped. A session never read before is read when it was
    written in the last ``days``."""
    registry = has_registry(str(config))
    live = set(live_session_ids(str(config)))
    cutoff = now - days * 86400.0
    reads: list[SessionRead] = []
    skipped: list[str] = []
    for dir_name in dirs:
        try:
            entries = sorted(os.scandir(config / "projects" / dir_name), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            session_id = entry.name[: -len(".jsonl")]
            if not entry.name.endswith(".jsonl") or not is_session_id(session_id):
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            try:
                fresh = now - entry.stat(follow_symlinks=False).st_mtime < ACTIVE_WINDOW_SECONDS
            except OSError:
                continue
            if session_id in live or (fresh and not registry):
                skipped.append(session_id)
                continue
            read = _read_one(config, dir_name, entry, cutoff)
            if read is not None:
                reads.append(read)
    return reads, skipped
