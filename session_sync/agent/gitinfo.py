"""What git knows about a checkout: its ``origin`` (read from the config file,
no git binary) and which files are committed as they are.
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import List, Optional

__all__ = [
    "git_committed_files",
    "git_origin_url",
]


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
