"""What a sync did with Claude's memory and the prompt history: the changes
listed in the report, those that came in first (they enter Claude's context)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from session_sync.terminal import printable

__all__ = [
    "HistoryChange",
    "KnowledgeReport",
    "MemoryChange",
    "knowledge_lines",
]


@attrs.frozen
class MemoryChange:
    """One memory file written (or to be written) on one side."""

    side: str
    """local | remote: where it is written."""
    came_in: bool
    """Written here, from the other machine: it enters Claude's context here."""
    file: str
    """``memory/<name>``."""
    case: str
    """The memory plan's case (``model.memory.CASES``)."""
    reason: str
    """Why, in words."""
    outcome: str
    """done | failed | planned (dry run)."""
    added: tuple[str, ...]
    """The lines new to that side."""
    error: str | None = None
    """Why it failed, when it did."""
    backup: str | None = None
    """Where the replaced copy was kept."""

    def with_result(self, result: Mapping[str, Any] | None) -> MemoryChange:
        """Updated with the writing agent's result."""
        if result is None:
            return attrs.evolve(self, outcome="failed", error="no result from the agent")
        if result.get("ok"):
            return attrs.evolve(self, outcome="done", backup=result.get("backup"))
        return attrs.evolve(self, outcome="failed", error=str(result.get("error") or "failed"))


@attrs.frozen
class HistoryChange:
    """Prompt history lines appended (or to be appended) on one side."""

    side: str
    """local | remote: where they are appended."""
    came_in: bool
    """Appended here, from the other machine."""
    prompts: tuple[str, ...]
    """The prompts' text, oldest first."""
    outcome: str
    """done | failed | planned (dry run)."""
    added: int = 0
    """Lines appended (some may have been there already when it landed)."""
    error: str | None = None
    """Why it failed, when it did."""

    def with_result(self, result: Mapping[str, Any] | None) -> HistoryChange:
        """Updated with the writing agent's result."""
        if result is None:
            return attrs.evolve(self, outcome="failed", error="no result from the agent")
        if result.get("ok"):
            return attrs.evolve(self, outcome="done", added=int(result.get("added") or 0))
        return attrs.evolve(self, outcome="failed", error=str(result.get("error") or "failed"))


@attrs.frozen
class KnowledgeReport:
    """What came of a ``KnowledgePlan``."""

    memory: tuple[MemoryChange, ...] = ()
    """Each memory file written (or, in a dry run, to be written)."""
    history: tuple[HistoryChange, ...] = ()
    """The prompt history appended on each side."""
    refused: tuple[str, ...] = ()
    """``<side>: <name>: <why>`` for memory files left out."""


_MARK = {"done": "ok", "failed": "FAILED", "planned": "plan"}


def _where(came_in: bool, outcome: str) -> str:
    """Which way, in the tense of what happened (a dry run moved nothing)."""
    if outcome == "planned":
        return "to come in" if came_in else "to send"
    return "came in" if came_in else "sent"


_SHOWN_LINES = 20


def knowledge_lines(knowledge: KnowledgeReport) -> list[str]:
    """The report's lines: what came in first, each new line's text escaped."""
    memory, history, refused = knowledge.memory, knowledge.history, knowledge.refused
    out: list[str] = []
    for change in sorted(memory, key=lambda c: not c.came_in):
        where = _where(change.came_in, change.outcome)
        line = f"  {_MARK[change.outcome]:6} memory {where}: {printable(change.file)}"
        line += f" ({change.reason})"
        if change.error:
            line += f": {printable(change.error)}"
        if change.backup:
            line += f" [backup: {printable(change.backup)}]"
        out.append(line)
        if change.came_in and change.outcome != "failed":  # what did not land is not shown in
            for text in change.added[:_SHOWN_LINES]:
                out.append(f"           + {printable(text)}")
            if len(change.added) > _SHOWN_LINES:
                out.append(f"           + ... {len(change.added) - _SHOWN_LINES} more lines")
    for h in sorted(history, key=lambda c: not c.came_in):
        where = _where(h.came_in, h.outcome)
        count = h.added if h.outcome == "done" else len(h.prompts)
        prompts = "prompt" if count == 1 else "prompts"
        line = f"  {_MARK[h.outcome]:6} prompt history {where}: {count} {prompts}"
        if h.error:
            line += f": {printable(h.error)}"
        out.append(line)
        if h.came_in and h.outcome != "failed":
            for text in h.prompts[-_SHOWN_LINES:]:
                out.append(f"           > {printable(text)}")
    for note in refused:
        out.append(f"  note: memory left out: {printable(note)}")
    return out
