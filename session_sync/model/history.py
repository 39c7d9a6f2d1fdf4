"""The prompt history of a project on two machines, and the lines each lacks
(pure: no I/O). Two lines are the same prompt when their ``timestamp`` and
``display`` are; each side gets the other's missing lines, oldest first, to be
appended as lines of its own project path."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

from session_sync.agent.history import MAX_HISTORY_BYTES, MAX_HISTORY_ENTRIES

__all__ = [
    "MAX_CLOCK_AHEAD_MS",
    "MAX_PROMPT_CHARS",
    "HistoryPlan",
    "HistorySide",
    "Prompt",
    "plan_history",
    "prompts_from_scan",
]

MAX_CLOCK_AHEAD_MS = 24 * 3600 * 1000
"""A far prompt stamped later than this past our clock is left out."""

MAX_PROMPT_CHARS = 64 * 1024
"""A far line whose prompt (or pasted contents) is longer than this is left out."""

_MAX_SESSION_ID_CHARS = 64


@attrs.frozen
class Prompt:
    """One line of ``history.jsonl``, as checked."""

    display: str
    """What the user typed."""
    timestamp: int
    """When, in milliseconds since the epoch."""
    pasted: str
    """``pastedContents`` as compact JSON (``{}`` when none)."""
    session_id: str | None
    """The session it was typed in (on the machine it was typed on)."""

    @property
    def key(self) -> tuple[int, str]:
        """What makes two lines the same prompt."""
        return self.timestamp, self.display

    def as_entry(self) -> dict[str, Any]:
        """The ``HistoryEntry`` sent for it (the agent sets ``project``)."""
        entry: dict[str, Any] = {
            "display": self.display,
            "pastedContents": json.loads(self.pasted),
            "timestamp": self.timestamp,
        }
        if self.session_id is not None:
            entry["sessionId"] = self.session_id
        return entry


def _prompt(raw: Any) -> Prompt | None:
    if not isinstance(raw, dict):
        return None
    display, stamp = raw.get("display"), raw.get("timestamp")
    if not isinstance(display, str) or len(display) > MAX_PROMPT_CHARS:
        return None
    if type(stamp) is not int or not 0 <= stamp < 1 << 53:
        return None
    pasted = raw.get("pastedContents")
    text = json.dumps(pasted if isinstance(pasted, dict) else {}, separators=(",", ":"))
    if len(text) > MAX_PROMPT_CHARS:
        return None
    session = raw.get("sessionId")
    if not isinstance(session, str) or len(session) > _MAX_SESSION_ID_CHARS:
        session = None  # a uuid, as Claude writes it; anything else is not kept
    try:  # a lone surrogate cannot be written as UTF-8: it would fail the whole append
        json.dumps([display, pasted, session], ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, TypeError, ValueError):
        return None
    return Prompt(display, stamp, text, session)


@attrs.frozen
class HistorySide:
    """One machine's prompts of the project, as checked from its scan."""

    prompts: tuple[Prompt, ...]
    """Oldest first."""
    truncated: bool = False
    """Older prompts were left out of the scan (its bound): below the oldest
    one here, nothing is known of that side."""

    @property
    def since(self) -> int | None:
        """The oldest time this side's scan speaks for (None: all of them)."""
        if not self.truncated:
            return None
        return min((p.timestamp for p in self.prompts), default=None)


def prompts_from_scan(raw: Any, latest: int | None = None) -> HistorySide | None:
    """The prompts in a (wire-checked) scan answer's ``history``; a far line of
    the wrong shape or too long, or typed after ``latest`` (ms), is left out."""
    if not isinstance(raw, dict):
        return None
    entries = raw["entries"]
    if latest is not None:
        # Prompts "typed" in the future would hold every later scan's window of
        # the newest prompts, and up-arrow recall, here for good.
        entries = [e for e in entries if not _later(e, latest)]
    # Bounded as the agent bounds its own answer: the newest lines only, in
    # count and in bytes (else a far side could grow our history.jsonl by
    # hundreds of megabytes a sync, all of it read again by every scan).
    found = (_prompt(e) for e in entries[-MAX_HISTORY_ENTRIES:])
    checked = sorted((p for p in found if p is not None), key=lambda p: p.timestamp)
    kept: list[Prompt] = []
    total = 0
    for prompt in reversed(checked):
        total += _line_bytes(prompt)
        if total > MAX_HISTORY_BYTES:
            break
        kept.append(prompt)
    cut = len(entries) > MAX_HISTORY_ENTRIES or len(kept) < len(checked)
    return HistorySide(tuple(reversed(kept)), bool(raw["truncated"]) or cut)


def _later(entry: Any, latest: int) -> bool:
    stamp = entry.get("timestamp") if isinstance(entry, dict) else None
    return isinstance(stamp, (int, float)) and stamp > latest


def _line_bytes(prompt: Prompt) -> int:
    """About the bytes of its line in ``history.jsonl`` (the project path aside)."""
    session = len(prompt.session_id or "")
    # 64: fewer than its keys take, so a line the agent kept is never cut here.
    return len(prompt.display.encode("utf-8", "surrogatepass")) + len(prompt.pasted) + session + 64


@attrs.frozen
class HistoryPlan:
    """The prompts each side lacks, oldest first."""

    to_local: tuple[Prompt, ...]
    """Typed there, to be added here."""
    to_remote: tuple[Prompt, ...]
    """Typed here, to be added there."""


def _missing(
    source: Sequence[Prompt], target: Sequence[Prompt], since: int | None
) -> tuple[Prompt, ...]:
    have = {p.key for p in target}
    out: dict[tuple[int, str], Prompt] = {}
    for prompt in source:
        if since is not None and prompt.timestamp < since:
            continue  # older than what the target's scan covered: it may have it
        if prompt.key not in have and prompt.key not in out:
            out[prompt.key] = prompt
    return tuple(sorted(out.values(), key=lambda p: p.key))


def plan_history(
    local: Sequence[Prompt] | HistorySide, remote: Sequence[Prompt] | HistorySide
) -> HistoryPlan:
    """Each side's missing prompts (deduplicated by time and text; of a side whose
    scan was cut short, only those from its oldest one on)."""
    here = local if isinstance(local, HistorySide) else HistorySide(tuple(local))
    there = remote if isinstance(remote, HistorySide) else HistorySide(tuple(remote))
    return HistoryPlan(
        _missing(there.prompts, here.prompts, here.since),
        _missing(here.prompts, there.prompts, there.since),
    )
