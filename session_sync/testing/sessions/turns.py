"""The turns a generated session is made of, and the padding to a target size.

A plain exchange, a Bash or Read tool call, a tool result too large for the
transcript (saved under ``tool-results/``) and a ``Task`` subagent with its own
sidechain transcript; each appends its records to a ``Writer``.
"""

from __future__ import annotations

import math

from session_sync.testing.sessions.records import Writer, dumps
from session_sync.testing.sessions.spec import encode_dir_name
from session_sync.testing.sessions.text import COMMANDS, FILES, PROMPTS, SENTENCES, filler

__all__ = [
    "encode_padded",
    "persisted_tool_turn",
    "play_turns",
    "simple_tool_turn",
    "subagent_turn",
]


def _join(cwd: str, rel: str) -> str:
    return cwd.rstrip("/") + "/" + rel


def simple_tool_turn(w: Writer) -> None:
    """A ``Bash`` or a ``Read`` call and its result (one line each)."""
    rng = w.rng
    if rng.random() < 0.5:
        cmd, desc = rng.choice(COMMANDS)
        out = f"$ {cmd}\n" + "\n".join(f"ok {i}: {rng.choice(SENTENCES)}" for i in range(3))
        tid = w.tool_call("Bash", {"command": cmd, "description": desc}, rng.choice(SENTENCES))
        w.user_tool_result(
            tid, out, {"stdout": out, "stderr": "", "interrupted": False, "isImage": False}
        )
    else:
        path = _join(w.cwd, rng.choice(FILES))
        body = "\n".join(f"{i:>6}\u2192{rng.choice(SENTENCES)}" for i in range(1, 6))
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


def persisted_tool_turn(w: Writer, home: str) -> tuple[str, bytes]:
    """A test run whose output is saved aside: returns the tool-result file (name, content)."""
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


def subagent_turn(w: Writer) -> tuple[str, tuple[bytes, ...]]:
    """A ``Task`` call answered by a subagent: returns its (agent id, transcript lines)."""
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
    sub = Writer(
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
    return agent_id, tuple(dumps(r) for r in sub.records)


def play_turns(w: Writer, turns: int) -> None:
    """``turns`` prompts, each answered by a reply, half of them after a tool call."""
    rng = w.rng
    for _ in range(turns):
        w.user_prompt(rng.choice(PROMPTS))
        if rng.random() < 0.5:
            simple_tool_turn(w)
        w.reply(rng.randint(2, 6))


def encode_padded(w: Writer, target_bytes: int | None) -> tuple[bytes, ...]:
    """Encode records; if short of ``target_bytes``, grow the assistant replies evenly."""
    lines = [dumps(r) for r in w.records]
    if target_bytes is None or not w.pad_targets:
        return tuple(lines)
    deficit = target_bytes - (sum(map(len, lines)) + len(lines))
    if deficit <= 0:
        return tuple(lines)
    per = math.ceil(deficit / len(w.pad_targets))
    window = 4096
    pad = filler(w.rng, per + window)
    index = {id(r): i for i, r in enumerate(w.records)}
    for rec in w.pad_targets:
        off = w.rng.randrange(window)
        block = rec["message"]["content"][0]
        block["text"] = block["text"] + "\n\n" + pad[off : off + per]
        lines[index[id(rec)]] = dumps(rec)
    return tuple(lines)
