"""The shapes of the JSON messages on the wire, as ``TypedDict``s.

They document and type-check both ends; they validate nothing. Whatever the
other side sends is read with ``int()``/``str()`` and checked where it is used
(``paths.op_target`` confines names, ``apply.apply_file`` re-checks the disk),
because the far side may be hostile.
"""

from __future__ import annotations

from typing import Dict, List, Optional, TypedDict, Union

__all__ = [
    "ApplyOp",
    "BackupEntry",
    "ExchangeAnswer",
    "ExchangeRequest",
    "Expect",
    "FileFacts",
    "FileResult",
    "Hello",
    "HistoryEntry",
    "HistoryPart",
    "HistoryResult",
    "HistoryScan",
    "IgnoredFacts",
    "ListProjectsAnswer",
    "MemoryFileFacts",
    "MemoryPart",
    "MemoryResult",
    "MemoryScan",
    "MemoryWrite",
    "ProjectDirFacts",
    "ProjectFacts",
    "ScanAnswer",
    "ScanManyAnswer",
    "ScanManyRequest",
    "ScanRequest",
    "SendOp",
    "SessionFacts",
    "TargetOp",
]


class Hello(TypedDict):
    """The agent's first frame."""

    protocol: int
    config_dir: str
    hostname: str
    python: str
    home: str
    """``$HOME`` there (for ``~`` in a remote path)."""
    agent_sha256: Optional[str]
    """The digest of the modules it runs (None when not started from a payload)."""
    compression: List[str]
    """What it can inflate and deflate (``protocol.ZLIB``); absent from an agent
    that cannot (then nothing is compressed)."""


class ScanRequest(TypedDict, total=False):
    """``{"op": "scan", ...}``: what to describe."""

    op: str
    project_path: Optional[str]
    repo: Optional[str]
    days: float
    want: List[str]
    """Session ids to describe fully even when not recent here."""
    peer_sizes: Dict[str, int]
    """The other side's size of each dir-relative file, for prefix hashes."""
    read_only: bool
    """Status, a dry run: no temp file is removed (the hash cache is still saved)."""
    folder: str
    """A folder sync: the folder's absolute path (a path, never a flag)."""
    memory: bool
    """Also send the project's auto memory (``MemoryScan``)."""
    history: bool
    """Also send the project's prompt history lines (``HistoryScan``)."""


class FileFacts(TypedDict, total=False):
    """One file as scanned (``error`` instead of the facts when it cannot be read,
    or is a symbolic link, which is never followed)."""

    rel: str
    complete_size: int
    """Bytes that count: up to the last newline for a transcript, all for others."""
    file_size: int
    """Bytes on disk."""
    mtime_ns: int
    mode: int
    sha256: str
    """Of the first ``complete_size`` bytes."""
    timestamps: List[str]
    malformed: int
    """Lines passed over looking for the last timestamp (absent: none)."""
    prefix_size: Optional[int]
    """The other side's size, when ours is larger (absent: no prefix asked for)."""
    prefix_sha256: Optional[str]
    suffix_sha256: Optional[str]
    """Of the bytes from ``prefix_size`` to ``complete_size``: what an append sends."""
    plain: bool
    committed: bool
    restored: bool
    """Exactly as ``backups restore`` put it back (it wins a divergence)."""
    error: str


class SessionFacts(TypedDict):
    """One session as scanned."""

    id: str
    dir: str
    """Its project dir's name under ``projects/`` (a folder sync: the folder)."""
    recent: bool
    active: bool
    """Not to be written into: ``live``, or (only where there is no registry)
    modified in the last 60 s."""
    live: bool
    """Open in a running Claude process, by the client's registry."""
    files: List[FileFacts]


class IgnoredFacts(TypedDict):
    """A file of a project dir that looks like a transcript but is no session."""

    dir: str
    name: str
    reason: str


class ProjectDirFacts(TypedDict):
    """A project dir found to hold the project."""

    name: str
    cwd: Optional[str]


class MemoryFileFacts(TypedDict, total=False):
    """One file of ``memory/`` (``error`` instead of the facts when it is left out)."""

    name: str
    size: int
    mtime_ns: int
    mode: int
    sha256: str
    content: str
    """The whole file, UTF-8 (memory files are small and bounded)."""
    error: str


class MemoryScan(TypedDict, total=False):
    """The project's auto memory, in a scan answer."""

    dir: str
    """The project dir (the primary one) whose ``memory/`` this is."""
    files: List[MemoryFileFacts]
    error: str
    """Why the folder (or part of it) is left out."""


class HistoryEntry(TypedDict, total=False):
    """One line of ``history.jsonl``."""

    display: str
    pastedContents: Dict[str, object]
    timestamp: int
    project: str
    sessionId: str


class HistoryScan(TypedDict):
    """The project's prompt history lines, in a scan answer (oldest first)."""

    entries: List[HistoryEntry]
    truncated: bool
    """Older lines were left out (the bound)."""


class _ScanAnswerCore(TypedDict):
    """What every scan answer has."""

    config_dir: str
    hostname: str
    new_session_dir: Optional[str]
    """The project dir that sessions new to this machine go to."""
    project_path: Optional[str]
    project_dirs: List[ProjectDirFacts]
    sessions: List[SessionFacts]
    duplicates: List[Dict[str, str]]
    ignored: List[IgnoredFacts]
    """``.jsonl`` files of the project's dirs left out, each with why."""
    registry: bool
    """Whether this machine has the client's live-process registry (then
    ``active`` is ``live``; without one, a recent write counts too)."""
    files_hashed: int
    bytes_hashed: int
    now: float


class ScanAnswer(_ScanAnswerCore, total=False):
    """The answer to a scan: one machine's manifest of the project."""

    memory: MemoryScan
    """When asked for and the project has a path there."""
    history: HistoryScan
    """When asked for and the project has a path there."""
    older_sessions: int
    """The project's sessions that ``days`` left out (and ``want`` did not ask for)."""
    oldest_older_mtime: Optional[float]
    """The mtime (seconds) of the oldest of them (None: there are none)."""


class ScanManyRequest(TypedDict):
    """``{"op": "scan_many", "scans": [...]}``: several projects' scans in one trip."""

    op: str
    scans: List[ScanRequest]


class ScanManyAnswer(TypedDict):
    """One entry per scan, in order: its answer, or ``{"error": why}``."""

    answers: List[Union[ScanAnswer, Dict[str, str]]]


class _ProjectFactsCore(TypedDict):
    cwd: Optional[str]
    """The working directory its sessions recorded (None: none recorded one)."""
    dirs: List[str]
    """Its project dirs (names under ``projects/``)."""
    repo: Optional[str]
    """``owner/name`` of the GitHub remote of the checkout at ``cwd`` here, if any."""
    sessions: int
    """Its sessions modified within the request's days."""
    newest_mtime: float
    """The newest of their mtimes (seconds)."""


class ProjectFacts(_ProjectFactsCore, total=False):
    """One project of ``list_projects``: a recorded cwd and its project dirs."""

    recorded: str
    """With ``cwd`` None: the cwd its sessions record, another machine's (they
    all came from there): the dir is known here by its name only."""


class ListProjectsAnswer(TypedDict):
    """The answer to ``{"op": "list_projects", "days": N}``."""

    projects: List[ProjectFacts]
    more: int
    """Projects left out by the bound."""


class Expect(TypedDict):
    """The destination as the plan saw it; re-checked before anything is written."""

    complete_size: int
    file_size: int
    sha256: str


class ApplyOp(TypedDict, total=False):
    """One file change for the receiving agent."""

    action: str
    """``copy``, ``append`` or ``replace``."""
    dir: str
    """The project dir's name, or with ``in_folder`` the folder's absolute path."""
    in_folder: bool
    rel: str
    sha256: str
    """Of the whole resulting content."""
    size: int
    """The length of the whole resulting content (the source's ``complete_size``)."""
    mode: int
    mtime_ns: int
    reason: str
    expect: Optional[Expect]
    append_sha256: Optional[str]
    """An append: the sha256 of the bytes it sends (the source's ``suffix_sha256``);
    with it a destination as the scan saw it is not read again."""
    fork_rel: str
    """A replace: first keep the destination's counted bytes as this new file
    beside it (the other branch of a diverged session), or find them there."""


class SendOp(TypedDict, total=False):
    """One file range for the sending agent to stream."""

    dir: str
    in_folder: bool
    rel: str
    offset: int
    length: int


TargetOp = Union[ApplyOp, SendOp]
"""Either op: both name a file by ``dir``, ``in_folder`` and ``rel``."""


class FileResult(TypedDict, total=False):
    """What came of one ``ApplyOp`` (or one restored file)."""

    ok: bool
    error: str
    bytes: int
    backup: Optional[str]
    rel: str
    unchanged: bool
    note: str
    """Something the user should know about a change that was made."""


class MemoryWrite(TypedDict, total=False):
    """One memory file to write whole."""

    name: str
    content: str
    sha256: str
    """Of the content's UTF-8 bytes."""
    mode: int
    mtime_ns: int
    expect: Optional[str]
    """The sha256 of the file there as scanned (None: it must not exist)."""
    reason: str


class MemoryPart(TypedDict):
    """An exchange's memory writes, for one project dir."""

    dir: str
    writes: List[MemoryWrite]


class HistoryPart(TypedDict):
    """An exchange's prompt history lines to append, as lines of ``project``."""

    project: str
    entries: List[HistoryEntry]


class MemoryResult(TypedDict, total=False):
    """What came of one ``MemoryWrite``."""

    ok: bool
    error: str
    bytes: int
    backup: Optional[str]
    note: str


class HistoryResult(TypedDict, total=False):
    """What came of a ``HistoryPart``."""

    ok: bool
    added: int
    error: str
    note: str


class ExchangeRequest(TypedDict, total=False):
    """``{"op": "exchange", ...}``: apply these (their data follows), then send those."""

    op: str
    label: str
    apply: List[ApplyOp]
    send: List[SendOp]
    backup_retention_days: float
    paranoid: bool
    """Every append re-reads its destination whole (``apply_batch``)."""
    memory: MemoryPart
    history: HistoryPart


class ExchangeAnswer(TypedDict, total=False):
    """The results of the applies, in order."""

    results: List[FileResult]
    backup_set: Optional[str]
    pruned_backups: List[str]
    memory_results: List[MemoryResult]
    """One per ``MemoryWrite``, in order (when the request had some)."""
    history_result: HistoryResult


class BackupEntry(TypedDict, total=False):
    """One file kept in a backup set's ``backup.json`` (an on-disk format: keep it)."""

    dir: str
    rel: str
    sha256: str
    size: int
    mode: int
    mtime_ns: int
    replaced_by: str
    reason: str
    folder: str
    """For a file of a synced folder: the folder's path."""
