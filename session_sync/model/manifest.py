"""What one machine has: the values a scan produces and the reconciler reads.

The agent answers a scan with plain JSON; ``manifest_from_scan`` turns it into
these frozen values (by hand: cattrs' import would cost every sync 60 ms),
parsing the tail timestamps into timezone-aware times on the way.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import attrs

from session_sync.agent.paths import is_session_id
from session_sync.timestamps import latest_timestamp

__all__ = [
    "FileEntry",
    "IgnoredFile",
    "Parsed",
    "ProjectDir",
    "SessionEntry",
    "SessionManifest",
    "manifest_from_scan",
    "scan_sizes",
]


def _index_of(items: str, key: str) -> Any:
    """The default of a field holding the instance's tuple ``items`` by each one's
    ``key`` (the first of a key wins), built once: a lookup in a loop is O(1)."""
    return attrs.Factory(
        lambda self: {getattr(x, key): x for x in reversed(getattr(self, items))},
        takes_self=True,
    )


@attrs.frozen
class FileEntry:
    """One file of a session: the transcript or a file under ``<uuid>/``."""

    rel: str
    """Path relative to the project dir: ``<uuid>.jsonl`` or ``<uuid>/subagents/...``."""
    complete_size: int
    """Bytes that count: up to the last complete line for ``.jsonl``, else the whole file
    (``file_size`` is what is on disk)."""
    file_size: int
    """Bytes on disk, a partly written last line included."""
    mtime_ns: int
    """Modification time, nanoseconds since the epoch."""
    mode: int
    """Permission bits (``0o600`` for transcripts)."""
    sha256: str
    """sha256 of the first ``complete_size`` bytes."""
    last_message_time: dt.datetime | None = None
    """Latest timestamp in the last lines (``.jsonl`` only); None when there is none."""
    malformed: int = 0
    """Lines passed over while looking for the last timestamp."""
    prefix_size: int | None = None
    """The other side's size, when ours is larger."""
    prefix_sha256: str | None = None
    """sha256 of our first ``prefix_size`` bytes: equal to the other side's sha256
    exactly when the other copy is a byte prefix of ours."""
    suffix_sha256: str | None = None
    """sha256 of our bytes after ``prefix_size``: what an append sends, so the
    receiver checks them without re-reading its own copy."""
    plain: bool = False
    """A synced folder's file: never a transcript, whatever its name."""
    committed: bool | None = None
    """A synced folder's file that git tracks and that is unchanged since HEAD, so
    this copy can be had again from git (None: not known, not in a checkout)."""
    restored: bool = False
    """Exactly as ``backups restore`` put it back on this machine: the user chose
    this copy, so it wins a divergence (and is never replaced by the other)."""

    @property
    def is_transcript(self) -> bool:
        """Compared by content as lines (``.jsonl`` of a session), not by mtime."""
        return self.rel.endswith(".jsonl") and not self.plain

    @property
    def has_partial_tail(self) -> bool:
        """A last line without its newline follows the complete lines."""
        return self.file_size != self.complete_size


@attrs.frozen
class SessionEntry:
    """One session on one machine."""

    id: str
    """The session uuid (the transcript's file name without ``.jsonl``)."""
    dir: str
    """The project dir (encoded name) that holds it on this machine."""
    recent: bool
    """Modified within ``--days`` here."""
    active: bool
    """Open in Claude right now here: ``live``, or, on a machine without the
    client's registry, modified in the last 60 s."""
    files: tuple[FileEntry, ...]
    """The transcript first, then the files under ``<uuid>/``."""
    unreadable: tuple[tuple[str, str], ...] = ()
    """(path, reason) of files that could not be read during the scan, or that
    are symbolic links (never followed)."""
    live: bool = False
    """Open in a running Claude process, by the client's registry on that machine."""

    _by_rel: dict[str, FileEntry] = attrs.field(
        init=False, eq=False, repr=False, default=_index_of("files", "rel")
    )
    """``files`` by ``rel`` (the first of a rel wins), built once: a lookup in a loop is O(1)."""

    def file(self, rel: str) -> FileEntry | None:
        """The file at ``rel``, if this side has it."""
        return self._by_rel.get(rel)


@attrs.frozen
class IgnoredFile:
    """A file that looked like a session's but is not one: left out, with why."""

    dir: str
    """The project dir it is in (or, for a session dropped here, its dir)."""
    name: str
    """Its name (relative to the project dir)."""
    reason: str
    """Why it takes no part, in words."""


@attrs.frozen
class ProjectDir:
    """A project dir found to hold the project's sessions on one machine."""

    name: str
    """The encoded dir name under ``<config>/projects``."""
    cwd: str | None
    """The working directory its sessions recorded (the truth: names are lossy)."""


@attrs.frozen
class SessionManifest:
    """Everything one machine has of one project."""

    config_dir: str
    """The Claude config dir on that machine."""
    hostname: str
    """The machine's host name."""
    new_session_dir: str | None
    """Where sessions new to this machine go: the encoding of the project path there."""
    project_path: str | None
    """The project's path on that machine (after realpath)."""
    project_dirs: tuple[ProjectDir, ...]
    """Project dirs that hold the project's sessions."""
    sessions: tuple[SessionEntry, ...]
    """The sessions that take part (recent, or asked for by the other side)."""
    files_hashed: int = 0
    """Files read in full by this scan (the hash cache saves the rest)."""
    registry: bool = False
    """Whether that machine has the client's live-process registry (then a
    session is open exactly when ``live``)."""
    ignored: tuple[IgnoredFile, ...] = ()
    """Files of the project's dirs that are not sessions' (non-uuid names)."""
    bytes_hashed: int = 0
    """Bytes read in full by this scan."""
    older_sessions: int = 0
    """The project's sessions there that ``--days`` leaves out (and the other side
    did not ask for)."""
    days_for_older: int | None = None
    """The ``--days`` that would take all of them in (None: there are none)."""

    _by_id: dict[str, SessionEntry] = attrs.field(
        init=False, eq=False, repr=False, default=_index_of("sessions", "id")
    )
    """``sessions`` by id (the first of an id wins), built once: a lookup in a loop is O(1)."""

    def session(self, session_id: str) -> SessionEntry | None:
        """The session with that id, if this side has it."""
        return self._by_id.get(session_id)

    def sizes(self) -> dict[str, int]:
        """``{rel: size}`` of every file, as the other side's ``peer_sizes``."""
        return {f.rel: f.complete_size for s in self.sessions for f in s.files}


def _structure_file(raw: dict[str, Any]) -> FileEntry:
    return FileEntry(
        rel=raw["rel"],
        complete_size=int(raw["complete_size"]),
        file_size=int(raw["file_size"]),
        mtime_ns=int(raw["mtime_ns"]),
        mode=int(raw["mode"]),
        sha256=str(raw["sha256"]),
        last_message_time=latest_timestamp(raw.get("timestamps") or []),
        malformed=int(raw.get("malformed") or 0),
        prefix_size=raw.get("prefix_size"),
        prefix_sha256=raw.get("prefix_sha256"),
        suffix_sha256=raw.get("suffix_sha256"),
        plain=bool(raw.get("plain")),
        committed=raw.get("committed"),
        restored=bool(raw.get("restored", False)),
    )


NOT_A_SESSION_ID = "not a session: its id is not a session uuid (left out here)"
"""Why a far side's session is dropped by the controller (the agent never lists one)."""


NOT_THE_SESSIONS_FILE = "not a file of its session (left out here)"


def _belongs(fact: Mapping[str, Any], session_id: str) -> bool:
    """Whether a file fact is of that session: ``<id>.jsonl``, ``<id>/...``, or
    (only as an unreadable one) the session's folder itself, a refused link."""
    rel = fact["rel"]
    # ``session_id`` is a session uuid (every caller has checked): this is what
    # ``session_of_rel(rel) == session_id`` says, without parsing ``rel``.
    return (
        rel == session_id + ".jsonl"
        or rel.startswith(session_id + "/")
        or ("error" in fact and rel == session_id)
    )


class Parsed:
    """The entries one survey's manifests parsed, each by the facts it came from.

    A manifest whose file (or session) facts are exactly ones parsed before
    shares that frozen entry instead of parsing it again: in a sync with little
    to do, the other side's files are mostly ours byte for byte (same size,
    sha256, mtime, mode), and our second scan's sessions are our first's."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[Mapping[str, Any], FileEntry]] = {}
        self._sessions: dict[str, tuple[Mapping[str, Any], SessionEntry]] = {}

    def file(self, raw: dict[str, Any]) -> FileEntry:
        known = self._files.get(raw["rel"])
        if known is not None and known[0] == raw:
            return known[1]
        entry = _structure_file(raw)
        self._files[raw["rel"]] = (raw, entry)
        return entry

    def session(self, raw: dict[str, Any], folder: bool) -> SessionEntry:
        key = f"{raw['dir']}/{raw['id']}"
        known = self._sessions.get(key)
        if known is not None and known[0] == raw:
            return known[1]
        entry = _structure_session(raw, folder, self)
        self._sessions[key] = (raw, entry)
        return entry


def _structure_session(raw: dict[str, Any], folder: bool, parsed: Parsed | None) -> SessionEntry:
    session_id = raw["id"]
    # A session's files are <id>.jsonl and <id>/...; anything else named in an
    # answer is dropped before it can be planned (a folder sync keeps its rules).
    listed = [f for f in raw["files"] if folder or _belongs(f, session_id)]
    structure = _structure_file if parsed is None else parsed.file
    files = tuple(structure(f) for f in listed if "error" not in f)
    unreadable = tuple((f["rel"], f["error"]) for f in listed if "error" in f)
    return SessionEntry(
        id=session_id,
        dir=raw["dir"],
        recent=bool(raw["recent"]),
        active=bool(raw["active"]),
        files=files,
        unreadable=unreadable,
        live=bool(raw.get("live")),
    )


def _dropped(raw: Mapping[str, Any], folder: bool) -> list[IgnoredFile]:
    """What of a scan answer is not a session's: listed as ignored, never planned."""
    out = [
        IgnoredFile(i["dir"], i["name"], i["reason"])
        for i in raw.get("ignored") or ()
        if isinstance(i, dict) and all(isinstance(i.get(k), str) for k in ("dir", "name", "reason"))
    ]
    if folder:
        return out
    for session in raw["sessions"]:
        if not is_session_id(session["id"]):
            out.append(IgnoredFile(session["dir"], session["id"], NOT_A_SESSION_ID))
            continue
        for f in session["files"]:
            if not _belongs(f, session["id"]):
                out.append(IgnoredFile(session["dir"], f["rel"], NOT_THE_SESSIONS_FILE))
    return out


def manifest_from_scan(
    raw: Mapping[str, Any], *, folder: bool = False, parsed: Parsed | None = None
) -> SessionManifest:
    """The manifest in an agent's scan answer (``folder``: of a folder sync;
    ``parsed``: entries to share with the survey's other manifests).

    Sessions whose id is not a session uuid, and files not of their session,
    are left out and listed in ``ignored`` (the agent lists none: a far side
    that does is not trusted with them)."""
    sessions = [s for s in raw["sessions"] if folder or is_session_id(s["id"])]
    if parsed is not None:
        structured = tuple(parsed.session(s, folder) for s in sessions)
    else:
        structured = tuple(_structure_session(s, folder, None) for s in sessions)
    return SessionManifest(
        config_dir=raw["config_dir"],
        hostname=raw.get("hostname", ""),
        new_session_dir=raw.get("new_session_dir"),
        project_path=raw.get("project_path"),
        project_dirs=tuple(ProjectDir(d["name"], d.get("cwd")) for d in raw["project_dirs"]),
        sessions=structured,
        files_hashed=int(raw.get("files_hashed", 0)),
        bytes_hashed=int(raw.get("bytes_hashed", 0)),
        registry=bool(raw.get("registry")),
        ignored=tuple(_dropped(raw, folder)),
        older_sessions=int(raw.get("older_sessions", 0)),
        days_for_older=_days_for(_finite(raw.get("now")), _finite(raw.get("oldest_older_mtime"))),
    )


def _days_for(now: float | None, oldest: float | None) -> int | None:
    """Whole days back from ``now`` to ``oldest``, and one more for the time a run takes."""
    if now is None or oldest is None or oldest > now:
        return None
    return min(math.ceil((now - oldest) / 86400.0) + 1, 365_000)


def _finite(value: Any) -> float | None:
    """A finite number as a float, else None (a far side's NaN says nothing)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        if number == number and abs(number) != float("inf"):
            return number
    return None


def scan_sizes(raw: Mapping[str, Any], *, folder: bool = False) -> tuple[list[str], dict[str, int]]:
    """The session ids and ``{rel: complete_size}`` of a scan answer: what
    ``manifest_from_scan(raw, folder=folder)``'s ``sessions`` and ``sizes()``
    hold, read without building the manifest (all the other side's scan request
    needs of it)."""
    ids: list[str] = []
    sizes: dict[str, int] = {}
    for session in raw["sessions"]:
        if not (folder or is_session_id(session["id"])):
            continue
        ids.append(session["id"])
        for f in session["files"]:
            if "error" not in f and (folder or _belongs(f, session["id"])):
                sizes[f["rel"]] = int(f["complete_size"])
    return ids, sizes
