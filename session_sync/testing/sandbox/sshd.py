"""Simulated SSH machines: one OpenSSH server per machine, all on 127.0.0.1.

Every machine logs in as the current unix user (as root that is root; as
anyone else sshd runs unprivileged and can only let that user in) with the
sandbox's one client key. What makes the machines different is ``HOME``: each
server's ``SetEnv HOME=...`` gives its sessions their own home directory, so
``~/.claude`` is a different place on each. The working directory of a
session is still the user's real home (sshd changes to the passwd entry's
directory), so commands should use ``$HOME``/``~`` rather than the cwd.

The pieces: ``openssh`` (finding sshd, key pairs, config text, client options),
``ssh_host`` (``SshHost``, one running server, and ``ssh_command``) and this
module's ``Sandbox``, which owns the keys and every host. Every name is
importable from here.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import weakref
from collections.abc import Mapping
from pathlib import Path

from session_sync.testing.sandbox.openssh import (
    HOST,
    client_config_block,
    client_options,
    current_user,
    find_sshd,
    keygen,
    public_key,
    render_sshd_config,
    sshd_version,
    write_private,
)
from session_sync.testing.sandbox.ssh_host import BIND_ATTEMPTS, SshHost, free_port, ssh_command

__all__ = [
    "HOST",
    "Sandbox",
    "SshHost",
    "client_options",
    "current_user",
    "find_sshd",
    "ssh_command",
]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


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
        keygen(self.client_key, "session-sync-sandbox-client")
        keygen(self.host_key, "session-sync-sandbox-host")
        self.client_public_key = public_key(self.client_key)
        """``ssh-ed25519 AAAA...`` of the client key."""
        self.host_public_key = public_key(self.host_key)
        """``ssh-ed25519 AAAA...`` of the host key (what known_hosts lines hold)."""
        self.authorized_keys = self.keys / "authorized_keys"
        """The file every server reads as ``AuthorizedKeysFile``."""
        self.authorized_keys.write_text(self.client_public_key + "\n")
        self.authorized_keys.chmod(0o600)
        self.hosts: dict[str, SshHost] = {}
        """Every host added, by name."""
        self._version = sshd_version(self.sshd)
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
        config_text = render_sshd_config(
            name,
            host_key=self.host_key,
            authorized_keys=self.authorized_keys,
            env=session_env,
            version=self._version,
        )
        host: SshHost | None = None
        last_error = ""
        for _ in range(BIND_ATTEMPTS):
            host = SshHost(
                name=name,
                root=root,
                port=free_port(),
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
                client_config_block(
                    alias, host, port, user=user, key=self.client_key, known_hosts=known_hosts
                )
            )
            line = self.known_hosts_line(int(port), host)
            if line not in lines:
                lines.append(line)
        config = ssh_dir / "config"
        write_private(config, "# session-sync sandbox\n\n" + "\n\n".join(blocks) + "\n")
        write_private(known_hosts, "".join(line + "\n" for line in lines))
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
