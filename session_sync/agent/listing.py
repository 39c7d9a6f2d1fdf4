"""Listing: every project of this machine with recent sessions, for ``--all``.

A project is the working directory its sessions recorded: the project dirs
that record the same one are one project (a cut name and its ``-<hash>`` twin).
Each comes with the git remote of its checkout here, when there is one, so the
controller can pair projects by repository.
"""

from __future__ import annotations

import os
import time
from typing import Dict, List, Optional, Tuple

from .gitinfo import git_origin_url
from .messages import ListProjectsAnswer, ProjectFacts
from .paths import encode_project_path, encoded_names_match, is_session_id, normalize_github_repo
from .scan import recorded_cwds

__all__ = ["PROJECTS_LIMIT", "list_projects"]


PROJECTS_LIMIT = 10000
"""At most this many projects in one answer (the controller refuses more)."""


def _own_cwd(projects: str, name: str) -> Tuple[Optional[str], Optional[str]]:
    """(the cwd dir ``name`` is named after, as its sessions recorded it; else None
    and the newest cwd recorded: all its sessions came from another machine, whose
    path they record, so the dir's own path here is known only by its name)."""
    first = None
    for cwd in recorded_cwds(projects, name):
        first = first or cwd
        if encoded_names_match(name, encode_project_path(cwd, resolve=False)):
            return cwd, None
    return None, first


def _recent_sessions(base: str, cutoff: float) -> List[float]:
    """The mtimes of the sessions in ``base`` modified since ``cutoff``."""
    found: List[float] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return found
    for entry in entries:
        if not entry.name.endswith(".jsonl") or not is_session_id(entry.name[: -len(".jsonl")]):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_mtime >= cutoff:
            found.append(st.st_mtime)
    return found


def list_projects(config: str, days: float, now: Optional[float] = None) -> ListProjectsAnswer:
    """The projects under ``<config>/projects`` with a session modified in the last
    ``days``, by recorded cwd (``cwd`` None: no session of the dir recorded one)."""
    now = time.time() if now is None else now
    cutoff = now - days * 86400.0
    projects = os.path.join(config, "projects")
    try:
        names = sorted(os.listdir(projects))
    except OSError:
        names = []
    by_cwd: Dict[str, ProjectFacts] = {}
    nameless: List[ProjectFacts] = []
    for name in names:
        base = os.path.join(projects, name)
        if os.path.islink(base) or not os.path.isdir(base):
            continue
        mtimes = _recent_sessions(base, cutoff)
        if not mtimes:
            continue
        cwd, recorded = _own_cwd(projects, name)
        if cwd is None:
            known_by_name: ProjectFacts = {
                "cwd": None,
                "dirs": [name],
                "repo": None,
                "sessions": len(mtimes),
                "newest_mtime": max(mtimes),
            }
            if recorded is not None:
                known_by_name["recorded"] = recorded
            nameless.append(known_by_name)
            continue
        facts = by_cwd.get(cwd)
        if facts is None:
            checkout = os.path.isdir(cwd)
            facts = {
                "cwd": cwd,
                "dirs": [],
                "repo": normalize_github_repo(git_origin_url(cwd)) if checkout else None,
                "sessions": 0,
                "newest_mtime": 0.0,
            }
            by_cwd[cwd] = facts
        facts["dirs"].append(name)
        facts["sessions"] += len(mtimes)
        facts["newest_mtime"] = max(facts["newest_mtime"], max(mtimes))
    listed = [by_cwd[cwd] for cwd in sorted(by_cwd)] + nameless
    return {"projects": listed[:PROJECTS_LIMIT], "more": max(0, len(listed) - PROJECTS_LIMIT)}
