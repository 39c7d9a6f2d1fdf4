"""``session-sync hook session-start``: the handoff for a session that starts.

Claude Code runs it with the hook input on stdin (``{"session_id", "cwd",
"source", ...}``) and puts what it prints into the new session's first message.
It prints the compact handoff of the project at ``cwd``, unless it printed the
same (by combined hash) last time for that project on this machine. It must
never break a session: on any error it prints nothing to stdout, one line to
stderr, and exits 0. No network; imports kept light (no paramiko, no rich).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any, BinaryIO, TextIO

import attrs

from session_sync.agent.gitinfo import git_origin_url
from session_sync.agent.paths import claude_config_dir, normalize_github_repo
from session_sync.handoff.render import DEFAULT_BUDGET
from session_sync.terminal import printable

__all__ = ["INPUT_LIMIT", "HookInput", "read_hook_input", "run_session_start"]

INPUT_LIMIT = 1024 * 1024
"""Bytes of hook input read; more is not Claude's."""

PROG = "session-sync hook session-start"


@attrs.frozen
class HookInput:
    """What the hook needs of Claude's input."""

    cwd: str
    """The session's working directory (absolute)."""
    session_id: str | None
    """The session starting (left out of the handoff)."""
    source: str | None
    """``startup``, ``resume``, ``clear`` or ``compact``."""


def read_hook_input(stream: BinaryIO) -> HookInput:
    """Parse the hook's stdin; ``ValueError`` saying what is wrong with it."""
    data = stream.read(INPUT_LIMIT + 1)
    if len(data) > INPUT_LIMIT:
        raise ValueError(f"the hook input is over {INPUT_LIMIT} bytes")
    try:
        obj: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("the hook input is not JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("the hook input is not a JSON object")
    cwd = obj.get("cwd")
    if not isinstance(cwd, str) or not os.path.isabs(cwd):
        raise ValueError("the hook input has no absolute cwd")
    session_id = obj.get("session_id")
    source = obj.get("source")
    return HookInput(
        cwd,
        session_id if isinstance(session_id, str) else None,
        source if isinstance(source, str) else None,
    )


def _project_of(cwd: str) -> tuple[str, str | None]:
    from session_sync.projects import git_toplevel

    top = git_toplevel(cwd) or os.path.realpath(cwd)
    origin = git_origin_url(top)
    return top, normalize_github_repo(origin) or origin


def session_start(stdin: BinaryIO, stdout: TextIO, config: str | None = None) -> None:
    """Print the handoff for the session described on ``stdin`` (or nothing)."""
    from session_sync.handoff.service import build

    hook = read_hook_input(stdin)
    config = config or claude_config_dir()
    project, repo = _project_of(hook.cwd)
    exclude = [hook.session_id] if hook.session_id else []
    built = build(
        config, project, repo, budget=DEFAULT_BUDGET, save=False, source="hook", exclude=exclude
    )
    if not built.handoff.delta.sessions:
        return  # no work to hand over: the prefix alone says nothing the session cannot see
    store = built.store
    printed = store.last_printed() == built.handoff.combined_hash
    text = "" if printed else built.text
    metrics = store.metrics_for(
        built.handoff, store.saved_hashes(), "hook", len(text.encode("utf-8"))
    )
    store.save(built.handoff)
    store.append_metrics(metrics)
    if printed:
        return
    # Recorded before it is printed: a failure to record prints nothing at all.
    store.record_printed(built.handoff.combined_hash)
    # UTF-8 bytes whatever the locale: Claude reads them so, and an encoding error
    # here (after the hash was recorded) would silence the handoff for good.
    raw: BinaryIO | None = getattr(stdout, "buffer", None)
    if raw is None:
        stdout.write(text)
        stdout.flush()
        return
    stdout.flush()
    raw.write(text.encode("utf-8"))
    raw.flush()


def run_session_start(config: str | None = None) -> int:
    """The hook's whole run; always 0 (an error is one stderr line, stdout stays empty)."""
    try:
        session_start(sys.stdin.buffer, sys.stdout, config)
    except BaseException as exc:
        if isinstance(exc, SystemExit) and exc.code in (None, 0):
            return 0
        message = " ".join(str(exc).split()) or type(exc).__name__
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"{PROG}: {printable(message[:300])}\n")
    return 0
