"""Surveying: both sides of one or many projects scanned and reconciled, nothing changed.

One project costs one scan request (two when a session old here grew there);
many projects (``--all``) cost the same: every project's scan rides in one
``scan_many`` request, and the projects whose prefixes are missing share one
more. The local side runs the agent's scan in-process.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import attrs

from session_sync.agent.backups import DEFAULT_BACKUP_RETENTION_DAYS
from session_sync.agent.hashcache import HashCache
from session_sync.agent.messages import ScanAnswer, ScanRequest
from session_sync.agent.protocol import Refusal
from session_sync.agent.scan import scan
from session_sync.agent.shared import shared_listings
from session_sync.errors import AgentError, ProtocolError, SessionSyncError, UsageError
from session_sync.exchange import LOCAL_APPLY
from session_sync.knowledge import KnowledgePlan, plan_knowledge
from session_sync.model.manifest import Parsed, SessionManifest, manifest_from_scan, scan_sizes
from session_sync.model.reconcile import SyncPlan, SyncPolicy, plan_sync
from session_sync.model.wire import check_scan_answer, check_scan_many
from session_sync.model.withheld import withhold
from session_sync.projects import remote_project_path
from session_sync.transports.connection import AgentConnection

__all__ = [
    "Survey",
    "SyncRequest",
    "missing_prefixes",
    "scan_local",
    "survey_many",
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
    paranoid: bool = False
    """Every append re-reads its destination whole and swaps in a staged copy,
    even when the destination is exactly as the scan saw it (same inode, size and
    mtime), where it is otherwise written in place after reading only its tail."""
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


class _Peer(NamedTuple):
    """What a scan request tells of the other side: its session ids and sizes."""

    want: list[str]
    """The other side's session ids (described here too, however old)."""
    sizes: dict[str, int]
    """``{rel: complete_size}`` there, for the prefix hashes here."""

    @classmethod
    def of(cls, manifest: SessionManifest | None) -> _Peer:
        if manifest is None:
            return cls([], {})
        return cls([s.id for s in manifest.sessions], manifest.sizes())


def _scan_request(path: str | None, request: SyncRequest, peer: _Peer) -> ScanRequest:
    if request.folder_sync:
        if path is None:
            raise UsageError("a folder sync needs both folders' paths")
        return {
            "op": "scan",
            "folder": path,
            "peer_sizes": peer.sizes,
            "read_only": request.dry_run,
        }
    return {
        "op": "scan",
        "project_path": path,
        "repo": request.repo,
        "days": request.days,
        "want": peer.want,
        "peer_sizes": peer.sizes,
        # A dry run removes no temp file and writes nothing but the hash cache.
        "read_only": request.dry_run,
        "memory": request.memory,
        "history": request.history,
    }


def scan_local(
    request: SyncRequest, peer: SessionManifest | None = None, cache: HashCache | None = None
) -> SessionManifest:
    """This machine's manifest (the agent's scan, run in-process); ``cache``: a hash
    cache shared by several scans, saved by its owner."""
    return manifest_from_scan(_local_answer(request, peer, cache), folder=request.folder_sync)


def _local_answer(
    request: SyncRequest, peer: SessionManifest | None, cache: HashCache | None = None
) -> ScanAnswer:
    try:
        with LOCAL_APPLY:  # a scan may clear temp files under the machine's lock too
            return scan(
                str(request.local_config),
                _scan_request(request.local_path, request, _Peer.of(peer)),
                cache=cache,
            )
    except Refusal as exc:
        raise AgentError(f"this machine: {exc}") from None


class _LocalCaches:
    """One hash cache per local config dir for a whole survey: loaded once, saved once."""

    def __init__(self) -> None:
        self.caches: dict[Path, HashCache] = {}

    def of(self, request: SyncRequest) -> HashCache:
        config = request.local_config
        if config not in self.caches:
            self.caches[config] = HashCache(str(config))
        return self.caches[config]

    def save(self) -> None:
        # Dry runs too: the cache is session-sync's own state, not the user's files.
        with LOCAL_APPLY:
            for cache in self.caches.values():
                cache.finish()


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
    requests: Sequence[SyncRequest], connection: AgentConnection, moment: dt.datetime
) -> list[Survey | SessionSyncError]:
    """Survey every request over ``connection`` in one scan round trip (two when a
    session old here grew there); a project that could not be scanned is its
    error in its place, and the others go on."""
    with shared_listings():  # this machine's dirs are listed once for all the scans
        return _survey_many(requests, connection, moment)


def _survey_many(
    requests: Sequence[SyncRequest], connection: AgentConnection, moment: dt.datetime
) -> list[Survey | SessionSyncError]:
    resolved = [_resolved(r, connection) for r in requests]
    results: list[Survey | SessionSyncError | None] = [None] * len(resolved)
    caches = _LocalCaches()
    firsts: dict[int, ScanAnswer] = {}
    for i, request in enumerate(resolved):
        try:
            firsts[i] = _local_answer(request, None, caches.of(request))
        except SessionSyncError as exc:
            results[i] = exc
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
            _scan_request(
                resolved[i].remote_path,
                resolved[i],
                _Peer(*scan_sizes(firsts[i], folder=resolved[i].folder_sync)),
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
            local_raw, local, rehashed = _answered_for(
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
                _scan_request(resolved[i].remote_path, resolved[i], _Peer.of(found[i].local))
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


_SCANNED_FACTS = (
    "sessions",
    "duplicates",
    "ignored",
    "project_dirs",
    "new_session_dir",
    "older_sessions",
    "oldest_older_mtime",
)
"""What of a scan answer a second scan for the other side's ids and sizes may change."""


def _answered_for(
    request: SyncRequest,
    remote: SessionManifest,
    first: ScanAnswer,
    first_manifest: SessionManifest,
    cache: HashCache,
    parsed: Parsed,
) -> tuple[ScanAnswer, SessionManifest, int]:
    """Our scan as it answers the other side's: its sessions described here too,
    however old here or in whichever dir, and our prefix hashes at its sizes.
    Returns the answer, its manifest and the bytes the second scan hashed.

    The second scan re-walks only what ``shared_listings`` knows already and
    re-describes only files whose prefix hash is new (``session_files``); when its
    facts are the first's (a no-op: the same sessions, sizes equal), the first
    answer and its manifest stand, so nothing is parsed twice."""
    again = _local_answer(
        attrs.evolve(request, memory=False, history=False, dry_run=True), remote, cache
    )
    rehashed = int(again["bytes_hashed"])
    if all(again.get(key) == first.get(key) for key in _SCANNED_FACTS):
        return first, first_manifest, rehashed
    # The first scan's memory and history stand: the second did not read them.
    merged = again.copy()
    for key in ("memory", "history"):
        if key in first:
            merged[key] = first[key]
    return merged, manifest_from_scan(merged, folder=request.folder_sync, parsed=parsed), rehashed


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
