"""The transport interface: how the controller gets ONE byte stream to the other
machine's agent.

A transport only starts ``python3 -c BOOTSTRAP NONCE`` somewhere and hands back
its stdin/stdout as an ``AgentStream``; everything above (payload, handshake,
framing, requests: ``transports.connection``) is the same for every transport.
``local`` runs the agent as a subprocess against another Claude config dir on
this machine, ``ssh`` over one SSH channel, ``codespace`` through ``gh``, and
``session_sync.testing.transports`` in a thread of this process.
"""

from __future__ import annotations

import shlex
from typing import IO, Protocol

from session_sync.agent.protocol import BOOTSTRAP

__all__ = [
    "AgentStream",
    "Transport",
    "agent_command",
    "agent_shell_command",
]


class AgentStream(Protocol):
    """A running agent's byte stream."""

    @property
    def reader(self) -> IO[bytes]:
        """The agent's stdout."""

    @property
    def writer(self) -> IO[bytes]:
        """The agent's stdin."""

    def diagnostics(self) -> str:
        """What the agent (or the connection) said on stderr so far."""

    def close(self) -> int | None:
        """Close the stream and wait for the agent; its exit status if known."""

    def abort(self) -> None:
        """Tear the stream down now; may be called from another thread to end a blocked read."""


class Transport(Protocol):
    """Something that can start the agent on a machine and stream to it."""

    @property
    def description(self) -> str:
        """The other machine, for people (``dir /path``, ``host name``...)."""

    def open(self, nonce: str) -> AgentStream:
        """Start the agent with ``nonce`` and return its stream (one per sync)."""


def agent_command(python: str, nonce: str) -> list[str]:
    """argv that starts the agent: it then reads its payload from stdin."""
    return [python, "-c", BOOTSTRAP, nonce]


def agent_shell_command(python: str, nonce: str) -> str:
    """The same, as one string for a remote shell (every word quoted)."""
    return " ".join(shlex.quote(word) for word in agent_command(python, nonce))
