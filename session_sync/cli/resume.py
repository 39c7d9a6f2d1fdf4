"""``session-sync resume``: its flags, gathering the page, and printing it."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import attrs

from session_sync.cli.common import EXIT_OK, add_io_timeout
from session_sync.cli.vocabulary import add_flag
from session_sync.resume import FarSession, NextStep, ResumePage

__all__ = ["COMMANDS", "add_parsers", "gather", "page_json", "page_lines", "sync_command"]

_PROMPT_CHARS = 70


def add_parsers(sub: Any) -> None:
    """Add ``resume`` to the ``session-sync`` subcommands."""
    resume = sub.add_parser(
        "resume",
        help="one page on this project: sessions, checkpoints, git, and what to run next",
        description=(
            "Show the project's sessions on this machine (synced ones included: machine,"
            " last message, first and last prompt, open here), the newest checkpoint of each"
            " machine, this checkout's git state, and the exact command that continues the"
            " newest work here: `claude --resume ID`, or `session-sync checkpoints restore`"
            " when the newest work is only in a checkpoint. Local only and fast; --codespace"
            " or --host adds a live look at that machine's sessions (a shut-down codespace is"
            " never started)."
        ),
    )
    far = resume.add_mutually_exclusive_group()
    add_flag(far, "--codespace")
    add_flag(far, "--host")
    add_flag(resume, "--local-path")
    add_flag(resume, "--repo")
    add_flag(resume, "--remote-path")
    add_flag(resume, "--remote-python", default="python3")
    resume.add_argument(
        "--limit",
        type=int,
        default=10,
        metavar="N",
        help="show the newest N sessions (default: 10; --json has all)",
    )
    add_io_timeout(resume, default=None)
    add_flag(resume, "--json")


def _live_look(
    args: argparse.Namespace, config: Path, sessions_here: set[str]
) -> tuple[str, tuple[FarSession, ...], str]:
    """The far machine's sessions of the project, by one scan over one connection."""
    from session_sync.cli.app import _request, _target
    from session_sync.engine import survey

    args.dir = None
    args.days = 36500.0  # every session there: the newest may be old
    machine = args.codespace if args.codespace is not None else args.host
    target = _target(args, config, wake="resume never starts one; a sync does")
    request = _request(args, config, target, dry_run=True)
    found = survey(request, target.transport, io_timeout=args.io_timeout)
    far = []
    for session in found.remote.sessions:
        transcript = session.files[0] if session.files else None
        far.append(
            FarSession(
                id=session.id,
                last_message_time=transcript.last_message_time if transcript else None,
                open_there=session.active,
                here=session.id in sessions_here,
            )
        )
    # Newest first; a session without a timestamp last.
    far.sort(key=lambda f: f.last_message_time.timestamp() if f.last_message_time else 0.0)
    far.reverse()
    flag = "--codespace" if args.codespace is not None else "--host"
    newest = far[0].last_message_time if far else None
    sync = sync_command(flag, machine, args.remote_path, newest, dt.datetime.now(dt.timezone.utc))
    return target.transport.description, tuple(far), sync


def sync_command(
    flag: str, machine: str, remote_path: str | None, newest: dt.datetime | None, now: dt.datetime
) -> str:
    """The sync that brings the far machine's newest session here: ``--days`` reaching
    back to it when it is older than a sync's default window, and the ``--remote-path``
    that found the project there."""
    from session_sync.github.syncs import DEFAULT_DAYS

    command = f"session-sync sync {flag} {shlex.quote(machine)} --pull"
    if newest is not None:
        days = math.ceil((now - newest).total_seconds() / 86400) + 1
        if days > DEFAULT_DAYS:
            command += f" --days {days}"
    if remote_path:
        command += f" --remote-path {shlex.quote(remote_path)}"
    return command


def gather(args: argparse.Namespace) -> ResumePage:
    """Everything the page shows, read from this machine (and the live look)."""
    from session_sync.agent.paths import claude_config_dir, normalize_github_repo
    from session_sync.checkpoints.store import list_checkpoints
    from session_sync.checkpoints.take import this_machine
    from session_sync.errors import CheckpointError
    from session_sync.handoff.sessions import project_sessions
    from session_sync.projects import resolve_local_project
    from session_sync.resume import (
        checkpoint_work_is_here,
        git_state,
        newest_per_machine,
        next_step,
        restored_branch,
    )

    config = Path(claude_config_dir())
    found = resolve_local_project(config, args.local_path, args.repo)
    project, repo = found.path, normalize_github_repo(found.repo) or found.repo
    sessions = tuple(project_sessions(str(config), project, repo))
    state = git_state(project)
    checkpoints: tuple[Any, ...] = ()
    if state is not None:
        try:
            checkpoints = newest_per_machine(list_checkpoints(Path(project)))
        except CheckpointError:
            checkpoints = ()
    here = {cp.id: checkpoint_work_is_here(project, cp) for cp in checkpoints}
    restored = {
        cp.id: made
        for cp in checkpoints
        if not here[cp.id] and (made := restored_branch(project, cp)) is not None
    }
    far_machine: str | None = None
    far_sessions: tuple[FarSession, ...] = ()
    sync: str | None = None
    if args.codespace is not None or args.host is not None:
        far_machine, far_sessions, sync = _live_look(args, config, {s.id for s in sessions})
    step = next_step(
        project,
        sessions,
        checkpoints,
        here,
        this_machine=this_machine(),
        far_machine=far_machine,
        far_sessions=far_sessions,
        sync_command=sync,
        restored=restored,
    )
    return ResumePage(project, repo, state, sessions, checkpoints, far_machine, far_sessions, step)


def _when(stamp: str | None) -> str:
    return stamp[:16].replace("T", " ") if stamp else "-"


def page_lines(page: ResumePage, limit: int) -> list[str]:
    """The page as text. Prompts and names may come from other machines: the
    caller writes through ``line_safe``, and prompts are folded to one line."""
    from session_sync.handoff.render import one_line
    from session_sync.model.report import human_bytes

    lines = [f"{page.project}" + (f" ({page.repo})" if page.repo else "")]
    g = page.git
    if g is None:
        lines.append("  not a git checkout")
    else:
        where = g.branch or f"detached at {(g.head or '?')[:12]}"
        track = f", {g.ahead} ahead / {g.behind} behind {g.upstream}" if g.upstream else ""
        lines.append(f"  git: {where}{track}; {g.changed} changed, {g.untracked} untracked file(s)")
    lines.append("")
    lines.append(f"sessions here ({len(page.sessions)}, newest first):")
    for s in page.sessions[:limit]:
        flag = "  [open here]" if s.open_here else ""
        lines.append(f"  {_when(s.last_message_at)}  {s.machine:<9} {s.id}{flag}")
        if s.first_prompt:
            lines.append("      first: " + one_line(s.first_prompt, _PROMPT_CHARS))
        if s.last_prompt and s.last_prompt != s.first_prompt:
            lines.append("      last:  " + one_line(s.last_prompt, _PROMPT_CHARS))
    if len(page.sessions) > limit:
        lines.append(f"  ... {len(page.sessions) - limit} older (--limit N shows more)")
    if page.far_machine is not None:
        lines.append("")
        lines.append(f"sessions on {page.far_machine} ({len(page.far_sessions)}):")
        for f in page.far_sessions[:limit]:
            stamp = (
                f.last_message_time.isoformat()[:16].replace("T", " ")
                if f.last_message_time
                else "-"
            )
            flags = ("  [open there]" if f.open_there else "") + ("" if f.here else "  [not here]")
            lines.append(f"  {stamp}  {f.id}{flags}")
    lines.append("")
    if page.checkpoints:
        lines.append("newest checkpoint per machine:")
        for cp in page.checkpoints:
            lines.append(
                f"  {cp.time.strftime('%Y-%m-%d %H:%M')}  {cp.id}  branch {cp.branch},"
                f" {cp.files} file(s), {human_bytes(cp.bytes)}"
            )
    else:
        lines.append("no checkpoints in this checkout")
    lines.append("")
    lines.append(f"next: {page.next.reason}")
    if page.next.command:
        lines.append(f"  {page.next.command}")
    return [one_line(line, 400) if line else "" for line in lines]


def _step_json(step: NextStep) -> dict[str, Any]:
    return attrs.asdict(step)


def page_json(page: ResumePage) -> dict[str, Any]:
    """The page as one JSON object."""
    return {
        "project": page.project,
        "repo": page.repo,
        "git": attrs.asdict(page.git) if page.git is not None else None,
        "sessions": [
            {
                "id": s.id,
                "machine": s.machine,
                "cwd": s.cwd,
                "last_message_at": s.last_message_at,
                "first_prompt": s.first_prompt,
                "last_prompt": s.last_prompt,
                "open_here": s.open_here,
                "path": s.path,
            }
            for s in page.sessions
        ],
        "checkpoints": [
            {
                "id": cp.id,
                "machine": cp.machine,
                "time": cp.time.isoformat(),
                "branch": cp.branch,
                "files": cp.files,
                "bytes": cp.bytes,
                "commit": cp.commit,
            }
            for cp in page.checkpoints
        ],
        "far_machine": page.far_machine,
        "far_sessions": [
            {
                "id": f.id,
                "last_message_time": f.last_message_time.isoformat()
                if f.last_message_time
                else None,
                "open_there": f.open_there,
                "here": f.here,
            }
            for f in page.far_sessions
        ],
        "next": _step_json(page.next),
    }


def _cmd_resume(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from session_sync.terminal import line_safe

    stream = out or sys.stdout
    page = gather(args)
    if args.json:
        json.dump(page_json(page), stream, indent=2)
        stream.write("\n")
        return EXIT_OK
    safe = line_safe(stream)
    for line in page_lines(page, max(args.limit, 0)):
        safe.write(line + "\n")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"resume": _cmd_resume}
