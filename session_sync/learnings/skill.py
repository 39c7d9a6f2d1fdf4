"""The ``/context-sync`` skill: ``<config>/skills/context-sync/SKILL.md``.

Claude Code lists a skill to the model by its front matter's ``name`` and
``description``; the body tells Claude to run ``session-sync learnings``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import attrs

__all__ = ["SKILL_MD", "SKILL_NAME", "SkillInstall", "install_skill", "skill_path"]

SKILL_NAME = "context-sync"

_DESCRIPTION = (
    "Save what this project's recent Claude Code sessions (on every machine) learned into"
    " .claude/learnings.md, then commit and push it. Use when the user asks to sync context,"
    " save or extract learnings, or runs /context-sync (--dry-run to only show them)."
)

SKILL_MD = f"""---
name: {SKILL_NAME}
description: {_DESCRIPTION}
---

# /context-sync

Extract the learnings of this project's recent sessions and commit them to the
repository, so that future sessions on every machine start with them.

1. Run, in the project's git checkout:

   ```
   session-sync learnings
   ```

   When the user asks for a dry run (`/context-sync --dry-run`, "just show me",
   "don't commit"), run `session-sync learnings --dry-run` instead: it shows the
   learnings and changes nothing.
   Pass on other options the user gives: `--days N` (how far back a first run
   reads), `--no-push` (commit, don't push), `--machine NAME`.

2. Show the user what it printed: the learnings added (or "No new learnings.")
   and the commit.

3. If it stops because the answer looks like it holds a secret, show the masked
   lines and do not put the secret into any file yourself; follow what the message
   says. If the push failed, the commit is kept: tell the user to push later.

Never edit `.claude/learnings.md` by hand for this skill; `session-sync
learnings` writes it and `.claude/CLAUDE.md` points future sessions at it.
"""


@attrs.frozen
class SkillInstall:
    """What ``install_skill`` did."""

    path: Path
    """The skill file."""
    changed: bool
    """Whether it was (or, in a dry run, would be) written."""
    backup: Path | None
    """Where a different earlier copy was kept (None: there was none)."""


def skill_path(config: Path) -> Path:
    """``<config>/skills/context-sync/SKILL.md``."""
    return config / "skills" / SKILL_NAME / "SKILL.md"


def install_skill(config: Path, *, dry_run: bool = False) -> SkillInstall:
    """Write the skill file unless it already holds exactly this text. A different
    copy (an older version, an edit) is first kept beside it as
    ``SKILL.md.<time>.bak``. Atomic: a temp file, fsync, rename."""
    path = skill_path(config)
    wanted = SKILL_MD.encode("utf-8")
    if path.is_symlink():
        raise OSError(f"{path} is a symbolic link: not followed, nothing written")
    try:
        current: bytes | None = path.read_bytes()
    except FileNotFoundError:
        current = None
    if current == wanted:
        return SkillInstall(path, False, None)
    backup = None
    if current is not None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        backup = path.with_name(f"SKILL.md.{stamp}.bak")
        number = 1
        while backup.exists() or backup.is_symlink():  # an earlier backup is never replaced
            number += 1
            backup = path.with_name(f"SKILL.md.{stamp}.{number}.bak")
    if dry_run:
        return SkillInstall(path, True, backup)
    path.parent.mkdir(parents=True, exist_ok=True)
    if backup is not None and current is not None:
        _write_atomic(backup, current)
    _write_atomic(path, wanted)
    return SkillInstall(path, True, backup)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
