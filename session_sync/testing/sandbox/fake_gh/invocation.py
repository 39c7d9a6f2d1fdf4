"""``Invocation``: one run of the fake gh, what its subcommands share.

It holds the state as read at the start (and after each ``update``), writes
stdout and logs events. The subcommands are mixins on top of it
(``codespace_cmds``, ``ssh_cmd``), put together in ``script.Gh``.

Standard library only, Python 3.8+: the script imports this module.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .state import append_log, read_state, update_state

if TYPE_CHECKING:
    from .state import Json

__all__ = ["API", "Invocation"]

API = "https://api.github.com"
"""The API root that gh names in its error messages."""


class Invocation:
    """One invocation of the fake gh: its state, its output and its log."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.state = read_state(state_file)

    def log_event(self, event: str, **fields: Any) -> None:
        entry: Json = {"event": event, "time": time.time(), "pid": os.getpid()}
        entry.update(fields)
        append_log(self.state["log"], entry)

    def out(self, text: str) -> None:
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.buffer.flush()

    def update(self, change: Callable[[Json], Any]) -> Any:
        result = update_state(self.state_file, change)
        self.state = read_state(self.state_file)
        return result
