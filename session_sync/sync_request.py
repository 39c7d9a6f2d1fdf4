"""What a sync is asked to do: which project, between which paths, how."""

from __future__ import annotations

from pathlib import Path

import attrs

from session_sync.agent.backups import DEFAULT_BACKUP_RETENTION_DAYS
from session_sync.model.reconcile import SyncPolicy

__all__ = ["SyncRequest"]


@attrs.frozen
class SyncRequest:
    """What to sync, between which project paths."""

    local_config: Path
    """This machine's Claude config dir."""
    local_path: str | None
    """The project's path here (None: find its dirs by ``repo`` alone)."""
    remote_path: str | None
    """The project's path on the other machine (``~/...``: under its home there)."""
    repo: str | None = None
    """The GitHub repository, to find project dirs by the git remote of their ``cwd``."""
    days: float = 7.0
    """Only sessions modified within this many days take part."""
    policy: SyncPolicy = attrs.field(factory=SyncPolicy)
    """Direction."""
    dry_run: bool = False
    """Plan and report, change nothing."""
    paranoid: bool = False
    """Every append re-reads its destination whole and swaps in a staged copy,
    even when the destination is exactly as the scan saw it (same inode, size and
    mtime), where it is otherwise written in place after reading only its tail."""
    backup_retention_days: float = DEFAULT_BACKUP_RETENTION_DAYS
    """Backup sets older than this are pruned (a file's newest backup never is)."""
    folder_sync: bool = False
    """Sync the plain folder at ``local_path`` with the one at ``remote_path``
    (every file, any age; newer wins, backups, nothing deleted) instead of the
    project's sessions. Both paths must be absolute (``~`` allowed remotely)."""
    memory: bool = True
    """Sync Claude's auto memory of the project too (never in a folder sync)."""
    history: bool = True
    """Sync the project's prompt history lines too (never in a folder sync)."""
