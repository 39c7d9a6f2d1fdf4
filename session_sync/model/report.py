"""What a sync did: one ``ItemReport`` per decision, counted in a ``SyncReport``."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from session_sync.model.knowledge_report import KnowledgeReport
from session_sync.model.manifest import SessionManifest
from session_sync.model.reconcile import Action, Direction, PlannedItem, SyncPlan

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "UNREADABLE_CASE",
    "WAITING_CASE",
    "IgnoredNote",
    "ItemReport",
    "StatusRow",
    "SyncReport",
    "human_bytes",
    "shown_escaped",
    "status_rows",
]


UNREADABLE_CASE = "unreadable"
"""The case of a failed item for a file one side could not read (``model.withheld``)."""


WAITING_CASE = "waiting"
"""The case of a skip for a transcript with no complete line yet (``model.withheld``)."""


@attrs.frozen
class ItemReport:
    """One file's decision and what came of it."""

    session: str
    """Session id."""
    file: str
    """Path relative to the project dir."""
    action: str
    """copy | append | replace | skip."""
    direction: str
    """push | pull."""
    reason: str
    """Why, in words."""
    case: str
    """The reconcile case that decided it."""
    outcome: str
    """done | failed | skipped | planned (dry run)."""
    bytes: int
    """File bytes this item moves (or would move)."""
    conflict: bool = False
    """Both copies had changed; the loser was backed up."""
    error: str | None = None
    """Why it failed, when it did."""
    backup: str | None = None
    """Where the replaced copy was kept."""

    @classmethod
    def from_item(cls, item: PlannedItem, outcome: str) -> ItemReport:
        """The report of a planned item, before anything happened."""
        return cls(
            session=item.session,
            file=item.file,
            action=item.action.value,
            direction=item.direction.value,
            reason=item.reason,
            case=item.case,
            outcome=outcome,
            bytes=item.length,
            conflict=item.conflict,
        )

    def with_result(self, result: Mapping[str, Any]) -> ItemReport:
        """This report updated with the applying agent's result."""
        if result.get("ok"):
            note = result.get("note")
            reason = f"{self.reason}; {note}" if note else self.reason
            return attrs.evolve(self, outcome="done", backup=result.get("backup"), reason=reason)
        return attrs.evolve(self, outcome="failed", error=str(result.get("error") or "failed"))


@functools.cache
def _converter() -> cattrs.Converter:
    # Made at the first --json: cattrs' import costs 60 ms that every command would pay.
    import cattrs

    return cattrs.Converter()


@attrs.frozen
class IgnoredNote:
    """A file of one side's project dirs that is no session's and took no part."""

    side: str
    """local | remote."""
    dir: str
    """The project dir it is in."""
    name: str
    """Its name there."""
    reason: str
    """Why it is not a session's file."""


def _ignored_notes(local: SessionManifest, remote: SessionManifest) -> tuple[IgnoredNote, ...]:
    return tuple(
        IgnoredNote(side, i.dir, i.name, i.reason)
        for side, manifest in (("local", local), ("remote", remote))
        for i in manifest.ignored
    )


@attrs.frozen
class SyncReport:
    """Everything a sync did, counted."""

    items: tuple[ItemReport, ...]
    """Every decision, in plan order."""
    pushed: int
    """Files written on the remote."""
    pulled: int
    """Files written here."""
    skipped: int
    """Files left alone on purpose (open in Claude, direction)."""
    failed: int
    """Files that could not be written; nothing of theirs changed."""
    conflicts: int
    """Diverged transcripts (one copy won, the other was backed up)."""
    bytes_sent: int
    """File bytes sent to the other machine."""
    bytes_received: int
    """File bytes received from it."""
    wire_bytes_sent: int
    """Everything written to the stream, framing and manifests included."""
    wire_bytes_received: int
    """Everything read from the stream after the agent started."""
    round_trips: int
    """Request/response exchanges with the other machine's agent."""
    bytes_hashed: int
    """Bytes read to hash files on both sides (a warm cache makes this ~0 on a no-op)."""
    dry_run: bool
    """Nothing was changed."""
    local: str
    """This machine's config dir and project path."""
    remote: str
    """The other machine, as its transport describes it."""
    local_project_path: str | None
    """The project's path here."""
    remote_project_path: str | None
    """The project's path on the other machine (``~`` resolved there)."""
    remote_config_dir: str
    """The other machine's Claude config dir."""
    sessions_local: int
    """Sessions that took part, here."""
    sessions_remote: int
    """Sessions that took part, there."""
    seconds: float
    """Wall time of the sync."""
    ignored: tuple[IgnoredNote, ...] = ()
    """Files that look like transcripts but are no session's, each listed once."""
    older_sessions_local: int = 0
    """This project's sessions here that ``--days`` left out."""
    older_sessions_remote: int = 0
    """And there (sessions old on one side but recent on the other do take part)."""
    days_for_older: int | None = None
    """The ``--days`` that would take every one of them in (None: none left out)."""
    knowledge: KnowledgeReport = attrs.field(factory=KnowledgeReport)
    """Claude's memory and prompt history: what came in, what was sent (its
    failures count in ``failed``)."""

    @property
    def ok(self) -> bool:
        """Nothing failed."""
        return self.failed == 0

    @classmethod
    def build(
        cls,
        *,
        items: list[ItemReport],
        local: SessionManifest,
        remote: SessionManifest,
        remote_description: str,
        dry_run: bool,
        bytes_sent: int,
        bytes_received: int,
        wire_bytes: tuple[int, int],
        round_trips: int,
        bytes_hashed: int,
        seconds: float,
        knowledge: KnowledgeReport | None = None,
    ) -> SyncReport:
        """Count the items."""
        done = [i for i in items if i.outcome == "done"]
        knowledge = knowledge or KnowledgeReport()
        knowledge_failed = sum(c.outcome == "failed" for c in knowledge.memory) + sum(
            c.outcome == "failed" for c in knowledge.history
        )
        return cls(
            items=tuple(items),
            pushed=sum(1 for i in done if i.direction == Direction.PUSH.value),
            pulled=sum(1 for i in done if i.direction == Direction.PULL.value),
            skipped=sum(
                1 for i in items if i.action == Action.SKIP.value and i.outcome != "failed"
            ),
            failed=sum(1 for i in items if i.outcome == "failed") + knowledge_failed,
            conflicts=sum(1 for i in items if i.conflict),
            bytes_sent=bytes_sent,
            bytes_received=bytes_received,
            wire_bytes_sent=wire_bytes[0],
            wire_bytes_received=wire_bytes[1],
            round_trips=round_trips,
            bytes_hashed=bytes_hashed,
            dry_run=dry_run,
            local=f"{local.config_dir} ({local.project_path or 'no project path'})",
            remote=f"{remote_description} ({remote.project_path or 'no project path'})",
            local_project_path=local.project_path,
            remote_project_path=remote.project_path,
            remote_config_dir=remote.config_dir,
            sessions_local=len(local.sessions),
            sessions_remote=len(remote.sessions),
            seconds=round(seconds, 3),
            ignored=_ignored_notes(local, remote),
            older_sessions_local=local.older_sessions,
            older_sessions_remote=remote.older_sessions,
            days_for_older=max(
                (d for d in (local.days_for_older, remote.days_for_older) if d is not None),
                default=None,
            ),
            knowledge=knowledge,
        )

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object."""
        data: dict[str, Any] = _converter().unstructure(self)
        return data


def human_bytes(n: int) -> str:
    """``n`` bytes in a few characters, binary units (``1.2 MiB``)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def shown_escaped(text: str) -> str:
    """``text`` with control characters escaped (names come from the far side)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@attrs.frozen
class StatusRow:
    """One session in ``session-sync status``: where it is and which side is ahead."""

    session: str
    """Session id."""
    state: str
    """``in step``, ``only on local``, ``remote is ahead``... (`` (open in Claude)``)."""
    local_size: int | None
    """Complete bytes of the transcript here (None: not here)."""
    remote_size: int | None
    """Complete bytes of the transcript there (None: not there)."""
    local_last_message: str | None
    """ISO time of the last message here."""
    remote_last_message: str | None
    """ISO time of the last message there."""
    unreadable: tuple[str, ...] = ()
    """``<side>: <file>: <why>`` for each file of the session a side could not
    read (it is not synced: ``status`` and ``sync`` exit 1)."""

    @property
    def failed(self) -> bool:
        """A file of this session cannot be synced until its cause is fixed."""
        return bool(self.unreadable)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object."""
        data: dict[str, Any] = _converter().unstructure(self)
        return data


def _status_state(item: PlannedItem | None, local_here: bool, remote_here: bool) -> str:
    if not local_here:
        return "only on remote"
    if not remote_here:
        return "only on local"
    if item is None:
        return "in step"
    if item.case == "prefix":
        return "local is ahead" if item.direction is Direction.PUSH else "remote is ahead"
    return "local is newer" if item.direction is Direction.PUSH else "remote is newer"


def status_rows(local: SessionManifest, remote: SessionManifest, plan: SyncPlan) -> list[StatusRow]:
    """One row per session on either side, sorted by id, from a plan (nothing applied)."""
    rows: list[StatusRow] = []
    ids = sorted({s.id for s in local.sessions} | {s.id for s in remote.sessions})
    planned = {i.session: i for i in plan.items if i.file == f"{i.session}.jsonl"}
    for session_id in ids:
        here, there = local.session(session_id), remote.session(session_id)
        lf = here.file(f"{session_id}.jsonl") if here else None
        rf = there.file(f"{session_id}.jsonl") if there else None
        item = planned.get(session_id)
        state = _status_state(item, lf is not None, rf is not None)
        unreadable = tuple(
            f"{side}: {shown_escaped(rel)}: {shown_escaped(why)}"
            for side, entry in (("local", here), ("remote", there))
            for rel, why in (entry.unreadable if entry else ())
        )
        transcript_unreadable = [
            side
            for side, entry in (("local", here), ("remote", there))
            if entry and any(rel == f"{session_id}.jsonl" for rel, _ in entry.unreadable)
        ]
        if transcript_unreadable:
            state = f"cannot read on {' and '.join(transcript_unreadable)}"
        elif unreadable:
            state += f" ({len(unreadable)} file(s) cannot be read)"
        if item is not None and item.case == WAITING_CASE:
            state += " (waiting for a complete line)"
        if (here and here.active) or (there and there.active):
            state += " (open in Claude)"
        rows.append(
            StatusRow(
                session=session_id,
                state=state,
                local_size=lf.complete_size if lf else None,
                remote_size=rf.complete_size if rf else None,
                local_last_message=lf.last_message_time.isoformat()
                if lf and lf.last_message_time
                else None,
                remote_last_message=rf.last_message_time.isoformat()
                if rf and rf.last_message_time
                else None,
                unreadable=unreadable,
            )
        )
    return rows
