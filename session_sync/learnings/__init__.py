"""``session-sync learnings``: what this project's sessions learned, kept in the
repository (``.claude/learnings.md``), and the ``/context-sync`` skill that runs it."""

from __future__ import annotations

__all__: list[str] = []
