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
from pathlib import Path
from typing import Any

import attrs

from session_sync.agent.backups import DEFAULT_BACKUP_RETENTION_DAYS
from session_sync.agent.messages import ScanAnswer, ScanRequest
from session_sync.agent.protocol import Refusal
from session_sync.agent.scan import scan
from session_sync.errors import AgentError, ProtocolError, UsageError
from session_sync.exchange import LOCAL_APPLY, ProgressCallback, exchange_files
from session_sync.knowledge import KnowledgePlan, land_knowledge, plan_knowledge
from session_sync.model.knowledge_report import KnowledgeReport
from session_sync.model.manifest import SessionManifest, manifest_from_scan
from session_sync.model.reconcile import Action, SyncPlan, SyncPolicy, plan_sync
from session_sync.model.report import ItemReport, SyncReport
from session_sync.model.wire import check_scan_answer
from session_sync.model.withheld import unreadable_reports, withhold
from session_sync.projects import remote_project_path
from session_sync.transports.base import Transport
from session_sync.transports.connection import DEFAULT_IO_TIMEOUT, AgentConnection

__all__ = [
    "ProgressCallback",
    "Survey",
    "SyncRequest",
    "remote_project_path",
    "run_sync",
    "run_syncs",
    "scan_local",
    "survey",
]


@attrs.frozen
class SyncRequest:
    """What to sync, between which project paths."""

    local_config: Path
    """This machine's Claude config dir."""
    local_path: str | None
    """The project's path here (None: find its dirs by ``repo`` alone)."""
    remote_path: str | None
    """The project's path on the other machine (``~/...``: under its home there)."""
    repo: str | None = None
    """The GitHub repository, to find project dirs by the git remote of their ``cwd``."""
    days: float = 7.0
    """Only sessions modified within this many days take part."""
    policy: SyncPolicy = attrs.field(factory=SyncPolicy)
    """Direction."""
    dry_run: bool = False
    """Plan and report, change nothing."""
    backup_retention_days: float = DEFAULT_BACKUP_RETENTION_DAYS
    """Backup sets older than this are pruned (a file's newest backup never is)."""
    folder_sync: bool = False
    """Sync the plain folder at ``local_path`` with the one at ``remote_path``
    (every file, any age; newer wins, backups, nothing deleted) instead of the
    project's sessions. Both paths must be absolute (``~`` allowed remotely)."""
    memory: bool = True
    """Sync Claude's auto memory of the project too (never in a folder sync)."""
    history: bool = True
    """Sync the project's prompt history lines too (never in a folder sync)."""


def _scan_request(
    path: str | None, request: SyncRequest, peer: SessionManifest | None
) -> ScanRequest:
    if request.folder_sync:
        if path is None:
            raise UsageError("a folder sync needs both folders' paths")
        return {
            "op": "scan",
            "folder": path,
            "peer_sizes": peer.sizes() if peer else {},
            "read_only": request.dry_run,
        }
    return {
        "op": "scan",
        "project_path": path,
        "repo": request.repo,
        "days": request.days,
        "want": [s.id for s in peer.sessions] if peer else [],
        "peer_sizes": peer.sizes() if peer else {},
        # A dry run changes nothing anywhere, not even the hash caches.
        "read_only": request.dry_run,
        "memory": request.memory,
        "history": request.history,
    }


def scan_local(request: SyncRequest, peer: SessionManifest | None = None) -> SessionManifest:
    """This machine's manifest (the agent's scan, run in-process)."""
    return manifest_from_scan(_local_answer(request, peer), folder=request.folder_sync)


def _local_answer(request: SyncRequest, peer: SessionManifest | None) -> ScanAnswer:
    try:
        with LOCAL_APPLY:  # a scan may clear temp files under the machine's lock too
            return scan(str(request.local_config), _scan_request(request.local_path, request, peer))
    except Refusal as exc:
        raise AgentError(f"this machine: {exc}") from None


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


@attrs.frozen
class Survey:
    """Both sides scanned and reconciled, nothing changed yet."""

    local: SessionManifest
    """This machine's manifest."""
    remote: SessionManifest
    """The other machine's manifest."""
    plan: SyncPlan
    """What a sync would do."""
    bytes_hashed: int
    """Bytes both sides read to hash files during the scans (the cache saves the rest)."""
    knowledge: KnowledgePlan | None = None
    """What the sync does with memory and prompt history (None: a folder sync)."""


def _survey(request: SyncRequest, connection: AgentConnection, moment: dt.datetime) -> Survey:
    home = connection.hello.get("home")
    try:
        remote_path = remote_project_path(
            request.remote_path, home if isinstance(home, str) else None
        )
    except ProtocolError as exc:
        exc.where = connection.transport.description
        raise
    request = attrs.evolve(request, remote_path=remote_path)
    # The light scan's memory and history are not needed: the second one's are.
    local_light = scan_local(attrs.evolve(request, memory=False, history=False))
    remote, remote_raw = _remote_scan(
        connection, _scan_request(request.remote_path, request, local_light), request.folder_sync
    )
    local_raw = _local_answer(request, remote)
    local = manifest_from_scan(local_raw, folder=request.folder_sync)
    hashed = local_light.bytes_hashed + local.bytes_hashed + remote.bytes_hashed
    if _missing_prefixes(remote, local):
        # The first scan only knew our recent sessions' sizes; a session old here
        # but grown there needs its prefix hash to be told apart from a divergence.
        remote, remote_raw = _remote_scan(
            connection, _scan_request(request.remote_path, request, local), request.folder_sync
        )
        hashed += remote.bytes_hashed
    plan = withhold(plan_sync(local, remote, request.policy, moment), local, remote)
    knowledge = None
    if not request.folder_sync:
        knowledge = plan_knowledge(
            request.local_config,
            local_raw,
            remote_raw,
            connection.transport.description,
            request.policy.direction,
        )
    return Survey(local, remote, plan, hashed, knowledge)


def _remote_scan(
    connection: AgentConnection, request: ScanRequest, folder: bool
) -> tuple[SessionManifest, dict[str, Any]]:
    """The other machine's manifest (and its answer), checked before anything reads it."""
    answer = connection.request(request)
    check_scan_answer(answer, connection.transport.description)
    return manifest_from_scan(answer, folder=folder), answer


def _missing_prefixes(remote: SessionManifest, local: SessionManifest) -> bool:
    """Whether a remote transcript is longer than ours but came without the hash
    of its prefix at our size."""
    for theirs in remote.sessions:
        ours = local.session(theirs.id)
        if ours is None:
            continue
        for file in theirs.files:
            mine = ours.file(file.rel)
            if (
                mine is not None
                and file.is_transcript
                and 0 < mine.complete_size < file.complete_size
                and file.prefix_size != mine.complete_size
            ):
                return True
    return False


def survey(
    request: SyncRequest,
    transport: Transport,
    *,
    now: dt.datetime | None = None,
    io_timeout: float | None = DEFAULT_IO_TIMEOUT,
) -> Survey:
    """Scan both sides and plan, changing nothing (for ``status``). ``io_timeout``:
    seconds the other side may go without sending a whole frame (None: forever)."""
    connection = AgentConnection(transport, io_timeout=io_timeout)
    try:
        return _survey(request, connection, now or dt.datetime.now(dt.timezone.utc))
    finally:
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
    connection = AgentConnection(transport, io_timeout=io_timeout, compress=compress)
    try:
        moment = now or dt.datetime.now(dt.timezone.utc)
        reports = [
            _run(request, connection, progress, moment, first=i == 0)
            for i, request in enumerate(requests)
        ]
        if after is not None:
            after(connection)
        return reports
    finally:
        connection.close()


def _run(
    request: SyncRequest,
    connection: AgentConnection,
    progress: ProgressCallback | None,
    moment: dt.datetime,
    *,
    first: bool,
) -> SyncReport:
    started = time.monotonic()
    # The first sync's counts include the connection's start (the agent's hello).
    wire_before = (
        (0, 0) if first else (connection.writer.frame_bytes, connection.reader.frame_bytes)
    )
    data_before = (connection.writer.data_bytes, connection.reader.data_bytes)
    trips_before = connection.round_trips
    found = _survey(request, connection, moment)
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
        bytes_sent=connection.writer.data_bytes - data_before[0],
        bytes_received=connection.reader.data_bytes - data_before[1],
        wire_bytes=(
            connection.writer.frame_bytes - wire_before[0],
            connection.reader.frame_bytes - wire_before[1],
        ),
        round_trips=connection.round_trips - trips_before,
        bytes_hashed=found.bytes_hashed,
        seconds=time.monotonic() - started,
        knowledge=learned,
    )
