"""``make_session`` and ``continue_session``: whole sessions, and their resumptions."""

from __future__ import annotations

import datetime
import json
import math
import random
from collections.abc import Sequence

import attrs

from session_sync.testing.sessions.records import Json, Writer, dumps, parse_ms, to_ms, uuid4
from session_sync.testing.sessions.spec import SessionSpec
from session_sync.testing.sessions.text import BRANCHES, MODELS, PROMPTS, SEPARATOR_TEXT
from session_sync.testing.sessions.turns import (
    encode_padded,
    persisted_tool_turn,
    play_turns,
    simple_tool_turn,
    subagent_turn,
)

__all__ = ["continue_session", "make_session"]

_DEFAULT_START = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
# Above this, make_session adds turns instead of growing single lines further.
_MAX_PAD_PER_LINE = 256 * 1024


def _guess_home(cwd: str) -> str:
    parts = cwd.split("/")
    if len(parts) >= 3 and parts[1] in ("home", "Users"):
        return "/".join(parts[:3])
    if parts[1:2] == ["workspaces"]:
        return "/home/codespace"
    return "/root"


def make_session(
    rng: random.Random,
    cwd: str,
    *,
    turns: int = 6,
    start: datetime.datetime | None = None,
    with_subagent: bool = False,
    with_tool_result: bool = False,
    version: str = "2.1.328",
    target_bytes: int | None = None,
) -> SessionSpec:
    """Build a session as the real client writes it.

    ``queue-operation``, a ``file-history-snapshot``, alternating user/assistant lines
    (uuid/parentUuid chain, strictly increasing ``...T03:27:26.866Z`` timestamps, raw
    U+2028/U+2029 in text), an ``ai-title``, and finally ``last-prompt`` + ``cost-state``.

    With ``target_bytes`` the assistant replies are padded so the file is at least that
    large; turns are added as needed so no single line grows past ~256 KiB.
    """
    if turns < 1:
        raise ValueError("turns must be >= 1")
    if target_bytes is not None:
        turns = max(turns, math.ceil(target_bytes / _MAX_PAD_PER_LINE))
    session_id = uuid4(rng)
    if start is None:
        start_ms = to_ms(_DEFAULT_START) + rng.randrange(20 * 86_400_000)
    else:
        start_ms = to_ms(start)
    w = Writer(
        rng,
        session_id,
        cwd,
        version,
        now_ms=start_ms,
        parent=None,
        model=rng.choice(MODELS),
        branch=rng.choice(BRANCHES),
    )
    queued = {"type": "queue-operation", "operation": "dequeue", "timestamp": w.tick(0, 0)}
    w.add({**queued, "sessionId": session_id})
    first_prompt = rng.choice(PROMPTS)
    # The snapshot line precedes its user message and refers to it.
    snap_at = len(w.records)
    user = w.user_prompt(first_prompt, lo_ms=5, hi_ms=400)
    w.records.insert(
        snap_at,
        {
            "type": "file-history-snapshot",
            "messageId": user["uuid"],
            "snapshot": {
                "messageId": user["uuid"],
                "trackedFileBackups": {},
                "timestamp": user["timestamp"],
            },
            "isSnapshotUpdate": False,
        },
    )
    w.reply(rng.randint(2, 5), SEPARATOR_TEXT)
    w.add({"type": "ai-title", "sessionId": session_id, "aiTitle": first_prompt[:60]})
    subagents: list[tuple[str, tuple[bytes, ...]]] = []
    tool_results: list[tuple[str, bytes]] = []
    special = [k for k, on in (("sub", with_subagent), ("file", with_tool_result)) if on]
    for i in range(1, turns):
        w.user_prompt(rng.choice(PROMPTS))
        kind = special.pop(0) if special and i >= turns - 1 - len(special) else ""
        if kind == "sub":
            subagents.append(subagent_turn(w))
        elif kind == "file":
            tool_results.append(persisted_tool_turn(w, _guess_home(cwd)))
        elif rng.random() < 0.5:
            simple_tool_turn(w)
        w.reply(rng.randint(2, 6))
    for kind in special:  # too few turns to hold the requested extras: add turns
        w.user_prompt(rng.choice(PROMPTS))
        if kind == "sub":
            subagents.append(subagent_turn(w))
        else:
            tool_results.append(persisted_tool_turn(w, _guess_home(cwd)))
        w.reply(2)
    w.tail()
    return SessionSpec(
        session_id=session_id,
        cwd=cwd,
        lines=encode_padded(w, target_bytes),
        subagents=tuple(subagents),
        tool_results=tuple(tool_results),
    )


def _scan_back(lines: Sequence[bytes]) -> Json:
    """Find the latest timestamp, last main-chain uuid, version, model and cost state."""
    found: Json = {}
    for raw in reversed(lines):
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            continue
        if rec.get("type") == "cost-state":
            found.setdefault("cost", rec)
        if isinstance(rec.get("timestamp"), str):
            found.setdefault("ts", rec["timestamp"])
        if rec.get("version"):
            found.setdefault("version", rec["version"])
        main_chain = rec.get("type") in ("user", "assistant") and not rec.get("isSidechain")
        if main_chain and "uuid" in rec:
            found.setdefault("parent", rec["uuid"])
            found.setdefault("branch", rec.get("gitBranch", "main"))
        message = rec.get("message")
        if rec.get("type") == "assistant" and isinstance(message, dict) and "model" in message:
            found.setdefault("model", message["model"])
        if {"ts", "version", "parent", "model"} <= found.keys():
            break
    return found


def continue_session(
    rng: random.Random,
    spec: SessionSpec,
    *,
    turns: int = 2,
    start: datetime.datetime | None = None,
) -> SessionSpec:
    """Append turns as ``claude --resume`` does: the old lines stay a byte prefix."""
    found = _scan_back(spec.lines)
    last_ms = parse_ms(found["ts"]) if "ts" in found else to_ms(_DEFAULT_START)
    if start is None:
        now = last_ms + rng.randint(60_000, 3 * 86_400_000)
    else:
        now = to_ms(start)
        if now <= last_ms:
            raise ValueError(f"start must be after the session's last timestamp {found.get('ts')}")
    w = Writer(
        rng,
        spec.session_id,
        spec.cwd,
        str(found.get("version", "2.1.328")),
        now_ms=now,
        parent=found.get("parent"),
        model=str(found.get("model", rng.choice(MODELS))),
        branch=str(found.get("branch", "main")),
    )
    play_turns(w, max(turns, 1))
    w.tail(found.get("cost"))
    return attrs.evolve(spec, lines=spec.lines + tuple(dumps(r) for r in w.records))
