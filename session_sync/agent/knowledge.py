"""Landing an exchange's memory writes and prompt history lines on this machine,
under its apply lock (after the session files of the same exchange)."""

from __future__ import annotations

from typing import Dict, List

from .backups import open_backup_set
from .fsutil import ConfigLock
from .history import append_history
from .memory import apply_memory
from .messages import ExchangeAnswer, HistoryPart, MemoryPart, MemoryResult

__all__ = [
    "add_knowledge",
    "apply_knowledge",
]


def apply_knowledge(config: str, memory: object, history: object, label: str) -> Dict[str, object]:
    """``memory_results`` (one per write) and ``history_result``, for the parts
    given (a ``MemoryPart``, a ``HistoryPart``; anything else: none)."""
    out: Dict[str, object] = {}
    writes = memory.get("writes") if isinstance(memory, dict) else None
    entries = history.get("entries") if isinstance(history, dict) else None
    if not writes and not entries:
        return out
    with ConfigLock(config) as lock:
        if isinstance(memory, dict) and isinstance(writes, list):
            part: MemoryPart = memory  # type: ignore[assignment]
            if lock.error is not None:
                results: List[MemoryResult] = [{"ok": False, "error": lock.error} for _ in writes]
            else:
                backups = open_backup_set(config, label)
                results = apply_memory(config, str(part["dir"]), list(writes), backups)
            out["memory_results"] = results
        if isinstance(history, dict) and isinstance(entries, list):
            lines: HistoryPart = history  # type: ignore[assignment]
            if lock.error is not None:
                out["history_result"] = {"ok": False, "added": 0, "error": lock.error}
            else:
                out["history_result"] = append_history(config, str(lines["project"]), list(entries))
    return out


def add_knowledge(answer: ExchangeAnswer, landed: Dict[str, object]) -> None:
    """Put ``apply_knowledge``'s results into an exchange answer."""
    answer.update(landed)  # type: ignore[typeddict-item]
