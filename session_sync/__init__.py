"""session-sync: keep Claude Code sessions in step between machines."""

from __future__ import annotations

from session_sync.agent import (
    claude_config_dir,
    encode_project_path,
    normalize_github_repo,
    repositories_match,
)
from session_sync.codespace_sync import (
    CodespaceOptions,
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
from session_sync.codespaces import (
    Codespace,
    CodespaceTransport,
    GhCli,
    check_codespace_state,
)
from session_sync.engine import SyncRequest, run_sync, run_syncs, survey
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
from session_sync.manifest import FileEntry, SessionEntry, SessionManifest
from session_sync.reconcile import Action, Direction, PlannedItem, SyncPlan, SyncPolicy, plan_sync
from session_sync.report import ItemReport, SyncReport
from session_sync.ssh import RetryPolicy, SshTransport
from session_sync.timestamps import last_message_time, parse_timestamp
from session_sync.transport import LocalProcessTransport, Transport

__version__ = "0.1.0"

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
