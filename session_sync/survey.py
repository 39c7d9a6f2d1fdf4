"""Surveying: both sides of one or many projects scanned and reconciled, nothing changed.

One project costs one scan request (two when a session old here grew there);
many projects (``--all``) cost the same: every project's scan rides in one
``scan_many`` request, and the projects whose prefixes are missing share one
more. The local side runs the agent's scan in-process (``local_scan``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import attrs

from session_sync.agent.messages import ScanAnswer, ScanRequest
from session_sync.agent.shared import shared_listings
from session_sync.errors import AgentError, ProtocolError, SessionSyncError
from session_sync.knowledge import KnowledgePlan, plan_knowledge
from session_sync.local_scan import FirstScans, Peer, answered_for, scan_local, scan_request
from session_sync.model.manifest import Parsed, SessionManifest, manifest_from_scan, scan_sizes
from session_sync.model.reconcile import SyncPlan, plan_sync
from session_sync.model.wire import check_scan_answer, check_scan_many
from session_sync.model.withheld import withhold
from session_sync.projects import remote_project_path
from session_sync.sync_request import SyncRequest
from session_sync.transports.connection import AgentConnection

__all__ = [
    "Survey",
    "SyncRequest",
    "missing_prefixes",
    "scan_local",
    "survey_many",
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
    request: SyncRequest
    """The request surveyed, its remote path resolved (``~`` expanded)."""
    knowledge: KnowledgePlan | None = None
    """What the sync does with memory and prompt history (None: a folder sync)."""


def _remote_answers(
    connection: AgentConnection,
    scans: Sequence[ScanRequest],
    many: bool,
    meanwhile: Callable[[], None] | None = None,
) -> list[dict[str, Any] | AgentError]:
    """The other machine's answers to ``scans`` in one round trip, each checked
    before anything reads it; a scan it refused is an ``AgentError`` in its place
    (``many``: always, through ``scan_many``; else one scan's refusal raises).
    ``meanwhile``: run once the request is on its way, before the answer is read
    (it must not raise: the answer would be left unread)."""
    where = connection.transport.description
    single = len(scans) == 1 and not many
    connection.send(scans[0] if single else {"op": "scan_many", "scans": list(scans)})
    connection.flush()
    if meanwhile is not None:
        meanwhile()
    answered = connection.receive()
    if single:
        check_scan_answer(answered, where)
        return [answered]
    check_scan_many(answered, where, len(scans))
    return [
        AgentError(f"the agent on {where} refused: {a['error']}") if "error" in a else a
        for a in answered["answers"]
    ]


def missing_prefixes(remote: SessionManifest, local: SessionManifest) -> bool:
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


def _resolved(request: SyncRequest, connection: AgentConnection) -> SyncRequest:
    home = connection.hello.get("home")
    try:
        remote_path = remote_project_path(
            request.remote_path, home if isinstance(home, str) else None
        )
    except ProtocolError as exc:
        exc.where = connection.transport.description
        raise
    return attrs.evolve(request, remote_path=remote_path)


class _Scanned(NamedTuple):
    """One project's scans, both sides: the manifests and the answers they came from."""

    remote: SessionManifest
    remote_raw: dict[str, Any]
    local: SessionManifest
    local_raw: ScanAnswer


def survey_many(
    requests: Sequence[SyncRequest],
    connection: AgentConnection,
    moment: dt.datetime,
    firsts: FirstScans | None = None,
) -> list[Survey | SessionSyncError]:
    """Survey every request over ``connection`` in one scan round trip (two when a
    session old here grew there); a project that could not be scanned is its
    error in its place, and the others go on. ``firsts``: our first scans of
    ``requests``, started already (before connecting); closed here."""
    try:
        with shared_listings():  # this machine's dirs are listed once for all the scans
            return _survey_many(requests, connection, moment, firsts or FirstScans(requests))
    finally:
        if firsts is not None:
            firsts.close()


def _survey_many(
    requests: Sequence[SyncRequest],
    connection: AgentConnection,
    moment: dt.datetime,
    scans: FirstScans,
) -> list[Survey | SessionSyncError]:
    resolved = [_resolved(r, connection) for r in requests]
    results: list[Survey | SessionSyncError | None] = [None] * len(resolved)
    caches = scans.caches
    firsts: dict[int, ScanAnswer] = {}
    for i, first in enumerate(scans.answers()):
        if isinstance(first, SessionSyncError):
            results[i] = first
        else:
            firsts[i] = first
    order = sorted(firsts)
    first_manifests: dict[int, SessionManifest] = {}
    # Each project's manifests share what is the same in them (``Parsed``).
    parsed = {i: Parsed() for i in order}

    def meanwhile() -> None:
        # While the other side scans, our manifests: the work here overlaps its.
        for i in order:
            first_manifests[i] = manifest_from_scan(
                firsts[i], folder=resolved[i].folder_sync, parsed=parsed[i]
            )

    many = len(requests) > 1  # one project's refusal must not stop the others
    answers = _remote_answers(
        connection,
        [
            scan_request(
                resolved[i].remote_path,
                resolved[i],
                Peer(*scan_sizes(firsts[i], folder=resolved[i].folder_sync)),
            )
            for i in order
        ],
        many,
        meanwhile,
    )
    # At this point every project scanned here has the other side's answer or error.
    found: dict[int, _Scanned] = {}
    hashed: dict[int, int] = {}
    for i, answer in zip(order, answers, strict=True):
        request = resolved[i]
        try:
            if isinstance(answer, AgentError):
                raise answer
            remote = manifest_from_scan(answer, folder=request.folder_sync, parsed=parsed[i])
            local_raw, local, rehashed = answered_for(
                request, remote, firsts[i], first_manifests[i], caches.of(request), parsed[i]
            )
        except SessionSyncError as exc:
            results[i] = exc
            continue
        found[i] = _Scanned(remote, answer, local, local_raw)
        hashed[i] = int(firsts[i]["bytes_hashed"]) + rehashed + remote.bytes_hashed
    # The first scans only knew our recent sessions' sizes; a session old here but
    # grown there needs its prefix hash to be told apart from a divergence.
    again = [i for i in sorted(found) if missing_prefixes(found[i].remote, found[i].local)]
    if again:
        rescans = _remote_answers(
            connection,
            [
                scan_request(resolved[i].remote_path, resolved[i], Peer.of(found[i].local))
                for i in again
            ],
            many,
        )
        for i, answer in zip(again, rescans, strict=True):
            if isinstance(answer, AgentError):
                results[i] = answer
                del found[i]
                continue
            remote = manifest_from_scan(answer, folder=resolved[i].folder_sync, parsed=parsed[i])
            found[i] = found[i]._replace(remote=remote, remote_raw=answer)
            hashed[i] += remote.bytes_hashed
    caches.save()
    for i, scanned in found.items():
        results[i] = _planned(resolved[i], connection, moment, scanned, hashed[i])
    return [r for r in results if r is not None]


def _planned(
    request: SyncRequest,
    connection: AgentConnection,
    moment: dt.datetime,
    scanned: _Scanned,
    hashed: int,
) -> Survey:
    local, remote = scanned.local, scanned.remote
    plan = withhold(plan_sync(local, remote, request.policy, moment), local, remote)
    knowledge = None
    if not request.folder_sync:
        knowledge = plan_knowledge(
            request.local_config,
            scanned.local_raw,
            scanned.remote_raw,
            connection.transport.description,
            request.policy.direction,
        )
    return Survey(local, remote, plan, hashed, request, knowledge)
