"""The engine: scan -> reconcile -> apply, over one connection.

A whole sync is two requests to the other machine's agent, whatever the number
of sessions: ``scan`` (carrying our file sizes, so the agent can hash the
prefixes that tell an append from a divergence in the same pass) and
``exchange`` (our pushes stream in, its pulls stream out). The local side runs
the same agent functions in-process.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from session_sync.errors import SessionSyncError
from session_sync.exchange import LOCAL_APPLY, ProgressCallback, exchange_files
from session_sync.knowledge import land_knowledge
from session_sync.local_scan import FirstScans
from session_sync.model.knowledge_report import KnowledgeReport
from session_sync.model.reconcile import Action, SyncPlan
from session_sync.model.report import ItemReport, SyncReport
from session_sync.model.withheld import unreadable_reports
from session_sync.projects import remote_project_path
from session_sync.survey import Survey, SyncRequest, scan_local, survey_many
from session_sync.transports.base import Transport
from session_sync.transports.connection import DEFAULT_IO_TIMEOUT, AgentConnection

__all__ = [
    "ProgressCallback",
    "Survey",
    "SyncRequest",
    "apply_survey",
    "remote_project_path",
    "run_sync",
    "run_syncs",
    "scan_local",
    "survey",
]


def _item_reports(plan: SyncPlan, dry_run: bool) -> list[ItemReport]:
    """One report per plan item, as it stands before anything is applied."""
    return [
        ItemReport.from_item(
            item,
            outcome="skipped"
            if item.action is Action.SKIP
            else ("planned" if dry_run else "failed"),
        )
        for item in plan.items
    ]


def _survey(
    request: SyncRequest,
    connection: AgentConnection,
    moment: dt.datetime,
    firsts: FirstScans | None = None,
) -> Survey:
    found = survey_many([request], connection, moment, firsts)[0]
    if isinstance(found, SessionSyncError):
        raise found
    return found


def survey(
    request: SyncRequest,
    transport: Transport,
    *,
    now: dt.datetime | None = None,
    io_timeout: float | None = DEFAULT_IO_TIMEOUT,
) -> Survey:
    """Scan both sides and plan, changing nothing (for ``status``). ``io_timeout``:
    seconds the other side may go without sending a whole frame (None: forever)."""
    firsts = FirstScans([request])  # this machine is scanned while we connect
    try:
        connection = AgentConnection(transport, io_timeout=io_timeout)
    except BaseException:
        firsts.close()
        raise
    try:
        return _survey(request, connection, now or dt.datetime.now(dt.timezone.utc), firsts)
    finally:
        firsts.close()  # closed by the survey already, unless it never ran
        connection.close()


def run_sync(
    request: SyncRequest,
    transport: Transport,
    *,
    progress: ProgressCallback | None = None,
    now: dt.datetime | None = None,
    io_timeout: float | None = DEFAULT_IO_TIMEOUT,
    compress: str = "auto",
) -> SyncReport:
    """Sync one project's sessions between this machine and ``transport``'s.

    Raises ``SessionSyncError`` subclasses when the sync cannot happen at all;
    per-file problems are items with outcome ``failed`` in the report.
    ``io_timeout``: seconds the other side may go without sending (or taking)
    a whole frame before the sync gives up on it (None: forever). ``compress``:
    ``auto``, ``always`` or ``never`` (file data in frames, ``agent.deflate``).
    """
    return run_syncs(
        [request], transport, progress=progress, now=now, io_timeout=io_timeout, compress=compress
    )[0]


def run_syncs(
    requests: Sequence[SyncRequest],
    transport: Transport,
    *,
    progress: ProgressCallback | None = None,
    now: dt.datetime | None = None,
    io_timeout: float | None = DEFAULT_IO_TIMEOUT,
    after: Callable[[AgentConnection], None] | None = None,
    compress: str = "auto",
) -> list[SyncReport]:
    """Run several syncs with the same machine, one after the other, over one
    connection (a dev env folder and the sessions, say); one report each.
    ``after``: then called with the connection (a checkpoint rides along)."""
    # The first request's scans here run while we connect (the others' follow
    # the applies before them).
    firsts = FirstScans(requests[:1])
    try:
        connection = AgentConnection(transport, io_timeout=io_timeout, compress=compress)
    except BaseException:
        firsts.close()
        raise
    try:
        moment = now or dt.datetime.now(dt.timezone.utc)
        reports = [
            _run(request, connection, progress, moment, firsts if i == 0 else None)
            for i, request in enumerate(requests)
        ]
        if after is not None:
            after(connection)
        return reports
    finally:
        firsts.close()  # closed by the survey already, unless it never ran
        connection.close()


def _run(
    request: SyncRequest,
    connection: AgentConnection,
    progress: ProgressCallback | None,
    moment: dt.datetime,
    firsts: FirstScans | None,
) -> SyncReport:
    """One sync over ``connection``; ``firsts``: the first one's scans here, started
    before connecting (its counts include the connection's start, the agent's hello)."""
    started = time.monotonic()
    counts = _Counts.now(connection, first=firsts is not None)
    found = _survey(request, connection, moment, firsts)
    return apply_survey(request, found, connection, progress, counts, started)


@attrs.frozen
class _Counts:
    """The connection's counters at the start of a sync (its report counts from them)."""

    wire: tuple[int, int]
    data: tuple[int, int]
    round_trips: int

    @classmethod
    def now(cls, connection: AgentConnection, *, first: bool = False) -> _Counts:
        return cls(
            (0, 0) if first else (connection.writer.frame_bytes, connection.reader.frame_bytes),
            (connection.writer.data_bytes, connection.reader.data_bytes),
            connection.round_trips,
        )


def apply_survey(
    request: SyncRequest,
    found: Survey,
    connection: AgentConnection,
    progress: ProgressCallback | None,
    counts: _Counts | None = None,
    started: float | None = None,
) -> SyncReport:
    """Carry out a survey's plan (nothing, for a dry run) and report it; the report's
    counts start from ``counts`` (default: now) and its time from ``started``."""
    started = time.monotonic() if started is None else started
    counts = counts or _Counts.now(connection)
    plan = found.plan
    # Plan items first (``exchange_files`` finds them by index), then the files
    # that could not be read.
    reports = _item_reports(plan, request.dry_run) + unreadable_reports(found.local, found.remote)
    knowledge = found.knowledge
    parts = knowledge.remote_parts() if knowledge is not None and not request.dry_run else {}
    landed: dict[str, Any] | None = None if request.dry_run else {}
    if not request.dry_run and (plan.transfers or parts):
        landed = exchange_files(request, plan, connection, reports, progress, parts)
    learned = KnowledgeReport()
    if knowledge is not None:
        with LOCAL_APPLY:
            learned = land_knowledge(
                request.local_config,
                knowledge,
                landed,
                f"sync with {connection.transport.description} at {plan.now.isoformat()}",
                connection.transport.description,
            )
    return SyncReport.build(
        items=reports,
        local=found.local,
        remote=found.remote,
        remote_description=connection.transport.description,
        dry_run=request.dry_run,
        bytes_sent=connection.writer.data_bytes - counts.data[0],
        bytes_received=connection.reader.data_bytes - counts.data[1],
        wire_bytes=(
            connection.writer.frame_bytes - counts.wire[0],
            connection.reader.frame_bytes - counts.wire[1],
        ),
        round_trips=connection.round_trips - counts.round_trips,
        bytes_hashed=found.bytes_hashed,
        seconds=time.monotonic() - started,
        knowledge=learned,
    )
