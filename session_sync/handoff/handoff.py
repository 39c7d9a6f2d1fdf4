"""Building the handoff: a prefix that changes rarely and a delta of recent work.

Both are frozen values; ``canonical`` is their JSON with sorted keys and no
whitespace, and each hash is the sha256 of that form, so the same state always
gives the same bytes and the same hashes. Nothing volatile goes in: no build
time, no "minutes ago"; a session's last message time is part of its content.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from session_sync.agent.gitinfo import git_origin_url
from session_sync.agent.paths import normalize_github_repo
from session_sync.gitlook import git_look
from session_sync.handoff.sessions import MACHINE_HERE, SessionSummary

__all__ = [
    "DEFAULT_SESSIONS",
    "HASH_LIMIT",
    "Delta",
    "DeltaSession",
    "FileStub",
    "Handoff",
    "Learnings",
    "MachinePath",
    "Prefix",
    "build_handoff",
    "canonical",
    "default_branch",
    "file_stub",
    "git_status",
    "relative_to_project",
    "sha256_hex",
]

DEFAULT_SESSIONS = 6
"""Recent sessions the delta describes."""

FILE_LIMIT = 60
"""Changed-file stubs the delta keeps (those of the newest sessions first)."""

HASH_LIMIT = 8 * 1024 * 1024
"""A changed file larger than this is not hashed (its stub says so)."""

TEXT_CUT = 400
"""Characters kept of a prompt or reply in the delta (the renderer may cut more)."""

LEARNINGS = os.path.join(".claude", "learnings.md")
LEARNINGS_HEAD = 600

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO in a file's place must not hang


@attrs.frozen
class MachinePath:
    """Where the project is on one machine, as its sessions record it."""

    machine: str
    """``here``, ``codespace`` or ``elsewhere``."""
    path: str
    """The project's path there."""


@attrs.frozen
class Learnings:
    """The project's learnings file (``.claude/learnings.md``), when there is one."""

    path: str
    """Relative to the project."""
    sha256: str
    """Of the whole file."""
    head: str
    """Its first lines (whole lines, at most ~600 characters)."""


@attrs.frozen
class Prefix:
    """What changes rarely: the project itself."""

    project: str
    """The project's path here."""
    repository: str | None
    """``owner/repo`` (or the origin URL when it is not GitHub's)."""
    default_branch: str | None
    """The origin's default branch, as the checkout knows it."""
    paths: tuple[MachinePath, ...]
    """The project's path on each machine its sessions came from, sorted."""
    learnings: Learnings | None
    """The learnings file, if present."""
    claude_md: bool
    """Whether the project has a CLAUDE.md (top level or ``.claude/``)."""


@attrs.frozen
class FileStub:
    """A file recent sessions edited: its state here, loaded in full only by ``--detail``."""

    path: str
    """Relative to the project (absolute when it is outside the project)."""
    status: str
    """``git status`` here (``M``, ``A``, ``??``...) or ``clean``, ``missing``,
    ``outside`` (not in the project), ``no git``."""
    size: int | None
    """Bytes here (None: not here)."""
    sha256: str | None
    """sha256 here (None: not here, or over ``HASH_LIMIT``)."""
    sessions: tuple[str, ...]
    """The recent sessions (ids) that touched it, newest first."""


@attrs.frozen
class DeltaSession:
    """One recent session, as much as a new session needs to know of it."""

    id: str
    """Its uuid."""
    machine: str
    """Where it was written."""
    cwd: str | None
    """Its recorded working directory."""
    last_message_at: str | None
    """Its last message's time (UTC)."""
    first_prompt: str | None
    """What the user asked first (cut)."""
    last_prompt: str | None
    """What the user asked last (cut)."""
    files: tuple[str, ...]
    """The files it edited (project-relative), first touched first."""
    todos: tuple[tuple[str, str], ...]
    """Its last todo list: (status, content)."""
    last_assistant_text: str | None
    """Its last reply (cut)."""
    open_here: bool
    """Open in a Claude on this machine right now."""


@attrs.frozen
class Delta:
    """What changes fast: the recent work, across machines."""

    sessions: tuple[DeltaSession, ...]
    """The newest sessions first."""
    files: tuple[FileStub, ...]
    """Each changed file once."""


@attrs.frozen
class Handoff:
    """A built handoff and its hashes."""

    prefix: Prefix
    """The stable part."""
    delta: Delta
    """The recent part."""
    prefix_hash: str
    """sha256 of ``canonical(prefix)``."""
    delta_hash: str
    """sha256 of ``canonical(delta)``."""
    combined_hash: str
    """sha256 of ``prefix_hash + delta_hash``."""


def canonical(value: Any) -> bytes:
    """The canonical JSON of an attrs value (or plain data): sorted keys, no spaces.

    ``attrs.asdict`` rather than cattrs: these values hold only text, numbers,
    booleans, tuples and other such values, and cattrs' import would double the
    hook's time.
    """
    data = attrs.asdict(value) if attrs.has(type(value)) else value
    # ASCII (``\\uXXXX``): a transcript's text may hold a lone surrogate (a JS string
    # cut mid-emoji), which no UTF-8 encoder takes.
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("ascii")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def default_branch(project: str) -> str | None:
    """The origin's default branch as the checkout records it (``origin/HEAD``)."""
    out = git_look(project, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", timeout=10)
    ref = "" if out is None else out.decode("utf-8", "replace").strip()
    prefix = "refs/remotes/origin/"
    return ref[len(prefix) :] if ref.startswith(prefix) else None


def _learnings(project: str) -> Learnings | None:
    data = _read_regular(os.path.join(project, LEARNINGS), HASH_LIMIT)
    if data is None:
        return None
    text = data.decode("utf-8", "replace")
    head = []
    used = 0
    for line in text.split("\n"):
        if used + len(line) > LEARNINGS_HEAD:
            break
        head.append(line)
        used += len(line) + 1
    return Learnings(LEARNINGS, sha256_hex(data), "\n".join(head).strip())


def _read_regular(path: str, limit: int) -> bytes | None:
    """A regular file's bytes (never through a link), None if absent or over ``limit``."""
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        return fh.read(limit + 1)


def build_prefix(project: str, sessions: Sequence[SessionSummary]) -> Prefix:
    origin = git_origin_url(project)
    repository = normalize_github_repo(origin) or origin
    paths = {MachinePath(MACHINE_HERE, project)}
    for s in sessions:
        if s.cwd and s.machine != MACHINE_HERE:
            paths.add(MachinePath(s.machine, s.cwd))
    claude_md = any(
        os.path.isfile(os.path.join(project, p)) for p in ("CLAUDE.md", ".claude/CLAUDE.md")
    )
    return Prefix(
        project=project,
        repository=repository,
        default_branch=default_branch(project),
        paths=tuple(sorted(paths, key=lambda m: (m.machine != MACHINE_HERE, m.machine, m.path))),
        learnings=_learnings(project),
        claude_md=claude_md,
    )


def relative_to_project(
    path: str, cwd: str | None, project: str, first_cwd: str | None = None
) -> str:
    """A path a session's tool call gave, relative to the project (its ``cwd`` there,
    or the project here); an absolute path outside both stays as it is."""
    for root in (cwd, first_cwd, project):
        if root and path.startswith(root.rstrip("/") + "/"):
            rel = os.path.normpath(path[len(root.rstrip("/")) + 1 :])
            if rel != ".." and not rel.startswith("../"):
                return rel
    return path


_GIT_STATUS_ARGS = ("status", "--porcelain=v1", "-z", "--untracked-files=all")


def git_status(project: str, rels: Iterable[str]) -> dict[str, str] | None:
    """``git status --porcelain`` codes of ``rels`` here (absent: clean); None: no git."""
    wanted = sorted(set(rels))
    if not wanted:
        return {}
    out = git_look(project, *_GIT_STATUS_ARGS, "--", *wanted)
    if out is None:
        return None
    codes: dict[str, str] = {}
    fields = out.split(b"\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        code = entry[:2].decode("ascii", "replace").strip()
        codes[os.fsdecode(entry[3:])] = code
        if code.startswith(("R", "C")):
            i += 1  # the rename's source follows
    return codes


def file_stub(
    project: str, rel: str, status: dict[str, str] | None, ids: Sequence[str]
) -> FileStub:
    if os.path.isabs(rel):
        return FileStub(rel, "outside", None, None, tuple(ids))
    path = os.path.join(project, rel)
    try:
        st = os.lstat(path)
    except OSError:
        st = None
    code = "no git" if status is None else status.get(rel, "clean")
    if st is None or not stat.S_ISREG(st.st_mode):
        return FileStub(
            rel, code if code not in ("clean", "no git") else "missing", None, None, tuple(ids)
        )
    data = _read_regular(path, HASH_LIMIT)
    digest = sha256_hex(data) if data is not None else None
    return FileStub(rel, code, st.st_size, digest, tuple(ids))


def _cut(text: str | None) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= TEXT_CUT else flat[: TEXT_CUT - 1] + "\u2026"


def build_delta(
    project: str, sessions: Sequence[SessionSummary], *, limit: int = DEFAULT_SESSIONS
) -> Delta:
    """The ``limit`` newest sessions that said something, and the files they edited."""
    chosen = [s for s in sessions if s.first_prompt or s.edited][:limit]
    out = []
    touched: dict[str, list[str]] = {}
    for s in chosen:
        files = []
        for edit in s.edited:
            rel = relative_to_project(edit.path, s.cwd, project, s.first_cwd)
            if rel not in files:
                files.append(rel)
                touched.setdefault(rel, []).append(s.id)
        out.append(
            DeltaSession(
                id=s.id,
                machine=s.machine,
                cwd=s.cwd,
                last_message_at=s.last_message_at,
                first_prompt=_cut(s.first_prompt),
                last_prompt=_cut(s.last_prompt),
                files=tuple(files),
                todos=tuple((t.status, _cut(t.content) or "") for t in s.todos or ()),
                last_assistant_text=_cut(s.last_assistant_text),
                open_here=s.open_here,
            )
        )
    rels = list(touched)[:FILE_LIMIT]
    status = git_status(project, [r for r in rels if not os.path.isabs(r)])
    stubs = tuple(file_stub(project, rel, status, touched[rel]) for rel in sorted(rels))
    return Delta(sessions=tuple(out), files=stubs)


def build_handoff(
    project: str, sessions: Sequence[SessionSummary], *, limit: int = DEFAULT_SESSIONS
) -> Handoff:
    """The handoff of ``project`` from its sessions (newest first, as
    ``project_sessions`` gives them)."""
    prefix = build_prefix(project, sessions)
    delta = build_delta(project, sessions, limit=limit)
    prefix_hash = sha256_hex(canonical(prefix))
    delta_hash = sha256_hex(canonical(delta))
    combined = sha256_hex((prefix_hash + delta_hash).encode("ascii"))
    return Handoff(prefix, delta, prefix_hash, delta_hash, combined)
