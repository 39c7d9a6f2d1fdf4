"""The values a session's summary is made of, and their JSON form in the cache.

Turned into JSON and back by hand, not with cattrs: importing cattrs costs more
than the rest of the session-start hook (see benchmarks/bench_hook.py), and the
cache is our own 0600 file; an entry of the wrong shape is simply read again.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = [
    "MACHINE_CODESPACE",
    "MACHINE_HERE",
    "MACHINE_OTHER",
    "FileEdit",
    "SessionSummary",
    "Todo",
    "summary_from_json",
    "summary_to_json",
]

MACHINE_HERE = "here"
"""Written on this machine: its ``cwd`` is the project's path here."""
MACHINE_CODESPACE = "codespace"
"""Written in a codespace: its ``cwd`` is under ``/workspaces/``."""
MACHINE_OTHER = "elsewhere"
"""Written on another machine (an SSH host, another laptop): another ``cwd``."""


@attrs.frozen
class Todo:
    """One item of a ``TodoWrite`` list."""

    content: str
    """What is to be done."""
    status: str
    """``pending``, ``in_progress`` or ``completed`` (as the client wrote it)."""


@attrs.frozen
class FileEdit:
    """A file that one session's tool calls edited or wrote."""

    path: str
    """The path as the tool call gave it (absolute, on the machine that wrote it)."""
    tools: tuple[str, ...]
    """The tools that touched it (``Edit``, ``Write``...), first use first."""
    first_at: str | None
    """Timestamp of the first such call (as recorded)."""
    last_at: str | None
    """Timestamp of the last such call."""
    count: int
    """How many calls touched it."""


@attrs.frozen
class SessionSummary:
    """One session of the project, as read from its transcript on this machine."""

    id: str
    """The session's uuid."""
    path: str
    """Its ``.jsonl`` file here."""
    project_dir: str
    """The name of the project dir holding it."""
    size: int
    """Bytes of the file when it was read."""
    mtime_ns: int
    """Its mtime then: with ``size``, the cache's key."""
    cwd: str | None
    """The last ``cwd`` its user and assistant lines record: where it was last worked on."""
    last_message_at: str | None
    """The latest timestamp near its end (UTC, ``...T03:27:26.866Z``)."""
    last_message_epoch: float | None
    """The same as seconds since the epoch (sorting without parsing again)."""
    first_prompt: str | None
    """The first text the user typed (not a tool result, not meta)."""
    last_prompt: str | None
    """The last text the user typed."""
    edited: tuple[FileEdit, ...]
    """Files its Edit/Write/MultiEdit/NotebookEdit calls touched, first touched first."""
    todos: tuple[Todo, ...] | None
    """Its last ``TodoWrite`` list (None: it never wrote one)."""
    last_assistant_text: str | None
    """The text of the last assistant message that had any."""
    first_cwd: str | None = None
    """The first ``cwd`` its lines record: where it was started."""
    skipped_lines: int = 0
    """Lines passed over: not JSON, or over the line limit."""
    machine: str = ""
    """Where it was written (``here``/``codespace``/``elsewhere``); set per call, not cached."""
    open_here: bool = False
    """A live Claude on this machine has it open; set per call, not cached."""


_PER_CALL = ("machine", "open_here")


def summary_to_json(summary: SessionSummary) -> dict[str, Any]:
    """The cache's form of a summary (its per-call fields left out)."""
    raw = attrs.asdict(summary)
    for name in _PER_CALL:
        raw.pop(name)
    return raw


def _text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError("not text")
    return value


def summary_from_json(raw: Any) -> SessionSummary:
    """A summary from the cache's form; ``TypeError``/``KeyError``/``ValueError``
    when it is not of that shape."""
    if not isinstance(raw, dict) or set(raw) != _STORED:
        raise ValueError("not a cached summary")
    edited = tuple(
        FileEdit(
            str(e["path"]),
            tuple(str(t) for t in e["tools"]),
            _text(e["first_at"]),
            _text(e["last_at"]),
            int(e["count"]),
        )
        for e in raw["edited"]
    )
    todos = raw["todos"]
    epoch = raw["last_message_epoch"]
    return SessionSummary(
        id=str(raw["id"]),
        path=str(raw["path"]),
        project_dir=str(raw["project_dir"]),
        size=int(raw["size"]),
        mtime_ns=int(raw["mtime_ns"]),
        cwd=_text(raw["cwd"]),
        first_cwd=_text(raw["first_cwd"]),
        last_message_at=_text(raw["last_message_at"]),
        last_message_epoch=None if epoch is None else float(epoch),
        first_prompt=_text(raw["first_prompt"]),
        last_prompt=_text(raw["last_prompt"]),
        edited=edited,
        todos=None
        if todos is None
        else tuple(Todo(str(t["content"]), str(t["status"])) for t in todos),
        last_assistant_text=_text(raw["last_assistant_text"]),
        skipped_lines=int(raw["skipped_lines"]),
    )


_STORED = frozenset(f.name for f in attrs.fields(SessionSummary)) - set(_PER_CALL)
