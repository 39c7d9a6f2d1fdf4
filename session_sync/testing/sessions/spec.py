"""``SessionSpec``, a generated session in memory, and the names it gets on disk."""

from __future__ import annotations

import string

import attrs

__all__ = ["SessionSpec", "encode_dir_name", "session_bytes"]


@attrs.frozen
class SessionSpec:
    """An in-memory session: main transcript lines, subagent transcripts, tool-result files."""

    session_id: str
    cwd: str
    lines: tuple[bytes, ...]
    subagents: tuple[tuple[str, tuple[bytes, ...]], ...] = ()
    tool_results: tuple[tuple[str, bytes], ...] = ()


def encode_dir_name(project_path: str) -> str:
    """Encode a project path as Claude names its project directory (no realpath)."""
    out = "".join(
        c if c.isascii() and c.isalnum() else ("--" if ord(c) > 0xFFFF else "-")
        for c in project_path
    )
    if len(out) <= 200:
        return out
    h = 0
    for c in project_path:
        h = (h * 31 + ord(c)) & 0xFFFFFFFF
    return f"{out[:200]}-{_base36(abs(h - (1 << 32) if h >= 1 << 31 else h))}"


def _base36(n: int) -> str:
    digits = string.digits + string.ascii_lowercase
    s = ""
    while True:
        n, r = divmod(n, 36)
        s = digits[r] + s
        if n == 0:
            return s


def session_bytes(spec: SessionSpec) -> bytes:
    """The main ``.jsonl`` file content: every line newline-terminated."""
    return b"\n".join(spec.lines) + b"\n"
