"""The transport into a GitHub codespace.

The transport is the SSH transport routed through ``gh codespace ssh -c NAME
--stdio`` with the user and key that ``gh codespace ssh --config`` reports
(paramiko ignores the ``Include`` that gh's suggested setup relies on). Where
that route fails, one ``gh codespace ssh -c NAME -- <agent command>`` process
is the stream instead. Either way it is one connection per sync.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from pathlib import Path

import attrs

from session_sync.errors import GhError, TransportError, UsageError
from session_sync.github.gh import ROUTES, CodespaceSshConfig, GhCli
from session_sync.transports.base import AgentStream, agent_shell_command
from session_sync.transports.local import ProcessStream
from session_sync.transports.ssh import DEFAULT_CONNECT_TIMEOUT, RetryPolicy, SshTransport

__all__ = ["ROUTES", "CodespaceTransport"]

logger = logging.getLogger(__name__)


@attrs.frozen
class CodespaceTransport:
    """Runs the agent in a codespace, over one connection per ``open``."""

    name: str
    """The codespace's name."""
    gh: GhCli = attrs.field(factory=GhCli)
    """How to run gh."""
    python: str = "python3"
    """The interpreter that runs the agent in the codespace."""
    route: str = "auto"
    """``auto``, ``proxy`` or ``exec`` (see ``ROUTES``)."""
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    """How SSH connection setup is retried."""
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    """Seconds for the SSH handshake through the proxy."""

    def __attrs_post_init__(self) -> None:
        if self.route not in ROUTES:
            raise UsageError(f"unknown codespace route {self.route!r} (use {', '.join(ROUTES)})")

    @property
    def description(self) -> str:
        return f"codespace {self.name}"

    def open(self, nonce: str) -> AgentStream:
        if self.route in ("auto", "proxy"):
            try:
                stream = self._open_proxy(nonce)
            except TransportError as exc:
                if self.route == "proxy" or isinstance(exc, GhError):
                    raise
                logger.warning(
                    "SSH through `gh codespace ssh --stdio` failed (%s); using one"
                    " `gh codespace ssh -- COMMAND` process instead",
                    exc,
                )
            else:
                return stream
        return self._open_exec(nonce)

    def ssh_transport(self, config: CodespaceSshConfig) -> SshTransport:
        """The SSH transport through gh's ``--stdio`` proxy, as ``config`` describes."""
        if config.identity_file is None or config.user is None:
            raise TransportError(
                f"`gh codespace ssh --config -c {self.name}` named no User or IdentityFile"
            )
        key = str(Path(config.identity_file).expanduser())
        if not os.path.isfile(key):
            raise TransportError(f"the codespace key {key} that gh names does not exist")
        gh = self.gh.executable
        proxy = [gh, "codespace", "ssh", "-c", self.name, "--stdio", "--", "-i", key]
        return SshTransport(
            f"cs.{self.name}",
            python=self.python,
            label=self.description,
            user=config.user,
            key_files=[key],
            proxy_command=proxy,
            proxy_env=self.gh.env,
            use_ssh_config=False,
            # The tunnel is authenticated by GitHub; gh's own config turns checking off too.
            strict_host_keys=False,
            connect_timeout=self.connect_timeout,
            retry=self.retry,
            try_by_hand=shlex.join([gh, "codespace", "ssh", "-c", self.name]),
        )

    def _open_proxy(self, nonce: str) -> AgentStream:
        return self.ssh_transport(self.gh.ssh_config(self.name)).open(nonce)

    def _open_exec(self, nonce: str) -> AgentStream:
        command = agent_shell_command(self.python, nonce)
        argv = [self.gh.executable, "codespace", "ssh", "-c", self.name, "--", command]
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(self.gh.env) if self.gh.env is not None else None,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise self.gh.not_installed() from None
        return ProcessStream(process)
