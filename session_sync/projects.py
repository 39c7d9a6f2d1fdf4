"""Which project a sync is about, and where it is on each side.

A project is found by its path, never by the suffix of an encoded dir name
(``-x-my-api`` is not repo ``api``): the path comes from ``--local-path``, the
git top level of the current directory, or the ``cwd`` that this repo's
sessions recorded.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

import attrs

from session_sync.agent.gitinfo import git_origin_url
from session_sync.agent.paths import normalize_github_repo, repositories_match
from session_sync.agent.scan import scan
from session_sync.errors import (
    AmbiguousProjectError,
    ProjectNotFoundError,
    ProtocolError,
    UsageError,
)

__all__ = [
    "LocalProject",
    "git_toplevel",
    "remote_project_path",
    "resolve_local_project",
    "same_place_under_remote_home",
]


@attrs.frozen
class LocalProject:
    """The project on this machine."""

    path: str
    """Its path here (realpath)."""
    repo: str | None
    """Its GitHub repository, when known (given, or the checkout's origin)."""


def git_toplevel(start: str | os.PathLike[str]) -> str | None:
    """The top level of the git checkout holding ``start`` (no ``git`` binary needed)."""
    here = Path(os.path.realpath(start))
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return str(candidate)
    return None


def resolve_local_project(
    config_dir: Path, local_path: str | None, repo: str | None, cwd: str | None = None
) -> LocalProject:
    """The project path here, from the flags, the current checkout or the sessions.

    Raises ``UsageError`` for a path that does not exist, and
    ``ProjectNotFoundError`` (saying which flag to pass) when nothing says
    where the project is.
    """
    if repo is not None and normalize_github_repo(repo) is None:
        raise UsageError(f"--repo {repo!r} is not a GitHub repository (use OWNER/REPO)")
    if local_path is not None:
        path = Path(local_path).expanduser()
        if not path.is_dir():
            raise UsageError(f"--local-path {local_path}: no such directory")
        real = os.path.realpath(path)
        return LocalProject(real, repo or git_origin_url(git_toplevel(real) or real))
    if repo is None:
        top = git_toplevel(cwd or os.getcwd())
        if top is None:
            raise ProjectNotFoundError(
                "not inside a git checkout: pass --local-path PATH (the project here)"
                " or --repo OWNER/REPO"
            )
        return LocalProject(top, git_origin_url(top))
    top = git_toplevel(cwd or os.getcwd())
    if top is not None and repositories_match(git_origin_url(top), repo):
        return LocalProject(top, repo)
    found = scan(
        str(config_dir), {"project_path": None, "repo": repo, "days": 0, "read_only": True}
    )
    cwds = sorted({d["cwd"] for d in found["project_dirs"] if d["cwd"]})
    if len(cwds) == 1:
        return LocalProject(os.path.realpath(cwds[0]), repo)
    if not cwds:
        raise ProjectNotFoundError(
            f"no sessions of {repo} found under {config_dir / 'projects'}:"
            " pass --local-path PATH (the checkout's path here)"
        )
    raise AmbiguousProjectError(
        f"{repo} has sessions in several checkouts here ({', '.join(cwds)}):"
        " pass --local-path PATH to choose one"
    )


def same_place_under_remote_home(path: str) -> str:
    """``~/<path relative to this machine's home>``: the same place under another
    machine's home (the default remote path of an SSH host)."""
    home = os.path.realpath(os.path.expanduser("~"))
    if path == home:
        return "~"
    if not path.startswith(home.rstrip("/") + "/"):
        raise UsageError(
            f"{path} is not under your home dir ({home}), so its place on the host cannot be"
            " guessed: pass --remote-path"
        )
    return "~/" + path[len(home.rstrip("/")) + 1 :]


def remote_project_path(path: str | None, remote_home: str | None) -> str | None:
    """``path`` with a leading ``~`` taken as the other machine's home."""
    if path is None or not (path == "~" or path.startswith("~/")):
        return path
    if not remote_home:
        raise ProtocolError("the agent did not say where its home is, so ~ cannot be resolved")
    return posixpath.join(remote_home, path[2:]) if path != "~" else remote_home
