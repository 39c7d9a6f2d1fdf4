"""What the scans of one sync share: each dir's listing, recorded cwds, realpaths
and the prompt history's lines, read once while ``shared_listings`` holds.

A scan of many projects (``scan_many``, and the two local scans of one sync)
asks for every dir's, and reading them again for each project would grow with
projects times dirs.

RACE: a session Claude starts while it holds is not seen until the next sync (as
for any scan); one an older listing holds is re-checked when applied.
"""

from __future__ import annotations

import contextlib
from typing import Dict, Iterator, Optional

__all__ = ["memo_table", "shared_listings"]

_MEMO: Optional[Dict[str, Dict[str, object]]] = None


@contextlib.contextmanager
def shared_listings() -> Iterator[None]:
    """Share what the scans made inside read (one sync's scans)."""
    global _MEMO
    if _MEMO is not None:  # an outer one holds already
        yield
        return
    _MEMO = {}
    try:
        yield
    finally:
        _MEMO = None


def memo_table(name: str) -> Optional[Dict[str, object]]:
    """The shared table ``name`` (path -> what was read), or None outside
    ``shared_listings`` (then nothing is kept)."""
    if _MEMO is None:
        return None
    return _MEMO.setdefault(name, {})
