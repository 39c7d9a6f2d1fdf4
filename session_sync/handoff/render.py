"""The handoff as text within a byte budget: the stable part first, whole lines only.

One policy for every renderer (``fit_lines``): each line is made one line
(whitespace folded, cut to ``LINE_CHARS`` with an ellipsis), then lines are
kept in order while they fit the budget; when one does not, it and everything
after it are left out and a last line says how many and how to see them. A
line is never cut by the budget.
"""

from __future__ import annotations

from collections.abc import Sequence

from session_sync.handoff.handoff import DeltaSession, FileStub, Handoff
from session_sync.terminal import printable

__all__ = [
    "DEFAULT_BUDGET",
    "LINE_CHARS",
    "fit_lines",
    "one_line",
    "render_handoff",
    "render_lines",
]

DEFAULT_BUDGET = 4096
"""Bytes of text a handoff gets by default."""

LINE_CHARS = 240
"""Characters one line may have."""

_OPEN_TODO = ("in_progress", "pending")


def one_line(text: str, limit: int = LINE_CHARS) -> str:
    """``text`` as one line: its indent kept, every other run of whitespace (newlines
    too) one space, control and bidi characters escaped (``printable``: the text may
    come from another machine's sessions, and the hook's output can reach a
    terminal), cut to ``limit`` characters with an ellipsis."""
    body = text.lstrip(" ")
    flat = " " * min(len(text) - len(body), 8) + printable(" ".join(body.split()))
    return flat if len(flat) <= limit else flat[: max(limit - 1, 0)] + "\u2026"


def omitted_note(count: int) -> str:
    return f"[{count} more line(s) left out: `session-sync handoff --budget BYTES` shows more]"


def fit_lines(lines: Sequence[str], budget: int) -> list[str]:
    """The longest run of ``lines`` from the start that fits in ``budget`` bytes
    (UTF-8, one ``\\n`` after each), with a note line when some are left out.

    Each line is made one line first (``one_line``). The note's own bytes are
    kept free as soon as anything is left out; if even the note does not fit,
    nothing is returned rather than a cut line.
    """
    clean = [one_line(line) for line in lines]
    sizes = [len(line.encode("utf-8")) + 1 for line in clean]
    if sum(sizes) <= budget:
        return clean
    kept: list[str] = []
    used = 0
    for i, (line, size) in enumerate(zip(clean, sizes, strict=True)):
        note = omitted_note(len(clean) - i)
        if used + size + len(note.encode("utf-8")) + 1 > budget:
            break
        kept.append(line)
        used += size
    note = omitted_note(len(clean) - len(kept))
    if used + len(note.encode("utf-8")) + 1 <= budget:
        kept.append(note)
    return kept


def _when(stamp: str | None) -> str:
    # "2026-11-22T03:27:26.866Z" -> "2026-11-22 03:27Z": a fixed form of the recorded
    # time, never relative to now (that would change the text on every run).
    if not stamp or len(stamp) < 16:
        return "time unknown"
    return f"{stamp[:10]} {stamp[11:16]}Z"


def _quote(text: str | None, limit: int) -> str:
    return '"' + one_line(text or "", limit) + '"' if text else "-"


def _session_lines(s: DeltaSession) -> list[str]:
    where = s.machine + (f" {s.cwd}" if s.cwd and s.machine != "here" else "")
    head = f"- {_when(s.last_message_at)} · {where} · session {s.id[:8]}"
    if s.open_here:
        head += " (open in a Claude here)"
    out = [head]
    out.append(f"  asked first: {_quote(s.first_prompt, 140)}")
    if s.last_prompt and s.last_prompt != s.first_prompt:
        out.append(f"  asked last: {_quote(s.last_prompt, 140)}")
    open_todos = [(st, c) for st, c in s.todos if st in _OPEN_TODO]
    if open_todos:
        items = "; ".join(f"[{st}] {c}" for st, c in open_todos)
        out.append(f"  open todos: {items}")
    if s.files:
        out.append(f"  edited {len(s.files)} file(s), listed below")
    if s.last_assistant_text:
        out.append(f"  last reply: {_quote(s.last_assistant_text, 180)}")
    return out


def _file_line(f: FileStub) -> str:
    size = f"{f.size} B" if f.size is not None else "not here"
    digest = f" sha256 {f.sha256[:12]}" if f.sha256 else ""
    ids = ", ".join(i[:8] for i in f.sessions)
    return f"- {f.path} · {f.status} · {size}{digest} · by {ids}"


def render_lines(handoff: Handoff) -> list[str]:
    """Every line of the handoff, the stable part (the prefix) first."""
    p, d = handoff.prefix, handoff.delta
    name = p.repository or p.project
    out = [f"# session-sync handoff: {name} (recent work on every machine)"]
    facts = [f"repository {p.repository}" if p.repository else "no GitHub repository"]
    if p.default_branch:
        facts.append(f"default branch {p.default_branch}")
    facts.append("CLAUDE.md present" if p.claude_md else "no CLAUDE.md")
    out.append("Project: " + ", ".join(facts))
    out.append("Paths: " + "; ".join(f"{m.machine} {m.path}" for m in p.paths))
    if p.learnings is not None:
        out.append(f"Learnings: {p.learnings.path} (sha256 {p.learnings.sha256[:12]})")
        out.extend("  " + line for line in p.learnings.head.split("\n")[:6] if line.strip())
    if not d.sessions:
        out.append("No recent sessions of this project on this machine.")
        return out
    out.append(f"## Recent sessions, newest first ({len(d.sessions)})")
    for s in d.sessions:
        out.extend(_session_lines(s))
    if d.files:
        # The one changed-files block: each file once, whichever sessions touched it.
        out.append(f"## Files those sessions edited, state here ({len(d.files)})")
        out.extend(_file_line(f) for f in d.files)
        out.append("Detail of one file: session-sync handoff --detail FILE")
    return out


def render_handoff(handoff: Handoff, budget: int = DEFAULT_BUDGET) -> str:
    """The handoff as text of at most ``budget`` bytes, whole lines only."""
    lines = fit_lines(render_lines(handoff), budget)
    return "".join(line + "\n" for line in lines)
