"""The sync of Claude's auto memory and the prompt history, beside the sessions'.

Both travel in the sessions' round trips: the scans carry them (``memory`` and
``history`` in the request), the exchange carries the far side's writes, and
this machine's land in-process. The decisions are ``model.memory`` and
``model.history``'s; this module wires them to the engine, keeps the memory
base (the sha each file had when both sides last agreed, per peer, under
``<config>/session-sync/``) and makes the report's entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from session_sync.agent.fsutil import ConfigLock, write_atomic
from session_sync.agent.knowledge import apply_knowledge
from session_sync.agent.memory import MEMORY_DIR
from session_sync.errors import ProtocolError
from session_sync.model.history import (
    MAX_CLOCK_AHEAD_MS,
    HistoryPlan,
    plan_history,
    prompts_from_scan,
)
from session_sync.model.knowledge_report import HistoryChange, KnowledgeReport, MemoryChange
from session_sync.model.memory import MemoryPlan, MemorySide, memory_from_scan, plan_memory
from session_sync.model.reconcile import Direction

__all__ = [
    "BASE_FILE",
    "KnowledgePlan",
    "land_knowledge",
    "plan_knowledge",
]

BASE_FILE = "memory-base.json"
"""In ``<config>/session-sync/``: per peer, the sha256 of each memory file when
both sides last had the same."""


@attrs.frozen
class KnowledgePlan:
    """What a sync does with memory and history (either may be absent)."""

    memory: MemoryPlan | None
    """None: memory is not synced (``--no-memory``, no project path on a side)."""
    local_memory: MemorySide | None
    """This machine's memory as scanned."""
    remote_memory: MemorySide | None
    """The other machine's, as checked."""
    history: HistoryPlan | None
    """None: history is not synced."""
    local_project: str | None
    """This machine's project path (its history lines name it)."""
    remote_project: str | None
    """The other machine's."""
    peer: str
    """Who the other machine is, for its memory base."""

    def remote_parts(self) -> dict[str, Any]:
        """The ``exchange`` request's ``memory`` and ``history`` parts."""
        return _parts(self, "remote")

    def local_parts(self) -> dict[str, Any]:
        """The same parts for this machine's in-process apply."""
        return _parts(self, "local")


def _peer(remote_raw: Mapping[str, Any], description: str) -> str:
    ident = f"{description}\0{remote_raw.get('config_dir')}\0{remote_raw.get('project_path')}"
    # surrogatepass: a far side's path may hold any surrogate, not only escaped bytes.
    return hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _load_base(config: Path, peer: str) -> dict[str, str]:
    try:
        data = json.loads((config / "session-sync" / BASE_FILE).read_text(encoding="utf-8"))
        entry = data.get(peer) if isinstance(data, dict) else None
    except (OSError, ValueError):
        return {}
    if not isinstance(entry, dict):
        return {}
    return {k: v for k, v in entry.items() if isinstance(k, str) and isinstance(v, str)}


def _save_base(config: Path, peer: str, base: Mapping[str, str]) -> None:
    """Under the machine's lock (another sync may save another peer's base);
    a base that cannot be saved is left: without it, the next sync keeps both
    copies of a file changed on both sides, so nothing is lost."""
    path = config / "session-sync" / BASE_FILE
    with ConfigLock(str(config)) as lock:
        if lock.error is not None:
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        if data.get(peer) == dict(base):
            return  # in step as last time: no write
        data[peer] = dict(sorted(base.items()))
        with contextlib.suppress(OSError):
            write_atomic(str(path), json.dumps(data, indent=1).encode(), 0o600)


def plan_knowledge(
    config: Path,
    local_raw: Mapping[str, Any],
    remote_raw: Mapping[str, Any],
    description: str,
    direction: Direction = Direction.BOTH,
) -> KnowledgePlan:
    """The memory and history plan from both (wire-checked) scan answers; one
    ``direction`` writes only on the side it goes to."""
    peer = _peer(remote_raw, description)
    local_memory = memory_from_scan(local_raw.get("memory"))
    remote_memory = memory_from_scan(remote_raw.get("memory"))
    memory = None
    if local_memory is not None and remote_memory is not None:
        memory = plan_memory(local_memory, remote_memory, _load_base(config, peer))
        if direction is not Direction.BOTH:
            side = "remote" if direction is Direction.PUSH else "local"
            kept = tuple(w for w in memory.writes if w.side == side)
            # The base stays as it was: the other side was not brought level.
            memory = attrs.evolve(memory, writes=kept, final={})
    local_prompts = prompts_from_scan(local_raw.get("history"))
    latest = int(time.time() * 1000) + MAX_CLOCK_AHEAD_MS
    remote_prompts = prompts_from_scan(remote_raw.get("history"), latest)
    history = None
    if local_prompts is not None and remote_prompts is not None:
        history = plan_history(local_prompts, remote_prompts)
        if direction is Direction.PUSH:
            history = attrs.evolve(history, to_local=())
        elif direction is Direction.PULL:
            history = attrs.evolve(history, to_remote=())
    return KnowledgePlan(
        memory=memory,
        local_memory=local_memory,
        remote_memory=remote_memory,
        history=history,
        local_project=local_raw.get("project_path"),
        remote_project=remote_raw.get("project_path"),
        peer=peer,
    )


def _parts(plan: KnowledgePlan, side: str) -> dict[str, Any]:
    parts: dict[str, Any] = {}
    memory_side = plan.local_memory if side == "local" else plan.remote_memory
    if plan.memory is not None and memory_side is not None:
        writes = [
            {
                "name": w.name,
                "content": w.content,
                "sha256": w.sha256,
                "mode": w.mode,
                "mtime_ns": w.mtime_ns,
                "expect": w.expect,
                "reason": f"memory: {w.reason}",
            }
            for w in plan.memory.writes
            if w.side == side
        ]
        if writes:
            parts["memory"] = {"dir": memory_side.dir, "writes": writes}
    project = plan.local_project if side == "local" else plan.remote_project
    if plan.history is not None and project:
        prompts = plan.history.to_local if side == "local" else plan.history.to_remote
        if prompts:
            parts["history"] = {"project": project, "entries": [p.as_entry() for p in prompts]}
    return parts


def _checked_results(landed: Mapping[str, Any], expected: int, where: str) -> list[Any]:
    results = landed.get("memory_results") or []
    if expected and len(results) != expected:
        raise ProtocolError(
            f"malformed exchange answer from {where}: {len(results)} memory results"
            f" for {expected} memory files sent",
            where=where,
        )
    return list(results)


def land_knowledge(
    config: Path,
    plan: KnowledgePlan,
    remote_landed: Mapping[str, Any] | None,
    label: str,
    where: str,
) -> KnowledgeReport:
    """Write this machine's part (``remote_landed``: the far agent's results, None
    in a dry run, which writes nothing), save the base, and report."""
    dry_run = remote_landed is None
    local_landed: Mapping[str, Any] = {}
    if remote_landed is not None and plan.memory is not None:
        # The far answer is checked before anything lands here: a far side that
        # hides its results must not get its memory in here unreported.
        sent = sum(w.side == "remote" for w in plan.memory.writes)
        _checked_results(remote_landed, sent, where)
    if not dry_run:
        parts = plan.local_parts()
        local_landed = apply_knowledge(
            str(config), parts.get("memory"), parts.get("history"), label
        )
    memory = _memory_changes(plan, local_landed, remote_landed, where)
    if not dry_run and plan.memory is not None and plan.memory.final:
        failed = {c.file for c in memory if c.outcome == "failed"}
        base = {n: s for n, s in plan.memory.final.items() if f"{MEMORY_DIR}/{n}" not in failed}
        _save_base(config, plan.peer, base)
    history: list[HistoryChange] = []
    if plan.history is not None:
        for side, prompts, landed in (
            ("local", plan.history.to_local, local_landed),
            ("remote", plan.history.to_remote, remote_landed),
        ):
            if not prompts or not (plan.local_project if side == "local" else plan.remote_project):
                continue
            change = HistoryChange(
                side, side == "local", tuple(p.display for p in prompts), "planned"
            )
            if landed is not None:
                change = change.with_result(landed.get("history_result"))
                if change.outcome == "done" and not change.added:
                    continue  # all there already when it landed: nothing to say
            history.append(change)
    refused = tuple(
        f"{side}: {name}: {why}"
        for side, found in (("local", plan.local_memory), ("remote", plan.remote_memory))
        if found is not None
        for name, why in found.refused
    )
    return KnowledgeReport(tuple(memory), tuple(history), refused)


def _memory_changes(
    plan: KnowledgePlan,
    local_landed: Mapping[str, Any],
    remote_landed: Mapping[str, Any] | None,
    where: str,
) -> list[MemoryChange]:
    if plan.memory is None:
        return []
    writes = {
        side: [w for w in plan.memory.writes if w.side == side] for side in ("local", "remote")
    }
    results = {
        "local": _checked_results(local_landed, len(writes["local"]), "this machine")
        if remote_landed is not None
        else [],
        "remote": _checked_results(remote_landed, len(writes["remote"]), where)
        if remote_landed is not None
        else [],
    }
    out = []
    for side in ("local", "remote"):
        for i, w in enumerate(writes[side]):
            change = MemoryChange(
                side=side,
                came_in=side == "local",
                file=f"{MEMORY_DIR}/{w.name}",
                case=w.case,
                reason=w.reason,
                outcome="planned",
                added=w.added,
            )
            if remote_landed is not None:
                got = results[side]
                change = change.with_result(got[i] if i < len(got) else None)
            out.append(change)
    return out
