"""Deterministic generator of realistic Claude Code session files.

Used by ``session-sync demo``, the test suite and the benchmarks. Everything is
derived from the ``random.Random`` passed in, so the same seed gives the same
bytes. Nothing here reads or writes the real ``~/.claude``: callers always pass
the config directory explicitly.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import pathlib
import random
import string
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

import attrs

__all__ = [
    "SessionSpec",
    "continue_session",
    "encode_dir_name",
    "make_session",
    "session_bytes",
    "write_live_marker",
    "write_session",
]

Json = dict[str, Any]

_UTC = datetime.timezone.utc
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
_DEFAULT_START = datetime.datetime(2026, 11, 1, tzinfo=_UTC)
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S"
_BASE62 = string.digits + string.ascii_letters
# Above this, make_session adds turns instead of growing single lines further.
_MAX_PAD_PER_LINE = 256 * 1024
_MODELS = ("claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")
_BRANCHES = ("main", "main", "dev", "feature/codespaces", "fix/mtime")

_PROMPTS = (
    "Why does the sync skip sessions whose last line has no timestamp?",
    "Add a --dry-run flag to the push command and show what would be copied.",
    "The tests fail on macOS with 'Operation not permitted' — can you look?",
    "Refactor the SSH transport so it streams bytes instead of text.",
    "Résumé du plan : qu'est-ce qui reste avant la 0.2 ? ✅",
    "请检查一下 codespace 的路径编码是否正确。",
    "Rename `encode_path` to `encode_dir_name` everywhere and fix the imports.",
    "Explain why `str.splitlines()` breaks on U+2028 and how we avoid it.",
    "Write a benchmark for 500 sessions of about 50 KB each.",
    "Make the progress bar quieter when stdout isn't a TTY.",
    "Können wir die Größe der Datei vor dem Kopieren prüfen? 🤔",
    "continue",
)

_SENTENCES = (
    "I'll start by reading the module that handles the transfer.",
    "The failing case is a session whose final line is `cost-state`, which has no timestamp.",
    'Splitting on b"\\n" only keeps U+2028 and U+2029 inside JSON strings intact.',
    "I've updated the function and added a regression test for it.",
    "Voilà — the café's naïve façade now renders correctly.",
    "日本語のテキストも正しく保存されます。",
    "This keeps the copy byte-identical, so `claude --resume` picks it up on the other machine.",
    "The mode bits are preserved: 0600 for transcripts, 0644 for metadata.",
    "Nothing else in the codebase depends on the old name. 🚀",
    "Let me run the test suite to confirm.",
    "All 42 tests pass now ✔ and mypy is clean.",
    "Ümlauts, ñ and ß survive the round trip.",
)

# Always present in the first reply so every session carries raw separators.
_SEPARATOR_TEXT = (
    "Here is the tricky part:\u2028a LINE SEPARATOR sits right here,\u2029then a "
    "PARAGRAPH SEPARATOR, and a NEL\u0085too. Naive `splitlines()` would cut this "
    "line in three 🧵."
)

_COMMANDS = (
    ("uv run pytest -q", "Run the test suite"),
    ("git status --short", "Show working tree status"),
    ("ls -la session_sync", "List package files"),
    ("uv run mypy --strict session_sync", "Type-check the package"),
    ("rg -n 'splitlines' session_sync", "Search for splitlines calls"),
)

_FILES = ("session_sync/cli.py", "session_sync/transport.py", "README.md", "pyproject.toml")

_FILLER_WORDS = (
    "the", "session", "transcript", "is", "appended", "line", "by", "while", "client",
    "runs", "and", "each", "carries", "a", "uuid", "parent", "timestamp", "so", "picker",
    "can", "sort", "conversations", "their", "most", "recent", "activity", "sync", "engine",
    "compares", "byte", "prefixes", "hashes", "sizes", "modification", "times", "before",
    "it", "decides", "which", "copy", "wins",
)  # fmt: skip


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


def _dumps(obj: Json) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _fmt_ms(ms: int) -> str:
    dt = _EPOCH + datetime.timedelta(milliseconds=ms)
    return f"{dt.strftime(_TS_FORMAT)}.{ms % 1000:03d}Z"


def _to_ms(dt: datetime.datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_UTC)
    return (dt - _EPOCH) // datetime.timedelta(milliseconds=1)


def _parse_ms(ts: str) -> int:
    dt = datetime.datetime.strptime(ts, _TS_FORMAT + ".%fZ").replace(tzinfo=_UTC)
    return _to_ms(dt)


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _b62(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(_BASE62, k=n))


def _guess_home(cwd: str) -> str:
    parts = cwd.split("/")
    if len(parts) >= 3 and parts[1] in ("home", "Users"):
        return "/".join(parts[:3])
    if parts[1:2] == ["workspaces"]:
        return "/home/codespace"
    return "/root"


def _join(cwd: str, rel: str) -> str:
    return cwd.rstrip("/") + "/" + rel


def _filler(rng: random.Random, n: int) -> str:
    """ASCII prose of exactly ``n`` chars, built from one repeated paragraph (fast)."""
    para = " ".join(rng.choice(_FILLER_WORDS) for _ in range(600)) + ".\n\n"
    return (para * (n // len(para) + 1))[:n]


class _Writer:
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
        return _fmt_ms(self.now)

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
        rec["uuid"] = _uuid4(self.rng)
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
            "id": "msg_01" + _b62(rng, 22),
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
        rec["requestId"] = "req_011C" + _b62(rng, 20)
        return self._finish(rec, ts)

    def reply(self, n_sentences: int, extra: str = "") -> Json:
        parts = [self.rng.choice(_SENTENCES) for _ in range(n_sentences)]
        text = " ".join(parts) + (" " + extra if extra else "")
        rec = self.assistant([{"type": "text", "text": text}], stop="end_turn")
        self.pad_targets.append(rec)
        return rec

    def tool_call(self, name: str, inp: Json, text: str | None = None) -> str:
        tool_id = "toolu_01" + _b62(self.rng, 22)
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


def _simple_tool_turn(w: _Writer) -> None:
    rng = w.rng
    if rng.random() < 0.5:
        cmd, desc = rng.choice(_COMMANDS)
        out = f"$ {cmd}\n" + "\n".join(f"ok {i}: {rng.choice(_SENTENCES)}" for i in range(3))
        tid = w.tool_call("Bash", {"command": cmd, "description": desc}, rng.choice(_SENTENCES))
        w.user_tool_result(
            tid, out, {"stdout": out, "stderr": "", "interrupted": False, "isImage": False}
        )
    else:
        path = _join(w.cwd, rng.choice(_FILES))
        body = "\n".join(f"{i:>6}\u2192{rng.choice(_SENTENCES)}" for i in range(1, 6))
        tid = w.tool_call("Read", {"file_path": path})
        w.user_tool_result(
            tid,
            body,
            {
                "type": "text",
                "file": {
                    "filePath": path,
                    "content": body,
                    "numLines": 5,
                    "startLine": 1,
                    "totalLines": 5,
                },
            },
        )


def _persisted_tool_turn(w: _Writer, home: str) -> tuple[str, bytes]:
    rng = w.rng
    cmd = "uv run pytest -v"
    tid = w.tool_call("Bash", {"command": cmd, "description": "Run the full test suite verbosely"})
    name = f"{tid}.txt"
    row = "tests/test_sync.py::test_case_{:04d} PASSED{}[{:3d}%]\n"
    n = rng.randint(600, 1_200)
    log = "".join(row.format(i, " " * (30 - len(str(i))), 100 * (i + 1) // n) for i in range(n))
    content = (log + f"\n{'=' * 20} {n} passed in {rng.uniform(3, 40):.2f}s {'=' * 20}\n").encode()
    where = f"{home}/.claude/projects/{encode_dir_name(w.cwd)}/{w.session_id}/tool-results/{name}"
    preview = content[:2000].decode()
    text = (
        f"<persisted-output>\nOutput too large ({len(content) / 1024:.1f}KB). "
        f"Full output saved to: {where}\n\n"
        f"Preview (first 2KB):\n{preview}\n...\n</persisted-output>"
    )
    w.user_tool_result(
        tid, text, {"stdout": preview, "stderr": "", "interrupted": False, "isImage": False}
    )
    return name, content


def _subagent_turn(w: _Writer) -> tuple[str, tuple[bytes, ...]]:
    rng = w.rng
    agent_id = f"a{rng.getrandbits(64):016x}"
    prompt = "Find every place that splits transcript lines and report which ones use splitlines()."
    tid = w.tool_call(
        "Task",
        {
            "description": "Audit line splitting",
            "prompt": prompt,
            "subagent_type": "general-purpose",
        },
        "I'll delegate the audit to a subagent.",
    )
    sub = _Writer(
        rng,
        w.session_id,
        w.cwd,
        w.version,
        now_ms=w.now + rng.randint(50, 500),
        parent=None,
        model=w.model,
        branch=w.branch,
        agent_id=agent_id,
    )
    sub.user_prompt(prompt)
    gid = sub.tool_call("Grep", {"pattern": "splitlines", "path": w.cwd, "output_mode": "content"})
    hits = f"{_join(w.cwd, 'session_sync/old.py')}:12:    for line in data.splitlines():"
    sub.user_tool_result(gid, hits, {"mode": "content", "numFiles": 1, "content": hits})
    final = sub.reply(2, "One call site uses splitlines() \u2028— it must split on b'\\n'.")
    w.now = sub.now
    answer = final["message"]["content"][0]["text"]
    w.user_tool_result(
        tid,
        [{"type": "text", "text": answer}],
        {
            "status": "completed",
            "prompt": prompt,
            "agentId": agent_id,
            "content": [{"type": "text", "text": answer}],
            "totalDurationMs": rng.randint(4_000, 90_000),
            "totalTokens": sub.tokens_in + sub.tokens_out,
            "totalToolUseCount": 1,
        },
    )
    return agent_id, tuple(_dumps(r) for r in sub.records)


def _play_turns(w: _Writer, turns: int) -> None:
    rng = w.rng
    for _ in range(turns):
        w.user_prompt(rng.choice(_PROMPTS))
        if rng.random() < 0.5:
            _simple_tool_turn(w)
        w.reply(rng.randint(2, 6))


def _encode_padded(w: _Writer, target_bytes: int | None) -> tuple[bytes, ...]:
    """Encode records; if short of ``target_bytes``, grow the assistant replies evenly."""
    lines = [_dumps(r) for r in w.records]
    if target_bytes is None or not w.pad_targets:
        return tuple(lines)
    deficit = target_bytes - (sum(map(len, lines)) + len(lines))
    if deficit <= 0:
        return tuple(lines)
    per = math.ceil(deficit / len(w.pad_targets))
    window = 4096
    pad = _filler(w.rng, per + window)
    index = {id(r): i for i, r in enumerate(w.records)}
    for rec in w.pad_targets:
        off = w.rng.randrange(window)
        block = rec["message"]["content"][0]
        block["text"] = block["text"] + "\n\n" + pad[off : off + per]
        lines[index[id(rec)]] = _dumps(rec)
    return tuple(lines)


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
    session_id = _uuid4(rng)
    if start is None:
        start_ms = _to_ms(_DEFAULT_START) + rng.randrange(20 * 86_400_000)
    else:
        start_ms = _to_ms(start)
    w = _Writer(
        rng,
        session_id,
        cwd,
        version,
        now_ms=start_ms,
        parent=None,
        model=rng.choice(_MODELS),
        branch=rng.choice(_BRANCHES),
    )
    queued = {"type": "queue-operation", "operation": "dequeue", "timestamp": w.tick(0, 0)}
    w.add({**queued, "sessionId": session_id})
    first_prompt = rng.choice(_PROMPTS)
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
    w.reply(rng.randint(2, 5), _SEPARATOR_TEXT)
    w.add({"type": "ai-title", "sessionId": session_id, "aiTitle": first_prompt[:60]})
    subagents: list[tuple[str, tuple[bytes, ...]]] = []
    tool_results: list[tuple[str, bytes]] = []
    special = [k for k, on in (("sub", with_subagent), ("file", with_tool_result)) if on]
    for i in range(1, turns):
        w.user_prompt(rng.choice(_PROMPTS))
        kind = special.pop(0) if special and i >= turns - 1 - len(special) else ""
        if kind == "sub":
            subagents.append(_subagent_turn(w))
        elif kind == "file":
            tool_results.append(_persisted_tool_turn(w, _guess_home(cwd)))
        elif rng.random() < 0.5:
            _simple_tool_turn(w)
        w.reply(rng.randint(2, 6))
    for kind in special:  # too few turns to hold the requested extras: add turns
        w.user_prompt(rng.choice(_PROMPTS))
        if kind == "sub":
            subagents.append(_subagent_turn(w))
        else:
            tool_results.append(_persisted_tool_turn(w, _guess_home(cwd)))
        w.reply(2)
    w.tail()
    return SessionSpec(
        session_id=session_id,
        cwd=cwd,
        lines=_encode_padded(w, target_bytes),
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
    last_ms = _parse_ms(found["ts"]) if "ts" in found else _to_ms(_DEFAULT_START)
    if start is None:
        now = last_ms + rng.randint(60_000, 3 * 86_400_000)
    else:
        now = _to_ms(start)
        if now <= last_ms:
            raise ValueError(f"start must be after the session's last timestamp {found.get('ts')}")
    w = _Writer(
        rng,
        spec.session_id,
        spec.cwd,
        str(found.get("version", "2.1.328")),
        now_ms=now,
        parent=found.get("parent"),
        model=str(found.get("model", rng.choice(_MODELS))),
        branch=str(found.get("branch", "main")),
    )
    _play_turns(w, max(turns, 1))
    w.tail(found.get("cost"))
    return attrs.evolve(spec, lines=spec.lines + tuple(_dumps(r) for r in w.records))


def session_bytes(spec: SessionSpec) -> bytes:
    """The main ``.jsonl`` file content: every line newline-terminated."""
    return b"\n".join(spec.lines) + b"\n"


def _mkdir(path: pathlib.Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def _write_file(path: pathlib.Path, data: bytes, mode: int, mtime: float | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    path.chmod(mode)  # exact mode, whatever the umask
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def write_session(
    config_dir: pathlib.Path,
    spec: SessionSpec,
    *,
    project_dir_name: str | None = None,
    mtime: float | None = None,
    partial_tail: bytes = b"",
) -> pathlib.Path:
    """Write the session (and its subagents / tool results) under ``config_dir/projects``."""
    if not config_dir.exists():
        _mkdir(config_dir)
    projects = config_dir / "projects"
    if not projects.exists():
        _mkdir(projects)
    project = projects / (project_dir_name or encode_dir_name(spec.cwd))
    _mkdir(project)
    main = project / f"{spec.session_id}.jsonl"
    _write_file(main, session_bytes(spec) + partial_tail, 0o600, mtime)
    if spec.subagents:
        sub_dir = project / spec.session_id / "subagents"
        _mkdir(sub_dir.parent)
        _mkdir(sub_dir)
        for agent_id, lines in spec.subagents:
            data = b"\n".join(lines) + b"\n"
            _write_file(sub_dir / f"agent-{agent_id}.jsonl", data, 0o600, mtime)
            meta = _dumps({"agentType": "general-purpose"})
            _write_file(sub_dir / f"agent-{agent_id}.meta.json", meta, 0o644, mtime)
    if spec.tool_results:
        res_dir = project / spec.session_id / "tool-results"
        _mkdir(res_dir.parent)
        _mkdir(res_dir)
        for name, content in spec.tool_results:
            _write_file(res_dir / name, content, 0o644, mtime)
    return main


def _proc_start(pid: int) -> str:
    """Field 22 (starttime) of /proc/<pid>/stat, or "0" where unavailable."""
    if not sys.platform.startswith("linux"):
        return "0"
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    # comm (field 2) may contain spaces and parentheses: fields resume after the last ')'.
    rest = stat[stat.rfind(")") + 1 :].split()
    return rest[19] if len(rest) > 19 else "0"


def write_live_marker(
    config_dir: pathlib.Path, session_id: str, cwd: str, pid: int
) -> pathlib.Path:
    """Write ``<config_dir>/sessions/<pid>.json``, the marker of a running Claude process."""
    sessions = config_dir / "sessions"
    _mkdir(sessions)
    marker = {
        "pid": pid,
        "sessionId": session_id,
        "cwd": cwd,
        "startedAt": int(time.time() * 1000),
        "procStart": _proc_start(pid),
        "kind": "interactive",
    }
    path = sessions / f"{pid}.json"
    _write_file(path, _dumps(marker), 0o600, None)
    return path
