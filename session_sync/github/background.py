"""The hourly background sync: every running codespace, both ways.

Run by launchd or a systemd user timer. It only ever touches codespaces that
``gh codespace list`` shows ``Available``: a ``gh codespace ssh`` would start a
shut-down one, and a job that wakes codespaces every hour would keep them
(and their bill) alive forever. One that shuts down after the list is caught
by the codespace transport, which reads the state again right before each
``gh codespace ssh`` and is never allowed to start one here. Codespaces are
synced in parallel (bounded); a lock file makes a second run that starts while
one is still going leave at once; each run appends to a log that rotates weekly.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from session_sync.checkpoints.codespaces import AfterSync, checkout_for, checkpoint_after
from session_sync.checkpoints.take import Taken
from session_sync.engine import run_syncs
from session_sync.errors import CodespaceUnavailableError, SessionSyncError
from session_sync.github.gh import READY_STATES, Codespace, GhCli
from session_sync.github.syncs import (
    WORKSPACE_TEMPLATE,
    CodespaceOptions,
    codespace_transport,
    session_request,
    workspace_path,
)
from session_sync.model.knowledge_report import knowledge_lines
from session_sync.model.reconcile import Direction
from session_sync.model.report import SyncReport
from session_sync.terminal import printable
from session_sync.transports.watchdog import DEFAULT_IO_TIMEOUT

__all__ = [
    "AllCodespacesOptions",
    "CodespaceOutcome",
    "default_log_file",
    "sync_all_codespaces",
]

LOGGER_NAME = "session_sync.github.background"
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
LOG_WEEKS_KEPT = 8


def default_log_file(platform: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """``~/Library/Logs/claude-session-sync.log`` on macOS, else
    ``${XDG_STATE_HOME:-~/.local/state}/session-sync/sync.log``."""
    platform = sys.platform if platform is None else platform
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    if platform == "darwin":
        return home / "Library" / "Logs" / "claude-session-sync.log"
    state = env.get("XDG_STATE_HOME") or ""
    base = Path(state) if state.startswith("/") else home / ".local" / "state"
    return base / "session-sync" / "sync.log"


@attrs.frozen
class AllCodespacesOptions:
    """``sync-sessions-from-all-codespaces``."""

    days: float = 7.0
    """Only sessions modified within this many days."""
    jobs: int = 4
    """Codespaces synced at the same time, at most."""
    dry_run: bool = False
    """Plan and log, change nothing."""
    json: bool = False
    """Print one JSON object with every codespace's outcome on stdout."""
    log_file: Path | None = None
    """Where to log (default: ``default_log_file()``); the lock file sits beside it."""
    workspace: str = WORKSPACE_TEMPLATE
    """The checkout's path in each codespace (``{repo}``, ``~/``)."""
    remote_python: str = "python3"
    """The agent's interpreter in the codespaces."""
    route: str = "auto"
    """How to reach the codespaces."""
    gh: GhCli = attrs.field(factory=GhCli)
    """How to run gh."""
    io_timeout: float | None = DEFAULT_IO_TIMEOUT
    """Seconds a codespace's agent may send (or take) nothing (None: forever)."""
    echo: bool | None = None
    """Also log to stderr (default: when stderr is a terminal or ``verbose``; under
    launchd or systemd stderr is the log or the journal already)."""
    verbose: bool = False
    """Log the debug lines too (gh calls, each request and answer), and to stderr."""
    memory: bool = True
    """Sync Claude's auto memory of the project too (``--no-memory``: not)."""
    history: bool = True
    """Sync the project's prompt history too (``--no-history``: not)."""


@attrs.frozen
class CodespaceOutcome:
    """What happened to one codespace."""

    name: str
    """The codespace."""
    repository: str
    """Its repository."""
    state: str
    """Its state in the list."""
    synced: bool
    """Whether a sync was attempted (only ``Available`` ones are)."""
    report: SyncReport | None = None
    """The sync's report, when it ran."""
    error: str | None = None
    """Why the sync failed, when it did."""
    checkpoint: str | None = None
    """The id of the checkpoint of its work (new, or the newest when unchanged)."""

    @property
    def ok(self) -> bool:
        """Nothing failed (a codespace left alone is fine)."""
        return self.error is None and (self.report is None or self.report.ok)

    def to_json(self) -> dict[str, Any]:
        """This outcome as JSON."""
        return {
            "name": self.name,
            "repository": self.repository,
            "state": self.state,
            "synced": self.synced,
            "ok": self.ok,
            "error": self.error or (_failed_files(self.report) if self.report else None),
            "report": self.report.to_json() if self.report else None,
            "checkpoint": self.checkpoint,
        }


def _failed_files(report: SyncReport) -> str | None:
    return f"{report.failed} file(s) could not be written" if report.failed else None


class _PrintableFormatter(logging.Formatter):
    """Log lines with the codespaces' words escaped (``printable``): an error from gh
    or an agent could otherwise retitle or clear the terminal the log is read on (or
    echoed to), or start a forged line of its own."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


class _RunLock:
    """An exclusive, non-blocking lock on a file, holding the owner's pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.holder: str = ""

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            self.holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@contextlib.contextmanager
def _run_logger(
    path: Path, *, rotate: bool, echo: bool, verbose: bool = False
) -> Iterator[logging.Logger]:
    """The ``session_sync`` loggers writing to ``path`` (rotated weekly when
    ``rotate``: only the lock holder may rotate) and to stderr when ``echo``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [
        logging.handlers.TimedRotatingFileHandler(
            path, when="W0", backupCount=LOG_WEEKS_KEPT, encoding="utf-8"
        )
        if rotate
        else logging.FileHandler(path, encoding="utf-8")
    ]
    if echo:
        handlers.append(logging.StreamHandler(sys.stderr))
    root = logging.getLogger("session_sync")
    saved = (list(root.handlers), root.level, root.propagate)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(_PrintableFormatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    try:
        yield logging.getLogger(LOGGER_NAME)
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        root.propagate = saved[2]


def sync_all_codespaces(options: AllCodespacesOptions) -> int:
    """Pull then push the sessions of every Available codespace; 0 when all went
    well or none was running, 1 when a codespace (or listing them) failed."""
    log_file = options.log_file or default_log_file()
    echo = options.verbose or sys.stderr.isatty() if options.echo is None else options.echo
    lock = _RunLock(log_file.with_name(log_file.name + ".lock"))
    if not lock.acquire():
        with _run_logger(log_file, rotate=False, echo=echo) as log:
            log.info(
                "another run (pid %s) is still going; this one does nothing",
                lock.holder or "?",
            )
        _print_json(options, [], note="another run is still going")
        return 0
    try:
        with _run_logger(log_file, rotate=True, echo=echo, verbose=options.verbose) as log:
            return _sync_all(options, log)
    finally:
        lock.release()


def _sync_all(options: AllCodespacesOptions, log: logging.Logger) -> int:
    try:
        codespaces = options.gh.list_codespaces()
    except SessionSyncError as exc:
        log.error("cannot list codespaces: %s", exc)
        _print_json(options, [], note=f"cannot list codespaces: {exc}")
        return 1
    running = [c for c in codespaces if c.state in READY_STATES]
    others = [
        CodespaceOutcome(c.name, c.repository, c.state, synced=False)
        for c in codespaces
        if c.state not in READY_STATES
    ]
    if not running:
        log.info("no running codespace (of %d); nothing to do", len(codespaces))
        _print_json(options, others)
        return 0
    log.info(
        "syncing %d running codespace(s)%s: %s",
        len(running),
        " (dry run)" if options.dry_run else "",
        ", ".join(c.name for c in running),
    )
    with ThreadPoolExecutor(max_workers=max(1, min(options.jobs, len(running)))) as pool:
        outcomes = list(pool.map(lambda c: _sync_one(c, options, log), running))
    failed = [o for o in outcomes if not o.ok]
    stopped = [o for o in outcomes if not o.synced]
    log.info(
        "done: %d synced, %d failed, %d not running (left alone)",
        len(outcomes) - len(failed) - len(stopped),
        len(failed),
        len(others) + len(stopped),
    )
    _print_json(options, outcomes + others)
    return 1 if failed else 0


def _sync_one(
    codespace: Codespace, options: AllCodespacesOptions, log: logging.Logger
) -> CodespaceOutcome:
    settings = CodespaceOptions(
        gh=options.gh,
        cwd="/",  # no checkout: the project here is found by its sessions
        workspace=options.workspace,
        python=options.remote_python,
        route=options.route,
        wake=False,
        dry_run=options.dry_run,
        notify=lambda message: log.info("%s: %s", codespace.name, message),
        io_timeout=options.io_timeout,
        memory=options.memory,
        history=options.history,
    )
    log.info("%s (%s): syncing", codespace.name, codespace.repository)
    try:
        request = session_request(codespace, settings, days=options.days, direction=Direction.BOTH)
        taken: list[Taken] = []
        report = run_syncs(
            [request],
            codespace_transport(codespace, settings),
            io_timeout=settings.io_timeout,
            after=_checkpoint(codespace, request.local_path, options, log, taken),
        )[0]
    except CodespaceUnavailableError as exc:
        # It stopped (or began a rebuild) since the list: the transport re-read its
        # state before any `gh codespace ssh`, so it was left as it is.
        log.info("%s: skipped: %s", codespace.name, exc)
        return CodespaceOutcome(codespace.name, codespace.repository, exc.state, synced=False)
    except SessionSyncError as exc:
        log.error("%s: failed: %s", codespace.name, exc)
        return CodespaceOutcome(
            codespace.name, codespace.repository, codespace.state, synced=True, error=str(exc)
        )
    level = logging.INFO if report.ok else logging.ERROR
    log.log(
        level,
        "%s: %d pulled, %d pushed, %d skipped, %d failed (%.1f s)",
        codespace.name,
        report.pulled,
        report.pushed,
        report.skipped,
        report.failed,
        report.seconds,
    )
    for item in report.items:
        if item.outcome == "failed":
            log.error("%s: %s %s: %s", codespace.name, item.direction, item.file, item.error)
    # What entered Claude's memory here from the codespace is in the log (escaped).
    for line in knowledge_lines(report.knowledge):
        log.info("%s:%s", codespace.name, line)
    return CodespaceOutcome(
        codespace.name,
        codespace.repository,
        codespace.state,
        synced=True,
        report=report,
        checkpoint=_taken_id(taken),
    )


def _checkpoint(
    codespace: Codespace,
    local_path: str | None,
    options: AllCodespacesOptions,
    log: logging.Logger,
    taken: list[Taken],
) -> AfterSync | None:
    """A checkpoint of the codespace's checkout on the sync's connection, into the
    checkout here that its sessions belong to (none: no checkout to keep it in)."""
    if options.dry_run:
        return None
    top = checkout_for(codespace, [local_path] if local_path else [])
    if top is None:
        log.info("%s: no checkpoint: no checkout of %s here", codespace.name, codespace.repository)
        return None
    remote = workspace_path(codespace, options.workspace)
    return checkpoint_after(
        codespace, top, remote, lambda line: log.info("%s: %s", codespace.name, line), taken=taken
    )


def _taken_id(taken: list[Taken]) -> str | None:
    for result in taken:
        made = result.checkpoint or result.unchanged_since
        return made.id if made else None
    return None


def _print_json(
    options: AllCodespacesOptions, outcomes: list[CodespaceOutcome], note: str | None = None
) -> None:
    if not options.json:
        return
    json.dump(
        {"codespaces": [o.to_json() for o in outcomes], "note": note},
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")
