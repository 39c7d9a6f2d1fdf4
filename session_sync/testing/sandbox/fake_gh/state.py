"""The fake gh's state file, its lock, and the log of calls and events.

The state is one JSON file (named by ``FAKE_GH_STATE``), replaced whole on
every write and read or written under a lock kept in a separate file, since
several gh processes run at once. A codespace whose ``ready_at`` has passed
takes its ``final_state`` on every read (``settle``), so no process runs in
the background to change it.

Standard library only, Python 3.8+: the script imports this module.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

__all__ = [
    "STATE_ENV",
    "append_log",
    "find_codespace",
    "locked",
    "now_iso",
    "read_state",
    "settle",
    "update_state",
    "write_unlocked",
]

# The script runs under python3.8 too: PEP 585/604 forms only in annotations, which
# `from __future__ import annotations` leaves unevaluated.
if TYPE_CHECKING:
    Json = dict[str, Any]

STATE_ENV = "FAKE_GH_STATE"
"""The environment variable naming the state file."""


@contextlib.contextmanager
def locked(state_file: Path, exclusive: bool) -> Iterator[None]:
    """Hold the state's lock (a separate file: the state itself is replaced on write)."""
    lock_path = state_file.with_name(state_file.name + ".lock")
    fd = os.open(str(lock_path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def settle(state: Json) -> None:
    """Give every codespace whose ``ready_at`` has passed its ``final_state``."""
    now = time.time()
    for codespace in state.get("codespaces", []):
        ready_at = codespace.get("ready_at")
        if ready_at is not None and now >= float(ready_at):
            codespace["state"] = codespace.get("final_state") or "Available"
            codespace.pop("ready_at", None)
            codespace.pop("final_state", None)


def read_state(state_file: Path) -> Json:
    """The state, with every pending state change that is due applied (not saved)."""
    with locked(state_file, exclusive=False):
        state: Json = json.loads(state_file.read_text(encoding="utf-8"))
    settle(state)
    return state


def write_unlocked(state_file: Path, state: Json) -> None:
    """Replace the state file with ``state`` (the caller holds the exclusive lock)."""
    temp = state_file.with_name(f"{state_file.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(str(temp), str(state_file))


def update_state(state_file: Path, change: Callable[[Json], Any]) -> Any:
    """Apply ``change`` to the state under the lock and save it; returns what it returns."""
    with locked(state_file, exclusive=True):
        state = json.loads(state_file.read_text(encoding="utf-8"))
        settle(state)
        result = change(state)
        write_unlocked(state_file, state)
        return result


def append_log(log_file: str, entry: Json) -> None:
    """Append ``entry`` as one JSON line to the log."""
    line = json.dumps(entry, sort_keys=True) + "\n"
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # long lines from parallel calls must not interleave
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def find_codespace(state: Json, name: str) -> Json | None:
    """The record of the codespace ``name`` in ``state`` (to change in place), or None."""
    for codespace in state.get("codespaces", []):
        if codespace.get("name") == name:
            found: Json = codespace
            return found
    return None


def now_iso() -> str:
    """The current UTC time as gh prints it (``createdAt``, ``lastUsedAt``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
