"""The syncs a codespace command runs: which codespace, which checkout here, which
``SyncRequest``s, and running them over one connection.

A codespace's checkout is at ``/workspaces/<repo>`` unless the devcontainer
puts it elsewhere; ``workspace`` templates (``{repo}`` is the repository's
name, ``~/`` the codespace's home) say where.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from session_sync.agent.gitinfo import git_origin_url
from session_sync.agent.paths import claude_config_dir, normalize_github_repo, repositories_match
from session_sync.engine import ProgressCallback, SyncRequest, run_syncs
from session_sync.errors import (
    AmbiguousProjectError,
    CodespaceNotFoundError,
    ProjectNotFoundError,
    UsageError,
)
from session_sync.github.gh import NOT_WOKEN_HINT, Codespace, GhCli
from session_sync.model.reconcile import Direction, SyncPolicy
from session_sync.model.report import SyncReport
from session_sync.projects import LocalProject, git_toplevel, resolve_local_project
from session_sync.transports.codespace import CodespaceTransport
from session_sync.transports.connection import AgentConnection
from session_sync.transports.watchdog import DEFAULT_IO_TIMEOUT

__all__ = [
    "DEFAULT_DAYS",
    "DEV_ENV_FOLDER",
    "DRY_RUN_NOT_WOKEN",
    "WORKSPACE_TEMPLATE",
    "CodespaceOptions",
    "checkout_of",
    "codespace_transport",
    "dev_env_request",
    "local_project_for",
    "pick_codespace",
    "run_requests",
    "session_request",
    "workspace_path",
]

logger = logging.getLogger(__name__)

DEFAULT_DAYS = 7.0
"""Sessions modified in the last week take part."""
WORKSPACE_TEMPLATE = "/workspaces/{repo}"
"""Where a codespace checks its repository out."""
DEV_ENV_FOLDER = ".coding-agent"
"""Plans and notes kept beside the checkout, synced by ``sync-dev-env``."""
DRY_RUN_NOT_WOKEN = "a dry run never starts a codespace; without --dry-run it is started"
"""Why a dry run leaves a shut-down codespace alone."""


def _notify_by_log(message: str) -> None:
    logger.warning("%s", message)


@attrs.frozen
class CodespaceOptions:
    """How to reach codespaces and where things are, shared by every call here."""

    gh: GhCli = attrs.field(factory=GhCli)
    """How to run gh (its timeouts, its environment)."""
    config_dir: Path | None = None
    """This machine's Claude config dir (default: ``$CLAUDE_CONFIG_DIR`` or ``~/.claude``)."""
    cwd: str | None = None
    """Where the caller stands: its git checkout is the local project (default: the cwd)."""
    workspace: str = WORKSPACE_TEMPLATE
    """The checkout's path in the codespace; ``{repo}`` is the repository's name."""
    python: str = "python3"
    """The interpreter that runs the agent in the codespace."""
    route: str = "auto"
    """``auto``, ``proxy`` or ``exec`` (see ``github.gh.ROUTES``)."""
    wake: bool = True
    """Start a shut-down codespace (False: refuse, as the background sync does; a dry
    run never starts one)."""
    not_woken: str = NOT_WOKEN_HINT
    """Why a shut-down codespace is not started, said in the refusal."""
    dry_run: bool = False
    """Plan and report, change nothing."""
    notify: Callable[[str], None] = _notify_by_log
    """Told what is going on (a codespace being started, a fallback location)."""
    io_timeout: float | None = DEFAULT_IO_TIMEOUT
    """Seconds the codespace's agent may send (or take) nothing before the sync gives
    up on it (None: forever)."""
    memory: bool = True
    """Sync Claude's auto memory of the project too (``--no-memory``: not)."""
    history: bool = True
    """Sync the project's prompt history too (``--no-history``: not)."""

    @property
    def local_config(self) -> Path:
        """The config dir in use here."""
        return self.config_dir or Path(claude_config_dir())

    @property
    def where(self) -> str:
        """The caller's directory."""
        return self.cwd or os.getcwd()


def workspace_path(codespace: Codespace, template: str = WORKSPACE_TEMPLATE) -> str:
    """The checkout's path in ``codespace`` (``~/...`` is resolved there, later)."""
    path = template.replace("{repo}", codespace.repo_name)
    if not (path.startswith("/") or path == "~" or path.startswith("~/")):
        raise UsageError(f"workspace {template!r} must be an absolute path or start with ~/")
    return path.rstrip("/") or "/"


def codespace_transport(codespace: Codespace, options: CodespaceOptions) -> CodespaceTransport:
    """The connection to ``codespace`` that ``options`` describe: it starts a shut-down
    codespace only when ``options.wake`` and this is not a dry run."""
    return CodespaceTransport(
        codespace.name,
        gh=options.gh,
        python=options.python,
        route=options.route,
        wake=options.wake and not options.dry_run,
        notify=options.notify,
        not_woken=DRY_RUN_NOT_WOKEN if options.dry_run else options.not_woken,
        listed_state=codespace.state,
    )


def pick_codespace(gh: GhCli, name: str | None, cwd: str) -> Codespace:
    """The codespace named ``name``, else the one of the current checkout's repository.

    Raises ``UsageError`` when neither says which (not in a git checkout, no
    GitHub origin, several codespaces) and ``CodespaceNotFoundError`` when
    there is none.
    """
    if name is not None:
        return gh.find(name)
    top = git_toplevel(cwd)
    if top is None:
        raise UsageError("not in a git repository: pass -c NAME (see `gh codespace list`)")
    origin = git_origin_url(top)
    repo = normalize_github_repo(origin)
    if repo is None:
        raise UsageError(f"{top} has no GitHub origin remote: pass -c NAME")
    mine = [c for c in gh.list_codespaces() if repositories_match(c.repository, repo)]
    if not mine:
        raise CodespaceNotFoundError(
            f"no codespace of {repo}: create one with `codespace-create -R {repo}`"
        )
    if len(mine) > 1:
        listed = ", ".join(f"{c.name} ({c.state})" for c in sorted(mine, key=lambda c: c.name))
        raise UsageError(f"{len(mine)} codespaces of {repo}: {listed}; pass -c NAME to choose")
    return mine[0]


def checkout_of(codespace: Codespace, cwd: str) -> str | None:
    """The git top level holding ``cwd`` when it is a checkout of the codespace's repo."""
    top = git_toplevel(cwd)
    if top is not None and repositories_match(git_origin_url(top), codespace.repository):
        return top
    return None


def local_project_for(
    codespace: Codespace, options: CodespaceOptions, *, announce: bool = True
) -> LocalProject:
    """This machine's side of the codespace's project.

    The checkout the caller stands in, else the checkout its sessions
    recorded. With neither (the project began in the codespace), sessions
    brought here go to the codespace path's project dir, so they are kept
    (``announce``: say so).
    """
    try:
        return resolve_local_project(
            options.local_config, None, codespace.repository or None, options.where
        )
    except AmbiguousProjectError:
        raise
    except ProjectNotFoundError:
        fallback = workspace_path(codespace, WORKSPACE_TEMPLATE)
        if announce:
            options.notify(
                f"no checkout of {codespace.repository} found here (neither this directory"
                f" nor its sessions): they are kept here as sessions of {fallback}"
            )
        return LocalProject(fallback, codespace.repository or None)


def session_request(
    codespace: Codespace,
    options: CodespaceOptions,
    *,
    days: float,
    direction: Direction,
) -> SyncRequest:
    """The engine request for the sessions of ``codespace``'s project."""
    project = local_project_for(codespace, options, announce=direction is not Direction.PUSH)
    return SyncRequest(
        local_config=options.local_config,
        local_path=project.path,
        remote_path=workspace_path(codespace, options.workspace),
        repo=project.repo,
        days=days,
        policy=SyncPolicy(direction=direction),
        dry_run=options.dry_run,
        memory=options.memory,
        history=options.history,
    )


def dev_env_request(
    codespace: Codespace, checkout: str, options: CodespaceOptions, *, direction: Direction
) -> SyncRequest:
    """The engine request for ``checkout/.coding-agent`` and the codespace's."""
    remote = workspace_path(codespace, options.workspace)
    return SyncRequest(
        local_config=options.local_config,
        local_path=os.path.join(os.path.realpath(checkout), DEV_ENV_FOLDER),
        remote_path=f"{remote.rstrip('/')}/{DEV_ENV_FOLDER}",
        policy=SyncPolicy(direction=direction),
        dry_run=options.dry_run,
        folder_sync=True,
    )


def run_requests(
    codespace: Codespace,
    requests: Sequence[tuple[str, SyncRequest]],
    options: CodespaceOptions,
    progress: ProgressCallback | None = None,
    after: Callable[[AgentConnection], None] | None = None,
) -> dict[str, SyncReport]:
    """Run each ``(part, request)`` against ``codespace`` over one connection (then
    ``after`` on it); the reports by part."""
    reports = run_syncs(
        [r for _, r in requests],
        codespace_transport(codespace, options),
        progress=progress,
        io_timeout=options.io_timeout,
        after=after,
    )
    return {part: report for (part, _), report in zip(requests, reports, strict=True)}
