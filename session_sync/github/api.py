"""Syncing with a codespace by repository: the seed's functions, thin over the engine.

The design document's Ruby module had ``find_local_project_dir``,
``sync_sessions_to_codespace`` and friends; these are the same names and the
same results (counts of pushed / pulled / skipped), but each sync is one
engine run over one connection, never a shell command per file. The
``bin/`` commands are built from the lower-level pieces here:
``pick_codespace``, ``checkout_of``, ``session_request`` and
``dev_env_request``.

A codespace's checkout is at ``/workspaces/<repo>`` unless the devcontainer
puts it elsewhere; ``workspace`` templates (``{repo}`` is the repository's
name, ``~/`` the codespace's home) say where.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from session_sync.agent.gitinfo import git_origin_url
from session_sync.agent.paths import (
    claude_config_dir,
    encode_project_path,
    normalize_github_repo,
    repositories_match,
)
from session_sync.agent.scan import recorded_cwds, scan
from session_sync.engine import ProgressCallback, SyncRequest, run_sync, run_syncs
from session_sync.errors import (
    AmbiguousProjectError,
    CodespaceNotFoundError,
    ProjectNotFoundError,
    UsageError,
)
from session_sync.github.gh import Codespace, GhCli, check_codespace_state
from session_sync.model.reconcile import Direction, SyncPolicy
from session_sync.model.report import SyncReport
from session_sync.projects import LocalProject, git_toplevel, resolve_local_project
from session_sync.timestamps import last_message_time, parse_timestamp
from session_sync.transports.codespace import CodespaceTransport

__all__ = [
    "DEFAULT_DAYS",
    "DEV_ENV_FOLDER",
    "WORKSPACE_TEMPLATE",
    "CodespaceOptions",
    "SyncCounts",
    "checkout_of",
    "dev_env_request",
    "find_local_project_dir",
    "find_recent_sessions",
    "get_last_timestamp",
    "local_project_for",
    "pick_codespace",
    "remote_project_dir",
    "session_request",
    "sync_sessions_bidirectional",
    "sync_sessions_from_codespace",
    "sync_sessions_to_codespace",
    "timestamp_newer",
    "workspace_path",
]

logger = logging.getLogger(__name__)

DEFAULT_DAYS = 7.0
"""Sessions modified in the last week take part."""
WORKSPACE_TEMPLATE = "/workspaces/{repo}"
"""Where a codespace checks its repository out."""
DEV_ENV_FOLDER = ".coding-agent"
"""Plans and notes kept beside the checkout, synced by ``sync-dev-env``."""


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
    """Start a shut-down codespace (False: refuse, as the background sync does)."""
    dry_run: bool = False
    """Plan and report, change nothing."""
    notify: Callable[[str], None] = _notify_by_log
    """Told what is going on (a codespace being started, a fallback location)."""

    @property
    def local_config(self) -> Path:
        """The config dir in use here."""
        return self.config_dir or Path(claude_config_dir())

    @property
    def where(self) -> str:
        """The caller's directory."""
        return self.cwd or os.getcwd()


@attrs.frozen
class SyncCounts:
    """What a sync did, counted like the seed's ``{pushed:, pulled:, skipped:}``."""

    pushed: int
    """Files written in the codespace."""
    pulled: int
    """Files written here."""
    skipped: int
    """Files left alone on purpose (open in Claude, other direction)."""
    failed: int
    """Files that could not be written (nothing of theirs changed)."""
    report: SyncReport
    """Everything the engine did, item by item."""

    @classmethod
    def from_report(cls, report: SyncReport) -> SyncCounts:
        """The counts of ``report``."""
        return cls(report.pushed, report.pulled, report.skipped, report.failed, report)

    def as_dict(self) -> dict[str, int]:
        """``{"pushed": n, "pulled": n, "skipped": n, "failed": n}``."""
        return {
            "pushed": self.pushed,
            "pulled": self.pulled,
            "skipped": self.skipped,
            "failed": self.failed,
        }


def workspace_path(codespace: Codespace, template: str = WORKSPACE_TEMPLATE) -> str:
    """The checkout's path in ``codespace`` (``~/...`` is resolved there, later)."""
    path = template.replace("{repo}", codespace.repo_name)
    if not (path.startswith("/") or path == "~" or path.startswith("~/")):
        raise UsageError(f"workspace {template!r} must be an absolute path or start with ~/")
    return path.rstrip("/") or "/"


# --- the seed's functions ----------------------------------------------------------------


def _repo_name(repo: str) -> str:
    return repo.rstrip("/").rsplit("/", 1)[-1]


def find_local_project_dir(repo_name: str, *, config_dir: Path | None = None) -> Path | None:
    """This machine's project dir holding sessions of ``repo_name``, or None.

    ``OWNER/REPO`` matches dirs whose sessions ran in a checkout of that
    repository; a bare ``REPO`` matches dirs whose sessions ran in a directory
    of that name. Never by the suffix of an encoded name (``-x-my-api`` is
    not ``api``). With several, the one with the newest session.
    """
    config = config_dir or Path(claude_config_dir())
    if "/" in repo_name:
        full = normalize_github_repo(repo_name)
        if full is None:
            raise UsageError(f"{repo_name!r} is not a GitHub repository (use OWNER/REPO)")
        found = scan(
            str(config), {"project_path": None, "repo": full, "days": 0, "read_only": True}
        )
        names = [str(d["name"]) for d in found["project_dirs"]]
    else:
        names = _dirs_by_cwd_name(config, repo_name)
    if not names:
        return None
    dirs = [config / "projects" / n for n in names]
    return max(dirs, key=_newest_session_mtime)


def _dirs_by_cwd_name(config: Path, name: str) -> list[str]:
    """Project dirs with a session recorded in a directory called ``name`` (as
    ``scan`` matches dirs by any recorded cwd, not just the newest)."""
    projects = config / "projects"
    return [
        entry.name
        for entry in (sorted(projects.iterdir()) if projects.is_dir() else [])
        if any(
            os.path.basename(cwd.rstrip("/")) == name
            for cwd in recorded_cwds(str(projects), entry.name)
        )
    ]


def _newest_session_mtime(project_dir: Path) -> float:
    return max((p.stat().st_mtime for p in project_dir.glob("*.jsonl")), default=0.0)


def remote_project_dir(
    repo_name: str, *, workspace: str = WORKSPACE_TEMPLATE, config_dir: str = "~/.claude"
) -> str:
    """Where a codespace keeps the sessions of ``repo_name``'s checkout.

    For information: a sync finds the real config dir in the codespace itself
    (``$CLAUDE_CONFIG_DIR`` there, else ``~/.claude``).
    """
    path = workspace.replace("{repo}", _repo_name(repo_name))
    return f"{config_dir.rstrip('/')}/projects/{encode_project_path(path, resolve=False)}"


def find_recent_sessions(
    project_dir: str | os.PathLike[str] | None,
    days: float = DEFAULT_DAYS,
    *,
    now: float | None = None,
) -> list[Path]:
    """The transcripts (``*.jsonl``) in ``project_dir`` modified in the last ``days`` days."""
    if project_dir is None or not os.path.isdir(project_dir):
        return []
    cutoff = (now if now is not None else dt.datetime.now().timestamp()) - days * 86400
    found = [p for p in Path(project_dir).glob("*.jsonl") if p.is_file()]
    return sorted(p for p in found if p.stat().st_mtime >= cutoff)


def get_last_timestamp(path: str | os.PathLike[str]) -> dt.datetime | None:
    """The time of the session's last message (None: no file, or no timestamp in it).

    Scans back from the end over complete lines: a real session's last line
    (``cost-state``) has no timestamp, so "the last line's" would be None.
    """
    try:
        return last_message_time(path)
    except OSError:
        return None


def timestamp_newer(a: dt.datetime | str | None, b: dt.datetime | str | None) -> bool:
    """Whether ``a`` is later than ``b`` as a moment in time (None is the oldest).

    Strings are parsed (any ISO 8601 form, any offset): comparing them as
    text is wrong across offsets and precisions.
    """
    first, second = _moment(a), _moment(b)
    if first is None:
        return False
    return second is None or first > second


def _moment(value: dt.datetime | str | None) -> dt.datetime | None:
    if isinstance(value, str):
        return parse_timestamp(value)  # naive counts as UTC; None if not a time
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def sync_sessions_to_codespace(
    repo_name: str,
    codespace_name: str,
    days: float = DEFAULT_DAYS,
    *,
    options: CodespaceOptions | None = None,
) -> SyncCounts:
    """Send this machine's recent sessions of ``repo_name`` to the codespace."""
    return _sync_sessions(repo_name, codespace_name, days, Direction.PUSH, options)


def sync_sessions_from_codespace(
    repo_name: str,
    codespace_name: str,
    days: float = DEFAULT_DAYS,
    *,
    options: CodespaceOptions | None = None,
) -> SyncCounts:
    """Bring the codespace's recent sessions of ``repo_name`` here."""
    return _sync_sessions(repo_name, codespace_name, days, Direction.PULL, options)


def sync_sessions_bidirectional(
    repo_name: str,
    codespace_name: str,
    days: float = DEFAULT_DAYS,
    *,
    options: CodespaceOptions | None = None,
) -> SyncCounts:
    """Both ways at once: each session goes from the side that has more of it."""
    return _sync_sessions(repo_name, codespace_name, days, Direction.BOTH, options)


def _sync_sessions(
    repo_name: str,
    codespace_name: str,
    days: float,
    direction: Direction,
    options: CodespaceOptions | None,
) -> SyncCounts:
    options = options or CodespaceOptions()
    codespace = options.gh.find(codespace_name)
    if not _same_repository(repo_name, codespace.repository):
        raise UsageError(
            f"codespace {codespace.name} holds {codespace.repository}, not {repo_name}"
        )
    check_codespace_state(codespace, wake=options.wake, notify=options.notify)
    request = session_request(codespace, options, days=days, direction=direction)
    return SyncCounts.from_report(run_sync(request, codespace_transport(codespace, options)))


def _same_repository(repo_name: str, repository: str) -> bool:
    if "/" in repo_name:
        return repositories_match(repo_name, repository)
    return _repo_name(repository).lower() == repo_name.lower()


# --- the pieces the bin/ commands are made of --------------------------------------------


def codespace_transport(codespace: Codespace, options: CodespaceOptions) -> CodespaceTransport:
    """The connection to ``codespace`` that ``options`` describe."""
    return CodespaceTransport(
        codespace.name, gh=options.gh, python=options.python, route=options.route
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
) -> dict[str, SyncReport]:
    """Run each ``(part, request)`` against ``codespace`` over one connection; the
    reports by part."""
    reports = run_syncs(
        [r for _, r in requests], codespace_transport(codespace, options), progress=progress
    )
    return {part: report for (part, _), report in zip(requests, reports, strict=True)}
