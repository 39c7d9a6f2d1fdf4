"""Where a project's handoff is kept: ``<config>/session-sync/handoff/<project dir>/``.

``handoff.prefix.json``, ``handoff.delta.json`` and ``handoff.latest.json`` (each
written atomically, canonical JSON, so equal content is equal bytes), the
metrics log ``handoff.metrics.log`` (one JSON line per build, its last
``METRICS_KEEP`` lines kept) and ``hook.last`` (the combined hash the hook
printed last).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import attrs

from session_sync.agent.fsutil import write_atomic
from session_sync.agent.paths import encode_project_path
from session_sync.handoff.cache import handoff_root
from session_sync.handoff.handoff import Handoff, canonical

__all__ = [
    "METRICS_KEEP",
    "SCHEMA",
    "BuildMetrics",
    "HandoffStore",
]

METRICS_KEEP = 500
"""Lines the metrics log keeps."""

SCHEMA = 1
"""The saved files' schema version."""

_READ_LIMIT = 16 * 1024 * 1024
_TAIL = 2 * 1024 * 1024  # far more than METRICS_KEEP lines of a few hundred bytes


@attrs.frozen
class BuildMetrics:
    """One build, as the metrics log records it."""

    at: str
    """When (UTC)."""
    source: str
    """``cli`` or ``hook``."""
    prefix_hash: str
    """The build's prefix hash."""
    delta_hash: str
    """Its delta hash."""
    combined_hash: str
    """Its combined hash."""
    prefix_reused: bool
    """The prefix saved before had the same hash."""
    delta_reused: bool
    """The delta saved before had the same hash."""
    bytes_rendered: int
    """Bytes of text the build rendered (0: the hook printed nothing)."""
    sessions: int
    """Sessions the delta describes."""
    files: int
    """Changed files the delta lists."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_json(path: str) -> Any:
    try:
        with open(path, "rb") as fh:
            data = fh.read(_READ_LIMIT + 1)
    except OSError:
        return None
    if len(data) > _READ_LIMIT:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _dump(data: Any) -> bytes:
    text = json.dumps(data, sort_keys=True, indent=1)  # ASCII: see ``canonical``
    return (text + "\n").encode("ascii")


class HandoffStore:
    """One project's handoff files on this machine."""

    def __init__(self, config: str, project: str) -> None:
        self.project = project
        self.dir = os.path.join(handoff_root(config), encode_project_path(project, resolve=False))

    def file(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def saved_hashes(self) -> tuple[str | None, str | None, str | None]:
        """(prefix, delta, combined) hashes of the handoff saved last (None: none)."""
        latest = _read_json(self.file("handoff.latest.json"))
        if not isinstance(latest, dict):
            return None, None, None
        out = []
        for key in ("prefix_hash", "delta_hash", "combined_hash"):
            value = latest.get(key)
            out.append(value if isinstance(value, str) else None)
        return out[0], out[1], out[2]

    def _changed_at(self, combined: str) -> str:
        """When the content last changed: kept from the saved handoff while its hash
        is the same, so an unchanged state saves the same bytes."""
        latest = _read_json(self.file("handoff.latest.json"))
        if isinstance(latest, dict) and latest.get("combined_hash") == combined:
            when = latest.get("content_changed_at")
            if isinstance(when, str):
                return when
        return _now()

    def save(self, handoff: Handoff) -> None:
        """Write the three handoff files (each atomically; unchanged ones untouched)."""
        prefix = json.loads(canonical(handoff.prefix))
        delta = json.loads(canonical(handoff.delta))
        files = {
            "handoff.prefix.json": {
                "schema": SCHEMA,
                "prefix_hash": handoff.prefix_hash,
                "prefix": prefix,
            },
            "handoff.delta.json": {
                "schema": SCHEMA,
                "delta_hash": handoff.delta_hash,
                "delta": delta,
            },
            "handoff.latest.json": {
                "schema": SCHEMA,
                "project": self.project,
                "prefix_hash": handoff.prefix_hash,
                "delta_hash": handoff.delta_hash,
                "combined_hash": handoff.combined_hash,
                "content_changed_at": self._changed_at(handoff.combined_hash),
                "prefix": prefix,
                "delta": delta,
            },
        }
        for name, data in files.items():
            body = _dump(data)
            path = self.file(name)
            try:
                with open(path, "rb") as fh:
                    if fh.read(len(body) + 1) == body:
                        continue
            except OSError:
                pass
            write_atomic(path, body, 0o600)

    def append_metrics(self, metrics: BuildMetrics) -> None:
        """Add one line to the metrics log, keeping its last ``METRICS_KEEP`` lines."""
        path = self.file("handoff.metrics.log")
        line = json.dumps(attrs.asdict(metrics), sort_keys=True, separators=(",", ":"))
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                start = max(0, size - _TAIL)
                fh.seek(start)
                old = fh.read(_TAIL).split(b"\n")
        except FileNotFoundError:
            old, start = [], 0
        if start > 0:
            old = old[1:]  # the first may be cut by where the read began
        kept = [x for x in old if x.strip()][-(METRICS_KEEP - 1) :]
        body = b"".join(x + b"\n" for x in [*kept, line.encode("utf-8")])
        write_atomic(path, body, 0o600)

    def last_printed(self) -> str | None:
        """The combined hash the session-start hook printed last for this project."""
        data = _read_json(self.file("hook.last"))
        value = data.get("combined_hash") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None

    def record_printed(self, combined: str) -> None:
        write_atomic(self.file("hook.last"), _dump({"combined_hash": combined}), 0o600)

    @staticmethod
    def metrics_for(
        handoff: Handoff,
        saved: tuple[str | None, str | None, str | None],
        source: str,
        rendered: int,
    ) -> BuildMetrics:
        return BuildMetrics(
            at=_now(),
            source=source,
            prefix_hash=handoff.prefix_hash,
            delta_hash=handoff.delta_hash,
            combined_hash=handoff.combined_hash,
            prefix_reused=saved[0] == handoff.prefix_hash,
            delta_reused=saved[1] == handoff.delta_hash,
            bytes_rendered=rendered,
            sessions=len(handoff.delta.sessions),
            files=len(handoff.delta.files),
        )
