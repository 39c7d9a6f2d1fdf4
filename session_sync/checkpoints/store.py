"""The checkpoints a checkout holds: listing them, and the line that restores one.

A checkpoint is a commit under ``refs/session-sync/checkpoints/<machine>/<time>``
(``agent.checkpoint`` makes them); its id, as users see it, is
``<machine>/<time>``. What a listing says of one comes from its message's
trailers, which a far side wrote: the caller prints them ``printable``.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from pathlib import Path

import attrs

from session_sync.agent.checkpoint import REF_PREFIX, GitFailed, git
from session_sync.errors import CheckpointError

__all__ = [
    "TIME_FORMAT",
    "Checkpoint",
    "checkpoint_ref",
    "default_branch",
    "find_checkpoint",
    "list_checkpoints",
    "parse_id",
    "restore_line",
]

TIME_FORMAT = "%Y%m%dT%H%M%SZ"
"""The time part of a checkpoint's ref and id (UTC)."""

_ID = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63})/(\d{8}T\d{6}Z)$")
_SEP = "\x1f"
_END = "\x1e"


@attrs.frozen
class Checkpoint:
    """One checkpoint stored in a checkout's repository."""

    id: str
    """``<machine>/<time>``, as users name it."""
    machine: str
    """The machine whose work it holds (this one's name, a codespace's, a host's)."""
    time: dt.datetime
    """When it was taken (UTC, whole seconds)."""
    branch: str
    """The branch checked out there then (``(detached HEAD)`` when none)."""
    commit: str
    """The checkpoint's commit id."""
    head: str | None
    """The commit that was ``HEAD`` there (its parent); None on an unborn branch."""
    files: int
    """Files that differ from ``head`` (changed, added, removed)."""
    bytes: int
    """Bytes of those files' new content."""
    upstream: str | None
    """The branch's upstream there (``origin/main``), when it had one."""

    @property
    def ref(self) -> str:
        """Its full ref name."""
        return REF_PREFIX + self.id


def checkpoint_ref(machine: str, when: dt.datetime) -> str:
    """The ref of ``machine``'s checkpoint taken at ``when``."""
    return f"{REF_PREFIX}{machine}/{when.astimezone(dt.timezone.utc).strftime(TIME_FORMAT)}"


def parse_id(checkpoint_id: str) -> tuple[str, dt.datetime]:
    """(machine, time) of ``checkpoint_id``; a ``CheckpointError`` for anything else."""
    match = _ID.match(checkpoint_id.strip())
    if match is None:
        raise CheckpointError(
            f"{checkpoint_id!r} is not a checkpoint id (MACHINE/YYYYMMDDTHHMMSSZ, as"
            " `session-sync checkpoints list` shows them)"
        )
    when = dt.datetime.strptime(match.group(2), TIME_FORMAT).replace(tzinfo=dt.timezone.utc)
    return match.group(1), when


def _run(checkout: Path, *args: str) -> str:
    try:
        return git(str(checkout), *args)[1].decode("utf-8", "replace")
    except GitFailed as exc:
        raise CheckpointError(f"{checkout}: {exc}") from None


def list_checkpoints(checkout: Path, machine: str | None = None) -> list[Checkpoint]:
    """The checkpoints stored in ``checkout``'s repository, newest first (only
    ``machine``'s when given). Refs that are not well-formed checkpoints are
    passed over."""
    fields = ("%(refname)", "%(objectname)", "%(objecttype)", "%(parent)", "%(contents)")
    out = _run(
        checkout,
        "for-each-ref",
        f"--format={_SEP.join(fields)}{_END}",
        REF_PREFIX + (f"{machine}/" if machine else ""),
    )
    found = []
    for record in out.split(_END):
        parts = record.strip("\n").split(_SEP)
        if len(parts) != len(fields) or not parts[0].startswith(REF_PREFIX):
            continue
        refname, commit, kind, parents, message = parts
        match = _ID.match(refname[len(REF_PREFIX) :])
        if match is None or kind != "commit":
            continue
        name, when = parse_id(match.group(0))
        trailers = _trailers(message)
        found.append(
            Checkpoint(
                id=match.group(0),
                machine=name,
                time=when,
                branch=trailers.get("Session-Sync-Branch", "?"),
                commit=commit,
                head=parents.split()[0] if parents.split() else None,
                files=_count(trailers.get("Session-Sync-Files")),
                bytes=_count(trailers.get("Session-Sync-Bytes")),
                upstream=trailers.get("Session-Sync-Upstream"),
            )
        )
    found.sort(key=lambda c: (c.time, c.machine), reverse=True)
    return found


def find_checkpoint(checkout: Path, checkpoint_id: str) -> Checkpoint:
    """The checkpoint named ``checkpoint_id``; a ``CheckpointError`` when there is none."""
    machine, _ = parse_id(checkpoint_id)
    for checkpoint in list_checkpoints(checkout, machine):
        if checkpoint.id == checkpoint_id.strip():
            return checkpoint
    raise CheckpointError(
        f"no checkpoint {checkpoint_id} in {checkout} (see `session-sync checkpoints list`)"
    )


def _trailers(message: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in message.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key.startswith("Session-Sync-") and key not in found:
            found[key] = value.strip()[:200]
    return found


def _count(text: str | None) -> int:
    return int(text) if text is not None and text.isdigit() and len(text) < 19 else 0


def default_branch(checkpoint: Checkpoint) -> str:
    """The branch name a restore suggests: one per checkpoint, so never taken."""
    return f"checkpoint/{checkpoint.machine}/{checkpoint.time.strftime(TIME_FORMAT)}"


def restore_line(checkpoint: Checkpoint) -> str:
    """The exact command that makes a branch of ``checkpoint`` here."""
    return (
        f"session-sync checkpoints restore {shlex.quote(checkpoint.id)}"
        f" --branch {shlex.quote(default_branch(checkpoint))}"
    )
