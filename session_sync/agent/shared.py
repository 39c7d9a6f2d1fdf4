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
import gc
from typing import Callable, Dict, Iterator, Optional, TypeVar, cast

__all__ = ["remembered", "shared", "shared_listings"]

_T = TypeVar("_T")

_MEMO: Optional[Dict[str, Dict[str, object]]] = None


@contextlib.contextmanager
def shared_listings() -> Iterator[None]:
    """Share what the scans made inside read (one sync's scans).

    The cyclic garbage collector waits meanwhile: a scan's facts are trees of
    dicts and lists, freed by their counts, and collecting while they grow cost
    a scan and a manifest of 10,000 sessions a third of their time (each
    collection walks everything kept so far). What cycles arise are collected
    after."""
    global _MEMO
    if _MEMO is not None:  # an outer one holds already
        yield
        return
    _MEMO = {}
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        _MEMO = None
        if collecting:
            gc.enable()


def shared() -> bool:
    """Whether ``shared_listings`` holds (what is read now is kept for the sync)."""
    return _MEMO is not None


def remembered(table: str, key: str, read: Callable[[], _T]) -> _T:
    """``read()``, once per ``key`` of ``table`` while ``shared_listings`` holds;
    outside it, every time (nothing is kept)."""
    if _MEMO is None:
        return read()
    memo = _MEMO.setdefault(table, {})
    if key not in memo:
        memo[key] = read()
    return cast(_T, memo[key])
