"""Syncing with a codespace by repository: the seed's functions, thin over the engine.

The design document's Ruby module had ``find_local_project_dir``,
``sync_sessions_to_codespace`` and friends; these are the same names and the
same results (counts of pushed / pulled / skipped), but each sync is one
engine run over one connection, never a shell command per file. The
``bin/`` commands are built from the same pieces (``github.syncs``).
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import attrs

from session_sync.agent.paths import (
    claude_config_dir,
    encode_project_path,
    is_session_id,
    normalize_github_repo,
    repositories_match,
)
from session_sync.agent.scan import recorded_cwds, scan
from session_sync.engine import run_sync
from session_sync.errors import (
    UsageError,
)
from session_sync.github.syncs import (
    DEFAULT_DAYS,
    WORKSPACE_TEMPLATE,
    CodespaceOptions,
    codespace_transport,
    session_request,
)
from session_sync.model.reconcile import Direction
from session_sync.model.report import SyncReport
from session_sync.timestamps import last_message_time, parse_timestamp

__all__ = [
    "SyncCounts",
    "find_local_project_dir",
    "find_recent_sessions",
    "get_last_timestamp",
    "remote_project_dir",
    "sync_sessions_bidirectional",
    "sync_sessions_from_codespace",
    "sync_sessions_to_codespace",
    "timestamp_newer",
]


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
    """The session transcripts (``<uuid>.jsonl``, regular files, not links) in
    ``project_dir`` modified in the last ``days`` days."""
    if project_dir is None or not os.path.isdir(project_dir):
        return []
    cutoff = (now if now is not None else dt.datetime.now().timestamp()) - days * 86400
    found = []
    for path in Path(project_dir).glob("*.jsonl"):
        if not is_session_id(path.stem):
            continue
        try:
            st = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mtime >= cutoff:
            found.append(path)
    return sorted(found)


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
    # The transport reads the state again right before it connects, and starts a
    # shut-down codespace only when options.wake.
    request = session_request(codespace, options, days=days, direction=direction)
    report = run_sync(
        request, codespace_transport(codespace, options), io_timeout=options.io_timeout
    )
    return SyncCounts.from_report(report)


def _same_repository(repo_name: str, repository: str) -> bool:
    if "/" in repo_name:
        return repositories_match(repo_name, repository)
    return _repo_name(repository).lower() == repo_name.lower()
