"""The project's sessions on this machine, each summed up: where it was written,
when its last message was, what the user asked first and last, which files its
tool calls edited, its last todo list and its last assistant text.

Sessions pulled from other machines live in the same project dirs as this
machine's own, so this covers every machine the sync has met. A summary is read
once per version of its file: ``SummaryCache`` keeps them keyed by
``(size, mtime_ns)`` under ``<config>/session-sync/handoff/``, so a hook on a
project with hundreds of sessions reads only what changed.

Which machine a session was last worked on is told from the last ``cwd`` its
lines record (the truth, see claude-code-sessions.md; a session resumed on
another machine goes on there): this machine's project path (or a path
under it) is ``here``; ``/workspaces/<repo>`` is a codespace; any other path is
another machine, named by that path. Two checkouts of one repo on this machine
therefore count as two machines; nothing better is recorded on disk.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from collections.abc import Iterator
from typing import Any

import attrs

from session_sync.agent.live import has_registry, live_session_ids
from session_sync.agent.paths import (
    is_session_id,
)
from session_sync.agent.scan import ACTIVE_WINDOW_SECONDS, matching_project_dirs
from session_sync.agent.transcript import complete_size, tail_timestamps
from session_sync.handoff.cache import SummaryCache
from session_sync.handoff.summary import (
    MACHINE_CODESPACE,
    MACHINE_HERE,
    MACHINE_OTHER,
    FileEdit,
    SessionSummary,
    Todo,
)

__all__ = [
    "EDIT_TOOLS",
    "LINE_LIMIT",
    "MACHINE_CODESPACE",
    "MACHINE_HERE",
    "MACHINE_OTHER",
    "FileEdit",
    "SessionSummary",
    "Todo",
    "machine_of",
    "project_dirs",
    "project_sessions",
    "summarize_transcript",
]

EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})
"""Tool calls that change a file: their ``file_path`` (``notebook_path``) is an edited file."""

LINE_LIMIT = 4 * 1024 * 1024
"""A line longer than this is passed over unread (memory stays bounded)."""

TEXT_LIMIT = 2000
"""Characters kept of a prompt or an assistant text (the renderer cuts further)."""

TODO_LIMIT = 50
EDIT_LIMIT = 200

_CHUNK = 1024 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)

# Text Claude puts into user lines that the user did not type.
_NOT_TYPED = (
    "<local-command-",
    "<command-name>",
    "<command-message>",
    "<system-reminder>",
    "<bash-stdout>",
    "<bash-stderr>",
    "[Request interrupted",
    "Caveat: The messages below",
)


def machine_of(cwd: str | None, project_path: str) -> str:
    """Which machine wrote a session whose lines record ``cwd`` (see the module doc)."""
    if not cwd:
        return MACHINE_OTHER
    here = project_path.rstrip("/")
    if cwd == here or cwd.startswith(here + "/"):
        return MACHINE_HERE
    if cwd.startswith("/workspaces/"):
        return MACHINE_CODESPACE
    return MACHINE_OTHER


def project_dirs(config: str, project_path: str, repo: str | None) -> list[str]:
    """Names of the project dirs under ``<config>/projects`` that hold the project,
    found as the scan finds them (``agent.scan.matching_project_dirs``)."""
    projects = os.path.join(config, "projects")
    try:
        names = sorted(os.listdir(projects))
    except OSError:
        return []
    dirs = [n for n in names if os.path.isdir(os.path.join(projects, n))]
    return [d["name"] for d in matching_project_dirs(projects, dirs, project_path, repo)]


def _text_of(content: Any) -> str | None:
    """What the user typed in a user line's ``content`` (None: a tool result, an image)."""
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = [
            b.get("text")
            for b in content
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        ]
        results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        if not parts or results:
            return None
        text = "\n".join(str(p) for p in parts)
    else:
        return None
    stripped = text.strip()
    if not stripped or stripped.startswith(_NOT_TYPED):
        return None
    return stripped[:TEXT_LIMIT]


def _edited_path(name: str, inp: Any) -> str | None:
    if name not in EDIT_TOOLS or not isinstance(inp, dict):
        return None
    path = inp.get("file_path", inp.get("notebook_path"))
    return path if isinstance(path, str) and path else None


def _todos(inp: Any) -> tuple[Todo, ...] | None:
    if not isinstance(inp, dict) or not isinstance(inp.get("todos"), list):
        return None
    out = []
    for item in inp["todos"][:TODO_LIMIT]:
        if isinstance(item, dict) and isinstance(item.get("content"), str):
            status = item.get("status")
            out.append(
                Todo(item["content"][:TEXT_LIMIT], status if isinstance(status, str) else "")
            )
    return tuple(out)


class _Reader:
    """What one pass over a transcript's lines collects."""

    def __init__(self) -> None:
        self.cwd: str | None = None
        self.first_cwd: str | None = None
        self.first_prompt: str | None = None
        self.last_prompt: str | None = None
        self.last_text: str | None = None
        self.todos: tuple[Todo, ...] | None = None
        self.edits: dict[str, FileEdit] = {}
        self.skipped = 0

    def line(self, raw: bytes) -> None:
        # Only user and assistant lines say anything here: the attachment and
        # api-request-blob lines (most of a real session's bytes) are never parsed.
        if b'"type":"user"' not in raw and b'"type":"assistant"' not in raw:
            if self.cwd is None and b'"cwd"' in raw:
                self._cwd_only(raw)
            return
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            self.skipped += 1
            return
        if not isinstance(obj, dict) or obj.get("isSidechain") is True:
            return
        if isinstance(obj.get("cwd"), str):
            # The last one wins: a session resumed on another machine was last worked on there.
            self.cwd = obj["cwd"]
            self.first_cwd = self.first_cwd or obj["cwd"]
        message = obj.get("message")
        if not isinstance(message, dict):
            return
        kind = obj.get("type")
        if kind == "user" and not obj.get("isMeta") and not obj.get("isCompactSummary"):
            if "toolUseResult" not in obj:
                text = _text_of(message.get("content"))
                if text is not None:
                    self.first_prompt = self.first_prompt or text
                    self.last_prompt = text
        elif kind == "assistant" and isinstance(message.get("content"), list):
            stamp = obj.get("timestamp") if isinstance(obj.get("timestamp"), str) else None
            self._assistant(message["content"], stamp)

    def _cwd_only(self, raw: bytes) -> None:
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            return
        if isinstance(obj, dict) and isinstance(obj.get("cwd"), str):
            self.cwd = obj["cwd"]
            self.first_cwd = self.first_cwd or obj["cwd"]

    def _assistant(self, blocks: list[Any], stamp: str | None) -> None:
        texts = []
        for block in blocks:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif block.get("type") == "tool_use" and isinstance(block.get("name"), str):
                name, inp = block["name"], block.get("input")
                if name == "TodoWrite":
                    todos = _todos(inp)
                    if todos is not None:
                        self.todos = todos
                path = _edited_path(name, inp)
                if path is not None:
                    self._edit(path, name, stamp)
        joined = "\n".join(t for t in texts if t.strip()).strip()
        if joined:
            self.last_text = joined[:TEXT_LIMIT]

    def _edit(self, path: str, tool: str, stamp: str | None) -> None:
        before = self.edits.get(path)
        if before is None:
            if len(self.edits) >= EDIT_LIMIT:
                return
            self.edits[path] = FileEdit(path, (tool,), stamp, stamp, 1)
            return
        tools = before.tools if tool in before.tools else (*before.tools, tool)
        self.edits[path] = attrs.evolve(
            before, tools=tools, last_at=stamp or before.last_at, count=before.count + 1
        )


def _lines(fh: Any, end: int) -> Iterator[bytes]:
    """Complete lines of the first ``end`` bytes, read once in 1 MiB blocks; a line
    over ``LINE_LIMIT`` is dropped (yielded as ``b""``) without being kept."""
    pending = bytearray()
    dropping = False
    left = end
    while left > 0:
        block = fh.read(min(_CHUNK, left))
        if not block:
            break
        left -= len(block)
        start = 0
        while True:
            nl = block.find(b"\n", start)
            if nl < 0:
                if not dropping:
                    pending += block[start:]
                    if len(pending) > LINE_LIMIT:
                        pending.clear()
                        dropping = True
                break
            if dropping:
                dropping = False
                yield b""
            else:
                pending += block[start:nl]
                yield bytes(pending) if len(pending) <= LINE_LIMIT else b""
            pending.clear()
            start = nl + 1


def summarize_transcript(path: str, session_id: str, project_dir: str) -> SessionSummary | None:
    """One transcript summed up (None: not a regular file, or unreadable).

    Reads the file once, front to back, complete lines only; the last message
    time is the latest timestamp scanning back from the end (a real session's
    last lines carry none).
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None
        end = complete_size(fh, st.st_size)
        stamps, _bad = tail_timestamps(fh, end)
        fh.seek(0)
        reader = _Reader()
        for raw in _lines(fh, end):
            if raw:
                reader.line(raw)
            else:
                reader.skipped += 1
    # dateutil only here, on a cache miss: the warm hook never imports it.
    from session_sync.timestamps import latest_timestamp

    last = latest_timestamp(stamps)
    return SessionSummary(
        id=session_id,
        path=path,
        project_dir=project_dir,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        cwd=reader.cwd,
        first_cwd=reader.first_cwd,
        last_message_at=_iso(last),
        last_message_epoch=None if last is None else last.timestamp(),
        first_prompt=reader.first_prompt,
        last_prompt=reader.last_prompt,
        edited=tuple(reader.edits.values()),
        todos=reader.todos,
        last_assistant_text=reader.last_text,
        skipped_lines=reader.skipped,
    )


def _iso(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    utc = when.astimezone(dt.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def project_sessions(
    config: str, project_path: str, repo: str | None, *, cache: SummaryCache | None = None
) -> list[SessionSummary]:
    """Every session of the project on this machine, newest last message first.

    ``machine`` and ``open_here`` are set for this call (not cached): the first
    from the recorded ``cwd`` against ``project_path``, the second from the
    client's live-process registry (without one: written in the last minute).
    """
    cache = cache if cache is not None else SummaryCache(config)
    projects = os.path.join(config, "projects")
    live = set(live_session_ids(config))
    registry = has_registry(config)
    now_ns = dt.datetime.now(dt.timezone.utc).timestamp() * 1e9
    best: dict[str, SessionSummary] = {}
    for name in project_dirs(config, project_path, repo):
        try:
            entries = list(os.scandir(os.path.join(projects, name)))
        except OSError:
            continue
        for entry in sorted(entries, key=lambda e: e.name):
            session_id = entry.name[: -len(".jsonl")]
            if not entry.name.endswith(".jsonl") or not is_session_id(session_id):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue  # a link is never followed
            summary = cache.get(entry.path, st.st_size, st.st_mtime_ns)
            if summary is None:
                summary = summarize_transcript(entry.path, session_id, name)
                if summary is None:
                    continue
                cache.put(summary)
            previous = best.get(session_id)
            # The same session in two dirs: the larger, newer copy speaks for it.
            if previous is None or (previous.size, previous.mtime_ns) < (
                summary.size,
                summary.mtime_ns,
            ):
                best[session_id] = summary
    out = []
    for summary in best.values():
        fresh = (now_ns - summary.mtime_ns) < ACTIVE_WINDOW_SECONDS * 1e9
        out.append(
            attrs.evolve(
                summary,
                machine=machine_of(summary.cwd, project_path),
                open_here=summary.id in live or (fresh and not registry),
            )
        )
    cache.save()
    return sorted(out, key=_newest_first)


def _newest_first(summary: SessionSummary) -> tuple[float, str]:
    when = summary.last_message_epoch
    return (-(when if when is not None else summary.mtime_ns / 1e9), summary.id)
