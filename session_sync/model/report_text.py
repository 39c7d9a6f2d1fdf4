"""The sync report as text a person reads.

Sessions are counted with their files ("2 sessions pushed (5 files)"), in the
singular or plural; a dry run speaks in the future tense; what ``--push`` or
``--pull`` kept back is one line; the sessions ``--days`` left out are counted
with the ``--days`` that takes them in. Names from the far side are escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from session_sync.model.knowledge_report import knowledge_lines
from session_sync.model.plan import held_back_by_direction
from session_sync.model.report import (
    IgnoredNote,
    ItemReport,
    SyncReport,
    human_bytes,
    shown_escaped,
)

__all__ = ["counted", "print_report"]


def counted(n: int, one: str, many: str | None = None) -> str:
    """``n`` and the noun, singular or plural: "1 session", "2 sessions"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _moved(items: Sequence[ItemReport], way: str, outcome: str, verb: str) -> str:
    """What went (or would go) one way: "2 sessions pushed (5 files)"."""
    files = [i for i in items if i.direction == way and i.outcome == outcome]
    sessions = f"{counted(len({i.session for i in files}), 'session')} {verb}"
    return f"{sessions} ({counted(len(files), 'file')})" if files else sessions


def _held_back_by_direction(item: ItemReport) -> bool:
    """Skipped only because ``--push``/``--pull`` keeps that way shut."""
    return item.outcome == "skipped" and held_back_by_direction(item.reason)


def print_report(report: SyncReport, out: TextIO) -> None:
    """A summary line, then one line per item that did (or would do) something.

    Sessions are counted, with their files in brackets; a dry run speaks in the
    future tense; what ``--push``/``--pull`` kept from going the other way is one
    line of counts, not a line per file."""
    held = [i for i in report.items if _held_back_by_direction(i)]
    shown = [i for i in report.items if not _held_back_by_direction(i)]
    outcome = "planned" if report.dry_run else "done"
    skipped = counted(report.skipped - len(held), "file")
    if report.dry_run:
        summary = (
            f"would sync {report.local} with {report.remote}:"
            f" {_moved(shown, 'push', outcome, 'to push')},"
            f" {_moved(shown, 'pull', outcome, 'to pull')},"
            f" {skipped} would be skipped, {report.conflicts} diverged"
        )
    else:
        summary = (
            f"synced {report.local} with {report.remote}:"
            f" {_moved(shown, 'push', outcome, 'pushed')},"
            f" {_moved(shown, 'pull', outcome, 'pulled')}, {skipped} skipped,"
            f" {report.failed} failed, {report.conflicts} diverged"
        )
    out.write(
        f"{summary} ({human_bytes(report.bytes_sent)} sent,"
        f" {human_bytes(report.bytes_received)} received,"
        f" {counted(report.round_trips, 'round trip')})\n"
    )
    if report.dry_run:
        planned = sum(1 for i in report.items if i.outcome == "planned")
        planned += len(report.knowledge.memory) + len(report.knowledge.history)
        out.write(f"dry run: {counted(planned, 'change')} planned, nothing written\n")
    for item in shown:
        out.write(_item_line(item) + "\n")
    for way, other in (("push", "pull"), ("pull", "push")):
        kept = {i.session for i in held if i.direction == way}
        if kept:
            where = "here" if way == "push" else "there"
            out.write(f"  {counted(len(kept), 'session')} newer {where} not {way}ed (--{other})\n")
    learned = knowledge_lines(report.knowledge)
    if not shown and not report.knowledge.memory and not report.knowledge.history:
        out.write("  everything is in step\n")
    for line in learned:
        out.write(line + "\n")
    for line in _ignored_lines(report.ignored):
        out.write(line + "\n")
    older = _older_line(report)
    if older:
        out.write(older + "\n")


def _older_line(report: SyncReport) -> str | None:
    """The sessions ``--days`` left out, and the ``--days`` that takes them in:
    "9 older sessions here and 3 there not considered; --days 30 takes them in"."""
    here, there = report.older_sessions_local, report.older_sessions_remote
    if not here and not there:
        return None
    if here and there:
        which = f"{counted(here, 'older session')} here and {there} there"
    elif here:
        which = f"{counted(here, 'older session')} here"
    else:
        which = f"{counted(there, 'older session')} there"
    line = f"  {which} not considered"
    if report.days_for_older is not None:
        them = "it" if here + there == 1 else "them"
        line += f"; --days {report.days_for_older} takes {them} in"
    return line


def _item_line(item: ItemReport) -> str:
    if item.outcome == "planned":
        line = f"  would  {item.direction:4} {item.action:7} {item.file}  ({item.reason})"
        if item.action == "replace":
            line += " [would back up the copy it replaces]"
        return line
    mark = {"done": "ok", "failed": "FAILED", "skipped": "skip"}[item.outcome]
    line = f"  {mark:6} {item.direction:4} {item.action:7} {item.file}  ({item.reason})"
    if item.error:
        line += f": {item.error}"
    if item.backup:
        line += f" [backup: {item.backup}]"
    return line


_NAMES_SHOWN = 10


def _ignored_lines(ignored: tuple[IgnoredNote, ...]) -> list[str]:
    """One note per side and reason: a count and the names (the first few)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for note in ignored:
        groups.setdefault((note.side, note.reason), []).append(note.name)
    lines = []
    for (side, reason), names in groups.items():
        shown = ", ".join(shown_escaped(n) for n in sorted(names)[:_NAMES_SHOWN])
        more = f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else ""
        why = shown_escaped(reason)
        lines.append(
            f"  note: {counted(len(names), 'file')} on {side} ignored ({why}): {shown}{more}"
        )
    return lines
