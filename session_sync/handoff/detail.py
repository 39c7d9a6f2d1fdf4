"""``session-sync handoff --detail FILE``: the whole story of one changed file.

Loaded only when asked: every session of the project on this machine (not
only the recent ones) whose tool calls edited the file, on which machine and
when, and the file's ``git diff --stat`` against ``HEAD`` here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import attrs

from session_sync.gitlook import git_look
from session_sync.handoff.handoff import FileStub, file_stub, git_status, relative_to_project
from session_sync.handoff.sessions import SessionSummary, project_sessions
from session_sync.timestamps import parse_timestamp

__all__ = ["FileDetail", "FileTouch", "file_detail", "render_detail"]


@attrs.frozen
class FileTouch:
    """One session's edits of the file."""

    session: str
    """The session's id."""
    machine: str
    """Where it was written."""
    cwd: str | None
    """Its working directory there."""
    tools: tuple[str, ...]
    """The tools that touched the file."""
    count: int
    """How many calls did."""
    first_at: str | None
    """The first such call's time."""
    last_at: str | None
    """The last one's."""


@attrs.frozen
class FileDetail:
    """One file: its state here and every session that touched it."""

    file: FileStub
    """Its stub (status, size, sha256 here)."""
    touches: tuple[FileTouch, ...]
    """Sessions that edited it, newest edit first."""
    diff_stat: str | None
    """``git diff --stat HEAD -- FILE`` here (None: not known; "" no change)."""


def _rel(project: str, name: str, cwd: str) -> str:
    # Relative to where the user is when that is inside the project, else to the project.
    inside = cwd == project or cwd.startswith(project.rstrip("/") + "/")
    path = name if os.path.isabs(name) else os.path.join(cwd if inside else project, name)
    return relative_to_project(os.path.normpath(path), None, project)


def _diff_stat(project: str, rel: str) -> str | None:
    if os.path.isabs(rel):
        return None
    out = git_look(project, "diff", "--stat", "HEAD", "--", rel)
    return None if out is None else out.decode("utf-8", "replace").rstrip("\n")


def _newest_edit(touch: FileTouch) -> tuple[float, str]:
    when = parse_timestamp(touch.last_at) if touch.last_at else None
    return (-(when.timestamp() if when else 0.0), touch.session)


def file_detail(
    config: str,
    project: str,
    repo: str | None,
    name: str,
    *,
    cwd: str | None = None,
    sessions: Sequence[SessionSummary] | None = None,
) -> FileDetail:
    """The detail of ``name``: absolute, or relative to ``cwd`` (default: the current
    directory) when that is in the project, else to the project."""
    rel = _rel(project, name, os.path.realpath(cwd or os.getcwd()))
    if sessions is None:
        sessions = project_sessions(config, project, repo)
    touches = []
    for s in sessions:
        for edit in s.edited:
            if relative_to_project(edit.path, s.cwd, project, s.first_cwd) == rel:
                touches.append(
                    FileTouch(
                        s.id, s.machine, s.cwd, edit.tools, edit.count, edit.first_at, edit.last_at
                    )
                )
    touches.sort(key=lambda t: (t.last_at or "", t.session), reverse=True)
    ids = [t.session for t in touches]
    status = git_status(project, [] if os.path.isabs(rel) else [rel])
    return FileDetail(
        file_stub(project, rel, status, ids), tuple(touches), _diff_stat(project, rel)
    )


def render_detail(detail: FileDetail) -> list[str]:
    """The detail as lines of text."""
    f = detail.file
    size = f"{f.size} B" if f.size is not None else "not here"
    out = [f"# {f.path}: {f.status} here, {size}" + (f", sha256 {f.sha256}" if f.sha256 else "")]
    if not detail.touches:
        out.append("No session of this project on this machine edited it.")
    for t in detail.touches:
        where = t.machine + (f" {t.cwd}" if t.cwd and t.machine != "here" else "")
        when = t.first_at if t.first_at == t.last_at else f"{t.first_at} .. {t.last_at}"
        out.append(f"- session {t.session} · {where} · {'/'.join(t.tools)} x{t.count} · {when}")
    if detail.diff_stat is None:
        out.append("git diff --stat: not known here (no git checkout, or git failed)")
    elif not detail.diff_stat:
        out.append("git diff --stat HEAD: no change")
    else:
        out.append("git diff --stat HEAD:")
        out.extend("  " + line for line in detail.diff_stat.split("\n"))
    return out
