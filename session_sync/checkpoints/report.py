"""What a checkpoint run says: lines for a terminal, a log, or a warning.

Every name here (branch, path, machine) may come from a far side: the lines
are ``printable``.
"""

from __future__ import annotations

from session_sync.checkpoints.store import Checkpoint, restore_line
from session_sync.checkpoints.take import Taken
from session_sync.model.report import human_bytes
from session_sync.terminal import printable

__all__ = ["list_lines", "taken_lines"]


def taken_lines(taken: Taken) -> list[str]:
    """One run's report."""
    what = f"{taken.files} changed file(s), {human_bytes(taken.bytes)}"
    if taken.checkpoint is not None:
        cp = taken.checkpoint
        lines = [
            f"checkpoint {cp.id} of {taken.checkout} ({taken.machine}, branch {cp.branch}): {what}",
            f"  stored as {cp.ref} in {taken.stored_in}",
            f"  restore with: {restore_line(cp)}",
        ]
    elif taken.unchanged_since is not None:
        lines = [
            f"no new checkpoint of {taken.checkout} ({taken.machine}): the work is as in"
            f" {taken.unchanged_since.id}"
        ]
    else:
        lines = [f"would checkpoint {taken.checkout} ({taken.machine}): {what} (dry run)"]
    lines += [
        f"  left out (over the size limit): {path} ({human_bytes(size)})"
        for path, size in taken.left_out
    ]
    lines += [f"  pruned old checkpoint {old}" for old in taken.pruned]
    return [printable(line) for line in lines]


def list_lines(checkpoints: list[Checkpoint]) -> list[str]:
    """A table of checkpoints: machine, time, branch, files, size, id."""
    if not checkpoints:
        return ["no checkpoints (take one with `session-sync checkpoint`)"]
    rows = [("MACHINE", "TIME (UTC)", "BRANCH", "FILES", "SIZE", "ID")]
    rows += [
        (
            cp.machine,
            cp.time.strftime("%Y-%m-%d %H:%M:%S"),
            cp.branch,
            str(cp.files),
            human_bytes(cp.bytes),
            cp.id,
        )
        for cp in checkpoints
    ]
    safe = [tuple(printable(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in safe) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in safe
    ]
