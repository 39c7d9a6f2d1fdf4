"""The transport into a GitHub codespace.

The transport is the SSH transport routed through ``gh codespace ssh -c NAME
--stdio`` with the user and key that ``gh codespace ssh --config`` reports
(paramiko ignores the ``Include`` that gh's suggested setup relies on). Where
that route fails, one ``gh codespace ssh -c NAME -- <agent command>`` process
is the stream instead. Either way it is one connection per sync.

Every ``gh codespace ssh`` (``--config``, each ``--stdio`` attempt, the exec
route) starts a shut-down codespace, so the codespace's state is read again
with ``gh codespace list`` right before each one: the decision to start it is
made here, from ``wake``, and not by whoever listed the codespaces earlier
(it may have shut down since).

``--config``'s answer may be kept between syncs (``ssh_config_cache``): then a
sync asks gh for it only when the connection made with the kept one fails.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from session_sync.errors import CodespaceUnavailableError, GhError, TransportError, UsageError
from session_sync.github.gh import (
    NOT_WOKEN_HINT,
    READY_STATES,
    ROUTES,
    WAKEABLE_STATES,
    Codespace,
    CodespaceSshConfig,
    GhCli,
    check_codespace_state,
)
from session_sync.github.ssh_cache import SshConfigCache
from session_sync.transports.base import AgentStream, agent_shell_command
from session_sync.transports.local import ProcessStream
from session_sync.transports.ssh import DEFAULT_CONNECT_TIMEOUT, RetryPolicy, SshTransport

__all__ = ["FRESH_LIST_SECONDS", "ROUTES", "CodespaceTransport"]

FRESH_LIST_SECONDS = 10.0
"""A ``gh codespace list`` this young is the state right before the first ``gh
codespace ssh`` (a CLI sync lists, then connects at once): no second list."""

logger = logging.getLogger(__name__)


def _notify_by_log(message: str) -> None:
    logger.warning("%s", message)


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
    wake: bool = False
    """Start the codespace if it is shut down (only when the user named it to sync)."""
    notify: Callable[[str], None] = _notify_by_log
    """Told when the codespace is being started or waited for."""
    not_woken: str = NOT_WOKEN_HINT
    """Why a shut-down codespace is not started, in the refusal (what would start it)."""
    listed_state: str | None = None
    """The state the caller saw in ``gh codespace list`` (so a codespace that shut
    down since can be told apart)."""
    ssh_config_cache: SshConfigCache | None = None
    """Where ``gh codespace ssh --config``'s answer is kept between syncs (None: gh
    is asked on every connection)."""
    listed: Codespace | None = None
    """The caller's ``gh codespace list`` line of it, if it has one."""
    listed_at: float | None = None
    """When that list was read (``time.monotonic()``): with ``wake``, a list this
    fresh stands in for the first re-read (``FRESH_LIST_SECONDS``)."""
    _listing_used: list[bool] = attrs.field(factory=list, init=False, repr=False)

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
                if self.route == "proxy" or isinstance(exc, (GhError, CodespaceUnavailableError)):
                    raise
                logger.warning(
                    "SSH through `gh codespace ssh --stdio` failed (%s); using one"
                    " `gh codespace ssh -- COMMAND` process instead",
                    exc,
                )
            else:
                return stream
        return self._open_exec(nonce)

    def check_state(self) -> None:
        """Read the state now; ``CodespaceUnavailableError`` unless a ``gh codespace ssh``
        may run (it starts a shut-down codespace: only when ``wake``)."""
        codespace = self._fresh_listing() or self.gh.find(self.name)
        state = codespace.state
        if state in WAKEABLE_STATES and not self.wake and self.listed_state in READY_STATES:
            raise CodespaceUnavailableError(
                f"codespace {self.name} is {state}: shut down since the list; not started", state
            )
        check_codespace_state(
            codespace, wake=self.wake, notify=self.notify, not_woken=self.not_woken
        )

    def _fresh_listing(self) -> Codespace | None:
        """The caller's list line, once, when it is younger than ``FRESH_LIST_SECONDS``
        and the codespace may be started anyway (``wake``: a sync that named it).

        RACE: one that shuts down in the moment between that list and the first
        ``gh codespace ssh`` is started by that call without our "starting it" line
        (a re-read leaves the same window, only shorter); retries read again.
        """
        if not self.wake or self.listed is None or self.listed_at is None or self._listing_used:
            return None  # a look that must never start one reads again, always
        self._listing_used.append(True)
        if time.monotonic() - self.listed_at >= FRESH_LIST_SECONDS:
            return None
        logger.debug("codespace %s: state %s from the list just read", self.name, self.listed.state)
        return self.listed

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
            before_attempt=self.check_state,
        )

    def _open_proxy(self, nonce: str) -> AgentStream:
        cache = self.ssh_config_cache
        kept = cache.load(self.name) if cache is not None else None
        if cache is not None and kept is not None:
            logger.debug("codespace %s: the kept `gh codespace ssh --config` answer", self.name)
            try:
                # One attempt: what fails may be the kept answer, and gh is asked below.
                ssh = attrs.evolve(self.ssh_transport(kept), retry=RetryPolicy(attempts=1))
                return ssh.open(nonce)
            except (GhError, CodespaceUnavailableError):
                raise
            except TransportError as exc:
                logger.info(
                    "codespace %s: the kept `gh codespace ssh --config` answer did not work"
                    " (%s): asking gh again",
                    self.name,
                    exc,
                )
                cache.forget(self.name)
        self.check_state()
        config = self.gh.ssh_config(self.name)
        stream = self.ssh_transport(config).open(nonce)
        if cache is not None:
            cache.store(self.name, config)
        return stream

    def _open_exec(self, nonce: str) -> AgentStream:
        self.check_state()
        command = agent_shell_command(self.python, nonce)
        argv = [self.gh.executable, "codespace", "ssh", "-c", self.name, "--", command]
        logger.debug("codespace %s: the agent through one `gh codespace ssh -- ...`", self.name)
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
