"""The transcript record writer: ``Writer`` and the JSON, clock and id helpers it uses.

A ``Writer`` appends records as the real client does, keeping the clock, the
``parentUuid`` chain and the running cost totals; every random choice comes
from its ``rng``.
"""

from __future__ import annotations

import datetime
import json
import random
import string
import uuid
from typing import Any

from session_sync.testing.sessions.text import SENTENCES

__all__ = [
    "Json",
    "Writer",
    "b62",
    "dumps",
    "fmt_ms",
    "parse_ms",
    "to_ms",
    "uuid4",
]

Json = dict[str, Any]

_UTC = datetime.timezone.utc
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S"
_BASE62 = string.digits + string.ascii_letters


def dumps(obj: Json) -> bytes:
    """One transcript line: compact JSON, UTF-8, non-ASCII kept raw."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def fmt_ms(ms: int) -> str:
    """Milliseconds since the epoch as ``2026-11-01T03:27:26.866Z``."""
    dt = _EPOCH + datetime.timedelta(milliseconds=ms)
    return f"{dt.strftime(_TS_FORMAT)}.{ms % 1000:03d}Z"


def to_ms(dt: datetime.datetime) -> int:
    """Milliseconds since the epoch (a naive ``dt`` is taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_UTC)
    return (dt - _EPOCH) // datetime.timedelta(milliseconds=1)


def parse_ms(ts: str) -> int:
    """The inverse of ``fmt_ms``."""
    dt = datetime.datetime.strptime(ts, _TS_FORMAT + ".%fZ").replace(tzinfo=_UTC)
    return to_ms(dt)


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng``."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def b62(rng: random.Random, n: int) -> str:
    """``n`` random base-62 characters (message and request ids)."""
    return "".join(rng.choices(_BASE62, k=n))


class Writer:
    """Appends transcript records, keeping the clock, parent chain and cost totals."""

    def __init__(
        self,
        rng: random.Random,
        session_id: str,
        cwd: str,
        version: str,
        *,
        now_ms: int,
        parent: str | None,
        model: str,
        branch: str,
        agent_id: str | None = None,
    ) -> None:
        self.rng = rng
        self.session_id = session_id
        self.cwd = cwd
        self.version = version
        self.now = now_ms
        self.parent = parent
        self.model = model
        self.branch = branch
        self.agent_id = agent_id
        self.records: list[Json] = []
        self.pad_targets: list[Json] = []
        self.cost = 0.0
        self.api_ms = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.last_prompt = ""
        self._fresh = True

    def tick(self, lo_ms: int, hi_ms: int) -> str:
        """Advance the clock (not before the very first line) and return the timestamp."""
        if self._fresh:
            self._fresh = False
        else:
            self.now += self.rng.randint(max(lo_ms, 1), max(hi_ms, 1))
        return fmt_ms(self.now)

    def add(self, rec: Json) -> Json:
        self.records.append(rec)
        return rec

    def _envelope(self, kind: str) -> Json:
        rec: Json = {
            "parentUuid": self.parent,
            "isSidechain": self.agent_id is not None,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "version": self.version,
            "gitBranch": self.branch,
        }
        if self.agent_id is not None:
            rec["agentId"] = self.agent_id
        rec["type"] = kind
        return rec

    def _finish(self, rec: Json, ts: str) -> Json:
        rec["uuid"] = uuid4(self.rng)
        rec["timestamp"] = ts
        self.parent = rec["uuid"]
        return self.add(rec)

    def user_prompt(self, text: str, *, lo_ms: int = 20_000, hi_ms: int = 300_000) -> Json:
        ts = self.tick(lo_ms, hi_ms)
        rec = self._envelope("user")
        rec["message"] = {"role": "user", "content": text}
        self._finish(rec, ts)
        rec["permissionMode"] = "default"
        self.last_prompt = text
        return rec

    def user_tool_result(self, tool_id: str, content: Any, result: Json) -> Json:
        ts = self.tick(80, 6_000)
        rec = self._envelope("user")
        rec["message"] = {
            "role": "user",
            "content": [{"tool_use_id": tool_id, "type": "tool_result", "content": content}],
        }
        self._finish(rec, ts)
        rec["toolUseResult"] = result
        return rec

    def assistant(self, blocks: list[Json], *, stop: str) -> Json:
        ts = self.tick(900, 40_000)
        rng = self.rng
        tin, tout = rng.randint(3, 900), rng.randint(20, 1_800)
        cache_read = rng.randint(10_000, 90_000)
        self.tokens_in += tin + cache_read
        self.tokens_out += tout
        self.cost += round((tin * 3 + tout * 15 + cache_read * 0.3) / 1e6, 6)
        self.api_ms += rng.randint(800, 30_000)
        rec = self._envelope("assistant")
        rec["message"] = {
            "model": self.model,
            "id": "msg_01" + b62(rng, 22),
            "type": "message",
            "role": "assistant",
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": tin,
                "cache_creation_input_tokens": rng.randint(0, 4_000),
                "cache_read_input_tokens": cache_read,
                "output_tokens": tout,
                "service_tier": "standard",
            },
        }
        rec["requestId"] = "req_011C" + b62(rng, 20)
        return self._finish(rec, ts)

    def reply(self, n_sentences: int, extra: str = "") -> Json:
        parts = [self.rng.choice(SENTENCES) for _ in range(n_sentences)]
        text = " ".join(parts) + (" " + extra if extra else "")
        rec = self.assistant([{"type": "text", "text": text}], stop="end_turn")
        self.pad_targets.append(rec)
        return rec

    def tool_call(self, name: str, inp: Json, text: str | None = None) -> str:
        tool_id = "toolu_01" + b62(self.rng, 22)
        blocks: list[Json] = []
        if text is not None:
            blocks.append({"type": "text", "text": text})
        blocks.append({"type": "tool_use", "id": tool_id, "name": name, "input": inp})
        self.assistant(blocks, stop="tool_use")
        return tool_id

    def tail(self, cost_base: Json | None = None) -> None:
        """The two timestamp-less lines every 2.1.328 session ends with."""
        base = cost_base or {}
        sid = self.session_id
        self.add({"type": "last-prompt", "lastPrompt": self.last_prompt, "sessionId": sid})
        self.add(
            {
                "type": "cost-state",
                "sessionId": sid,
                "totalCostUSD": round(float(base.get("totalCostUSD", 0.0)) + self.cost, 6),
                "totalAPIDurationMs": int(base.get("totalAPIDurationMs", 0)) + self.api_ms,
                "totalInputTokens": int(base.get("totalInputTokens", 0)) + self.tokens_in,
                "totalOutputTokens": int(base.get("totalOutputTokens", 0)) + self.tokens_out,
                "lastModel": self.model,
            }
        )
