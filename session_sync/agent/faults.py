"""Kill points for the crash tests: a process dies (SIGKILL) at a named point.

Nothing happens unless ``$SESSION_SYNC_FAULT_FILE`` names a file. Its first
line is ``POINT COUNT [WHERE]``: the process dies the COUNT-th time (from 1) it
reaches POINT, if WHERE is empty or occurs in its ``where`` (an agent's config
dir; ``controller`` for the controlling process). The file is read once per
process. The points are listed in ``POINTS``; each is a place where a real
crash would leave the disk in a state the tests must prove harmless.
"""

from __future__ import annotations

import os
import signal
from typing import Dict, Optional, Tuple

__all__ = [
    "FAULT_FILE_ENV",
    "POINTS",
    "fault_point",
]

FAULT_FILE_ENV = "SESSION_SYNC_FAULT_FILE"

POINTS = (
    "apply.staged",  # a chunk of incoming data is in the temp file
    "apply.grouped",  # a group of staged copies is fsynced; their links come next
    "apply.rechecked",  # the destination was re-checked; the swap comes next
    "apply.journaled",  # an in-place append is journaled; its writes come next
    "apply.cut",  # an in-place append's write was cut short (the kernel's doing)
    "apply.appended",  # an in-place append is written; its journal entry is not gone
    "apply.swapped",  # the staged file is in place; cleanup comes next
    "apply.done",  # one file's result is known
    "backup.copied",  # a backup copy is written, its index entry not yet final
    "send.chunk",  # the sender wrote a chunk of a file to the stream
)

_spec: Optional[Tuple[str, int, str]] = None
_loaded = False
_counts: Dict[str, int] = {}


def _load() -> Optional[Tuple[str, int, str]]:
    path = os.environ.get(FAULT_FILE_ENV)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            parts = fh.readline().split()
        return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""
    except (OSError, IndexError, ValueError):
        return None


def fault_point(point: str, where: str) -> None:
    """Die here if the fault file says so (tests only; a no-op otherwise)."""
    global _spec, _loaded
    if not _loaded:
        _spec, _loaded = _load(), True
    if _spec is None or _spec[0] != point or (_spec[2] and _spec[2] not in where):
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == _spec[1]:
        os.kill(os.getpid(), signal.SIGKILL)
