"""Deterministic generator of realistic Claude Code session files.

Used by ``session-sync demo``, the test suite and the benchmarks. Everything is
derived from the ``random.Random`` passed in, so the same seed gives the same
bytes. Nothing here reads or writes the real ``~/.claude``: callers always pass
the config directory explicitly.

- ``spec``: ``SessionSpec`` (a session in memory), ``session_bytes`` and
  ``encode_dir_name`` (Claude's project directory names).
- ``text``: the canned prompts, replies, commands and filler prose.
- ``records``: ``Writer``, which appends transcript records keeping the clock,
  the parent chain and the cost totals.
- ``turns``: the kinds of turn a session is made of (tool calls, a persisted
  tool result, a subagent) and the padding to a target size.
- ``generate``: ``make_session`` and ``continue_session``.
- ``files``: ``write_session`` and ``write_live_marker``, onto disk.
"""

from __future__ import annotations

from session_sync.testing.sessions.files import write_live_marker, write_session
from session_sync.testing.sessions.generate import continue_session, make_session
from session_sync.testing.sessions.spec import SessionSpec, encode_dir_name, session_bytes

__all__ = [
    "SessionSpec",
    "continue_session",
    "encode_dir_name",
    "make_session",
    "session_bytes",
    "write_live_marker",
    "write_session",
]
