"""Sessions that a live Claude process on this machine has open: the client's
registry ``<config>/sessions/<pid>.json``, checked against the process table.

The registry is the truth where the client keeps one (the dir exists): a file
there names a process (``pid``) and when it started (``procStart``: field 22 of
``/proc/<pid>/stat``, so a reused pid is not taken for Claude), and is removed
when that process ends. Its files are read as untrusted: anything that is not
a small JSON object of the expected shape is passed over, never fatal.
"""

from __future__ import annotations

import json
import os
import stat
import time
from typing import List, Optional

__all__ = [
    "FOREIGN_ENTRY_SECONDS",
    "REGISTRY_FILE_LIMIT",
    "has_registry",
    "live_session_ids",
    "pid_domain",
]


REGISTRY_FILE_LIMIT = 64 * 1024
"""Bytes read of one registry file; a larger one is not the client's."""


_PID_LIMIT = 1 << 31


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO in a file's place must not hang the scan


def _proc_start(pid: int) -> Optional[str]:
    """Field 22 (starttime) of ``/proc/<pid>/stat``; None when there is no /proc."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as fh:
            data = fh.read(4096)
    except OSError:
        return None
    # The name (field 2) is in parentheses and may hold ")" or spaces: split
    # after the last ")"; field 22 is then the 20th field.
    fields = data.rsplit(b")", 1)[-1].split()
    if len(fields) < 20:
        return None
    return fields[19].decode("ascii", "replace")


def _process_alive(pid: int, proc_start: Optional[str]) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass  # alive, someone else's
    except (OSError, OverflowError, ValueError):
        return False
    if proc_start is None:
        return True
    started = _proc_start(pid)
    # No /proc (macOS): the pid alone says it.
    return started is None or started == proc_start


def has_registry(config: str) -> bool:
    """Whether the client keeps its live-process registry on this machine."""
    return os.path.isdir(os.path.join(config, "sessions"))


def _read_entry(path: str) -> Optional[object]:
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None
            data = fh.read(REGISTRY_FILE_LIMIT + 1)
    except OSError:
        return None
    if len(data) > REGISTRY_FILE_LIMIT:
        return None
    try:
        entry: object = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return entry


FOREIGN_ENTRY_SECONDS = 24 * 3600.0
"""How long an entry of another pid namespace counts as open."""


def _entry_age(path: str) -> float:
    try:
        return time.time() - os.lstat(path).st_mtime
    except OSError:
        return float("inf")


def pid_domain() -> Optional[str]:
    """This process's pid namespace as the client names it in ``pidDomain``
    (``linux:<machine-id>:pid:[<inode>]``), or None where it cannot be told."""
    try:
        with open("/etc/machine-id", encoding="ascii") as fh:
            machine_id = fh.read(64).strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except (OSError, UnicodeDecodeError):
        return None
    return "linux:%s:%s" % (machine_id, namespace) if machine_id else None


def live_session_ids(config: str) -> List[str]:
    """Ids of sessions a live Claude process on this machine has open (by the
    registry; empty when there is none)."""
    out: List[str] = []
    sessions_dir = os.path.join(config, "sessions")
    try:
        names = sorted(os.listdir(sessions_dir))
    except OSError:
        return out
    here = pid_domain()
    for name in names:
        if not name.endswith(".json"):
            continue
        info = _read_entry(os.path.join(sessions_dir, name))
        if not isinstance(info, dict):
            continue
        pid = info.get("pid")
        session_id = info.get("sessionId")
        proc_start = info.get("procStart")
        if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid < _PID_LIMIT:
            continue
        if not isinstance(session_id, str):
            continue
        if proc_start is not None and not isinstance(proc_start, (str, int)):
            continue
        domain = info.get("pidDomain")
        if isinstance(domain, str) and here is not None and domain != here:
            # Another container's (or machine's) process sharing this config dir:
            # its pid means nothing here, so it cannot be checked: counted as open
            # while its entry is recent (one a kill left behind must not block the
            # session for good).
            # RACE: a process there idle for longer than this is taken for gone.
            if _entry_age(os.path.join(sessions_dir, name)) < FOREIGN_ENTRY_SECONDS:
                out.append(session_id)
        elif _process_alive(pid, None if proc_start is None else str(proc_start)):
            out.append(session_id)
    return out
