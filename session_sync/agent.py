"""The session-sync agent: the code that runs on each machine of a sync.

This module is shipped verbatim to remote machines and run there under any
``python3`` >= 3.8, so it uses the standard library only and never imports the
rest of ``session_sync``. The controller imports it too and calls the same
functions in-process for the local side: one implementation of scanning,
packing and applying serves both ends.

Wire protocol (over one byte stream, the agent's stdin/stdout):

* The controller starts ``python3 -c BOOTSTRAP NONCE`` and writes the agent's
  source as ``<length>\\n<bytes>``. The agent then prints ``READY_MARKER NONCE``
  on a line of its own. Anything before that line (a chatty login shell) is
  stray output and is skipped by the controller; after it, only frames follow.
* A frame is ``b"SS" + kind (1 byte) + length (4 bytes, big endian) + payload``.
  Kinds: ``J`` a JSON request/response, ``D`` a chunk of file data, ``E`` the end
  of one file's data (JSON: ``{"ok": bool, "error": str}``), ``X`` a fatal error
  (JSON: ``{"error": str}``).
* Requests are JSON frames with an ``op``: ``scan`` (one response frame) and
  ``exchange`` (the request is followed by the data of every file the agent must
  apply; the response is a results frame followed by the data of every file the
  agent was asked to send). Two requests make a whole sync, however many
  sessions there are.

Invariants of applying (see ``apply_file``): a destination file is only ever
changed by ``os.replace`` of a staged, fsynced and sha256-verified temp file,
or by appending bytes whose resulting hash was verified before the first byte
was written; every replaced file is first copied into a backup set; nothing is
ever deleted except this agent's own temp files and expired backup sets.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import socket
import stat
import struct
import subprocess
import sys
import time
import unicodedata
from typing import IO, Any, BinaryIO, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

PROTOCOL_VERSION = 1
READY_MARKER = b"@@session-sync-agent-ready@@"
BOOTSTRAP = (
    "import sys;r=sys.stdin.buffer;n=int(r.readline());"
    "exec(compile(r.read(n),'session_sync_agent','exec'))"
)

FRAME_MAGIC = b"SS"
FRAME_HEADER = struct.Struct(">2scI")
CHUNK_SIZE = 1 << 20
MAX_JSON_FRAME = 256 << 20

ACTIVE_WINDOW_SECONDS = 60.0
ENCODED_NAME_LIMIT = 200
TAIL_BLOCK = 64 * 1024
HEAD_LIMIT = 256 * 1024
CWD_CANDIDATES = 200
TEMP_PREFIX = ".session-sync-"
TEMP_SUFFIX = ".tmp"
STALE_TEMP_SECONDS = 3600.0
DEFAULT_BACKUP_RETENTION_DAYS = 90

JSON = Dict[str, Any]

__all__ = [
    "BOOTSTRAP",
    "PROTOCOL_VERSION",
    "READY_MARKER",
    "AgentFailure",
    "FrameReader",
    "FrameWriter",
    "HashCache",
    "apply_batch",
    "apply_file",
    "claude_config_dir",
    "complete_size",
    "encode_project_path",
    "encoded_names_match",
    "exchange",
    "first_cwd",
    "git_committed_files",
    "git_origin_url",
    "list_backups",
    "live_session_ids",
    "normalize_github_repo",
    "op_target",
    "open_backup_set",
    "prune_backups",
    "recorded_cwds",
    "repositories_match",
    "restore_backup",
    "scan",
    "scan_folder",
    "send_file",
    "serve",
    "source_path",
    "tail_timestamps",
]


class AgentFailure(Exception):
    """A problem with one request or one file, reported back as data."""


# --------------------------------------------------------------------------
# Paths and projects


def claude_config_dir(environ: Optional[Dict[str, str]] = None) -> str:
    """``$CLAUDE_CONFIG_DIR`` if set, else ``~/.claude``, resolved on this machine."""
    env = os.environ if environ is None else environ
    configured = env.get("CLAUDE_CONFIG_DIR")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    return os.path.join(os.path.expanduser("~"), ".claude")


def encode_project_path(path: str, resolve: bool = True) -> str:
    """Claude Code's project directory name for ``path``.

    realpath, then NFC, then every UTF-16 code unit outside ``[A-Za-z0-9]``
    becomes ``-`` (so a character outside the BMP gives two). Names longer than
    200 characters are cut to 200 (Claude then appends ``-<hash>``, a hash that
    differs between builds: match such names with ``encoded_names_match``).
    """
    if resolve:
        path = os.path.realpath(path)
    path = unicodedata.normalize("NFC", path)
    out = []
    for ch in path:
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        else:
            out.append("-" * (2 if ord(ch) > 0xFFFF else 1))
    return "".join(out)[:ENCODED_NAME_LIMIT]


def encoded_names_match(dir_name: str, encoded: str) -> bool:
    """Whether a directory name is Claude's name for a path encoded as ``encoded``.

    A cut name (200 characters) also matches ``<name>-<hash>``.
    """
    if dir_name == encoded:
        return True
    return len(encoded) == ENCODED_NAME_LIMIT and dir_name.startswith(encoded + "-")


_GITHUB_PATTERNS = [
    re.compile(
        r"^(?:https?|ssh|git)://(?:[^@/]+@)?(?:www\.)?github\.com(?::\d+)?/(?P<path>.+)$", re.I
    ),
    re.compile(r"^(?:[^@/]+@)?(?:www\.)?github\.com:(?P<path>.+)$", re.I),
    re.compile(r"^(?:www\.)?github\.com/(?P<path>.+)$", re.I),
]
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def normalize_github_repo(value: Optional[str]) -> Optional[str]:
    """``owner/repo`` (lower case) or ``repo`` for any way a GitHub repo is written.

    Accepts ``owner/repo``, ``repo``, ``https://github.com/o/r(.git)``,
    ``git@github.com:o/r.git``, ``ssh://git@github.com/o/r``. None when the value
    is not a GitHub repository.
    """
    if not value:
        return None
    text = value.strip()
    path = None
    for pattern in _GITHUB_PATTERNS:
        match = pattern.match(text)
        if match:
            path = match.group("path")
            break
    if path is None:
        if "://" in text or "@" in text or ":" in text:
            return None
        path = text
    path = path.strip("/")
    if path.lower().endswith(".git"):
        path = path[:-4]
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2 or not all(_NAME.match(p) for p in parts):
        return None
    return "/".join(parts).lower()


def repositories_match(a: Optional[str], b: Optional[str]) -> bool:
    """Same repository? A bare ``repo`` matches any owner's ``repo``."""
    na, nb = normalize_github_repo(a), normalize_github_repo(b)
    if na is None or nb is None:
        return False
    if "/" in na and "/" in nb:
        return na == nb
    return na.split("/")[-1] == nb.split("/")[-1]


def _git_dir(path: str) -> Optional[str]:
    candidate = os.path.join(path, ".git")
    if os.path.isdir(candidate):
        return candidate
    if os.path.isfile(candidate):
        try:
            with open(candidate, encoding="utf-8") as fh:
                first = fh.readline().strip()
        except OSError:
            return None
        if first.startswith("gitdir:"):
            gitdir = first[len("gitdir:") :].strip()
            gitdir = os.path.normpath(os.path.join(path, gitdir))
            common = os.path.join(gitdir, "commondir")
            if os.path.isfile(common):
                try:
                    with open(common, encoding="utf-8") as fh:
                        gitdir = os.path.normpath(os.path.join(gitdir, fh.read().strip()))
                except OSError:
                    return None
            return gitdir
    return None


def git_origin_url(checkout: str) -> Optional[str]:
    """The ``origin`` URL of the git checkout whose top level is ``checkout``.

    Read from the git config file directly (no ``git`` binary needed, nothing
    goes through a shell); None when ``checkout`` is not a checkout's top level.
    """
    gitdir = _git_dir(checkout)
    if gitdir is None:
        return None
    try:
        with open(os.path.join(gitdir, "config"), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
            continue
        if section is not None and re.match(r'^\[remote\s+"origin"\]$', section):
            key, _, val = line.partition("=")
            if key.strip().lower() == "url":
                return val.strip()
    return None


# --------------------------------------------------------------------------
# Reading transcripts


def complete_size(fh: BinaryIO, size: int) -> int:
    """Bytes up to and including the last ``\\n`` (only complete lines count)."""
    end = size
    while end > 0:
        start = max(0, end - TAIL_BLOCK)
        fh.seek(start)
        block = fh.read(end - start)
        idx = block.rfind(b"\n")
        if idx >= 0:
            return start + idx + 1
        end = start
    return 0


_TIME_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _line_timestamps(line: bytes) -> Tuple[Optional[str], Optional[str], bool]:
    """(top-level timestamp, snapshot timestamp, malformed) of one line.

    A line that is not one JSON object, or whose ``timestamp`` does not look
    like a time, is malformed: it is passed over and counted, never fatal.
    """
    try:
        obj = json.loads(line)
    except ValueError:
        return None, None, True
    if not isinstance(obj, dict):
        return None, None, True
    top = obj.get("timestamp")
    snap = obj.get("snapshot")
    snap_ts = snap.get("timestamp") if isinstance(snap, dict) else None
    if top is not None and not (isinstance(top, str) and _TIME_SHAPE.match(top)):
        return None, None, True
    if not (isinstance(snap_ts, str) and _TIME_SHAPE.match(snap_ts)):
        snap_ts = None
    return top, snap_ts, False


def tail_timestamps(fh: BinaryIO, end: int) -> Tuple[List[str], int]:
    """Timestamps of the last message, scanning complete lines back from ``end``.

    Returns the raw ``timestamp`` strings from the last line that has a
    top-level ``timestamp`` through to ``end`` (snapshot timestamps after it
    included), newest line first, and the number of malformed lines passed over.
    The caller parses them and takes the latest. Reads blocks from the end: a
    real session's last lines (``last-prompt``, ``cost-state``) carry no
    timestamp, so the scan usually stops a few lines back.
    """
    found: List[str] = []
    malformed = 0
    carry = b""
    pos = end
    while pos > 0:
        start = max(0, pos - TAIL_BLOCK)
        fh.seek(start)
        block = fh.read(pos - start) + carry
        pos = start
        lines = block.split(b"\n")
        # lines[0] may be cut by the block boundary unless we are at the file start.
        carry = lines[0] if pos > 0 else b""
        body = lines[1:] if pos > 0 else lines
        for line in reversed(body):
            if not line.strip():
                continue
            top, snap, bad = _line_timestamps(line)
            if bad:
                malformed += 1
                continue
            if snap is not None:
                found.append(snap)
            if top is not None:
                found.append(top)
                return found, malformed
    return found, malformed


def first_cwd(path: str) -> Optional[str]:
    """The first ``cwd`` recorded in a transcript's first lines (None if none).

    Reads 8 KiB at a time: the ``cwd`` is usually on the second line.
    """
    try:
        with open(path, "rb") as fh:
            pending = b""
            read = 0
            while read < HEAD_LIMIT:
                block = fh.read(8192)
                if not block:
                    break
                read += len(block)
                lines = (pending + block).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    cwd = _line_cwd(line)
                    if cwd is not None:
                        return cwd
    except OSError:
        return None
    return None


def _line_cwd(line: bytes) -> Optional[str]:
    if b'"cwd"' not in line:
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if isinstance(obj, dict) and isinstance(obj.get("cwd"), str):
        return str(obj["cwd"])
    return None


def _process_alive(pid: int, proc_start: Optional[str]) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return False
    stat_path = "/proc/%d/stat" % pid
    if proc_start and os.path.exists(stat_path):
        try:
            with open(stat_path, "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[-1].split()
            # Field 22 (starttime) is the 20th after the ")" that ends the name.
            return fields[19].decode() == str(proc_start)
        except (OSError, IndexError):
            return True
    return True


def live_session_ids(config: str) -> List[str]:
    """Ids of sessions a live Claude process on this machine has open."""
    out: List[str] = []
    sessions_dir = os.path.join(config, "sessions")
    try:
        names = os.listdir(sessions_dir)
    except OSError:
        return out
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(sessions_dir, name), encoding="utf-8") as fh:
                info = json.load(fh)
            pid = int(info.get("pid", 0))
            session_id = info.get("sessionId")
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        proc_start = info.get("procStart")
        if isinstance(session_id, str) and _process_alive(
            pid, str(proc_start) if proc_start is not None else None
        ):
            out.append(session_id)
    return out


# --------------------------------------------------------------------------
# Hashing with a cache


class HashCache:
    """sha256 (and line facts) of files, keyed by (device, inode, size, mtime).

    Stored per machine in ``<config>/session-sync/hash-cache.json`` so a sync
    with nothing new reads almost nothing.
    """

    def __init__(self, config: str) -> None:
        self.path = os.path.join(config, "session-sync", "hash-cache.json")
        self.entries: Dict[str, JSON] = {}
        self.dirty = False
        self.bytes_hashed = 0
        self.files_hashed = 0
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
            if isinstance(data, dict) and data.get("version") == 1:
                self.entries = dict(data.get("entries", {}))
        except (OSError, ValueError):
            self.entries = {}

    @staticmethod
    def key(st: os.stat_result) -> str:
        return "%d:%d:%d:%d" % (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def get(self, path: str, st: os.stat_result) -> Optional[JSON]:
        entry = self.entries.get(path)
        if entry is not None and entry.get("key") == self.key(st):
            return entry
        return None

    def put(self, path: str, st: os.stat_result, facts: JSON) -> None:
        facts = dict(facts)
        facts["key"] = self.key(st)
        self.entries[path] = facts
        self.dirty = True

    def record_written(self, path: str, size: int, sha256: str) -> None:
        """Remember a file this agent has just written and verified.

        The sha256 is known already, so only the tail is read (for the last
        message time): the next scan then needs to read nothing of it.
        """
        try:
            st = os.lstat(path)
            with open(path, "rb") as fh:
                complete = complete_size(fh, st.st_size) if path.endswith(".jsonl") else st.st_size
                if complete != size:
                    return
                stamps, malformed = (
                    tail_timestamps(fh, size) if path.endswith(".jsonl") else ([], 0)
                )
        except OSError:
            return
        self.put(
            path,
            st,
            {
                "size": size,
                "sha256": sha256,
                "timestamps": stamps,
                "malformed": malformed,
                "prefixes": {},
            },
        )

    def save(self) -> None:
        if not self.dirty:
            return
        data = json.dumps({"version": 1, "entries": self.entries}).encode()
        try:
            _write_atomic(self.path, data, 0o600)
            self.dirty = False
        except OSError:
            pass  # a cache that cannot be saved only costs time next run


def _hash_range(fh: BinaryIO, length: int, marks: Iterable[int] = ()) -> Tuple[str, Dict[int, str]]:
    """sha256 of the first ``length`` bytes, plus the sha256 at each mark < length."""
    digest = hashlib.sha256()
    at: Dict[int, str] = {}
    pending = sorted(m for m in set(marks) if 0 <= m < length)
    fh.seek(0)
    done = 0
    for mark in [*pending, length]:
        while done < mark:
            chunk = fh.read(min(CHUNK_SIZE, mark - done))
            if not chunk:
                raise AgentFailure("file shrank while being read")
            digest.update(chunk)
            done += len(chunk)
        if mark != length:
            at[mark] = digest.copy().hexdigest()
    return digest.hexdigest(), at


def describe_file(
    root: str,
    rel: str,
    cache: HashCache,
    peer_size: Optional[int] = None,
    plain: bool = False,
) -> Optional[JSON]:
    """Facts about one file: sizes, mtime, mode, sha256, and for ``.jsonl`` the
    tail timestamps. ``peer_size``: the other side's size of the same file; when
    ours is larger the sha256 of our first ``peer_size`` bytes is included, so
    the controller can tell whether the other copy is a prefix of ours.
    ``plain``: not a transcript whatever its name (a synced folder's file):
    every byte counts and there are no timestamps."""
    path = os.path.join(root, rel)
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    is_jsonl = rel.endswith(".jsonl") and not plain
    facts = cache.get(path, st)
    if facts is not None and plain and facts.get("size") != st.st_size:
        facts = None  # cached as a transcript (complete lines only)
    need_prefix = peer_size is not None and peer_size > 0
    try:
        if facts is None or (
            need_prefix
            and peer_size is not None
            and peer_size < facts["size"]
            and str(peer_size) not in facts.get("prefixes", {})
        ):
            with open(path, "rb") as fh:
                size = complete_size(fh, st.st_size) if is_jsonl else st.st_size
                marks = [peer_size] if (need_prefix and peer_size is not None) else []
                sha, prefixes = _hash_range(fh, size, marks)
                stamps: List[str] = []
                malformed = 0
                if is_jsonl:
                    stamps, malformed = tail_timestamps(fh, size)
            cache.bytes_hashed += size
            cache.files_hashed += 1
            old_prefixes = dict(facts.get("prefixes", {})) if facts else {}
            old_prefixes.update({str(k): v for k, v in prefixes.items()})
            facts = {
                "size": size,
                "sha256": sha,
                "timestamps": stamps,
                "malformed": malformed,
                "prefixes": old_prefixes,
            }
            cache.put(path, st, facts)
    except OSError as exc:
        return {"rel": rel, "error": "cannot read: %s" % exc.strerror}
    except AgentFailure as exc:
        return {"rel": rel, "error": str(exc)}
    out = {
        "rel": rel,
        "size": facts["size"],
        "file_size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "mode": stat.S_IMODE(st.st_mode),
        "sha256": facts["sha256"],
        "timestamps": list(facts.get("timestamps", [])) if is_jsonl else [],
        "malformed": facts.get("malformed", 0),
        "prefix_sha256": None,
        "prefix_size": None,
    }
    if plain:
        out["plain"] = True
    if need_prefix and peer_size is not None and peer_size < facts["size"]:
        out["prefix_size"] = peer_size
        out["prefix_sha256"] = facts.get("prefixes", {}).get(str(peer_size))
    return out


def _walk_files(root: str, sub: str) -> List[str]:
    """Regular files under ``root/sub`` as paths relative to ``root`` (no symlinks)."""
    found: List[str] = []
    base = os.path.join(root, sub)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            if name.startswith(TEMP_PREFIX):
                continue
            full = os.path.join(dirpath, name)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            found.append(os.path.relpath(full, root).replace(os.sep, "/"))
    return found


# --------------------------------------------------------------------------
# Scanning


_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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
        if real_path is not None and (cwd == real_path or os.path.realpath(cwd) == real_path):
            return True, cwd
        if repo and os.path.isdir(cwd) and repositories_match(git_origin_url(cwd), repo):
            return True, cwd
    return False, first


def recorded_cwds(projects: str, name: str) -> Iterator[str]:
    """The distinct ``cwd`` values the sessions of project dir ``name`` recorded,
    newest session first, ending with the first one the dir is named after.

    Sessions brought from another machine record that machine's cwd and may be
    the newest here: looking past them finds the dir's own project.
    """
    try:
        candidates = sorted(
            (
                e
                for e in os.scandir(os.path.join(projects, name))
                if e.name.endswith(".jsonl") and e.is_file()
            ),
            key=lambda e: e.stat().st_mtime,
            reverse=True,
        )
    except OSError:
        return
    seen = set()
    for entry in candidates[:CWD_CANDIDATES]:
        cwd = first_cwd(entry.path)
        if not cwd or cwd in seen:
            continue
        seen.add(cwd)
        yield cwd
        if encoded_names_match(name, encode_project_path(cwd, resolve=False)):
            return  # the dir's own project: older sessions say nothing new


def scan(config: str, request: JSON, now: Optional[float] = None) -> JSON:
    """This machine's manifest of one project's sessions.

    Request fields: ``project_path`` (or null: find dirs by ``repo`` alone),
    ``repo``, ``days``, ``want`` (ids to describe fully even if not recent
    here) and ``peer_sizes`` (``{"<dir-relative file>": size}``: the other
    side's sizes, for prefix hashes).
    """
    now = time.time() if now is None else now
    if request.get("folder"):
        return scan_folder(config, request, now)
    projects = os.path.join(config, "projects")
    project_path = request.get("project_path")
    repo = request.get("repo")
    days = float(request.get("days", 7))
    want = set(request.get("want") or [])
    peer_sizes: Dict[str, int] = dict(request.get("peer_sizes") or {})
    read_only = bool(request.get("read_only"))

    real_path = os.path.realpath(project_path) if project_path else None
    encoded = encode_project_path(project_path) if project_path else None
    cache = HashCache(config)
    live = set(live_session_ids(config))
    cutoff = now - days * 86400.0

    try:
        dir_names = sorted(os.listdir(projects))
    except OSError:
        dir_names = []

    project_dirs: List[JSON] = []
    matched = set()
    for name in dir_names:
        if not os.path.isdir(os.path.join(projects, name)):
            continue
        ok, cwd = _project_dir_matches(projects, name, encoded, real_path, repo)
        if ok:
            matched.add(name)
            project_dirs.append({"name": name, "cwd": cwd})

    home_dir = encoded
    if encoded is not None and encoded not in matched:
        # A cut name: use the dir Claude made (``<name>-<hash>``) when there is one.
        for entry in project_dirs:
            if encoded_names_match(entry["name"], encoded):
                home_dir = entry["name"]
                break

    sessions: Dict[str, JSON] = {}
    duplicates: List[JSON] = []
    for name in dir_names:
        base = os.path.join(projects, name)
        in_project = name in matched
        if not in_project and not want:
            continue
        try:
            entries = list(os.scandir(base))
        except OSError:
            continue
        for item in entries:
            if not item.name.endswith(".jsonl"):
                continue
            session_id = item.name[: -len(".jsonl")]
            if not _SESSION_ID.match(session_id):
                continue
            if not in_project and session_id not in want:
                continue
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            recent = in_project and st.st_mtime >= cutoff
            if not (recent or session_id in want):
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
                "_size": st.st_size,
                "_mtime": st.st_mtime_ns,
                "_mtime_s": st.st_mtime,
            }

    out_sessions: List[JSON] = []
    for session_id in sorted(sessions):
        info = sessions[session_id]
        root = os.path.join(projects, info["dir"])
        rels = [session_id + ".jsonl"]
        if os.path.isdir(os.path.join(root, session_id)):
            rels += _walk_files(root, session_id)
        files: List[JSON] = []
        for rel in rels:
            described = describe_file(root, rel, cache, peer_sizes.get(rel))
            if described is not None:
                files.append(described)
        active = session_id in live or (now - info["_mtime_s"]) < ACTIVE_WINDOW_SECONDS
        out_sessions.append(
            {
                "id": session_id,
                "dir": info["dir"],
                "recent": info["recent"],
                "active": active,
                "live": session_id in live,
                "files": files,
            }
        )
    if not read_only:
        cache.save()
        _remove_orphan_temps(config, [os.path.join(projects, n) for n in sorted(matched)])
    return {
        "config_dir": config,
        "hostname": socket.gethostname(),
        "home_dir": home_dir,
        "project_path": real_path,
        "project_dirs": project_dirs,
        "sessions": out_sessions,
        "duplicates": duplicates,
        "files_hashed": cache.files_hashed,
        "bytes_hashed": cache.bytes_hashed,
        "now": now,
    }


def git_committed_files(root: str) -> Optional[List[str]]:
    """Files under ``root`` (relative to it) that git tracks and that are unchanged
    since ``HEAD``, staged or not; None when that is not known (no git, not a
    checkout, no commit yet). Such a copy can always be had again from git."""
    try:
        tracked = _git_output(root, "ls-files", "-z", "--", ".")
        changed = _git_output(root, "diff", "--name-only", "--relative", "-z", "HEAD", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = set(_z_paths(changed))
    return [p for p in _z_paths(tracked) if p not in dirty]


def _git_output(root: str, *args: str) -> bytes:
    """stdout of ``git -C root ARGS``; raises when git is missing or fails."""
    return subprocess.run(
        ["git", "-C", root, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        timeout=30,
        check=True,
    ).stdout


def _z_paths(out: bytes) -> List[str]:
    return [os.fsdecode(p) for p in out.split(b"\0") if p]


FOLDER_SESSION_ID = "folder"
"""The one pseudo-session of a folder sync's manifest: every file of the folder."""


def scan_folder(config: str, request: JSON, now: Optional[float] = None) -> JSON:
    """This machine's manifest of a plain folder (``request["folder"]``, absolute).

    Shaped like a session scan, so the same reconcile and apply serve it: one
    pseudo-session whose files are every regular file under the folder, at any
    age. Symlinks and our temp files are left out. In a git checkout each file
    says whether it is ``committed`` (tracked, unchanged since HEAD).
    ``peer_sizes`` and ``read_only`` mean what they mean for ``scan``.
    """
    now = time.time() if now is None else now
    root = str(request["folder"])
    if not root.startswith("/"):
        raise AgentFailure("the folder to scan must be an absolute path, not %r" % root)
    root = os.path.realpath(root)
    peer_sizes: Dict[str, int] = dict(request.get("peer_sizes") or {})
    cache = HashCache(config)
    files: List[JSON] = []
    if os.path.isdir(root):
        committed = git_committed_files(root)
        known = set(committed) if committed is not None else None
        for rel in _walk_files(root, ""):
            described = describe_file(root, rel, cache, peer_sizes.get(rel), plain=True)
            if described is not None:
                if known is not None and "error" not in described:
                    described["committed"] = rel in known
                files.append(described)
    sessions: List[JSON] = []
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
    if not request.get("read_only"):
        cache.save()
        if os.path.isdir(root):
            _remove_orphan_temps(config, [root])
    return {
        "config_dir": config,
        "hostname": socket.gethostname(),
        "home_dir": root,
        "project_path": root,
        "project_dirs": [],
        "sessions": sessions,
        "duplicates": [],
        "files_hashed": cache.files_hashed,
        "bytes_hashed": cache.bytes_hashed,
        "now": now,
    }


# --------------------------------------------------------------------------
# Framing


class FrameWriter:
    """Writes frames to a binary stream and counts the file bytes it sends."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.data_bytes = 0
        self.frame_bytes = 0

    def frame(self, kind: bytes, payload: bytes) -> None:
        header = FRAME_HEADER.pack(FRAME_MAGIC, kind, len(payload))
        if len(payload) < 65536:
            self.out.write(header + payload)  # one write for small frames
        else:
            self.out.write(header)  # no copy of a 1 MiB chunk just to prepend 7 bytes
            self.out.write(payload)
        self.frame_bytes += FRAME_HEADER.size + len(payload)
        if kind == b"D":
            self.data_bytes += len(payload)

    def json(self, kind: bytes, obj: JSON) -> None:
        self.frame(kind, json.dumps(obj, separators=(",", ":")).encode("utf-8"))

    def flush(self) -> None:
        self.out.flush()


class FrameReader:
    """Reads frames from a binary stream; raises EOFError when it is cut."""

    def __init__(self, inp: IO[bytes]) -> None:
        self.inp = inp
        self.data_bytes = 0
        self.frame_bytes = 0

    def _exact(self, n: int) -> bytes:
        parts = []
        while n > 0:
            chunk = self.inp.read(n)
            if not chunk:
                raise EOFError("stream ended in the middle of a frame")
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def frame(self) -> Tuple[bytes, bytes]:
        header = self.inp.read(FRAME_HEADER.size)
        if not header:
            raise EOFError("stream ended")
        if len(header) < FRAME_HEADER.size:
            header += self._exact(FRAME_HEADER.size - len(header))
        magic, kind, length = FRAME_HEADER.unpack(header)
        if magic != FRAME_MAGIC:
            raise ValueError("stream out of step: bad frame header %r" % header)
        if kind != b"D" and length > MAX_JSON_FRAME:
            raise ValueError("frame too large: %d bytes" % length)
        payload = self._exact(length)
        self.frame_bytes += FRAME_HEADER.size + length
        if kind == b"D":
            self.data_bytes += length
        return kind, payload

    def json(self, expect: bytes = b"J") -> JSON:
        kind, payload = self.frame()
        if kind == b"X":
            raise AgentFailure(json.loads(payload.decode("utf-8")).get("error", "agent failed"))
        if kind != expect:
            raise ValueError("expected a %r frame, got %r" % (expect, kind))
        obj = json.loads(payload.decode("utf-8"))
        if not isinstance(obj, dict):
            raise ValueError("frame is not a JSON object")
        return obj

    def data(self) -> Iterator[bytes]:
        """Yield the chunks of one file's data; raises AgentFailure when the
        sender could not send it all (its ``E`` frame says why)."""
        while True:
            kind, payload = self.frame()
            if kind == b"D":
                yield payload
                continue
            if kind == b"E":
                end = json.loads(payload.decode("utf-8"))
                if not end.get("ok"):
                    raise AgentFailure(end.get("error") or "sender failed")
                return
            if kind == b"X":
                raise AgentFailure(json.loads(payload.decode("utf-8")).get("error", "agent failed"))
            raise ValueError("expected file data, got a %r frame" % kind)


def send_file(
    writer: FrameWriter,
    path: str,
    offset: int,
    length: int,
    progress: Optional[Callable[[int], None]] = None,
) -> None:
    """Send ``length`` bytes of ``path`` from ``offset`` as data frames, then E.

    A file that cannot be read, or is shorter than promised, ends with a
    failed ``E``: the receiver discards what it staged.
    """
    error = None
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            left = length
            while left > 0:
                chunk = fh.read(min(CHUNK_SIZE, left))
                if not chunk:
                    error = "source shrank since the scan"
                    break
                writer.frame(b"D", chunk)
                left -= len(chunk)
                if progress is not None:
                    progress(len(chunk))
    except OSError as exc:
        error = "cannot read source: %s" % (exc.strerror or exc)
    writer.json(b"E", {"ok": error is None, "error": error})


# --------------------------------------------------------------------------
# Applying


def _op_base(config: str, op: JSON) -> str:
    """The dir an op's ``rel`` is inside: the project dir ``op["dir"]`` under
    ``projects/``, or for a folder sync (``op["folder"]``) the folder ``op["dir"]``."""
    dir_name = str(op["dir"])
    if op.get("folder"):
        if not dir_name.startswith("/") or "\0" in dir_name or dir_name.rstrip("/") == "":
            raise AgentFailure("unsafe folder %r" % dir_name)
        return dir_name
    if (
        not dir_name
        or dir_name in (".", "..")
        or "/" in dir_name
        or "\\" in dir_name
        or "\0" in dir_name
    ):
        raise AgentFailure("unsafe project dir name %r" % dir_name)
    return os.path.join(config, "projects", dir_name)


def op_target(config: str, op: JSON) -> str:
    """The file an op names on this machine (names checked: nothing outside its dir)."""
    rel = str(op["rel"])
    parts = rel.split("/")
    if (
        not rel
        or rel.startswith("/")
        or "\\" in rel
        or "\0" in rel
        or any(p in ("", ".", "..") for p in parts)
        or parts[-1].startswith(TEMP_PREFIX)
    ):
        raise AgentFailure("unsafe file path %r" % rel)
    return os.path.join(_op_base(config, op), *parts)


def _refuse_links_below(base: str, directory: str) -> None:
    """Fail if a dir between ``base`` and ``directory`` is a symlink: a write
    must not land outside the tree it was planned for (scans skip symlinks)."""
    rel = os.path.relpath(directory, base)
    if rel == ".":
        return
    here = base
    for part in rel.split(os.sep):
        here = os.path.join(here, part)
        if os.path.islink(here):
            raise AgentFailure("%s is a symbolic link; not written through it" % here)
        if not os.path.isdir(here):
            return


def _backup_dir_name(op: JSON) -> str:
    """The dir of an op's backups inside a backup set (one path component)."""
    if op.get("folder"):
        return "folder" + encode_project_path(str(op["dir"]), resolve=False)
    return str(op["dir"])


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _makedirs(path: str) -> None:
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)


def _temp_path(directory: str) -> str:
    return os.path.join(directory, "%s%s%s" % (TEMP_PREFIX, os.urandom(6).hex(), TEMP_SUFFIX))


def _write_atomic(path: str, data: bytes, mode: int) -> None:
    directory = os.path.dirname(path)
    _makedirs(directory)
    tmp = _temp_path(directory)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _remove_temps(directory: str, names: Iterable[str], min_age: float, now: float) -> None:
    """Remove this agent's temp files among ``names`` in ``directory`` that are
    at least ``min_age`` seconds old. Never touches any other file."""
    for name in names:
        if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
            path = os.path.join(directory, name)
            with contextlib.suppress(OSError):
                if now - os.lstat(path).st_mtime >= min_age:
                    os.unlink(path)


def _remove_stale_temps(directory: str, now: float) -> None:
    """Temp files over an hour old in ``directory`` (safe with or without the lock)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    _remove_temps(directory, names, STALE_TEMP_SECONDS, now)


def _remove_orphan_temps(config: str, roots: List[str]) -> None:
    """Remove temp files a killed agent left under ``roots``, whatever their age.

    Only while holding this machine's apply lock: every temp file is made under
    it, so one found then belongs to no running sync.
    """
    now = time.time()
    with _ConfigLock(config) as lock:
        if lock.error is not None:
            return
        for root in roots:
            for dirpath, _dirnames, filenames in os.walk(root):
                _remove_temps(dirpath, filenames, 0.0, now)


def _drain(chunks: Iterator[bytes]) -> None:
    try:
        for _ in chunks:
            pass
    except AgentFailure:
        pass


def _current_state(path: str, expect_size: int) -> Tuple[int, str, "hashlib._Hash"]:
    """(file size, sha256 of the first ``expect_size`` bytes, a hasher at that point)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        left = min(expect_size, size)
        while left > 0:
            chunk = fh.read(min(CHUNK_SIZE, left))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return size, digest.hexdigest(), digest


class BackupSet:
    """One folder of backups made by one apply run on this machine."""

    def __init__(self, config: str, label: str) -> None:
        self.config = config
        self.label = label
        self.root: Optional[str] = None
        self.entries: List[JSON] = []
        self.created = time.time()

    def keep(
        self,
        source: str,
        dir_name: str,
        rel: str,
        sha256: str,
        reason: str,
        folder: Optional[str] = None,
    ) -> str:
        """Copy ``source`` (bytes, mode, mtime) into the set; returns the backup path.

        ``dir_name``: the project dir (one path component) the file belongs to;
        for a file of a synced folder, ``folder`` is that folder's path.
        """
        if self.root is None:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            base = os.path.join(self.config, "session-sync", "backups")
            _makedirs(base)
            self.root = os.path.join(base, "%s-%s" % (stamp, os.urandom(3).hex()))
            os.makedirs(self.root, mode=0o700)
        dest = os.path.join(self.root, dir_name, *rel.split("/"))
        _makedirs(os.path.dirname(dest))
        st = os.stat(source)
        digest = hashlib.sha256()
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IMODE(st.st_mode) | 0o600)
        with open(source, "rb") as src, os.fdopen(fd, "wb") as out:
            while True:
                chunk = src.read(CHUNK_SIZE)
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(dest, stat.S_IMODE(st.st_mode))
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
        entry = {
            "dir": dir_name,
            "rel": rel,
            "sha256": digest.hexdigest(),
            "size": st.st_size,
            "mode": stat.S_IMODE(st.st_mode),
            "mtime_ns": st.st_mtime_ns,
            "replaced_by": sha256,
            "reason": reason,
        }
        if folder is not None:
            entry["folder"] = folder
        self.entries.append(entry)
        self._write_index()
        return dest

    def _write_index(self) -> None:
        assert self.root is not None
        index = {"label": self.label, "created": self.created, "entries": self.entries}
        _write_atomic(
            os.path.join(self.root, "backup.json"),
            json.dumps(index, indent=1).encode(),
            0o600,
        )


def open_backup_set(config: str, label: str) -> BackupSet:
    return BackupSet(config, label)


def apply_file(
    config: str,
    op: JSON,
    chunks: Iterator[bytes],
    backups: BackupSet,
    now: Optional[float] = None,
) -> JSON:
    """Apply one planned file change from ``chunks``; return its result as data.

    ``op``: ``action`` (copy | append | replace), ``dir``, ``rel``, ``sha256``
    (of the whole resulting content), ``size`` (its length), ``mode``,
    ``mtime_ns``, and for append/replace ``expect`` (``size``, ``file_size``,
    ``sha256`` of the destination as scanned). ``chunks`` always gets drained.
    """
    now = time.time() if now is None else now
    tmp = None
    try:
        target = op_target(config, op)
        _refuse_links_below(_op_base(config, op), os.path.dirname(target))
        action = op["action"]
        directory = os.path.dirname(target)
        if op.get("folder"):
            parent = os.path.dirname(str(op["dir"]).rstrip("/"))
            if not os.path.isdir(parent):
                # A wrong workspace path must not conjure up a checkout dir.
                raise AgentFailure("%s does not exist here; nothing written" % parent)
        _makedirs(directory)
        _remove_stale_temps(directory, now)
        expect = op.get("expect")
        hasher = hashlib.sha256()
        if action == "copy":
            if os.path.lexists(target):
                raise AgentFailure("destination appeared since the scan; not overwritten")
        else:
            if not isinstance(expect, dict):
                raise AgentFailure("missing expected destination state")
            try:
                st = os.lstat(target)
            except OSError:
                raise AgentFailure("destination vanished since the scan") from None
            if not stat.S_ISREG(st.st_mode):
                raise AgentFailure("destination is not a regular file")
            if not st.st_mode & stat.S_IWUSR:
                raise AgentFailure(
                    "destination is read-only (mode %o); left as it is" % stat.S_IMODE(st.st_mode)
                )
            size, sha, prefix_hasher = _current_state(target, int(expect["size"]))
            if size != int(expect["file_size"]) or sha != expect["sha256"]:
                raise AgentFailure("destination changed since the scan; run the sync again")
            if action == "append":
                # The result must hash to op["sha256"]: our bytes, then theirs.
                hasher = prefix_hasher

        # Stage the incoming bytes beside the target.
        tmp = _temp_path(directory)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        staged = 0
        with os.fdopen(fd, "wb") as fh:
            try:
                for chunk in chunks:
                    fh.write(chunk)
                    hasher.update(chunk)
                    staged += len(chunk)
            except AgentFailure as exc:
                raise AgentFailure("transfer failed: %s" % exc) from None
            fh.flush()
            os.fsync(fh.fileno())
        if hasher.hexdigest() != op["sha256"]:
            raise AgentFailure("received data does not match its sha256; nothing changed")

        result: JSON = {"ok": True, "bytes": staged, "backup": None}
        mtime_ns = int(op["mtime_ns"])
        mode = int(op["mode"]) & 0o7777
        if action == "append":
            old_size = int(expect["file_size"])  # type: ignore[index]
            with open(target, "r+b") as out, open(tmp, "rb") as src:
                if os.fstat(out.fileno()).st_size != old_size:
                    raise AgentFailure("destination changed during the sync; nothing appended")
                out.seek(old_size)
                try:
                    while True:
                        chunk = src.read(CHUNK_SIZE)
                        if not chunk:
                            break
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                except OSError:
                    out.truncate(old_size)
                    out.flush()
                    os.fsync(out.fileno())
                    raise
            _, final_sha, _ = _current_state(target, old_size + staged)
            if final_sha != op["sha256"]:
                with open(target, "r+b") as out:
                    out.truncate(old_size)
                    os.fsync(out.fileno())
                raise AgentFailure("appended file failed its hash check; rolled back")
            os.utime(target, ns=(time.time_ns(), mtime_ns))
            os.unlink(tmp)
            tmp = None
        else:
            os.chmod(tmp, mode)
            os.utime(tmp, ns=(time.time_ns(), mtime_ns))
            if action == "replace":
                result["backup"] = backups.keep(
                    target,
                    _backup_dir_name(op),
                    str(op["rel"]),
                    str(op["sha256"]),
                    str(op.get("reason", "")),
                    folder=str(op["dir"]) if op.get("folder") else None,
                )
            elif os.path.lexists(target):
                raise AgentFailure("destination appeared since the scan; not overwritten")
            os.replace(tmp, target)
            tmp = None
            _fsync_dir(directory)
        return result
    except AgentFailure as exc:
        _drain(chunks)
        return {"ok": False, "error": str(exc)}
    except (OSError, KeyError, ValueError, TypeError) as exc:
        _drain(chunks)
        if isinstance(exc, OSError):
            if exc.errno == errno.ENOSPC:
                message = "disk full on the destination"
            else:
                message = "%s: %s" % (exc.strerror or type(exc).__name__, exc.filename or "")
        else:
            message = "bad request: %s" % exc
        return {"ok": False, "error": message.strip().rstrip(":")}
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def source_path(config: str, op: JSON) -> str:
    """The file an op names on this machine (names checked: nothing outside
    ``projects/`` or the op's folder)."""
    return op_target(config, op)


def apply_batch(
    config: str,
    ops: List[JSON],
    next_file: Callable[[], Iterator[bytes]],
    label: str,
    retention_days: float,
) -> JSON:
    """Apply ``ops`` in order, each from the chunks ``next_file()`` yields, under this
    machine's lock; one failed file does not stop the others. Returns
    ``{"results": [...], "backup_set": path or None, "pruned_backups": [...]}``."""
    results: List[JSON] = []
    backups = open_backup_set(config, label)
    pruned: List[str] = []
    cache = HashCache(config)
    with _ConfigLock(config) as lock:
        for op in ops:
            if lock.error is not None:
                _drain(next_file())
                results.append({"ok": False, "error": lock.error})
                continue
            result = apply_file(config, op, next_file(), backups)
            if result.get("ok"):
                cache.record_written(source_path(config, op), int(op["size"]), str(op["sha256"]))
            results.append(result)
        cache.save()
        if lock.error is None and backups.root is not None:
            pruned = prune_backups(config, retention_days)
    return {"results": results, "backup_set": backups.root, "pruned_backups": pruned}


def exchange(config: str, request: JSON, reader: FrameReader, writer: FrameWriter) -> None:
    """Serve an ``exchange``: apply ``request["apply"]`` from the stream, answer
    with the results, then send the data of ``request["send"]``."""
    answer = apply_batch(
        config,
        list(request.get("apply") or []),
        reader.data,
        str(request.get("label", "sync")),
        float(request.get("backup_retention_days", DEFAULT_BACKUP_RETENTION_DAYS)),
    )
    writer.json(b"J", answer)
    for op in request.get("send") or []:
        try:
            path = source_path(config, op)
        except AgentFailure as exc:
            writer.json(b"E", {"ok": False, "error": str(exc)})
            continue
        send_file(writer, path, int(op["offset"]), int(op["length"]))
    writer.flush()


class _ConfigLock:
    """An exclusive lock on this machine's session-sync state while applying."""

    def __init__(self, config: str) -> None:
        self.path = os.path.join(config, "session-sync", "lock")
        self.fd: Optional[int] = None
        self.error: Optional[str] = None

    def __enter__(self) -> "_ConfigLock":
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, as before
            return self
        try:
            _makedirs(os.path.dirname(self.path))
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                self.error = "another session-sync is applying changes on this machine"
            else:
                self.error = "cannot lock %s: %s" % (self.path, exc.strerror)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# --------------------------------------------------------------------------
# Backups


def _backups_dir(config: str) -> str:
    return os.path.join(config, "session-sync", "backups")


def list_backups(config: str) -> List[JSON]:
    """Every backup set on this machine, oldest first, with its entries."""
    base = _backups_dir(config)
    out: List[JSON] = []
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return out
    for name in names:
        index = os.path.join(base, name, "backup.json")
        try:
            with open(index, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
        data["id"] = name
        data["path"] = os.path.join(base, name)
        out.append(data)
    # By creation time: names only have whole seconds and a random part.
    out.sort(key=lambda b: (float(b.get("created") or 0.0), b["id"]))
    return out


def prune_backups(config: str, retention_days: float, now: Optional[float] = None) -> List[str]:
    """Remove backup sets older than ``retention_days``, except any set that
    holds the newest backup of some file (a file's last backup is kept forever)."""
    now = time.time() if now is None else now
    sets = list_backups(config)
    newest_of: Dict[Tuple[str, str], str] = {}
    for backup in sets:  # oldest first: later sets overwrite
        for entry in backup.get("entries", []):
            newest_of[(entry.get("dir"), entry.get("rel"))] = backup["id"]
    keep = set(newest_of.values())
    removed = []
    for backup in sets:
        if backup["id"] in keep or now - float(backup.get("created", now)) < retention_days * 86400:
            continue
        _remove_tree(backup["path"])
        removed.append(backup["id"])
    return removed


def _remove_tree(path: str) -> None:
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for name in filenames:
            os.unlink(os.path.join(dirpath, name))
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                os.unlink(full)
            else:
                os.rmdir(full)
    os.rmdir(path)


def restore_backup(config: str, backup_id: str, rel: Optional[str] = None) -> List[JSON]:
    """Put the files of a backup set back in place.

    The file being restored over is itself backed up first (restoring is a
    replace like any other), so a restore can be undone.
    """
    sets = {b["id"]: b for b in list_backups(config)}
    if backup_id not in sets:
        raise AgentFailure("no backup set %r" % backup_id)
    backup = sets[backup_id]
    backups = open_backup_set(config, "restore of %s" % backup_id)
    results: List[JSON] = []
    with _ConfigLock(config) as lock:
        for entry in backup.get("entries", []):
            if rel is not None and entry["rel"] != rel and not entry["rel"].startswith(rel + "/"):
                continue
            if lock.error is not None:
                results.append({"rel": entry["rel"], "ok": False, "error": lock.error})
            else:
                results.append(_restore_entry(config, backup, entry, backups))
    return results


def _restore_entry(config: str, backup: JSON, entry: JSON, backups: BackupSet) -> JSON:
    """Put one backed-up file back (a copy, or a replace that backs up the current one)."""
    source = os.path.join(backup["path"], entry["dir"], *entry["rel"].split("/"))
    folder = entry.get("folder")
    op: JSON = {
        "action": "copy",
        "dir": folder if folder else entry["dir"],
        "folder": bool(folder),
        "rel": entry["rel"],
        "sha256": entry["sha256"],
        "size": entry["size"],
        "mode": entry["mode"],
        "mtime_ns": entry["mtime_ns"],
        "reason": "restore of backup %s" % backup["id"],
    }
    try:
        target = op_target(config, op)
    except AgentFailure as exc:
        return {"rel": entry["rel"], "ok": False, "error": str(exc)}
    if os.path.lexists(target):
        try:
            size = os.path.getsize(target)
            _, sha, _ = _current_state(target, size)
        except OSError as exc:
            return {"rel": entry["rel"], "ok": False, "error": str(exc)}
        if sha == entry["sha256"]:
            return {"rel": entry["rel"], "ok": True, "unchanged": True}
        op["action"] = "replace"
        op["expect"] = {"size": size, "file_size": size, "sha256": sha}
    result = apply_file(config, op, _file_chunks(source), backups)
    result["rel"] = entry["rel"]
    return result


def _file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK_SIZE)
            if not chunk:
                return
            yield chunk


# --------------------------------------------------------------------------
# Serving


def serve(inp: IO[bytes], out: IO[bytes], nonce: str, config: Optional[str] = None) -> int:
    """Answer requests on ``inp``/``out`` until the controller closes the stream."""
    config = config or claude_config_dir()
    out.write(b"\n" + READY_MARKER + b" " + nonce.encode("ascii") + b"\n")
    reader = FrameReader(inp)
    writer = FrameWriter(out)
    writer.json(
        b"J",
        {
            "protocol": PROTOCOL_VERSION,
            "config_dir": config,
            "hostname": socket.gethostname(),
            "python": sys.version.split()[0],
            "home": os.path.expanduser("~"),
        },
    )
    writer.flush()
    while True:
        try:
            request = reader.json()
        except EOFError:
            return 0
        op = request.get("op")
        try:
            if op == "scan":
                writer.json(b"J", scan(config, request))
            elif op == "exchange":
                exchange(config, request, reader, writer)
            elif op == "backups":
                writer.json(b"J", {"backups": list_backups(config)})
            else:
                writer.json(b"X", {"error": "unknown request %r" % op})
        except EOFError:
            return 1
        except (AgentFailure, OSError, ValueError) as exc:
            writer.json(b"X", {"error": "%s: %s" % (type(exc).__name__, exc)})
        writer.flush()


def main() -> int:
    nonce = sys.argv[1] if len(sys.argv) > 1 else "-"
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    # Anything else that prints must not corrupt the frames.
    sys.stdout = sys.stderr
    try:
        return serve(inp, out, nonce)
    except BrokenPipeError:
        return 1
    except ValueError as exc:  # out of step: nothing sensible left to say
        sys.stderr.write("session-sync agent: %s\n" % exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
