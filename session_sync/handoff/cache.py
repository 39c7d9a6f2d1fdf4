"""``SummaryCache``: session summaries kept between runs, one per file version.

One JSON file, ``<config>/session-sync/handoff/sessions.cache.json``, maps a
transcript's path to its summary and the ``(size, mtime_ns)`` it was read at.
A summary is reused only while both match; the file is rewritten (atomically)
only when something changed (an entry whose transcript is gone drops out). A
cache that does not load is ignored: it only saves time.
"""

from __future__ import annotations

import json
import os
from typing import Any

from session_sync.agent.fsutil import write_atomic
from session_sync.handoff.summary import SessionSummary, summary_from_json, summary_to_json

__all__ = ["CACHE_FORMAT", "SummaryCache", "handoff_root"]

CACHE_FORMAT = 2
"""Bumped when a summary's shape or its reading changes: older caches are dropped."""


def handoff_root(config: str) -> str:
    """``<config>/session-sync/handoff``: where the handoff keeps its files."""
    return os.path.join(config, "session-sync", "handoff")


class SummaryCache:
    """Summaries by transcript path, valid for one ``(size, mtime_ns)``."""

    def __init__(self, config: str) -> None:
        self.path = os.path.join(handoff_root(config), "sessions.cache.json")
        self._entries: dict[str, dict[str, Any]] = {}
        self._used: set[str] = set()
        self._dirty = False
        self.hits = 0
        self.misses = 0
        try:
            with open(self.path, "rb") as fh:
                data = json.loads(fh.read())
        except (OSError, ValueError, RecursionError):
            return
        if isinstance(data, dict) and data.get("format") == CACHE_FORMAT:
            entries = data.get("sessions")
            if isinstance(entries, dict):
                self._entries = {k: v for k, v in entries.items() if isinstance(v, dict)}

    def get(self, path: str, size: int, mtime_ns: int) -> SessionSummary | None:
        """The summary read of ``path`` at this size and mtime, if kept."""
        raw = self._entries.get(path)
        if raw is None or raw.get("size") != size or raw.get("mtime_ns") != mtime_ns:
            self.misses += 1
            return None
        try:
            summary = summary_from_json(raw)
        except (TypeError, ValueError, KeyError, AttributeError):
            self.misses += 1
            return None
        self._used.add(path)
        self.hits += 1
        return summary

    def put(self, summary: SessionSummary) -> None:
        """Keep ``summary`` (its per-call fields are not stored)."""
        raw = summary_to_json(summary)
        self._entries[summary.path] = raw
        self._used.add(summary.path)
        self._dirty = True

    def save(self) -> None:
        """Write the cache if it changed. One file serves every project, so an entry
        not used this run (another project's) is kept while its transcript is on
        disk; one whose transcript is gone drops out. A failed write is ignored."""
        gone = {p for p in self._entries if p not in self._used and not os.path.lexists(p)}
        if not self._dirty and not gone:
            return
        kept = {p: self._entries[p] for p in sorted(self._entries) if p not in gone}
        data = json.dumps({"format": CACHE_FORMAT, "sessions": kept}, sort_keys=True)
        try:
            write_atomic(self.path, data.encode("utf-8"), 0o600)
        except OSError:
            return  # only a cache: the next run reads the transcripts again
        self._entries = kept
        self._dirty = False
