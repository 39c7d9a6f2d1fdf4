"""``gh codespace ssh --config``'s answer, kept per codespace between syncs.

Asking gh costs a GitHub API call (about a second) on every sync, for an answer
(the login user and gh's key file) that changes only when the codespace is
rebuilt or gh makes a new key. It is kept in
``${XDG_CACHE_HOME:-~/.cache}/session-sync/codespace-ssh/<name>.json`` (0600),
written only after a connection made with it worked, checked when read (our
own regular file, private, small, of this codespace, two plain strings), and
trusted only as far as it works: a connection made with it that fails drops
it, and gh is asked again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

import attrs

from session_sync.github.gh import CodespaceSshConfig

__all__ = ["MAX_CACHE_BYTES", "SshConfigCache", "default_cache_dir"]

logger = logging.getLogger(__name__)

MAX_CACHE_BYTES = 4096
"""A kept answer larger than this is not ours: ignored."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
"""Codespace names that make a file name as they are (gh's are letters, digits and -)."""

_FIELD = re.compile(r"^[^\x00-\x1f\x7f]{1,1024}$")
"""A user or a key path: no control characters (it goes into argv and ssh's login)."""


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/session-sync/codespace-ssh`` (a relative
    ``XDG_CACHE_HOME`` is ignored, as the spec says)."""
    base = (os.environ if env is None else env).get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "session-sync" / "codespace-ssh"


@attrs.frozen
class SshConfigCache:
    """The kept ``gh codespace ssh --config`` answers, one file per codespace."""

    directory: Path
    """Where the files are (made 0700 at the first write)."""

    def _path(self, name: str) -> Path | None:
        return self.directory / f"{name}.json" if _NAME.match(name) else None

    def load(self, name: str) -> CodespaceSshConfig | None:
        """The kept answer for ``name``; None when there is none or it fails a check."""
        path = self._path(name)
        if path is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if (
                not stat.S_ISREG(info.st_mode)
                or info.st_uid != os.geteuid()
                or info.st_mode & 0o077
                or info.st_size > MAX_CACHE_BYTES
            ):
                return None
            data = os.read(fd, MAX_CACHE_BYTES + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        try:
            raw = json.loads(data.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError included
            return None
        if not isinstance(raw, dict) or raw.get("codespace") != name:
            return None
        user, key = raw.get("user"), raw.get("identity_file")
        if not (isinstance(user, str) and isinstance(key, str)):
            return None
        if not (_FIELD.match(user) and _FIELD.match(key)):
            return None
        return CodespaceSshConfig(user, key)

    def store(self, name: str, config: CodespaceSshConfig) -> None:
        """Keep ``config`` for ``name`` (atomically, 0600); a cache that cannot be
        written costs the next sync one gh call, nothing more."""
        path = self._path(name)
        if path is None or config.user is None or config.identity_file is None:
            return
        data = json.dumps(
            {"codespace": name, "user": config.user, "identity_file": config.identity_file}
        ).encode("utf-8")
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            logger.debug("could not keep the ssh config of codespace %s: %s", name, exc)
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def forget(self, name: str) -> None:
        """Drop the kept answer for ``name`` (it did not work)."""
        path = self._path(name)
        if path is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(path)
