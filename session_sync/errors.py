"""The exception tree. Every error session-sync raises is a ``SessionSyncError``::

    SessionSyncError
    ├── UsageError                  asked for something that cannot be done (exit 2)
    │   ├── ProjectNotFoundError    no project dir for the repository or path
    │   │   └── AmbiguousProjectError
    │   ├── CodespaceNotFoundError
    │   └── ConfigError             the config file is malformed (file, line, key)
    ├── TransportError              the stream could not be opened or broke (.where)
    │   ├── ProtocolError           the other side said something unexpected
    │   ├── GhError                 gh missing, logged out, hung or failed
    │   └── CodespaceUnavailableError   (.state) shut down, rebuilding, failed...
    └── AgentError                  the other agent refused a whole request

Per-file problems are not exceptions: they are data in the ``SyncReport``. The
agent's own ``Refusal`` (``agent.protocol``) never leaves the agent's
boundary: ``transports.connection`` turns it into ``AgentError``, and each
command line maps this tree to exit codes in one place (``cli.common``).
"""

from __future__ import annotations

__all__ = [
    "AgentError",
    "AmbiguousProjectError",
    "CheckpointError",
    "CodespaceNotFoundError",
    "CodespaceUnavailableError",
    "ConfigError",
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

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.where = where
        """The other machine, as its transport describes it (``host h``...), when known."""


class ProtocolError(TransportError):
    """The other machine's agent said something we did not expect."""


class GhError(TransportError):
    """The GitHub CLI is missing, not logged in, hung, or failed."""


class ConfigError(UsageError):
    """The config file cannot be read or says something it may not (one line:
    the file, the line, the key)."""


class CodespaceNotFoundError(UsageError):
    """No codespace has the name given."""


class CodespaceUnavailableError(TransportError):
    """The codespace exists but cannot be synced now (shut down and not to be woken, failed...)."""

    def __init__(self, message: str, state: str, *, where: str | None = None) -> None:
        super().__init__(message, where=where)
        self.state = state
        """The state ``gh codespace list`` reported."""


class AgentError(SessionSyncError):
    """The other machine's agent refused a whole request."""


class CheckpointError(SessionSyncError):
    """A checkpoint could not be made, fetched, listed or restored (git said why)."""
