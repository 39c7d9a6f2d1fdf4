"""Sessions that a live Claude process on this machine has open
(``<config>/sessions/<pid>.json``, checked against the process table).
"""

from __future__ import annotations

import json
import os
from typing import List, Optional

__all__ = [
    "live_session_ids",
]


def _process_alive(pid: int, proc_start: Optional[str]) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return False
    stat_path = "/proc/%d/stat" % pid
    if proc_start and os.path.exists(stat_path):
        try:
            with open(stat_path, "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[-1].split()
            # Field 22 (starttime) is the 20th after the ")" that ends the name.
            return fields[19].decode() == str(proc_start)
        except (OSError, IndexError):
            return True
    return True


def live_session_ids(config: str) -> List[str]:
    """Ids of sessions a live Claude process on this machine has open."""
    out: List[str] = []
    sessions_dir = os.path.join(config, "sessions")
    try:
        names = os.listdir(sessions_dir)
    except OSError:
        return out
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(sessions_dir, name), encoding="utf-8") as fh:
                info = json.load(fh)
            pid = int(info.get("pid", 0))
            session_id = info.get("sessionId")
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        proc_start = info.get("procStart")
        if isinstance(session_id, str) and _process_alive(
            pid, str(proc_start) if proc_start is not None else None
        ):
            out.append(session_id)
    return out
