"""The SSH transport: the agent's byte stream over one paramiko session channel.

fabric resolves the destination the way ``ssh`` would (``~/.ssh/config``
aliases, ``User``, ``Port``, ``IdentityFile``, ``ProxyCommand``/``ProxyJump``);
the bytes then go through a raw channel (``exec_command`` + ``send``/``recv``),
never ``Connection.run``, which decodes streams as text.

Only connection setup is retried (tenacity: bounded attempts, exponential
backoff, each retry logged). A connection that drops later fails the sync;
nothing half-written is left on either side, so running it again converges.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import shlex
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import paramiko
import tenacity
from fabric import Config, Connection

from session_sync.errors import TransportError, UsageError
from session_sync.transports.base import AgentStream, agent_shell_command
from session_sync.transports.known_hosts import KnownHosts, known_hosts_files, load_known_hosts
from session_sync.transports.ssh_channel import ChannelStream

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "RetryPolicy",
    "SshTransport",
]

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 30.0
"""Seconds to wait for TCP connect, the SSH banner, and authentication."""

DEFAULT_IDLE_TIMEOUT = 600.0
"""Seconds without a byte from the other side before the connection counts as dropped.
(A scan of a cold cache hashes before it answers, so this is generous.)"""

WINDOW_SIZE = 8 << 20
"""The channel's flow-control window: large enough to keep a 1 MiB frame in flight."""


@attrs.frozen
class RetryPolicy:
    """How connection setup is retried (only setup: never a transfer)."""

    attempts: int = 3
    """Connection attempts in all, the first included."""
    first_wait: float = 1.0
    """Seconds before the second attempt; doubles after each failure."""
    max_wait: float = 10.0
    """The longest wait between attempts."""


class _Transient(Exception):
    """A setup failure worth another attempt (the host may be waking up)."""

    def __init__(self, error: TransportError) -> None:
        super().__init__(str(error))
        self.error = error


class _UnknownHostKey(paramiko.SSHException):  # type: ignore[misc]
    pass


class _RevokedHostKey(paramiko.SSHException):  # type: ignore[misc]
    def __init__(self, hostname: str, where: str) -> None:
        super().__init__(hostname, where)
        self.where = where


@attrs.frozen
class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    """A host key in no known_hosts file: refused when ``strict`` (as ``ssh`` does),
    else accepted without writing it anywhere (``StrictHostKeyChecking no``). A key
    marked ``@revoked`` is refused either way, before we log in."""

    strict: bool
    known: KnownHosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        where = self.known.revocation(key)
        if where is not None:
            raise _RevokedHostKey(hostname, where)
        if self.strict:
            raise _UnknownHostKey(hostname)


class _ProxyCommand(paramiko.ProxyCommand):  # type: ignore[misc]
    """paramiko's ProxyCommand, but an exited proxy is end-of-stream at once,
    and the command is an argv run with a given environment.

    (paramiko's own ``recv`` spins on an exited proxy until the banner timeout.)
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        # Not paramiko's __init__: it takes a command line and no environment.
        self.cmd = list(argv)
        self.process: subprocess.Popen[bytes] = subprocess.Popen(
            self.cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            env=dict(env) if env is not None else None,
        )
        self.timeout = None

    def recv(self, size: int) -> bytes:
        stdout = self.process.stdout
        assert stdout is not None  # started with stdout=PIPE
        ready, _, _ = select.select([stdout], [], [], self.timeout)
        if not ready:
            raise TimeoutError()
        try:
            data: bytes = os.read(stdout.fileno(), size)
        except OSError as exc:
            raise paramiko.ProxyCommandFailure(" ".join(self.cmd), str(exc)) from exc
        return data  # b"" when the proxy has exited: paramiko reads it as EOF


@attrs.frozen
class SshTransport:
    """Runs the agent on an SSH host, over one connection per ``open``.

    ``destination`` is an ``~/.ssh/config`` alias or ``[user@]host[:port]``. The
    other fields are for routes that are not in the user's ssh config (the
    Codespaces transport sets them from ``gh codespace ssh --config``).
    """

    destination: str
    """What the user typed: an ssh config alias or ``[user@]host[:port]``."""
    python: str = "python3"
    """The interpreter that runs the agent over there."""
    label: str | None = None
    """How to name the other machine to people (default: ``host <destination>``)."""
    user: str | None = None
    """Log in as this user (default: from the ssh config, else the local user)."""
    key_files: Sequence[str] = ()
    """Private keys to offer (default: ``IdentityFile`` of the ssh config, agent keys, ~/.ssh)."""
    proxy_command: Sequence[str] | None = None
    """argv of a command whose stdin/stdout reach the sshd (no shell involved)."""
    proxy_env: Mapping[str, str] | None = None
    """The environment of ``proxy_command`` (default: ours)."""
    use_ssh_config: bool = True
    """Read ``~/.ssh/config`` (off for routes fully described by the fields above)."""
    strict_host_keys: bool | None = None
    """Refuse hosts missing from known_hosts (None: as ``StrictHostKeyChecking`` says)."""
    connect_timeout: float | None = None
    """Seconds for TCP connect, banner and authentication (None: ``ConnectTimeout`` from
    the ssh config, else ``DEFAULT_CONNECT_TIMEOUT``)."""
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    """Seconds of silence from the other side before the connection counts as dropped."""
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    """How setup is retried."""
    compress: bool = False
    """Compress the SSH stream (off: the agent's frames compress file data, at
    zlib level 1 where it pays; paramiko's level 6 costs more than it saves on a fast link)."""
    try_by_hand: str | None = None
    """A command that shows the user what goes wrong (default: ``ssh <destination>``)."""
    before_attempt: Callable[[], None] | None = None
    """Called before each connection attempt; what it raises ends the setup (the
    codespace transport re-reads the codespace's state there)."""

    @property
    def description(self) -> str:
        return self.label or f"host {self.destination}"

    def open(self, nonce: str) -> AgentStream:
        command = agent_shell_command(self.python, nonce)
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max(1, self.retry.attempts)),
            wait=tenacity.wait_exponential(
                multiplier=self.retry.first_wait, min=self.retry.first_wait, max=self.retry.max_wait
            ),
            retry=tenacity.retry_if_exception_type(_Transient),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._open_once, command)
        except _Transient as exc:
            raise exc.error from None

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "%s (attempt %d of %d); retrying in %.0f s",
            error,
            state.attempt_number,
            self.retry.attempts,
            wait,
        )

    def _connection(self) -> tuple[Connection, KnownHosts]:
        # An explicit (empty) SSHConfig stops fabric from reading any file.
        config = Config() if self.use_ssh_config else Config(ssh_config=paramiko.SSHConfig())
        connect_kwargs: dict[str, Any] = {
            "compress": self.compress,
            "transport_factory": _nodelay_transport,
        }
        if self.key_files:
            connect_kwargs["key_filename"] = list(self.key_files)
        try:
            connection = Connection(
                self.destination,
                user=self.user,
                config=config,
                # None: the ssh config's ConnectTimeout, if it has one.
                connect_timeout=None
                if self.connect_timeout is None
                else max(1, round(self.connect_timeout)),
                connect_kwargs=connect_kwargs,
                gateway=False if self.proxy_command is not None else None,
            )
        except ValueError:  # a port that is not a number
            raise UsageError(
                f"bad SSH destination {self.destination!r} (use an ssh config alias or"
                " [USER@]HOST[:PORT])"
            ) from None
        if connection.connect_timeout is None:
            connection.connect_timeout = round(DEFAULT_CONNECT_TIMEOUT)
        timeout = float(connection.connect_timeout)
        connection.connect_kwargs.update(
            banner_timeout=timeout, auth_timeout=timeout, channel_timeout=timeout
        )
        ssh_config = dict(connection.ssh_config)
        strict = self.strict_host_keys
        if strict is None:
            strict = str(ssh_config.get("stricthostkeychecking", "ask")).lower() not in (
                "no",
                "off",
                "accept-new",
            )
        # Read line by line: a line paramiko cannot parse is skipped, not a traceback.
        known = load_known_hosts(known_hosts_files(ssh_config) if self.use_ssh_config else [])
        known.install(connection.client)
        connection.client.set_missing_host_key_policy(_HostKeyPolicy(strict, known))
        return connection, known

    def _open_once(self, command: str) -> AgentStream:
        if self.before_attempt is not None:
            self.before_attempt()
        connection, known = self._connection()
        where = self.description
        proxy: _ProxyCommand | None = None
        started = time.perf_counter()
        try:
            if self.proxy_command is not None:
                proxy = _ProxyCommand(self.proxy_command, self.proxy_env)
                connection.connect_kwargs["sock"] = proxy
            connection.open()
            transport = connection.client.get_transport()
            assert transport is not None
            transport.set_keepalive(30)
            channel = transport.open_session(
                window_size=WINDOW_SIZE, timeout=float(connection.connect_timeout)
            )
            channel.settimeout(self.idle_timeout)
            channel.exec_command(command)
            logger.debug(
                "ssh %s@%s:%s%s: logged in and the agent's command sent in %.0f ms",
                connection.user,
                connection.host,
                connection.port,
                f" (through {shlex.join(self.proxy_command)})" if self.proxy_command else "",
                (time.perf_counter() - started) * 1000,
            )
        except BaseException as exc:
            connection.close()
            detail = _proxy_stderr(proxy)
            if isinstance(exc, Exception):
                raise self._setup_error(connection, exc, detail, known) from exc
            raise
        return ChannelStream(connection, channel, where, lambda: _proxy_stderr(proxy))

    def _setup_error(
        self, connection: Connection, exc: Exception, proxy_detail: str, known: KnownHosts
    ) -> Exception:
        """A setup failure as one line saying what to do; ``_Transient`` if worth a retry."""
        where = self.description
        by_hand = self.try_by_hand or f"ssh {shlex.quote(self.destination)}"
        target = f"{connection.user}@{connection.host}:{connection.port}"
        # Say where an alias led, unless the route is a proxy (its host name is made up).
        at = "" if self.proxy_command is not None or self.destination == target else f" ({target})"
        via = f" (proxy said: {proxy_detail.splitlines()[-1]})" if proxy_detail else ""
        # known_hosts names hosts on other ports as [host]:port.
        name = connection.host
        if int(connection.port) != 22:
            name = f"[{connection.host}]:{connection.port}"
        revoked_at = None
        if isinstance(exc, _RevokedHostKey):
            revoked_at = exc.where
        elif isinstance(exc, paramiko.BadHostKeyException):
            revoked_at = known.revocation(exc.key)  # another key is listed for the host
        if revoked_at is not None:
            return TransportError(
                f"{where}: connection refused: the host key of {name} is marked @revoked"
                f" ({revoked_at})"
            )
        if isinstance(exc, paramiko.BadHostKeyException):
            return TransportError(
                f"{where}: the host key of {name} has CHANGED: not connecting (if that is"
                f" expected, remove the old key with `ssh-keygen -R {shlex.quote(name)}`)"
            )
        if isinstance(exc, _UnknownHostKey):
            return TransportError(
                f"{where}{at}: its host key is not in your known_hosts: connect once with"
                f" `{by_hand}` to check and accept it"
            )
        if isinstance(exc, paramiko.AuthenticationException) or (
            isinstance(exc, paramiko.SSHException) and "authentication methods" in str(exc)
        ):
            return TransportError(
                f"{where}{at} refused our login ({exc}): check User and IdentityFile in"
                f" ~/.ssh/config, or see what `{by_hand}` says"
            )
        if isinstance(exc, socket.gaierror):
            return TransportError(
                f"{where}: unknown host name {connection.host!r} ({exc.strerror}):"
                " check the name or your ~/.ssh/config"
            )
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
            refused = all(
                e.errno == errno.ECONNREFUSED for e in exc.errors.values() if isinstance(e, OSError)
            )
            reason = "connection refused (is it up, and running sshd?)" if refused else str(exc)
            return _Transient(TransportError(f"cannot reach {where}{at}: {reason}"))
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return _Transient(
                TransportError(
                    f"cannot reach {where}{at}: no answer in {connection.connect_timeout} s{via}"
                    " (is it up? ConnectTimeout in ~/.ssh/config sets how long to wait)"
                )
            )
        if isinstance(exc, paramiko.ProxyCommandFailure):
            return _Transient(TransportError(f"cannot reach {where}: the proxy failed{via}"))
        if isinstance(exc, (paramiko.SSHException, EOFError, OSError)):
            text = str(exc) or type(exc).__name__
            return _Transient(
                TransportError(
                    f"cannot connect to {where}{at}: {text}{via} (is an SSH server answering"
                    f" there? see what `{by_hand}` says)"
                )
            )
        return exc


_AEAD = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
"""The ciphers put first: AES-GCM encrypts and authenticates in one call."""


def _nodelay_transport(sock: Any, **kwargs: Any) -> paramiko.Transport:
    """paramiko's Transport over ``sock``, with TCP_NODELAY set on a TCP socket before
    the first SSH byte: the handshake's small packets no longer wait on Nagle and the
    peer's delayed ACK (connect on 127.0.0.1: 85 ms without, 39 ms with)."""
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock, **kwargs)
    options = transport.get_security_options()
    # AES-GCM first, when the server offers it: one AEAD pass per packet instead of
    # AES-CTR and then a separate HMAC-SHA2 in paramiko (the controller's share of
    # moving a first copy's bytes).
    ciphers = tuple(options.ciphers)
    options.ciphers = tuple(c for c in ciphers if c in _AEAD) + tuple(
        c for c in ciphers if c not in _AEAD
    )
    return transport


def _proxy_stderr(proxy: paramiko.ProxyCommand | None) -> str:
    """What the proxy command printed on stderr, once it has exited (else nothing)."""
    if proxy is None:
        return ""
    process = getattr(proxy, "process", None)
    if process is None or process.stderr is None:
        return ""
    if process.poll() is None:
        proxy.close()  # it has nothing more to carry; ending it lets us read all it said
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return ""
    try:
        # Non-blocking: a child the proxy left behind may hold its stderr open.
        os.set_blocking(process.stderr.fileno(), False)
        data: bytes = process.stderr.read(65536) or b""
    except (OSError, ValueError):
        return ""
    return data.decode("utf-8", "replace").strip()
