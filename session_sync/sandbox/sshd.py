"""Simulated SSH machines: one OpenSSH server per machine, all on 127.0.0.1.

Every machine logs in as the current unix user (as root that is root; as
anyone else sshd runs unprivileged and can only let that user in) with the
sandbox's one client key. What makes the machines different is ``HOME``: each
server's ``SetEnv HOME=...`` gives its sessions their own home directory, so
``~/.claude`` is a different place on each. The working directory of a
session is still the user's real home (sshd changes to the passwd entry's
directory), so commands should use ``$HOME``/``~`` rather than the cwd.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = [
    "HOST",
    "Sandbox",
    "SshHost",
    "client_options",
    "current_user",
    "find_sshd",
    "ssh_command",
]

HOST = "127.0.0.1"
"""Every sandbox server listens here, and only here."""

_READY_TIMEOUT = 10.0
_BIND_ATTEMPTS = 5
_BIND_ERRORS = ("Address already in use", "Cannot bind any address")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def find_sshd() -> str | None:
    """The absolute path of the OpenSSH server, or ``None`` when it is not installed."""
    found = shutil.which("sshd")
    if found:
        # sshd re-executes itself per connection and insists on an absolute path.
        return os.path.abspath(found)
    for candidate in ("/usr/sbin/sshd", "/usr/local/sbin/sshd"):
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def client_options(key: Path | str) -> list[str]:
    """OpenSSH client options for logging in with ``key`` and no config or host key checks."""
    return [
        "-F",
        "/dev/null",
        "-i",
        str(key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=error",
        "-o",
        "BatchMode=yes",
    ]


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


def _config_value(value: str | Path) -> str:
    """One argument of an sshd_config/ssh_config line, quoted when it has to be."""
    text = str(value)
    if any(c in text for c in '"\\\n\r') or not text:
        raise ValueError(f"cannot put {text!r} in an OpenSSH config file")
    if any(c.isspace() or c in "#'" for c in text):
        return f'"{text}"'
    return text


def _token_path(path: Path) -> str:
    """A path for an option that expands ``%`` tokens (``%%`` is a literal ``%``)."""
    return _config_value(str(path).replace("%", "%%"))


def current_user() -> str:
    """The login name of the effective user: the only one an unprivileged sshd lets in.

    Unlike ``getpass.getuser()`` this ignores ``$USER``/``$LOGNAME``, which
    ``sudo``, ``su`` or ``setpriv`` may leave naming someone else.
    """
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return getpass.getuser()


def _free_port() -> int:
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


def _keygen(path: Path, comment: str) -> None:
    """An ed25519 key pair at ``path``/``path.pub`` (kept if both already exist)."""
    public = path.with_name(path.name + ".pub")
    if not (path.exists() and public.exists()):
        path.unlink(missing_ok=True)
        public.unlink(missing_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=True,
        )
    # sshd refuses a host key that others can read; keep the whole set private.
    path.chmod(0o600)
    public.chmod(0o600)


def _sshd_version(sshd: str) -> tuple[int, int]:
    """(major, minor) of the OpenSSH server; (0, 0) when it does not say."""
    done = subprocess.run(
        [sshd, "-V"], stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=10
    )
    found = re.search(rb"OpenSSH_(\d+)\.(\d+)", done.stdout + done.stderr)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


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
        for attempt in range(_BIND_ATTEMPTS):
            error = self._spawn_and_wait()
            if error is None:
                return
            if not error[0] or attempt == _BIND_ATTEMPTS - 1:
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


def _stop_hosts(hosts: list[SshHost]) -> None:
    for host in hosts:
        with contextlib.suppress(Exception):
            host.stop()


class Sandbox:
    """A directory of simulated SSH machines; a context manager that stops them all.

    ``root/keys/`` holds the client key pair (``id_ed25519``) that logs into
    every machine, and the host key pair every server presents. Each machine
    added with ``add_host`` gets ``root/<name>/`` (``home/``, ``sshd_config``,
    ``sshd.log``). A sandbox made on an existing root reuses its keys.
    """

    def __init__(self, root: Path, *, sshd: str | None = None) -> None:
        found = sshd or find_sshd()
        if found is None:
            raise RuntimeError("the OpenSSH server (sshd) is not installed")
        self.sshd = found
        """The sshd binary every host runs."""
        self.root = Path(root).absolute()
        """The sandbox directory."""
        self.keys = self.root / "keys"
        """Keys: ``id_ed25519[.pub]``, ``ssh_host_ed25519_key[.pub]``, ``authorized_keys``."""
        self.keys.mkdir(parents=True, exist_ok=True)
        self.keys.chmod(0o700)
        self.client_key = self.keys / "id_ed25519"
        """The private key that logs into every host."""
        self.host_key = self.keys / "ssh_host_ed25519_key"
        """The private host key every server presents."""
        _keygen(self.client_key, "session-sync-sandbox-client")
        _keygen(self.host_key, "session-sync-sandbox-host")
        self.client_public_key = _public_key(self.client_key)
        """``ssh-ed25519 AAAA...`` of the client key."""
        self.host_public_key = _public_key(self.host_key)
        """``ssh-ed25519 AAAA...`` of the host key (what known_hosts lines hold)."""
        self.authorized_keys = self.keys / "authorized_keys"
        """The file every server reads as ``AuthorizedKeysFile``."""
        self.authorized_keys.write_text(self.client_public_key + "\n")
        self.authorized_keys.chmod(0o600)
        self.hosts: dict[str, SshHost] = {}
        """Every host added, by name."""
        self._version = _sshd_version(self.sshd)
        self._started: list[SshHost] = []
        # Stops the servers even if close() is never called (at exit, or when collected).
        self._finalizer = weakref.finalize(self, _stop_hosts, self._started)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every sshd this sandbox started (the files stay)."""
        self._finalizer()

    def add_host(self, name: str, *, env: Mapping[str, str] | None = None) -> SshHost:
        """Make ``root/<name>/home`` and start an sshd for it on a free port.

        ``env`` is added to every session's environment (``SetEnv``), after
        ``HOME``, which it may override. Raises ``RuntimeError`` (with the end
        of sshd's log) when the server does not come up.
        """
        if not _HOST_NAME.match(name):
            raise ValueError(f"bad sandbox host name {name!r} (letters, digits, . _ -)")
        if name in self.hosts:
            raise ValueError(f"sandbox host {name!r} already exists")
        root = self.root / name
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o755)
        session_env = {"HOME": str(home), **(env or {})}
        for key in session_env:
            if not _ENV_NAME.match(key):
                raise ValueError(f"bad environment variable name {key!r}")
        self._ensure_privsep_dir()
        config_text = self._sshd_config(name, session_env)
        host: SshHost | None = None
        last_error = ""
        for _ in range(_BIND_ATTEMPTS):
            host = SshHost(
                name=name,
                root=root,
                port=_free_port(),
                sshd=self.sshd,
                config_text=config_text,
                client_key=self.client_key,
                env=session_env,
            )
            if not self._started:
                # Check the config once, where the error message is clear.
                host._write_config()
                check = subprocess.run(
                    [self.sshd, "-t", "-f", str(host.config)],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    check=False,
                    timeout=30,
                )
                if check.returncode != 0:
                    message = (check.stderr or check.stdout).decode("utf-8", "replace").strip()
                    raise RuntimeError(
                        f"sshd -t rejects the sandbox config {host.config}: {message}"
                    )
            # A port picked by binding 0 can be taken before sshd binds it: pick another.
            error = host._spawn_and_wait()
            if error is None:
                break
            last_error = error[1]
            if not error[0]:
                raise RuntimeError(last_error)
        else:
            raise RuntimeError(last_error)
        self.hosts[name] = host
        self._started.append(host)
        return host

    def known_hosts_line(self, port: int, host: str = HOST) -> str:
        """The known_hosts line for a sandbox server (or a relay) at ``host:port``."""
        name = host if port == 22 else f"[{host}]:{port}"
        return f"{name} {self.host_public_key}"

    def write_client_config(self, home: Path, aliases: Mapping[str, tuple[str, int]]) -> Path:
        """Write ``home/.ssh/config`` and ``home/.ssh/known_hosts`` for ``aliases``.

        Each alias maps to ``(host, port)``: a sandbox server's, or a relay's in
        front of one. Every block logs in with the sandbox key, as the current
        user, and checks the host key strictly against the known_hosts written
        here. Both files are replaced. Returns the config's path.
        """
        ssh_dir = Path(home) / ".ssh"
        ssh_dir.mkdir(parents=True, exist_ok=True)
        ssh_dir.chmod(0o700)
        known_hosts = ssh_dir / "known_hosts"
        user = current_user()
        blocks: list[str] = []
        lines: list[str] = []
        for alias, (host, port) in aliases.items():
            blocks.append(
                "\n".join(
                    [
                        f"Host {_config_value(alias)}",
                        f"    HostName {_config_value(host)}",
                        f"    Port {int(port)}",
                        f"    User {_config_value(user)}",
                        f"    IdentityFile {_token_path(self.client_key)}",
                        "    IdentitiesOnly yes",
                        f"    UserKnownHostsFile {_token_path(known_hosts)}",
                        "    StrictHostKeyChecking yes",
                    ]
                )
            )
            line = self.known_hosts_line(int(port), host)
            if line not in lines:
                lines.append(line)
        config = ssh_dir / "config"
        _write_private(config, "# session-sync sandbox\n\n" + "\n\n".join(blocks) + "\n")
        _write_private(known_hosts, "".join(line + "\n" for line in lines))
        return config

    def ssh_command(self, target: SshHost | int, *args: str) -> list[str]:
        """An OpenSSH argv running ``args`` on a host or port with the sandbox key."""
        return ssh_command(target, *args, key=self.client_key)

    def _ensure_privsep_dir(self) -> None:
        # As root sshd needs its privilege separation directory; Debian makes it at boot.
        if os.geteuid() == 0:
            privsep = Path("/run/sshd")
            if not privsep.is_dir():
                privsep.mkdir(mode=0o755, parents=True, exist_ok=True)
                privsep.chmod(0o755)

    def _sshd_config(self, name: str, session_env: Mapping[str, str]) -> str:
        lines = [
            f"# session-sync sandbox host {name}",
            "Port @PORT@",
            f"ListenAddress {HOST}",
            f"HostKey {_config_value(self.host_key)}",
            f"AuthorizedKeysFile {_token_path(self.authorized_keys)}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # The sandbox lives in temp dirs whose modes sshd would otherwise object to.
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PidFile none",
            "LogLevel VERBOSE",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            # Benchmarks open many connections at once; the default (10) drops some.
            "MaxStartups 200",
            "MaxSessions 100",
            "Subsystem sftp internal-sftp",
            "SetEnv " + " ".join(_config_value(f"{k}={v}") for k, v in session_env.items()),
        ]
        if self._version >= (9, 8):
            # Cut and refused connections in fault tests would get 127.0.0.1 penalised.
            lines.append("PerSourcePenalties no")
        return "\n".join(lines) + "\n"


def _public_key(private: Path) -> str:
    """``type base64`` of the ``.pub`` beside ``private`` (its comment dropped)."""
    fields = private.with_name(private.name + ".pub").read_text().split()
    return f"{fields[0]} {fields[1]}"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    path.chmod(0o600)
