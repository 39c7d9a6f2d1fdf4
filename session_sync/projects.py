"""Which project a sync is about, on this machine.

A project is found by its path, never by the suffix of an encoded dir name
(``-x-my-api`` is not repo ``api``): the path comes from ``--local-path``, the
git top level of the current directory, or the ``cwd`` that this repo's
sessions recorded.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from session_sync import agent
from session_sync.errors import AmbiguousProjectError, ProjectNotFoundError, UsageError

__all__ = ["LocalProject", "git_toplevel", "resolve_local_project"]


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
    if repo is not None and agent.normalize_github_repo(repo) is None:
        raise UsageError(f"--repo {repo!r} is not a GitHub repository (use OWNER/REPO)")
    if local_path is not None:
        path = Path(local_path).expanduser()
        if not path.is_dir():
            raise UsageError(f"--local-path {local_path}: no such directory")
        real = os.path.realpath(path)
        return LocalProject(real, repo or agent.git_origin_url(git_toplevel(real) or real))
    if repo is None:
        top = git_toplevel(cwd or os.getcwd())
        if top is None:
            raise ProjectNotFoundError(
                "not inside a git checkout: pass --local-path PATH (the project here)"
                " or --repo OWNER/REPO"
            )
        return LocalProject(top, agent.git_origin_url(top))
    top = git_toplevel(cwd or os.getcwd())
    if top is not None and agent.repositories_match(agent.git_origin_url(top), repo):
        return LocalProject(top, repo)
    found = agent.scan(
        str(config_dir), {"project_path": None, "repo": repo, "days": 0, "read_only": True}
    )
    cwds = sorted({d["cwd"] for d in found["project_dirs"] if d.get("cwd")})
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
