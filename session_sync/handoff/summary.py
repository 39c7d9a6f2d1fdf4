"""The values a session's summary is made of (frozen; cattrs turns them into JSON)."""

from __future__ import annotations

import attrs

__all__ = [
    "MACHINE_CODESPACE",
    "MACHINE_HERE",
    "MACHINE_OTHER",
    "FileEdit",
    "SessionSummary",
    "Todo",
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
    """The first ``cwd`` its lines record: where it was written."""
    last_message_at: str | None
    """The latest timestamp near its end (UTC, ``...T03:27:26.866Z``)."""
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
    skipped_lines: int = 0
    """Lines passed over: not JSON, or over the line limit."""
    machine: str = ""
    """Where it was written (``here``/``codespace``/``elsewhere``); set per call, not cached."""
    open_here: bool = False
    """A live Claude on this machine has it open; set per call, not cached."""
