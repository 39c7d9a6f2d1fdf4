"""Checkpoints: a checkout's uncommitted and unpushed work saved as a commit under
``refs/session-sync/checkpoints/``, taken here or brought home from a codespace
or host, listed, shown and restored (``store``, ``take``, ``fetch``, ``restore``).
"""

from __future__ import annotations

__all__: list[str] = []
