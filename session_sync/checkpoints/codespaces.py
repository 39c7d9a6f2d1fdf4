"""Checkpoints that ride along a codespace's sync: ``codespace-ssh`` takes one
after the session's pull, the hourly job one per running codespace, each on
the connection its sync used (``engine.run_syncs(after=...)``).

A checkpoint that cannot be taken is a warning (said, logged), never a failed
sync: ``checkpoint_after`` catches what taking one raises.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path

from session_sync.agent.checkpoint import DEFAULT_MAX_FILE_SIZE
from session_sync.agent.gitinfo import git_origin_url
from session_sync.checkpoints.remote import fetch_checkpoint, same_repository
from session_sync.checkpoints.report import taken_lines
from session_sync.checkpoints.take import Taken, checkout_top
from session_sync.errors import SessionSyncError
from session_sync.github.gh import Codespace
from session_sync.terminal import printable
from session_sync.transports.connection import AgentConnection

__all__ = ["AfterSync", "checkout_for", "checkpoint_after"]

AfterSync = Callable[[AgentConnection], None]
"""What runs on a sync's connection once its syncs are done."""


def checkout_for(codespace: Codespace, candidates: Iterable[str]) -> Path | None:
    """The first of ``candidates`` that is (in) a checkout here of the codespace's
    repository: its top level; None when none is."""
    for candidate in candidates:
        try:
            top = checkout_top(Path(candidate))
        except SessionSyncError:
            continue
        if same_repository(codespace.repository, git_origin_url(str(top))):
            return top
    return None


def checkpoint_after(
    codespace: Codespace,
    local_top: Path,
    remote_path: str,
    say: Callable[[str], None],
    *,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    now: dt.datetime | None = None,
    taken: list[Taken] | None = None,
) -> AfterSync:
    """A callback for ``run_syncs(after=...)``: checkpoint the codespace's checkout at
    ``remote_path`` into ``local_top``; each line of its report (or the warning)
    goes to ``say``, the result into ``taken`` when given."""

    def after(connection: AgentConnection) -> None:
        try:
            result = fetch_checkpoint(
                connection,
                local_top,
                codespace.name,
                remote_path,
                max_file_size=max_file_size,
                now=now,
            )
        except (SessionSyncError, OSError) as exc:
            # The far side's words may be in it (a path, git's last line): one safe line.
            say(printable(f"warning: no checkpoint of {codespace.name}: {exc}"))
            return
        for line in taken_lines(result):
            say(line)
        if taken is not None:
            taken.append(result)

    return after
