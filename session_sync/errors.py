"""The exception tree. Every error session-sync raises is a ``SessionSyncError``.

Per-file problems are not exceptions: they are data in the ``SyncReport``.
"""

from __future__ import annotations

__all__ = [
    "AgentError",
    "NotAvailableError",
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


class NotAvailableError(UsageError):
    """A feature that exists in the interface but is not built yet."""


class TransportError(SessionSyncError):
    """The byte stream to the other machine could not be opened or broke."""


class ProtocolError(TransportError):
    """The other machine's agent said something we did not expect."""


class AgentError(SessionSyncError):
    """The other machine's agent refused a whole request."""
