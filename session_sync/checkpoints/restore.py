"""Showing a checkpoint and restoring it as a branch (or a worktree of one).

A restore never writes into the current checkout: it makes a new branch at
the checkpoint (``git branch``) or a new worktree of it in an empty or new
directory (``git worktree add``). Uncommitted work here is thus never at
risk; switching to the branch is the user's own ``git switch``, which git
refuses over conflicting local changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from session_sync.agent.checkpoint import GitFailed, git
from session_sync.checkpoints.store import Checkpoint
from session_sync.errors import CheckpointError, UsageError

__all__ = ["Restored", "changed_files", "diff_stat", "restore_checkpoint"]

_EMPTY_TREE_INPUT = b""


@attrs.frozen
class Restored:
    """What a restore made."""

    checkpoint: str
    """The checkpoint's id."""
    branch: str
    """The new branch."""
    commit: str
    """Its tip: the checkpoint commit (its parent: HEAD where it was taken)."""
    worktree: str | None
    """The new worktree's directory, when one was asked for."""

    def to_json(self) -> dict[str, Any]:
        """The JSON ``--json`` prints."""
        return attrs.asdict(self)


def _base(top: Path, checkpoint: Checkpoint) -> str:
    if checkpoint.head is not None:
        return checkpoint.head
    empty = git(str(top), "hash-object", "-t", "tree", "--stdin", data=_EMPTY_TREE_INPUT)[1]
    return empty.decode().strip()


def diff_stat(top: Path, checkpoint: Checkpoint) -> str:
    """``git diff --stat`` of the checkpoint against the HEAD it was taken on."""
    try:
        out = git(str(top), "diff", "--stat=100", _base(top, checkpoint), checkpoint.commit)[1]
    except GitFailed as exc:
        raise CheckpointError(f"{top}: {exc}") from None
    return out.decode("utf-8", "replace")


def changed_files(top: Path, checkpoint: Checkpoint) -> list[dict[str, Any]]:
    """Each file the checkpoint changes: path, lines added and removed (None: binary)."""
    try:
        out = git(str(top), "diff", "--numstat", "-z", _base(top, checkpoint), checkpoint.commit)[1]
    except GitFailed as exc:
        raise CheckpointError(f"{top}: {exc}") from None
    files = []
    for record in out.split(b"\0"):
        added, _, rest = record.partition(b"\t")
        removed, _, path = rest.partition(b"\t")
        if not path:
            continue
        files.append(
            {
                "path": path.decode("utf-8", "replace"),
                "added": int(added) if added.isdigit() else None,
                "removed": int(removed) if removed.isdigit() else None,
            }
        )
    return files


def restore_checkpoint(
    top: Path, checkpoint: Checkpoint, branch: str, worktree: Path | None = None
) -> Restored:
    """Make ``branch`` at ``checkpoint`` (in a new worktree at ``worktree`` if given).
    Refuses a branch that exists, a bad branch name and a worktree directory that
    is not empty."""
    code, _ = git(str(top), "check-ref-format", "--branch", branch, ok=(0, 1, 128))
    if code != 0 or branch.startswith("-"):
        raise UsageError(f"--branch {branch!r} is not a valid branch name")
    exists, _ = git(
        str(top), "show-ref", "--verify", "--quiet", f"refs/heads/{branch}", ok=(0, 1, 128)
    )
    if exists == 0:
        raise UsageError(f"branch {branch} exists already: pick another --branch")
    try:
        if worktree is not None:
            if worktree.exists() and (not worktree.is_dir() or any(worktree.iterdir())):
                raise UsageError(f"--worktree {worktree}: exists and is not an empty directory")
            git(
                str(top),
                "worktree",
                "add",
                "-q",
                "--no-track",
                "-b",
                branch,
                str(worktree.absolute()),  # a relative `-w` is a directory, not an option
                checkpoint.commit,
            )
        else:
            git(str(top), "branch", "--no-track", branch, checkpoint.commit)
    except GitFailed as exc:
        raise CheckpointError(f"{top}: {exc}") from None
    return Restored(
        checkpoint.id,
        branch,
        checkpoint.commit,
        str(worktree.resolve()) if worktree is not None else None,
    )
