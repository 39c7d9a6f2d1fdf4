"""The exception tree. Every error session-sync raises is a ``SessionSyncError``.

Per-file problems are not exceptions: they are data in the ``SyncReport``.
"""

from __future__ import annotations

__all__ = [
    "AgentError",
    "AmbiguousProjectError",
    "CodespaceNotFoundError",
    "CodespaceUnavailableError",
    "GhError",
    "ProjectNotFoundError",
    "ProtocolError",
    "SessionSyncError",
    "TransportError",
    "UsageError",
]


class SessionSyncError(Exception):
    """Root of every error session-sync raises."""


class UsageError(SessionSyncError):
    """The caller asked for something that cannot be done as asked (exit 2)."""


class ProjectNotFoundError(UsageError):
    """No project directory could be found for the repository or path given."""


class AmbiguousProjectError(ProjectNotFoundError):
    """Several checkouts here hold the repository's sessions; which one is meant?"""


class TransportError(SessionSyncError):
    """The byte stream to the other machine could not be opened or broke."""


class ProtocolError(TransportError):
    """The other machine's agent said something we did not expect."""


class GhError(TransportError):
    """The GitHub CLI is missing, not logged in, hung, or failed."""


class CodespaceNotFoundError(UsageError):
    """No codespace has the name given."""


class CodespaceUnavailableError(TransportError):
    """The codespace exists but cannot be synced now (shut down and not to be woken, failed...)."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state
        """The state ``gh codespace list`` reported."""


class AgentError(SessionSyncError):
    """The other machine's agent refused a whole request."""
