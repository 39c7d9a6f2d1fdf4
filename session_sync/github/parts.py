"""What every codespace command shares: its common options, the parts of its sync
(the dev env folder, the sessions) run over one connection, and how their
reports, ``--json`` and failures are told."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

import attrs

from session_sync.cli.common import EXIT_FAILED, EXIT_OK, transfer_progress
from session_sync.engine import SyncRequest
from session_sync.errors import SessionSyncError
from session_sync.github.gh import Codespace, GhCli
from session_sync.github.syncs import (
    DEFAULT_DAYS,
    DEV_ENV_FOLDER,
    WORKSPACE_TEMPLATE,
    CodespaceOptions,
    checkout_of,
    dev_env_request,
    run_requests,
    session_request,
)
from session_sync.model.reconcile import Direction
from session_sync.model.report import SyncReport
from session_sync.model.report_text import print_report
from session_sync.terminal import line_safe, printable
from session_sync.transports.connection import AgentConnection
from session_sync.transports.watchdog import DEFAULT_IO_TIMEOUT

__all__ = [
    "PART_TITLES",
    "CommonOptions",
    "failure_summary",
    "finish",
    "parts_of",
    "sync_parts",
    "write_json",
    "write_reports",
]


PART_TITLES = {"dev_env": f"dev env ({DEV_ENV_FOLDER}/)", "sessions": "sessions"}
"""How each part of a sync is named in the text report."""


@attrs.frozen
class CommonOptions:
    """What every codespace command is told."""

    codespace: str | None = None
    """The codespace's name (None: the current checkout's)."""
    days: float = DEFAULT_DAYS
    """Only sessions modified within this many days."""
    dry_run: bool = False
    """Plan and report, change nothing."""
    json: bool = False
    """One JSON object on stdout."""
    workspace: str = WORKSPACE_TEMPLATE
    """The checkout's path in the codespace (``{repo}``, ``~/``)."""
    remote_python: str = "python3"
    """The agent's interpreter in the codespace."""
    route: str = "auto"
    """How to reach the codespace."""
    gh_timeout: float = 60.0
    """Seconds for a plain gh call."""
    io_timeout: float | None = DEFAULT_IO_TIMEOUT
    """Seconds the codespace's agent may send (or take) nothing (None: forever)."""
    prog: str = "session-sync"
    """The command's name, at the start of each message on stderr."""
    memory: bool = True
    """Sync Claude's auto memory of the project too (``--no-memory``: not)."""
    history: bool = True
    """Sync the project's prompt history too (``--no-history``: not)."""

    def notice(self, message: str) -> None:
        """Tell the user, on stderr."""
        sys.stderr.write(f"{self.prog}: {printable(message)}\n")
        sys.stderr.flush()

    def gh(self) -> GhCli:
        """The gh runner these options ask for."""
        return GhCli(timeout=self.gh_timeout)

    def codespace_options(self, gh: GhCli) -> CodespaceOptions:
        """The library's options (a shut-down codespace is started: the user asked; but
        never by a dry run)."""
        return CodespaceOptions(
            gh=gh,
            workspace=self.workspace,
            python=self.remote_python,
            route=self.route,
            wake=True,
            dry_run=self.dry_run,
            notify=self.notice,
            io_timeout=self.io_timeout,
            memory=self.memory,
            history=self.history,
        )


def sync_parts(
    codespace: Codespace,
    parts: list[tuple[str, SyncRequest]],
    options: CodespaceOptions,
    *,
    show: bool = True,
    after: Callable[[AgentConnection], None] | None = None,
) -> tuple[dict[str, SyncReport], SessionSyncError | None]:
    """Run the parts over one connection; the reports, or the error that stopped them.
    ``show``: a progress bar on stderr when it is a terminal; ``after``: then run on
    the connection."""
    if not parts:
        return {}, None
    try:
        with transfer_progress(show) as progress:
            return run_requests(codespace, parts, options, progress, after), None
    except SessionSyncError as exc:
        return {}, exc


def failure_summary(error: SessionSyncError | None, reports: dict[str, SyncReport]) -> str | None:
    """One line saying what went wrong, or None when nothing did."""
    if error is not None:
        return str(error)
    failed = sum(r.failed for r in reports.values())
    if failed:
        return f"{failed} file(s) could not be written (see the report); run the sync again"
    return None


def write_reports(reports: dict[str, SyncReport], out: TextIO) -> None:
    out = line_safe(out)  # names and errors in a report may be the far side's words
    for part, report in reports.items():
        out.write(f"{PART_TITLES.get(part, part)}: ")
        print_report(report, out)


def write_json(codespace: Codespace, reports: dict[str, SyncReport], error: str | None) -> None:
    document: dict[str, Any] = {
        "codespace": codespace.name,
        "repository": codespace.repository,
        "reports": {part: report.to_json() for part, report in reports.items()},
        "error": error,
    }
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


def parts_of(
    codespace: Codespace,
    options: CodespaceOptions,
    *,
    dev_env: bool,
    sessions: bool,
    days: float,
    direction: Direction,
) -> list[tuple[str, SyncRequest]]:
    """The dev env part (when ``dev_env`` and the caller is in a checkout of the
    codespace's repository), then the sessions part (when ``sessions``)."""
    parts: list[tuple[str, SyncRequest]] = []
    checkout = checkout_of(codespace, options.where)
    if dev_env and checkout is not None:
        parts.append(
            ("dev_env", dev_env_request(codespace, checkout, options, direction=direction))
        )
    if sessions:
        parts.append(
            ("sessions", session_request(codespace, options, days=days, direction=direction))
        )
    return parts


def finish(
    codespace: Codespace,
    reports: dict[str, SyncReport],
    error: SessionSyncError | None,
    common: CommonOptions,
) -> int:
    """Print the reports (or JSON) and say what failed; the exit status."""
    problem = failure_summary(error, reports)
    if common.json:
        write_json(codespace, reports, problem)
    else:
        write_reports(reports, sys.stdout)
    if problem is not None:
        common.notice(problem)
        return EXIT_FAILED
    return EXIT_OK
