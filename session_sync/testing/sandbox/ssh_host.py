"""One simulated machine's OpenSSH server: ``SshHost``, and ``ssh_command`` to log in.

An ``SshHost`` runs ``sshd -D`` on a fixed ``127.0.0.1`` port with a config
rendered by ``openssh``; it can be stopped (dropping its sessions, like a machine
going down) and started again on the same port. ``sshd.Sandbox`` makes them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from session_sync.testing.sandbox.openssh import HOST, client_options, current_user

__all__ = ["BIND_ATTEMPTS", "SshHost", "free_port", "ssh_command"]

BIND_ATTEMPTS = 5
"""How many ports to try, or how often to retry one, when sshd cannot bind."""
_READY_TIMEOUT = 10.0
_BIND_ERRORS = ("Address already in use", "Cannot bind any address")


def ssh_command(
    target: SshHost | int,
    *args: str,
    key: Path | str | None = None,
    user: str | None = None,
    ssh: str = "ssh",
) -> list[str]:
    """An argv for the real OpenSSH client that logs into a sandbox port.

    ``target`` is a host (its key and user are the defaults) or a bare port
    (then ``key`` is required), e.g. a ``TcpRelay`` in front of a host. The
    user's own ssh config and known hosts are ignored (``-F /dev/null``).
    ``args`` is the remote command; it goes after ``--`` so a word starting
    with ``-`` is not taken for an ssh option.
    """
    if isinstance(target, SshHost):
        port = target.port
        key = target.client_key if key is None else key
        user = target.user if user is None else user
    else:
        port = target
        if key is None:
            raise ValueError("ssh_command(port, ...) needs key= (the sandbox client key)")
    argv = [ssh, *client_options(key), "-p", str(port), f"{user or current_user()}@{HOST}"]
    if args:
        argv += ["--", *args]
    return argv


def free_port() -> int:
    """A TCP port on ``HOST`` that was free a moment ago (another may take it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (Linux ``/proc``; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path("/proc", entry, "stat").read_text()
            except OSError:
                continue
            # The command name (field 2) may hold spaces and parentheses: split after it.
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 1:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    # A zombie is dead for our purposes (its parent, init, reaps it).
    with contextlib.suppress(OSError):
        stat = Path("/proc", str(pid), "stat").read_text()
        return stat[stat.rfind(")") + 2 :].split()[0] != "Z"
    return True


class SshHost:
    """One simulated machine: an sshd on ``127.0.0.1:port`` whose sessions have ``HOME=home``."""

    host: str = HOST
    """The address the server listens on."""

    def __init__(
        self,
        *,
        name: str,
        root: Path,
        port: int,
        sshd: str,
        config_text: str,
        client_key: Path,
        env: Mapping[str, str],
    ) -> None:
        self.name = name
        """The machine's name in the sandbox (its directory under the sandbox root)."""
        self.root = root
        """``<sandbox root>/<name>``: the home, the sshd config and its log."""
        self.home = root / "home"
        """The machine's home directory (``$HOME`` in its sessions)."""
        self.port = port
        """The TCP port sshd listens on (kept across ``stop``/``start``)."""
        self.user = current_user()
        """The unix user to log in as (always the current effective user)."""
        self.log = root / "sshd.log"
        """sshd's own log (``LogLevel VERBOSE``), appended to across restarts."""
        self.config = root / "sshd_config"
        """The server's config file."""
        self.client_key = client_key
        """The private key that logs in (the sandbox client key)."""
        self.env: dict[str, str] = dict(env)
        """What ``SetEnv`` gives every session (``HOME`` included)."""
        self._sshd = sshd
        self._config_text = config_text
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<SshHost {self.name} {self.host}:{self.port} {state}>"

    @property
    def running(self) -> bool:
        """Whether this host's sshd is up."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The listening sshd's process id while it runs."""
        return self._process.pid if self.running and self._process is not None else None

    def ssh_command(self, *args: str) -> list[str]:
        """``ssh_command(self, *args)``: an OpenSSH argv running ``args`` on this host."""
        return ssh_command(self, *args)

    def start(self) -> None:
        """Start sshd again on the same port (a host that comes back); no-op if running.

        Raises ``RuntimeError`` if it cannot (the port was taken meanwhile, say).
        """
        if self.running:
            return
        for attempt in range(BIND_ATTEMPTS):
            error = self._spawn_and_wait()
            if error is None:
                return
            if not error[0] or attempt == BIND_ATTEMPTS - 1:
                raise RuntimeError(error[1])
            time.sleep(0.2)  # the port may be freed by whoever holds it

    def stop(self, *, drop_connections: bool = True) -> None:
        """Stop sshd: new connections are refused.

        With ``drop_connections`` (the default) every session it serves ends too,
        and with it every process those sessions run, like a machine that goes
        down; otherwise open sessions go on, like a server restart.
        """
        process = self._process
        if process is None:
            return
        self._process = None
        # Sessions run in their own sessions (sshd calls setsid): find them before the
        # listener dies and they are handed to init.
        below = _descendants(process.pid) if drop_connections else []
        if process.poll() is None:
            process.terminate()
        _signal_all(below, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if below:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and any(_alive(pid) for pid in below):
                time.sleep(0.02)
            _signal_all([pid for pid in below if _alive(pid)], signal.SIGKILL)

    def _write_config(self) -> None:
        self.config.write_text(self._config_text.replace("@PORT@", str(self.port)))

    def _spawn_and_wait(self) -> tuple[bool, str] | None:
        """Start sshd and wait until it listens: ``None``, or (bind failure?, message)."""
        self._write_config()
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            process = subprocess.Popen(
                [self._sshd, "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,  # a Ctrl-C meant for the tests does not reach it
            )
        self._process = process
        listening = f"Server listening on {HOST} port {self.port}"
        deadline = time.monotonic() + _READY_TIMEOUT
        while True:
            news = self._log_since(offset)
            if process.poll() is not None:
                self._process = None
                tail = "\n".join(news.strip().splitlines()[-15:])
                bind = any(text in news for text in _BIND_ERRORS)
                return bind, (
                    f"sshd for sandbox host {self.name!r} (port {self.port}) exited with"
                    f" status {process.returncode}; its log ({self.log}) ends:\n{tail}"
                )
            # The log line is the sure sign; a connect covers an sshd that words it otherwise.
            if listening in news or _port_open(self.port):
                return None
            if time.monotonic() > deadline:
                self.stop()
                tail = "\n".join(news.strip().splitlines()[-15:])
                return False, (
                    f"sshd for sandbox host {self.name!r} did not listen on port {self.port}"
                    f" within {_READY_TIMEOUT:.0f} s; its log ({self.log}) ends:\n{tail}"
                )
            time.sleep(0.02)

    def _log_since(self, offset: int) -> str:
        try:
            with self.log.open("rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""
