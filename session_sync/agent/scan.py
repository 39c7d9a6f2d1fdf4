"""Scanning: this machine's manifest of one project's sessions (or of a plain
folder), as the controller's ``model.manifest`` reads it.
"""

from __future__ import annotations

import os
import socket
import stat
import time
from typing import Dict, FrozenSet, Iterable, Iterator, List, Optional, Tuple

from .fsutil import LINK_REFUSED, remove_orphan_temps, walk_files
from .gitinfo import git_committed_files, git_origin_url
from .hashcache import HashCache, describe_file
from .history import scan_history
from .live import has_registry, live_session_ids
from .memory import scan_memory
from .messages import (
    FileFacts,
    IgnoredFacts,
    ProjectDirFacts,
    ScanAnswer,
    ScanRequest,
    SessionFacts,
)
from .paths import encode_project_path, encoded_names_match, is_session_id, repositories_match
from .protocol import JSON, Refusal
from .restored import load_restored, mark_restored
from .session_files import listed_stat, session_files
from .shared import remembered
from .transcript import first_cwd

__all__ = [
    "ACTIVE_WINDOW_SECONDS",
    "CWD_CANDIDATES",
    "FOLDER_SESSION_ID",
    "LINK_REFUSED",
    "NOT_A_SESSION",
    "is_plain_path",
    "matching_project_dirs",
    "recorded_cwds",
    "scan",
    "scan_folder",
]


ACTIVE_WINDOW_SECONDS = 60.0
"""On a machine without the client's live-process registry, a session modified
this recently counts as open in Claude (with a registry, the registry says)."""


CWD_CANDIDATES = 200


NOT_A_SESSION = "not a session: its name is not a session uuid"
"""Why a ``.jsonl`` file of a project dir is ignored (``memory.jsonl``, ``notes.jsonl``)."""


def _project_dir_matches(
    projects: str, name: str, encoded: Optional[str], real_path: Optional[str], repo: Optional[str]
) -> Tuple[bool, Optional[str]]:
    """Whether project dir ``name`` holds the project, and the cwd it records.

    Never by suffix: a dir matches when its name is the path's encoding, when a
    session in it recorded the same ``cwd``, or when that ``cwd`` is a checkout
    (here) of ``repo``.
    """
    if encoded is not None and encoded_names_match(name, encoded):
        return True, real_path
    first = None
    for cwd in recorded_cwds(projects, name):
        first = first or cwd
        if real_path is not None and (cwd == real_path or _realpath(cwd) == real_path):
            return True, cwd
        if repo and os.path.isdir(cwd) and repositories_match(git_origin_url(cwd), repo):
            return True, cwd
    return False, first


def matching_project_dirs(
    projects: str, names: Iterable[str], project_path: Optional[str], repo: Optional[str]
) -> List[ProjectDirFacts]:
    """The dirs among ``names`` (under ``projects``) that hold the project, each with
    the cwd it records: by the path's encoding, a recorded cwd, or a checkout of
    ``repo`` here; never by suffix (``_project_dir_matches``). The one rule the scan,
    the handoff and the learnings find a project's dirs by."""
    real_path = os.path.realpath(project_path) if project_path else None
    encoded = encode_project_path(project_path) if project_path else None
    found: List[ProjectDirFacts] = []
    for name in names:
        ok, cwd = _project_dir_matches(projects, name, encoded, real_path, repo)
        if ok:
            found.append({"name": name, "cwd": cwd})
    return found


def recorded_cwds(projects: str, name: str) -> Iterator[str]:
    """The distinct ``cwd`` values the sessions of project dir ``name`` recorded,
    newest session first, ending with the first one the dir is named after.

    Sessions brought from another machine record that machine's cwd and may be
    the newest here: looking past them finds the dir's own project.
    """
    base = os.path.join(projects, name)
    yield from remembered("cwds", base, lambda: _read_recorded_cwds(base, name))


def _read_recorded_cwds(base: str, name: str) -> List[str]:
    try:
        candidates = sorted(
            (
                e
                for e in os.scandir(base)
                if e.name.endswith(".jsonl")
                and is_session_id(e.name[: -len(".jsonl")])
                and e.is_file(follow_symlinks=False)
            ),
            key=lambda e: e.stat().st_mtime,
            reverse=True,
        )
    except OSError:
        return []
    seen: List[str] = []
    for entry in candidates[:CWD_CANDIDATES]:
        cwd = first_cwd(entry.path)
        if not cwd or cwd in seen or not is_plain_path(cwd):
            continue  # a session from a far side may record anything: only a path counts
        seen.append(cwd)
        if encoded_names_match(name, encode_project_path(cwd, resolve=False)):
            break  # the dir's own project: older sessions say nothing new
    return seen


def _done_with(cache: HashCache, listed_dirs: List[str], own_cache: bool) -> None:
    """Forget the files gone from the dirs listed, and save: now for a scan's own
    cache; a shared one's owner does both once, for every scan (``HashCache.finish``)."""
    cache.scanned.update(listed_dirs)
    if own_cache:
        cache.finish()


MAX_CWD = 4096


def is_plain_path(path: str) -> bool:
    """An absolute path, not too long, without a NUL (what a cwd must be to be used)."""
    return path.startswith("/") and len(path) <= MAX_CWD and "\x00" not in path


def _dir_names(base: str) -> Optional[Tuple[List[str], FrozenSet[str]]]:
    """The names in dir ``base`` (sorted, and as a set), or None when it cannot be
    listed; read once while ``shared_listings`` holds."""
    return remembered("names", base, lambda: _list_dir(base))


def _list_dir(base: str) -> Optional[Tuple[List[str], FrozenSet[str]]]:
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return None
    return names, frozenset(names)


def _realpath(path: str) -> str:
    """``os.path.realpath``, once per path while ``shared_listings`` holds."""
    return remembered("real", path, lambda: os.path.realpath(path))


def scan(
    config: str,
    request: ScanRequest,
    now: Optional[float] = None,
    cache: Optional[HashCache] = None,
) -> ScanAnswer:
    """This machine's manifest of one project's sessions.

    ``cache``: a hash cache shared by several scans (``scan_many``), which its owner
    saves once; by default the scan loads the config's and saves it itself.

    Request fields: ``project_path`` (or null: find dirs by ``repo`` alone),
    ``repo``, ``days``, ``want`` (ids to describe fully even if not recent
    here) and ``peer_sizes`` (``{"<dir-relative file>": size}``: the other
    side's sizes, for prefix hashes); ``read_only`` (status, a dry run): no
    temp file is removed, while the hash cache is still kept up to date.
    """
    now = time.time() if now is None else now
    if request.get("folder"):
        return scan_folder(config, request, now, cache)
    projects = os.path.join(config, "projects")
    project_path = request.get("project_path")
    repo = request.get("repo")
    days = float(request.get("days", 7))
    want = set(request.get("want") or [])
    peer_sizes: Dict[str, int] = dict(request.get("peer_sizes") or {})
    read_only = bool(request.get("read_only"))

    real_path = os.path.realpath(project_path) if project_path else None
    encoded = encode_project_path(project_path) if project_path else None
    own_cache = cache is None
    cache = HashCache(config) if cache is None else cache
    # A shared cache's counters run on: this scan's share is the difference.
    hashed_before = (cache.files_hashed, cache.bytes_hashed)
    restored = load_restored(config)
    registry = has_registry(config)
    live = set(live_session_ids(config))
    cutoff = now - days * 86400.0

    try:
        dir_names = sorted(os.listdir(projects))
    except OSError:
        dir_names = []

    project_dirs = matching_project_dirs(
        projects,
        [n for n in dir_names if os.path.isdir(os.path.join(projects, n))],
        project_path,
        repo,
    )
    matched = set(d["name"] for d in project_dirs)

    # At this point we know every project dir that holds the project: by its
    # name, by a recorded cwd, or by a checkout of the repo. Never by suffix.
    new_session_dir = encoded
    if encoded is not None and encoded not in matched:
        # A cut name: use the dir Claude made (``<name>-<hash>``) when there is one.
        for entry in project_dirs:
            if encoded_names_match(entry["name"], encoded):
                new_session_dir = entry["name"]
                break

    sessions: Dict[str, JSON] = {}
    # The project's sessions that --days leaves out: id -> newest mtime (seconds).
    older: Dict[str, float] = {}
    duplicates: List[JSON] = []
    ignored: List[IgnoredFacts] = []
    wanted_names = set(i + ".jsonl" for i in want)
    listed_dirs: List[str] = []  # the dirs whose gone files the cache forgets
    for name in dir_names:
        base = os.path.join(projects, name)
        in_project = name in matched
        if not in_project and not want:
            continue
        listed = _dir_names(base)
        if listed is None:
            continue
        listed_dirs.append(base)
        # Another project's dir is only looked into for the wanted sessions: a set
        # intersection, not a walk of its every entry for every project scanned.
        names = listed[0] if in_project else sorted(wanted_names & listed[1])
        for file_name in names:
            if not file_name.endswith(".jsonl"):
                continue
            session_id = file_name[: -len(".jsonl")]
            if not is_session_id(session_id):
                if in_project:
                    ignored.append({"dir": name, "name": file_name, "reason": NOT_A_SESSION})
                continue
            try:
                st = listed_stat(base + "/" + file_name)
            except OSError:
                continue
            link = stat.S_ISLNK(st.st_mode)
            if not (link or stat.S_ISREG(st.st_mode)):
                continue
            recent = in_project and st.st_mtime >= cutoff
            if not (recent or session_id in want):
                if in_project:
                    older[session_id] = max(older.get(session_id, 0.0), st.st_mtime)
                continue
            previous = sessions.get(session_id)
            if previous is not None:
                # The same session in two dirs: keep the larger, newer copy.
                if (previous["_size"], previous["_mtime"]) >= (st.st_size, st.st_mtime_ns):
                    duplicates.append({"id": session_id, "dir": name})
                    continue
                duplicates.append({"id": session_id, "dir": previous["dir"]})
            sessions[session_id] = {
                "id": session_id,
                "dir": name,
                "recent": recent,
                "_link": link,
                "_size": -1 if link else st.st_size,
                "_mtime": st.st_mtime_ns,
                "_mtime_s": st.st_mtime,
                "_stat": st,
                # The listing says whether the session's folder is there.
                "_folder": session_id in listed[1],
            }

    # At this point we know, for each session id, the one copy that takes part
    # (the larger, newer of duplicates) and that it is a regular file, not a link.
    out_sessions: List[SessionFacts] = []
    for session_id in sorted(sessions):
        info = sessions[session_id]
        root = os.path.join(projects, info["dir"])
        files = session_files(
            root,
            session_id,
            None if info["_link"] else info["_stat"],
            info["_folder"],
            cache,
            peer_sizes,
        )
        mark_restored(restored, info["dir"], files)
        # RACE: a session is "active" by the registry (or, without one, a write
        # in the last minute); a Claude that starts after this scan is not
        # seen, and the apply re-checks the bytes, not whether it is open.
        is_live = session_id in live
        fresh = (now - info["_mtime_s"]) < ACTIVE_WINDOW_SECONDS
        out_sessions.append(
            {
                "id": session_id,
                "dir": info["dir"],
                "recent": info["recent"],
                "active": is_live or (fresh and not registry),
                "live": is_live,
                "files": files,
            }
        )
    # Even a read-only scan (status, --dry-run) keeps what it hashed: the cache is
    # this agent's own state, and the next scan then reads nothing again.
    _done_with(cache, listed_dirs, own_cache)
    if not read_only:
        remove_orphan_temps(config, [os.path.join(projects, n) for n in sorted(matched)])
    answer: ScanAnswer = {
        "config_dir": config,
        "hostname": socket.gethostname(),
        "new_session_dir": new_session_dir,
        "project_path": real_path,
        "project_dirs": project_dirs,
        "sessions": out_sessions,
        "duplicates": duplicates,
        "ignored": ignored,
        "registry": registry,
        "files_hashed": cache.files_hashed - hashed_before[0],
        "bytes_hashed": cache.bytes_hashed - hashed_before[1],
        "now": now,
        # Counted so the report can say what a wider --days would take in.
        "older_sessions": len(set(older) - set(sessions)),
        "oldest_older_mtime": min((m for i, m in older.items() if i not in sessions), default=None),
    }
    # Claude's memory and prompt history travel in the same answer (bounded).
    if request.get("memory") and new_session_dir is not None:
        answer["memory"] = scan_memory(config, new_session_dir)
    if request.get("history") and project_path and real_path:
        answer["history"] = scan_history(config, sorted({project_path, real_path}))
    return answer


FOLDER_SESSION_ID = "folder"
"""The one pseudo-session of a folder sync's manifest: every file of the folder."""


def scan_folder(
    config: str,
    request: ScanRequest,
    now: Optional[float] = None,
    cache: Optional[HashCache] = None,
) -> ScanAnswer:
    """This machine's manifest of a plain folder (``request["folder"]``, absolute).

    Shaped like a session scan, so the same reconcile and apply serve it: one
    pseudo-session whose files are every regular file under the folder, at any
    age. Symlinks and our temp files are left out. In a git checkout each file
    says whether it is ``committed`` (tracked, unchanged since HEAD).
    ``peer_sizes``, ``read_only`` and ``cache`` mean what they mean for ``scan``.
    """
    now = time.time() if now is None else now
    root = str(request["folder"])
    if not root.startswith("/"):
        raise Refusal("the folder to scan must be an absolute path, not %r" % root)
    root = os.path.realpath(root)
    peer_sizes: Dict[str, int] = dict(request.get("peer_sizes") or {})
    own_cache = cache is None
    cache = HashCache(config) if cache is None else cache
    # A shared cache's counters run on: this scan's share is the difference.
    hashed_before = (cache.files_hashed, cache.bytes_hashed)
    restored = load_restored(config)
    files: List[FileFacts] = []
    if os.path.isdir(root):
        committed = git_committed_files(root)
        known = set(committed) if committed is not None else None
        for rel in walk_files(root, ""):
            described = describe_file(root, rel, cache, peer_sizes.get(rel), plain=True)
            if described is not None:
                if known is not None and "error" not in described:
                    described["committed"] = rel in known
                files.append(described)
        mark_restored(restored, root, files)
    sessions: List[SessionFacts] = []
    if files:
        sessions.append(
            {
                "id": FOLDER_SESSION_ID,
                "dir": root,
                "recent": True,
                "active": False,
                "live": False,
                "files": files,
            }
        )
    _done_with(cache, [root] if os.path.isdir(root) else [], own_cache)  # read-only too
    if not request.get("read_only") and os.path.isdir(root):
        remove_orphan_temps(config, [root])
    return {
        "config_dir": config,
        "hostname": socket.gethostname(),
        "new_session_dir": root,
        "project_path": root,
        "project_dirs": [],
        "sessions": sessions,
        "duplicates": [],
        "ignored": [],
        "registry": has_registry(config),
        "files_hashed": cache.files_hashed - hashed_before[0],
        "bytes_hashed": cache.bytes_hashed - hashed_before[1],
        "now": now,
    }
