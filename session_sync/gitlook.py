"""Looking at a checkout with ``git``: one way for every reader that only looks.

A look never fails the caller: git missing, a timeout or a non-zero exit is
None. It runs with ``GIT_OPTIONAL_LOCKS=0``, so a ``git status`` never rewrites
the index (nor holds its lock against a git command the user, or a Claude, runs
at that moment). Kept free of heavy imports: the session-start hook uses it.
"""

from __future__ import annotations

import os
import subprocess

__all__ = ["git_look"]


def git_look(project: str, *args: str, timeout: float = 30.0) -> bytes | None:
    """``git -C project ARGS``'s stdout when it exits 0, else None."""
    try:
        out = subprocess.run(
            ["git", "-C", project, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None
