"""known_hosts files as ``ssh`` would read them, one line at a time, for paramiko.

paramiko's own loader stops at the first line it cannot parse with an
exception that is no ``SSHException`` (a traceback, and no key of the file
after it is known). ``ssh`` reads past such lines, so this reader does too: a
line paramiko cannot parse is skipped with a warning naming the file and line.
Two markers are OpenSSH's: ``@cert-authority`` (host certificates, which
paramiko cannot check: skipped with a warning) and ``@revoked``, whose key is
refused for every host, even one that lists it as its own key as well (the
revocation wins, as in ``ssh``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import paramiko
from paramiko.hostkeys import HostKeyEntry

__all__ = ["KnownHosts", "known_hosts_files", "load_known_hosts"]

logger = logging.getLogger(__name__)

DEFAULT_FILES = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2", "/etc/ssh/ssh_known_hosts")
"""Where ``ssh`` looks without ``UserKnownHostsFile`` (plus the global file)."""


def known_hosts_files(ssh_config: dict[str, Any]) -> list[str]:
    """The files ``ssh`` would read host keys from, for this host."""
    user = ssh_config.get("userknownhostsfile")
    user_files = user.split() if isinstance(user, str) else [DEFAULT_FILES[0]]
    found = []
    for name in [*user_files, *DEFAULT_FILES[1:]]:
        path = os.path.expanduser(name)
        if os.path.isfile(path):
            found.append(path)
    return found


@attrs.frozen
class _Revoked:
    """A key marked ``@revoked``, and where."""

    key_type: str
    blob: bytes
    where: str
    """``FILE line N``."""


@attrs.frozen(eq=False)
class KnownHosts:
    """The usable host keys of some known_hosts files, and the revoked ones."""

    entries: tuple[HostKeyEntry, ...]
    """Every line that names hosts and a key paramiko can use (revoked keys left out)."""
    revoked: tuple[_Revoked, ...]
    """The keys marked ``@revoked``."""

    def revocation(self, key: paramiko.PKey) -> str | None:
        """Where ``key`` is marked ``@revoked`` (``FILE line N``), or None."""
        blob = key.asbytes()
        for revoked in self.revoked:
            if revoked.blob == blob:
                return revoked.where
        return None

    def install(self, client: paramiko.SSHClient) -> None:
        """Make these the keys ``client`` checks servers against."""
        keys = client.get_host_keys()
        for entry in self.entries:
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)


def load_known_hosts(paths: Iterable[str]) -> KnownHosts:
    """Read ``paths``; a line that cannot be used is skipped with a warning."""
    entries: list[HostKeyEntry] = []
    revoked: list[_Revoked] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as file:
                lines = file.read().splitlines()
        except OSError as exc:
            logger.warning("cannot read %s: %s", path, exc.strerror or exc)
            continue
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path} line {number}"
            marker, _, rest = line.partition(" ") if line.startswith("@") else ("", "", line)
            if marker == "@cert-authority":
                logger.warning(
                    "%s: host certificates (@cert-authority) are not supported; line skipped",
                    where,
                )
                continue
            if marker and marker != "@revoked":
                logger.warning("%s: unknown marker %s; line skipped", where, marker[:40])
                continue
            entry = _parse(rest.strip(), where)
            if entry is None:
                continue
            if marker == "@revoked":
                revoked.append(_Revoked(entry.key.get_name(), entry.key.asbytes(), where))
            else:
                entries.append(entry)
    known = KnownHosts((), tuple(revoked))
    usable = tuple(e for e in entries if known.revocation(e.key) is None)
    return KnownHosts(usable, tuple(revoked))


def _parse(line: str, where: str) -> HostKeyEntry | None:
    """One ``HOSTS KEYTYPE BASE64`` line; None (with a warning) if paramiko cannot use it."""
    try:
        entry = HostKeyEntry.from_line(line)
    except Exception as exc:  # paramiko raises several kinds for a bad key
        logger.warning("%s: %s; line skipped", where, _reason(exc))
        return None
    if entry is None:
        # Too few fields, or a key type paramiko does not know (sk-* keys...).
        fields: Sequence[str] = line.split()
        what = f"key type {fields[1][:40]!r} is not supported" if len(fields) >= 3 else "no key"
        logger.info("%s: %s; line skipped", where, what)
        return None
    return entry


def _reason(exc: Exception) -> str:
    cause = getattr(exc, "exc", None)  # InvalidHostKey keeps the base64 error here
    text = str(cause if cause is not None else exc) or type(exc).__name__
    return f"cannot read this key ({text[:80]})"
