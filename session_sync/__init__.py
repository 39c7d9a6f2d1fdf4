"""session-sync: keep Claude Code sessions in step between machines.

The public API is importable from here. Only the exception tree is imported at
once; everything else is imported on first use (PEP 562), so ``import
session_sync`` stays cheap and never loads paramiko unless a transport that
needs it is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from session_sync.errors import (
    AgentError,
    AmbiguousProjectError,
    CodespaceNotFoundError,
    CodespaceUnavailableError,
    GhError,
    ProjectNotFoundError,
    ProtocolError,
    SessionSyncError,
    TransportError,
    UsageError,
)

if TYPE_CHECKING:
    __version__: str
    from session_sync.agent.paths import (
        claude_config_dir,
        encode_project_path,
        normalize_github_repo,
        repositories_match,
    )
    from session_sync.engine import SyncRequest, run_sync, run_syncs, survey
    from session_sync.github.api import (
        SyncCounts,
        find_local_project_dir,
        find_recent_sessions,
        get_last_timestamp,
        remote_project_dir,
        sync_sessions_bidirectional,
        sync_sessions_from_codespace,
        sync_sessions_to_codespace,
        timestamp_newer,
    )
    from session_sync.github.gh import Codespace, GhCli, check_codespace_state
    from session_sync.github.syncs import CodespaceOptions
    from session_sync.model.manifest import FileEntry, SessionEntry, SessionManifest
    from session_sync.model.reconcile import (
        Action,
        Direction,
        PlannedItem,
        SyncPlan,
        SyncPolicy,
        plan_sync,
    )
    from session_sync.model.report import ItemReport, SyncReport
    from session_sync.timestamps import last_message_time, parse_timestamp
    from session_sync.transports.base import Transport
    from session_sync.transports.codespace import CodespaceTransport
    from session_sync.transports.local import LocalProcessTransport
    from session_sync.transports.ssh import RetryPolicy, SshTransport


def _version() -> str:
    """The installed package's version (importlib.metadata costs 20-50 ms: asked for
    only when ``__version__`` is)."""
    import importlib.metadata

    try:
        return importlib.metadata.version("session-sync")
    except importlib.metadata.PackageNotFoundError:  # a source tree, not installed
        return "0.0.0+unknown"


_LAZY = {
    "Action": "session_sync.model.reconcile",
    "Codespace": "session_sync.github.gh",
    "CodespaceOptions": "session_sync.github.syncs",
    "CodespaceTransport": "session_sync.transports.codespace",
    "Direction": "session_sync.model.reconcile",
    "FileEntry": "session_sync.model.manifest",
    "GhCli": "session_sync.github.gh",
    "ItemReport": "session_sync.model.report",
    "LocalProcessTransport": "session_sync.transports.local",
    "PlannedItem": "session_sync.model.reconcile",
    "RetryPolicy": "session_sync.transports.ssh",
    "SessionEntry": "session_sync.model.manifest",
    "SessionManifest": "session_sync.model.manifest",
    "SshTransport": "session_sync.transports.ssh",
    "SyncCounts": "session_sync.github.api",
    "SyncPlan": "session_sync.model.reconcile",
    "SyncPolicy": "session_sync.model.reconcile",
    "SyncReport": "session_sync.model.report",
    "SyncRequest": "session_sync.engine",
    "Transport": "session_sync.transports.base",
    "check_codespace_state": "session_sync.github.gh",
    "claude_config_dir": "session_sync.agent.paths",
    "encode_project_path": "session_sync.agent.paths",
    "find_local_project_dir": "session_sync.github.api",
    "find_recent_sessions": "session_sync.github.api",
    "get_last_timestamp": "session_sync.github.api",
    "last_message_time": "session_sync.timestamps",
    "normalize_github_repo": "session_sync.agent.paths",
    "parse_timestamp": "session_sync.timestamps",
    "plan_sync": "session_sync.model.reconcile",
    "remote_project_dir": "session_sync.github.api",
    "repositories_match": "session_sync.agent.paths",
    "run_sync": "session_sync.engine",
    "run_syncs": "session_sync.engine",
    "survey": "session_sync.engine",
    "sync_sessions_bidirectional": "session_sync.github.api",
    "sync_sessions_from_codespace": "session_sync.github.api",
    "sync_sessions_to_codespace": "session_sync.github.api",
    "timestamp_newer": "session_sync.github.api",
}
"""Each lazily imported public name and the module it lives in."""


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = version = _version()
        return version
    module = _LAZY.get(name)
    if module is None:
        if not name.startswith("_"):  # a submodule, as when everything was eager
            try:
                return importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise
        raise AttributeError(f"module 'session_sync' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"__version__"})


__all__ = [
    "Action",
    "AgentError",
    "AmbiguousProjectError",
    "Codespace",
    "CodespaceNotFoundError",
    "CodespaceOptions",
    "CodespaceTransport",
    "CodespaceUnavailableError",
    "Direction",
    "FileEntry",
    "GhCli",
    "GhError",
    "ItemReport",
    "LocalProcessTransport",
    "PlannedItem",
    "ProjectNotFoundError",
    "ProtocolError",
    "RetryPolicy",
    "SessionEntry",
    "SessionManifest",
    "SessionSyncError",
    "SshTransport",
    "SyncCounts",
    "SyncPlan",
    "SyncPolicy",
    "SyncReport",
    "SyncRequest",
    "Transport",
    "TransportError",
    "UsageError",
    "__version__",
    "check_codespace_state",
    "claude_config_dir",
    "encode_project_path",
    "find_local_project_dir",
    "find_recent_sessions",
    "get_last_timestamp",
    "last_message_time",
    "normalize_github_repo",
    "parse_timestamp",
    "plan_sync",
    "remote_project_dir",
    "repositories_match",
    "run_sync",
    "run_syncs",
    "survey",
    "sync_sessions_bidirectional",
    "sync_sessions_from_codespace",
    "sync_sessions_to_codespace",
    "timestamp_newer",
]
