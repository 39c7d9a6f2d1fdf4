"""The values a plan is made of: which way, what action, one planned item, the
whole plan, and the user's policy (``reconcile`` makes them, ``forks`` adds to
them, the engine and the report read them).
"""

from __future__ import annotations

import datetime as dt
import enum

import attrs

from session_sync.model.manifest import FileEntry

__all__ = [
    "Action",
    "Direction",
    "PlannedItem",
    "SyncPlan",
    "SyncPolicy",
    "held_back_by_direction",
    "not_this_way",
]


class Direction(enum.Enum):
    """Which way bytes may move."""

    PUSH = "push"
    PULL = "pull"
    BOTH = "both"

    def allows(self, way: Direction) -> bool:
        """Whether a transfer going ``way`` (push or pull) is allowed."""
        return self is Direction.BOTH or self is way


def not_this_way(reason: str, way: Direction, direction: Direction) -> str:
    """``reason`` for a transfer that ``direction`` (``--push``/``--pull``) keeps from
    going ``way``: the one wording, which ``held_back_by_direction`` recognises."""
    return f"{reason}; not a {way.value} (direction is {direction.value})"


def held_back_by_direction(reason: str) -> bool:
    """Whether ``reason`` is one that ``not_this_way`` wrote."""
    return reason.endswith(("(direction is push)", "(direction is pull)"))


class Action(enum.Enum):
    """What happens to one file."""

    COPY = "copy"
    APPEND = "append"
    REPLACE = "replace"
    SKIP = "skip"


@attrs.frozen
class SyncPolicy:
    """The choices of the user that shape a plan."""

    direction: Direction = Direction.BOTH
    """Push, pull, or both ways."""


@attrs.frozen
class PlannedItem:
    """One decision about one file."""

    session: str
    """The session id."""
    file: str
    """Path relative to the project dir."""
    action: Action
    """What to do; ``skip`` items say why not."""
    direction: Direction
    """PUSH (local to remote) or PULL; for a skip, the way it would have gone."""
    case: str
    """The named case of the reconcile table that decided it."""
    reason: str
    """The decision in words, for people."""
    source_dir: str
    """Project dir of the file on the sending side."""
    dest_dir: str
    """Project dir it lands in on the receiving side."""
    source: FileEntry
    """The sending side's file as scanned."""
    expect: FileEntry | None = None
    """The receiving side's file as scanned (append/replace), checked again before writing."""
    conflict: bool = False
    """Both copies changed: one wins and the other is backed up."""
    source_file: str | None = None
    """The file read on the sending side, when it is not ``file`` (a fork's copy)."""
    fork_file: str | None = None
    """A replace of a diverged transcript: the copy it replaces is first kept as
    this new session's transcript, beside it (``forks``)."""

    @property
    def offset(self) -> int:
        """Bytes of the source the destination already has (appends)."""
        return self.expect.complete_size if self.action is Action.APPEND and self.expect else 0

    @property
    def length(self) -> int:
        """Bytes that must cross the stream."""
        if self.action is Action.SKIP:
            return 0
        return self.source.complete_size - self.offset


@attrs.frozen
class SyncPlan:
    """The whole decision for one sync."""

    items: tuple[PlannedItem, ...]
    """Every decision, in session then file order; identical files have none."""
    policy: SyncPolicy
    """The policy it was made under."""
    now: dt.datetime
    """The time it was made for (recorded in the report and backups)."""

    @property
    def transfers(self) -> tuple[PlannedItem, ...]:
        """Items that move bytes."""
        return tuple(i for i in self.items if i.action is not Action.SKIP)

    @property
    def pushes(self) -> tuple[PlannedItem, ...]:
        """Transfers from local to remote."""
        return tuple(i for i in self.transfers if i.direction is Direction.PUSH)

    @property
    def pulls(self) -> tuple[PlannedItem, ...]:
        """Transfers from remote to local."""
        return tuple(i for i in self.transfers if i.direction is Direction.PULL)
