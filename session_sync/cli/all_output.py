"""What ``status --all`` and ``sync --all`` print: a table of every project (as
wide as the terminal, 80 columns off one), the projects left alone, and JSON."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, TextIO

from session_sync.all_projects import AllProjects, ProjectOutcome
from session_sync.cli.status_table import minute, plain_table
from session_sync.model.knowledge_report import knowledge_lines
from session_sync.model.manifest import SessionManifest
from session_sync.model.pairing import Side, Unpaired
from session_sync.model.plan import held_back_by_direction
from session_sync.model.report import SyncReport
from session_sync.model.report_text import counted, print_report
from session_sync.survey import Survey
from session_sync.terminal import printable

__all__ = ["all_json", "print_all_status", "print_all_synced", "project_row"]


def _home_short(path: str, home: str | None = None) -> str:
    """``path`` with ``~`` for the home (this machine's unless ``home`` is given)."""
    home = (home or os.path.expanduser("~")).rstrip("/")
    if home and (path == home or path.startswith(home + "/")):
        return "~" + path[len(home) :]
    return path


def _newest(*manifests: SessionManifest) -> str | None:
    times = [
        f.last_message_time
        for m in manifests
        for s in m.sessions
        for f in s.files
        if f.is_transcript and f.last_message_time is not None
    ]
    return max(times).isoformat() if times else None


def _would(found: Survey) -> str:
    """What a sync would do, in a few words (``push 2, pull 1, diverged 1``)."""
    plan = found.plan
    pushes = {i.session for i in plan.pushes}
    pulls = {i.session for i in plan.pulls}
    diverged = {i.session for i in plan.items if i.conflict}
    held = {i.session for i in plan.items if held_back_by_direction(i.reason)}
    parts = [
        f"{word} {len(ids)}"
        for word, ids in (("push", pushes), ("pull", pulls), ("diverged", diverged))
        if ids
    ]
    if held:
        parts.append(f"{len(held)} held back (--{plan.policy.direction.value})")
    knowledge = found.knowledge
    if (
        not parts
        and knowledge is not None
        and (knowledge.remote_parts() or knowledge.local_parts())
    ):
        parts.append("memory/history")
    return ", ".join(parts) or "in step"


def project_row(outcome: ProjectOutcome) -> dict[str, Any]:
    """One project as ``--json`` has it (and the table shows it)."""
    pair = outcome.pair
    row: dict[str, Any] = {
        "local_path": pair.local_path,
        "remote_path": pair.remote_path,
        "paired_by": pair.rule.value,
        "repo": pair.repo,
        "created": pair.created.value if pair.created else None,
        "error": outcome.error,
    }
    found = outcome.survey
    if found is not None:
        row.update(
            sessions_local=len(found.local.sessions),
            sessions_remote=len(found.remote.sessions),
            newest_message=_newest(found.local, found.remote),
            would=_would(found),
        )
    if outcome.report is not None:
        row["report"] = outcome.report.to_json()
    return row


def _unpaired_json(unpaired: Unpaired) -> dict[str, str]:
    return {"side": unpaired.side.value, "path": unpaired.path, "reason": unpaired.reason}


def all_json(found: AllProjects) -> dict[str, Any]:
    """``--all``'s whole answer as one JSON object."""
    return {
        "remote": found.remote_description,
        "remote_home": found.remote_home,
        "projects": [project_row(o) for o in found.outcomes],
        "unpaired": [_unpaired_json(u) for u in found.unpaired],
        "round_trips": found.round_trips,
        "seconds": round(found.seconds, 3),
    }


def _unpaired_lines(unpaired: Sequence[Unpaired], remote_home: str | None, out: TextIO) -> None:
    for u in unpaired:
        where = "here" if u.side is Side.HERE else "there"
        if u.side is Side.HERE:
            path = _home_short(u.path)
        else:  # the other machine's home, if it said
            path = _home_short(u.path, remote_home) if remote_home else u.path
        out.write(printable(f"left alone ({where}): {path}: {u.reason}") + "\n")


def print_all_status(found: AllProjects, out: TextIO) -> None:
    """The table of where each project's sessions live and what a sync would do."""
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out)  # COLUMNS, the terminal's width, else 80
    table = plain_table(f"every project: here vs {found.remote_description} (times in UTC)")
    # Paths fold onto a second line rather than lose their ends.
    table.add_column("project here", overflow="fold")
    table.add_column("there", overflow="fold")
    table.add_column("sessions", no_wrap=True, justify="right")
    table.add_column("newest", no_wrap=True)
    table.add_column("a sync would", overflow="fold")
    for outcome in found.outcomes:
        row = project_row(outcome)
        created = outcome.pair.created
        here = _home_short(row["local_path"]) + (" (not here yet)" if created is Side.HERE else "")
        there = _home_short(row["remote_path"], found.remote_home)
        if row["remote_path"] == row["local_path"]:
            there = "same path"
        there += " (not there yet)" if created is Side.THERE else ""
        if outcome.error is not None:
            cells = [here, there, "-", "-", f"cannot: {outcome.error}"]
        else:
            cells = [
                here,
                there,
                f"{row['sessions_local']}/{row['sessions_remote']}",
                minute(row["newest_message"]),
                row["would"],
            ]
        table.add_row(*(Text(printable(cell)) for cell in cells))
    if found.outcomes:
        console.print(table)
        out.write("sessions: here/there\n")
    else:
        out.write(f"no project to sync with {found.remote_description}\n")
    _unpaired_lines(found.unpaired, found.remote_home, out)


def _quiet(report: SyncReport) -> bool:
    """Nothing moved, failed, diverged or is left to say: one line is enough."""
    moved = report.pushed + report.pulled + report.failed + report.conflicts
    held = any(i.outcome == "planned" or held_back_by_direction(i.reason) for i in report.items)
    return (
        not moved
        and not held
        and not knowledge_lines(report.knowledge)
        and not (report.ignored or report.older_sessions_local or report.older_sessions_remote)
    )


def print_all_synced(found: AllProjects, out: TextIO) -> None:
    """Each project's report, the projects left alone, then one line for all."""
    for outcome in found.outcomes:
        report = outcome.report
        if report is not None and _quiet(report):
            sessions = len(outcome.survey.local.sessions) if outcome.survey else 0
            where = _home_short(outcome.pair.local_path)
            out.write(printable(f"in step: {where} ({counted(sessions, 'session')})") + "\n")
        elif report is not None:
            print_report(report, out)
        if outcome.error is not None:
            out.write(printable(f"{_home_short(outcome.pair.local_path)}: {outcome.error}") + "\n")
    _unpaired_lines(found.unpaired, found.remote_home, out)
    synced = [o.report for o in found.outcomes if o.report is not None]
    done = "surveyed (dry run)" if any(r.dry_run for r in synced) else "synced"
    out.write(
        f"{counted(len(synced), 'project')} {done} with {found.remote_description},"
        f" {found.failed} failed, {len(found.unpaired)} left alone"
        f" ({counted(found.round_trips, 'round trip')}, {found.seconds:.1f} s)\n"
    )
