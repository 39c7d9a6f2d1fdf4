"""This machine's side of a survey: its scans (the agent's, run in-process), the
requests that tell the other side what we have, and one hash cache per config.

A sync's first scans start before it connects (``FirstScans``, on a thread), so
this machine is scanned while the other one logs in and starts its agent.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import attrs

from session_sync.agent.hashcache import HashCache
from session_sync.agent.messages import ScanAnswer, ScanRequest
from session_sync.agent.protocol import Refusal
from session_sync.agent.scan import scan
from session_sync.agent.shared import shared_listings
from session_sync.errors import AgentError, SessionSyncError, UsageError
from session_sync.exchange import LOCAL_APPLY
from session_sync.model.manifest import Parsed, SessionManifest, manifest_from_scan
from session_sync.sync_request import SyncRequest

__all__ = [
    "SCANNED_FACTS",
    "FirstScans",
    "LocalCaches",
    "Peer",
    "answered_for",
    "local_answer",
    "scan_local",
    "scan_request",
]


class Peer(NamedTuple):
    """What a scan request tells of the other side: its session ids and sizes."""

    want: list[str]
    """The other side's session ids (described here too, however old)."""
    sizes: dict[str, int]
    """``{rel: complete_size}`` there, for the prefix hashes here."""

    @classmethod
    def of(cls, manifest: SessionManifest | None) -> Peer:
        if manifest is None:
            return cls([], {})
        return cls([s.id for s in manifest.sessions], manifest.sizes())


def scan_request(path: str | None, request: SyncRequest, peer: Peer) -> ScanRequest:
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
    return manifest_from_scan(local_answer(request, peer, cache), folder=request.folder_sync)


def local_answer(
    request: SyncRequest, peer: SessionManifest | None, cache: HashCache | None = None
) -> ScanAnswer:
    try:
        with LOCAL_APPLY:  # a scan may clear temp files under the machine's lock too
            return scan(
                str(request.local_config),
                scan_request(request.local_path, request, Peer.of(peer)),
                cache=cache,
            )
    except Refusal as exc:
        raise AgentError(f"this machine: {exc}") from None


class LocalCaches:
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


SCANNED_FACTS = (
    "sessions",
    "duplicates",
    "ignored",
    "project_dirs",
    "new_session_dir",
    "older_sessions",
    "oldest_older_mtime",
)
"""What of a scan answer a second scan for the other side's ids and sizes may change."""


def answered_for(
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
    again = local_answer(
        # Not read-only unless the sync is: the first scan (which may run before
        # the connection is known to work) changes nothing, so this one clears
        # the temp files a killed sync left.
        attrs.evolve(request, memory=False, history=False),
        remote,
        cache,
    )
    rehashed = int(again["bytes_hashed"])
    if all(again.get(key) == first.get(key) for key in SCANNED_FACTS):
        return first, first_manifest, rehashed
    # The first scan's memory and history stand: the second did not read them.
    merged = again.copy()
    for key in ("memory", "history"):
        if key in first:
            merged[key] = first[key]
    return merged, manifest_from_scan(merged, folder=request.folder_sync, parsed=parsed), rehashed


class FirstScans:
    """Our first scan of each request, on a thread from the moment this is made.

    A sync makes it before it connects: this machine's scans then overlap the
    other side's login and agent start, which are only waits here. It holds
    ``shared_listings`` until ``close`` (the survey's second scans reuse what
    these read), so it is closed when the survey is done, before any apply.
    """

    def __init__(self, requests: Sequence[SyncRequest]) -> None:
        self.caches = LocalCaches()
        """The hash caches the scans loaded (the survey's second scans use them too)."""
        self._requests = list(requests)
        self._answers: list[ScanAnswer | SessionSyncError] = []
        self._failure: BaseException | None = None
        self._listings = contextlib.ExitStack()
        self._listings.enter_context(shared_listings())
        self._thread = threading.Thread(target=self._scan, name="first scans", daemon=True)
        self._thread.start()

    def _scan(self) -> None:
        try:
            for request in self._requests:
                try:
                    # Read-only: a sync that cannot connect has changed nothing here.
                    first = attrs.evolve(request, dry_run=True)
                    self._answers.append(local_answer(first, None, self.caches.of(request)))
                except SessionSyncError as exc:
                    self._answers.append(exc)
        except BaseException as exc:  # a bug: raised where the answers are read
            self._failure = exc

    def answers(self) -> list[ScanAnswer | SessionSyncError]:
        """Each request's answer, or why it could not be scanned (waits for them)."""
        self._thread.join()
        if self._failure is not None:
            raise self._failure
        return self._answers

    def close(self) -> None:
        """Wait for the scans, then let go of the shared listings."""
        self._thread.join()
        self._listings.close()
