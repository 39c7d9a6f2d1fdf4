"""OpenSSH on this box, for the sandbox: the binaries, key pairs and config text.

Nothing here starts a server: ``ssh_host`` runs sshd with the config rendered
here, and ``sshd.Sandbox`` owns the keys and the hosts.
"""

from __future__ import annotations

import getpass
import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "HOST",
    "client_config_block",
    "client_options",
    "config_value",
    "current_user",
    "find_sshd",
    "keygen",
    "public_key",
    "render_sshd_config",
    "sshd_version",
    "token_path",
    "write_private",
]

HOST = "127.0.0.1"
"""Every sandbox server listens here, and only here."""


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


def config_value(value: str | Path) -> str:
    """One argument of an sshd_config/ssh_config line, quoted when it has to be."""
    text = str(value)
    if any(c in text for c in '"\\\n\r') or not text:
        raise ValueError(f"cannot put {text!r} in an OpenSSH config file")
    if any(c.isspace() or c in "#'" for c in text):
        return f'"{text}"'
    return text


def token_path(path: Path) -> str:
    """A path for an option that expands ``%`` tokens (``%%`` is a literal ``%``)."""
    return config_value(str(path).replace("%", "%%"))


def current_user() -> str:
    """The login name of the effective user: the only one an unprivileged sshd lets in.

    Unlike ``getpass.getuser()`` this ignores ``$USER``/``$LOGNAME``, which
    ``sudo``, ``su`` or ``setpriv`` may leave naming someone else.
    """
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return getpass.getuser()


def keygen(path: Path, comment: str) -> None:
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


def sshd_version(sshd: str) -> tuple[int, int]:
    """(major, minor) of the OpenSSH server; (0, 0) when it does not say."""
    done = subprocess.run(
        [sshd, "-V"], stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=10
    )
    found = re.search(rb"OpenSSH_(\d+)\.(\d+)", done.stdout + done.stderr)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def public_key(private: Path) -> str:
    """``type base64`` of the ``.pub`` beside ``private`` (its comment dropped)."""
    fields = private.with_name(private.name + ".pub").read_text().split()
    return f"{fields[0]} {fields[1]}"


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable by its owner only (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    path.chmod(0o600)


def render_sshd_config(
    name: str,
    *,
    host_key: Path,
    authorized_keys: Path,
    env: Mapping[str, str],
    version: tuple[int, int],
) -> str:
    """The sshd_config of sandbox host ``name``, with ``@PORT@`` where its port goes.

    ``env`` is what ``SetEnv`` gives every session; ``version`` is the server's
    (``sshd_version``), which decides the options it understands.
    """
    lines = [
        f"# session-sync sandbox host {name}",
        "Port @PORT@",
        f"ListenAddress {HOST}",
        f"HostKey {config_value(host_key)}",
        f"AuthorizedKeysFile {token_path(authorized_keys)}",
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
        "SetEnv " + " ".join(config_value(f"{k}={v}") for k, v in env.items()),
    ]
    if version >= (9, 8):
        # Cut and refused connections in fault tests would get 127.0.0.1 penalised.
        lines.append("PerSourcePenalties no")
    return "\n".join(lines) + "\n"


def client_config_block(
    alias: str, host: str, port: int, *, user: str, key: Path, known_hosts: Path
) -> str:
    """One ``Host`` block of an ssh_config: ``key`` logs in, host keys checked strictly."""
    return "\n".join(
        [
            f"Host {config_value(alias)}",
            f"    HostName {config_value(host)}",
            f"    Port {int(port)}",
            f"    User {config_value(user)}",
            f"    IdentityFile {token_path(key)}",
            "    IdentitiesOnly yes",
            f"    UserKnownHostsFile {token_path(known_hosts)}",
            "    StrictHostKeyChecking yes",
        ]
    )
