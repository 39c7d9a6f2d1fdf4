"""Names on this machine: the Claude config dir, project dir names, GitHub
repository names, and the confinement of every path a request names.
"""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from typing import Dict, Optional

from .messages import TargetOp
from .protocol import Refusal

__all__ = [
    "ENCODED_NAME_LIMIT",
    "FORK_NAMESPACE",
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "claude_config_dir",
    "encode_project_path",
    "encoded_names_match",
    "fork_session_id",
    "is_session_id",
    "normalize_github_repo",
    "op_base",
    "op_target",
    "repositories_match",
    "session_of_rel",
]


ENCODED_NAME_LIMIT = 200


TEMP_PREFIX = ".session-sync-"


TEMP_SUFFIX = ".tmp"


_SESSION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_session_id(name: str) -> bool:
    """Whether ``name`` is a session id as Claude writes them: a lowercase uuid.

    Anything else in a project dir (``memory/``, ``notes.jsonl``) is not a
    session and is never read or written as one (``memory/MEMORY.md`` is sent
    to the model: a far side must not plant it through a fake session).
    """
    return bool(_SESSION_ID.match(name))


FORK_NAMESPACE = uuid.UUID("5e55105e-5c0c-4f0e-9a7e-f0a4b5e55105")
"""The uuid5 namespace of fork ids (fixed forever: both machines must agree)."""


def fork_session_id(session_id: str, branch_sha256: str) -> str:
    """The id of the fork that keeps the branch of ``session_id`` whose counted
    bytes hash to ``branch_sha256`` (a uuid, like Claude's own ids)."""
    return str(uuid.uuid5(FORK_NAMESPACE, "%s:%s" % (session_id, branch_sha256)))


def session_of_rel(rel: str) -> Optional[str]:
    """The session a project-dir-relative path belongs to: ``<uuid>.jsonl`` or
    ``<uuid>/...`` (None for any other path)."""
    head, sep, _rest = rel.partition("/")
    if sep:
        return head if is_session_id(head) else None
    if rel.endswith(".jsonl") and is_session_id(rel[: -len(".jsonl")]):
        return rel[: -len(".jsonl")]
    return None


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


def op_base(config: str, op: TargetOp) -> str:
    """The dir an op's ``rel`` is inside: the project dir ``op["dir"]`` under
    ``projects/``, or for a folder sync (``op["in_folder"]``) the folder ``op["dir"]``."""
    dir_name = str(op["dir"])
    if op.get("in_folder"):
        if not dir_name.startswith("/") or "\0" in dir_name or dir_name.rstrip("/") == "":
            raise Refusal("unsafe folder %r" % dir_name)
        return dir_name
    if (
        not dir_name
        or dir_name in (".", "..")
        or "/" in dir_name
        or "\\" in dir_name
        or "\0" in dir_name
    ):
        raise Refusal("unsafe project dir name %r" % dir_name)
    return os.path.join(config, "projects", dir_name)


def op_target(config: str, op: TargetOp) -> str:
    """The file an op names on this machine (names checked: nothing outside its dir,
    and in a project dir nothing but a session's files)."""
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
        raise Refusal("unsafe file path %r" % rel)
    if not op.get("in_folder") and session_of_rel(rel) is None:
        raise Refusal("not a session's file (not <uuid>.jsonl or <uuid>/...): %r" % rel)
    return os.path.join(op_base(config, op), *parts)
