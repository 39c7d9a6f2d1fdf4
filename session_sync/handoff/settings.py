"""``session-sync hooks install | uninstall``: our SessionStart hook in
``<config>/settings.json``.

The entry is ``{"matcher": "startup|clear", "hooks": [{"type": "command",
"command": "<abs>/session-sync hook session-start", "timeout": 10}]}`` under
``hooks.SessionStart``. Ours is told by its command (a ``session-sync``
executable, then ``hook session-start``), so an install is idempotent and
replaces an older one of ours at another path. Every other setting and hook is
kept as it was (JSON keeps key order). A settings.json that is not a JSON object
of the documented shape is refused, never overwritten. The old file is backed
up under ``<config>/session-sync/settings-backups/`` before it is replaced, and
the new one is written atomically after checking the file did not change
meanwhile.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import shutil
import stat
import sys
from typing import Any

import attrs

from session_sync.agent.fsutil import make_private_dirs, write_atomic
from session_sync.errors import SessionSyncError, UsageError

__all__ = [
    "HOOK_MATCHER",
    "HOOK_TIMEOUT",
    "HooksResult",
    "hook_command",
    "install_hook",
    "is_our_command",
    "uninstall_hook",
]

HOOK_MATCHER = "startup|clear"
"""When the hook runs: a new session, or one cleared to start over (not a resume:
that session already has its history)."""

HOOK_TIMEOUT = 10
"""Seconds Claude waits for the hook."""

_SETTINGS_LIMIT = 16 * 1024 * 1024


@attrs.frozen
class HooksResult:
    """What an install or uninstall did."""

    settings: str
    """The settings.json."""
    changed: bool
    """Whether it was (or, in a dry run, would be) rewritten."""
    command: str | None
    """The hook's command (install)."""
    backup: str | None
    """Where the old file was copied first (None: nothing replaced)."""
    dry_run: bool = False
    """Nothing was written."""

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def hook_command(executable: str | None = None) -> str:
    """The hook's command line: the absolute path of this ``session-sync``."""
    exe = executable
    if exe is None:
        argv0 = sys.argv[0] if sys.argv else ""
        if os.path.basename(argv0) == "session-sync" and os.path.isfile(argv0):
            exe = os.path.abspath(argv0)
        else:
            exe = shutil.which("session-sync")
    if not exe:
        raise UsageError("cannot tell where the session-sync command is: put it on PATH")
    return f"{shlex.quote(os.path.abspath(exe))} hook session-start"


def is_our_command(command: object) -> bool:
    """Whether a hook command is a ``session-sync hook session-start`` (any path)."""
    if not isinstance(command, str):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return (
        len(words) >= 3
        and os.path.basename(words[0]) == "session-sync"
        and words[1:3] == ["hook", "session-start"]
    )


def _read(path: str) -> tuple[bytes | None, dict[str, Any]]:
    """(the file's bytes or None when absent, its object); refuses what is malformed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None, {}
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path} is not a regular file: not touched")
    with open(path, "rb") as fh:
        data = fh.read(_SETTINGS_LIMIT + 1)
    if len(data) > _SETTINGS_LIMIT:
        raise UsageError(f"{path} is over {_SETTINGS_LIMIT} bytes: not touched")
    try:
        obj = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UsageError(f"{path} is not valid JSON ({exc}): fix it first; not touched") from None
    if not isinstance(obj, dict):
        raise UsageError(f"{path} is not a JSON object: not touched")
    hooks = obj.get("hooks", {})
    if not isinstance(hooks, dict) or not isinstance(hooks.get("SessionStart", []), list):
        raise UsageError(f"{path}: hooks.SessionStart is not a list of hook groups: not touched")
    for group in hooks.get("SessionStart", []):
        if not isinstance(group, dict) or not isinstance(group.get("hooks", []), list):
            raise UsageError(f"{path}: a SessionStart entry is not a hook group: not touched")
    return data, obj


def _without_ours(groups: list[Any]) -> tuple[list[Any], int]:
    """The groups with our hooks taken out (a group left empty by that goes too)."""
    kept, removed = [], 0
    for group in groups:
        hooks = group.get("hooks", [])
        mine = [h for h in hooks if isinstance(h, dict) and is_our_command(h.get("command"))]
        if not mine:
            kept.append(group)
            continue
        removed += len(mine)
        rest = [h for h in hooks if h not in mine]
        if rest:
            kept.append({**group, "hooks": rest})
    return kept, removed


def _backup(config: str, path: str, data: bytes) -> str:
    folder = os.path.join(config, "session-sync", "settings-backups")
    make_private_dirs(folder)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = os.path.join(folder, f"settings.json.{stamp}")
    write_atomic(target, data, 0o600)
    return target


def _write(config: str, path: str, before: bytes | None, obj: dict[str, Any]) -> str | None:
    """Back up, re-check, then replace atomically; returns the backup's path."""
    mode = 0o600
    if before is not None:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    backup = _backup(config, path, before) if before is not None else None
    try:
        with open(path, "rb") as fh:
            now: bytes | None = fh.read(_SETTINGS_LIMIT + 1)
    except FileNotFoundError:
        now = None
    if now != before:
        raise SessionSyncError(f"{path} changed while it was being edited: run the command again")
    body = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, body.encode("utf-8"), mode)
    return backup


def _settings_path(config: str) -> str:
    return os.path.join(config, "settings.json")


def install_hook(config: str, *, command: str | None = None, dry_run: bool = False) -> HooksResult:
    """Add our SessionStart hook (replacing an older one of ours); idempotent."""
    path = _settings_path(config)
    command = command or hook_command()
    before, obj = _read(path)
    hooks = obj.get("hooks", {})
    groups = list(hooks.get("SessionStart", []))
    wanted = {
        "matcher": HOOK_MATCHER,
        "hooks": [{"type": "command", "command": command, "timeout": HOOK_TIMEOUT}],
    }
    kept, removed = _without_ours(groups)
    if removed == 1 and wanted in groups:
        return HooksResult(path, False, command, None, dry_run)
    new_hooks = {**hooks, "SessionStart": [*kept, wanted]}
    new_obj = {**obj, "hooks": new_hooks}
    if dry_run:
        return HooksResult(path, True, command, None, True)
    make_private_dirs(config)  # a machine where Claude has not run yet
    backup = _write(config, path, before, new_obj)
    return HooksResult(path, True, command, backup)


def uninstall_hook(config: str, *, dry_run: bool = False) -> HooksResult:
    """Take our SessionStart hook out; idempotent."""
    path = _settings_path(config)
    before, obj = _read(path)
    hooks = obj.get("hooks", {})
    kept, removed = _without_ours(list(hooks.get("SessionStart", [])))
    if not removed:
        return HooksResult(path, False, None, None, dry_run)
    new_hooks = dict(hooks)
    if kept:
        new_hooks["SessionStart"] = kept
    else:
        del new_hooks["SessionStart"]
    new_obj = dict(obj)
    if new_hooks:
        new_obj["hooks"] = new_hooks
    else:
        del new_obj["hooks"]
    if dry_run:
        return HooksResult(path, True, None, None, True)
    backup = _write(config, path, before, new_obj)
    return HooksResult(path, True, None, backup)
