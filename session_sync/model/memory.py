"""Claude's auto memory of a project on two machines, and what a sync writes to
make both the same (pure: no I/O).

``memory/MEMORY.md`` is an index of one-line entries: when the two copies
differ they are merged by line (every entry of both kept, nothing doubled) and
the merged file goes to both. A topic file that differs: the newer copy stays
in place on both sides, the other is kept beside it as ``<stem>.<sha8>.md``
and MEMORY.md gets a line linking to it, so no edit is lost and the next sync
plans nothing. With a base (the sha each file had when the two last agreed),
a topic file changed on one side only simply goes to the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from session_sync.agent.memory import (
    MAX_MEMORY_FILE_BYTES,
    MAX_MEMORY_FILES,
    MAX_MEMORY_TOTAL_BYTES,
    is_memory_name,
)

__all__ = [
    "CASES",
    "INDEX",
    "MemoryFile",
    "MemoryPlan",
    "MemorySide",
    "MemoryWrite",
    "memory_from_scan",
    "merge_lines",
    "plan_memory",
]

INDEX = "MEMORY.md"
"""The index Claude loads into every new session."""

CASES: Mapping[str, str] = {
    "memory-only-local": "only here: copied there",
    "memory-only-remote": "only there: copied here",
    "memory-index-merged": "MEMORY.md differs: merged by line, every entry of both kept",
    "memory-one-sided": "changed on one side only since the last sync: that copy goes to both",
    "memory-topic-newer": "changed on both sides: the newer copy stays in place",
    "memory-topic-kept-beside": "changed on both sides: the older copy is kept beside it",
}
"""Every decision the memory plan makes, with the reason it gives."""


@attrs.frozen
class MemoryFile:
    """One memory file on one machine."""

    name: str
    """Its name in ``memory/``."""
    content: str
    """Its whole text."""
    sha256: str
    """Of the UTF-8 bytes of ``content``."""
    mtime_ns: int
    """Modification time, nanoseconds since the epoch."""
    mode: int
    """Permission bits."""


@attrs.frozen
class MemorySide:
    """One machine's memory of the project, as checked from its scan."""

    dir: str
    """The project dir whose ``memory/`` it is."""
    files: Mapping[str, MemoryFile]
    """By name."""
    refused: tuple[tuple[str, str], ...] = ()
    """(name, why) of files left out (the agent's reasons, or ours for a far
    side's file that breaks the rules)."""


@attrs.frozen
class MemoryWrite:
    """One file to write whole on one side."""

    side: str
    """local | remote: where it is written."""
    name: str
    """Its name in ``memory/``."""
    content: str
    """The text it gets."""
    sha256: str
    """Of the UTF-8 bytes of ``content``."""
    mtime_ns: int
    """The time it gets."""
    mode: int
    """The mode a new file gets (a replaced one keeps its own)."""
    expect: str | None
    """The sha256 there as scanned (None: not there); re-checked before it lands."""
    case: str
    """The ``CASES`` key that decided it."""
    added: tuple[str, ...]
    """The lines new to that side (every line of a file new there)."""

    @property
    def reason(self) -> str:
        """Why, in words."""
        return CASES[self.case]


@attrs.frozen
class MemoryPlan:
    """What a sync writes so both sides have the same memory."""

    writes: tuple[MemoryWrite, ...]
    """In name order, local before remote."""
    final: Mapping[str, str]
    """The sha256 of each file once every write has landed (the next base)."""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def memory_from_scan(raw: Any) -> MemorySide | None:
    """The memory in a (wire-checked) scan answer; far files with a bad name,
    a wrong sha256 or size, or too much text are refused here, whatever the
    far agent says."""
    if not isinstance(raw, dict):
        return None
    files: dict[str, MemoryFile] = {}
    refused: list[tuple[str, str]] = []
    if raw.get("error"):
        refused.append(("memory/", str(raw["error"])))
    if len(raw["files"]) > MAX_MEMORY_FILES:
        refused.append(("memory/", f"more than {MAX_MEMORY_FILES} files: the rest left out"))
    total = 0
    for fact in raw["files"][:MAX_MEMORY_FILES]:
        name = fact["name"]
        if not is_memory_name(name):
            refused.append((name, "not a memory file name (a plain *.md in memory/)"))
            continue
        if "error" in fact:
            refused.append((name, fact["error"]))
            continue
        try:
            data = fact["content"].encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no file holds that text
            refused.append((name, "not UTF-8 text: not synced"))
            continue
        total += len(data)
        if total > MAX_MEMORY_TOTAL_BYTES:
            refused.append((name, f"over the {MAX_MEMORY_TOTAL_BYTES} bytes of a scan: not synced"))
        elif len(data) > MAX_MEMORY_FILE_BYTES:
            refused.append((name, f"larger than {MAX_MEMORY_FILE_BYTES} bytes: not synced"))
        elif len(data) != fact["size"] or hashlib.sha256(data).hexdigest() != fact["sha256"]:
            refused.append((name, "its text does not match its size and sha256: not synced"))
        elif name in files:
            refused.append((name, "listed twice: not synced"))
        else:
            files[name] = MemoryFile(
                name, fact["content"], fact["sha256"], fact["mtime_ns"], fact["mode"]
            )
    return MemorySide(str(raw["dir"]), files, tuple(refused))


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def merge_lines(ours: str, theirs: str, extra: Sequence[str] = ()) -> str:
    """``ours`` with every line of ``theirs`` (then of ``extra``) it lacks
    (compared without surrounding blanks; blank lines of ``theirs`` are not
    added): each goes after the line it follows in ``theirs``, or at the end."""
    # A linked list (node 0 heads it), so each line is placed in constant time:
    # a far MEMORY.md of many short lines must not make the merge quadratic.
    text = ["", *_lines(ours)]
    after = [*range(1, len(text)), -1]
    tail = len(text) - 1
    first: dict[str, int] = {}  # a line, stripped -> its first node
    for node in range(1, len(text)):
        if text[node].strip():
            first.setdefault(text[node].strip(), node)
    for source in (_lines(theirs), list(extra)):
        anchor: int | None = None
        for line in source:
            key = line.strip()
            if not key:
                continue
            if key in first:
                anchor = first[key]
                continue
            at = tail if anchor is None else anchor
            node = len(text)
            text.append(line)
            after.append(after[at])
            after[at] = node
            if at == tail:
                tail = node
            anchor = first[key] = node
    out = []
    node = after[0]
    while node != -1:
        out.append(text[node])
        node = after[node]
    return "\n".join(out) + "\n" if out else ""


def _order(file: MemoryFile) -> tuple[int, str]:
    """Newer first by this (the same on every machine: the time travels with the copy)."""
    return file.mtime_ns, file.sha256


def _beside_name(name: str, sha256: str) -> str:
    return f"{name[: -len('.md')]}.{sha256[:8]}.md"


def _link_line(name: str, beside: str) -> str:
    stem = name[: -len(".md")]
    return (
        f"- [{stem} (other copy)]({beside}) — both machines changed {name};"
        " session-sync kept this copy too"
    )


def plan_memory(
    local: MemorySide, remote: MemorySide, base: Mapping[str, str] | None = None
) -> MemoryPlan:
    """The writes that leave both sides with the same files (nothing removed)."""
    base = base or {}
    final: dict[str, tuple[MemoryFile, str]] = {}  # name -> (file, case)
    links: list[str] = []
    kept_from: dict[str, str] = {}  # a kept-beside name -> the name its text had
    # A file one side left out (too large, a link, not UTF-8) is left alone on both.
    blocked = {name for name, _why in local.refused + remote.refused}
    for name in sorted((set(local.files) | set(remote.files)) - {INDEX} - blocked):
        mine, theirs = local.files.get(name), remote.files.get(name)
        if mine is None and theirs is not None:
            final[name] = (theirs, "memory-only-remote")
        elif theirs is None and mine is not None:
            final[name] = (mine, "memory-only-local")
        elif mine is not None and theirs is not None:
            if mine.sha256 == theirs.sha256:
                final[name] = (mine, "")
            # One side changed since the last sync: its copy goes, unless it is the
            # older (it came round a ring of three machines: taking it would undo
            # a newer copy, and the ring would turn for ever); then both are kept.
            elif base.get(name) == mine.sha256 and _order(theirs) > _order(mine):
                final[name] = (theirs, "memory-one-sided")
            elif base.get(name) == theirs.sha256 and _order(mine) > _order(theirs):
                final[name] = (mine, "memory-one-sided")
            else:
                newer, older = sorted((mine, theirs), key=_order)[::-1]
                beside = _beside_name(name, older.sha256)
                if (
                    INDEX in blocked
                    or not is_memory_name(beside)  # too long: the agent would refuse it
                    or beside in blocked
                    or any(
                        beside in side.files and side.files[beside].sha256 != older.sha256
                        for side in (local, remote)
                    )
                ):
                    continue  # a file of that name with other text: both left as they are
                final[name] = (newer, "memory-topic-newer")
                final[beside] = (attrs.evolve(older, name=beside), "memory-topic-kept-beside")
                kept_from[beside] = name
                links.append(_link_line(name, beside))
    ours, theirs_index = local.files.get(INDEX), remote.files.get(INDEX)
    if INDEX not in blocked and (ours is not None or theirs_index is not None or links):
        text = merge_lines(
            ours.content if ours else "", theirs_index.content if theirs_index else "", links
        )
        present = [f for f in (ours, theirs_index) if f is not None]
        stamp = max((f.mtime_ns for f in present), default=0)
        mode = present[0].mode if present else 0o644
        case = "memory-index-merged"
        if not links and (ours is None or theirs_index is None):
            case = "memory-only-remote" if ours is None else "memory-only-local"
        final[INDEX] = (MemoryFile(INDEX, text, _sha(text), stamp, mode), case)
    writes: list[MemoryWrite] = []
    for name in sorted(final):
        wanted, case = final[name]
        for side_name, side in (("local", local), ("remote", remote)):
            now = side.files.get(name)
            if now is not None and now.sha256 == wanted.sha256:
                continue
            if case in ("", "memory-topic-newer") and now is None:
                case = "memory-only-local" if side_name == "remote" else "memory-only-remote"
            known = set(_lines(now.content)) if now is not None else set()
            own = side.files.get(kept_from.get(name, ""))
            if own is not None and own.sha256 == wanted.sha256:
                known = set(_lines(own.content))  # this side's own text, kept: nothing new
            added = tuple(line for line in _lines(wanted.content) if line not in known)
            writes.append(
                MemoryWrite(
                    side=side_name,
                    name=name,
                    content=wanted.content,
                    sha256=wanted.sha256,
                    mtime_ns=wanted.mtime_ns,
                    mode=wanted.mode,
                    expect=now.sha256 if now is not None else None,
                    case=case or "memory-one-sided",
                    added=added,
                )
            )
    return MemoryPlan(tuple(writes), {name: f.sha256 for name, (f, _c) in final.items()})
