"""Taking a checkpoint of this machine's checkout, storing one, and pruning.

Storing is the one write: ``git update-ref REF NEW ""`` creates the ref only
when it does not exist yet (never replaces one). Pruning removes refs only
(their objects stay until git's own gc), keeping the newest ``KEEP_NEWEST``
per machine and every one of the last ``KEEP_DAYS`` days.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import attrs

from session_sync.agent.checkpoint import (
    DEFAULT_MAX_FILE_SIZE,
    GitFailed,
    git,
    make_work,
    safe_machine,
    toplevel,
)
from session_sync.checkpoints.store import (
    Checkpoint,
    checkpoint_ref,
    list_checkpoints,
)
from session_sync.errors import CheckpointError

__all__ = [
    "KEEP_DAYS",
    "KEEP_NEWEST",
    "Taken",
    "checkout_top",
    "iso_time",
    "prune",
    "same_work",
    "store_commit",
    "take_local",
    "this_machine",
]

KEEP_NEWEST = 20
"""Checkpoints kept per machine, whatever their age."""

KEEP_DAYS = 30
"""Every checkpoint younger than this many days is kept."""


@attrs.frozen
class Taken:
    """What one ``checkpoint`` did."""

    machine: str
    """Whose work it is."""
    checkout: str
    """The checkout it was taken of (on that machine)."""
    stored_in: str
    """The checkout here whose repository holds it."""
    checkpoint: Checkpoint | None
    """The new checkpoint; None when the work was unchanged (or a dry run)."""
    unchanged_since: Checkpoint | None
    """The newest checkpoint, when it already holds this very work."""
    files: int
    """Files that differ from HEAD there."""
    bytes: int
    """Bytes of their content."""
    left_out: tuple[tuple[str, int], ...] = ()
    """Untracked files over the size limit: (path, size)."""
    pruned: tuple[str, ...] = ()
    """Ids of old checkpoints removed after this one."""
    dry_run: bool = False
    """Nothing was stored."""

    def to_json(self) -> dict[str, Any]:
        """The JSON ``--json`` prints."""
        return {
            "machine": self.machine,
            "checkout": self.checkout,
            "stored_in": self.stored_in,
            "checkpoint": self.checkpoint.id if self.checkpoint else None,
            "ref": self.checkpoint.ref if self.checkpoint else None,
            "unchanged_since": self.unchanged_since.id if self.unchanged_since else None,
            "files": self.files,
            "bytes": self.bytes,
            "left_out": [{"path": p, "size": s} for p, s in self.left_out],
            "pruned": list(self.pruned),
            "dry_run": self.dry_run,
        }


def this_machine() -> str:
    """This machine's name in checkpoint ids."""
    return safe_machine(socket.gethostname().split(".")[0])


def iso_time(when: dt.datetime) -> str:
    """``when`` as the message's time (UTC, whole seconds)."""
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def checkout_top(path: Path) -> Path:
    """The top level of the checkout holding ``path``."""
    try:
        return Path(toplevel(str(path)))
    except GitFailed as exc:
        raise CheckpointError(str(exc)) from None


def take_local(
    path: Path,
    *,
    machine: str | None = None,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> Taken:
    """Checkpoint the checkout holding ``path`` into its own repository."""
    top = checkout_top(path)
    name = safe_machine(machine) if machine else this_machine()
    when = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    # A dry run writes its objects (the untracked files' blobs among them) into a
    # scratch store, so the repository gains nothing at all.
    scratch = tempfile.mkdtemp(prefix="session-sync-dry-run-") if dry_run else None
    try:
        work = make_work(str(top), name, iso_time(when), max_file_size, objects=scratch)
    except GitFailed as exc:
        raise CheckpointError(f"{top}: {exc}") from None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    left_out = tuple((str(f["path"]), int(str(f["size"]))) for f in work.left_out)
    newest = next(iter(list_checkpoints(top, name)), None)
    base = Taken(name, str(top), str(top), None, None, work.files, work.bytes, left_out)
    if newest is not None and same_work(top, newest, work.tree, work.head):
        return attrs.evolve(base, unchanged_since=newest, dry_run=dry_run)
    if dry_run:
        return attrs.evolve(base, dry_run=True)
    ref = store_commit(top, name, when, work.commit)
    stored = next(c for c in list_checkpoints(top, name) if c.ref == ref)
    return attrs.evolve(base, checkpoint=stored, pruned=tuple(prune(top, name, when)))


def same_work(top: Path, checkpoint: Checkpoint, tree: str, head: str | None) -> bool:
    """Whether ``checkpoint`` holds this tree on this HEAD (so the unpushed commits too)."""
    try:
        stored_tree = git(str(top), "rev-parse", f"{checkpoint.commit}^{{tree}}")[1]
    except GitFailed:
        return False
    return stored_tree.decode().strip() == tree and checkpoint.head == head


def store_commit(top: Path, machine: str, when: dt.datetime, commit: str) -> str:
    """Put ``commit`` under a new ref of ``machine``; its name. The time moves on a
    second when the ref exists (two checkpoints in one second)."""
    for step in range(60):
        ref = checkpoint_ref(machine, when + dt.timedelta(seconds=step))
        code, _ = git(str(top), "update-ref", ref, commit, "", ok=(0, 1, 128))
        if code == 0:
            return ref
    raise CheckpointError(f"{top}: could not store a checkpoint of {machine} at {when}")


def prune(top: Path, machine: str, now: dt.datetime) -> list[str]:
    """Remove ``machine``'s checkpoints beyond the newest ``KEEP_NEWEST`` that are
    older than ``KEEP_DAYS``; their ids."""
    cutoff = now - dt.timedelta(days=KEEP_DAYS)
    gone = []
    for checkpoint in list_checkpoints(top, machine)[KEEP_NEWEST:]:
        if checkpoint.time < cutoff:
            # Only if it still points where we saw it.
            git(str(top), "update-ref", "-d", checkpoint.ref, checkpoint.commit, ok=(0, 1, 128))
            gone.append(checkpoint.id)
    return gone
