"""Sessions that did work, for the handoff tests: a generated session (the
realistic generator of ``session_sync.testing.sessions``) with Edit/Write/
TodoWrite calls and a last prompt put in before its closing lines, shaped as
the client writes them."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

import attrs

from session_sync.testing.sessions import SessionSpec, make_session

__all__ = ["worked_session"]


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def worked_session(
    rng: random.Random,
    cwd: str,
    *,
    edits: Sequence[tuple[str, str]] = (),
    todos: Sequence[tuple[str, str]] = (),
    last_prompt: str | None = None,
    last_text: str | None = None,
    turns: int = 3,
) -> SessionSpec:
    """A session in ``cwd`` whose tool calls edited ``edits`` ((tool, path)),
    whose last TodoWrite holds ``todos`` ((content, status)), then a last
    prompt and reply. Timestamps follow the generated ones."""
    spec = make_session(rng, cwd, turns=turns)
    body, tail = list(spec.lines[:-2]), list(spec.lines[-2:])
    last = json.loads(next(line for line in reversed(body) if b'"timestamp"' in line))
    stamp = last["timestamp"]
    envelope = {k: last[k] for k in ("cwd", "sessionId", "version", "gitBranch") if k in last}
    parent = last.get("uuid")
    counter = [0]

    def add(kind: str, message: dict[str, Any], **extra: Any) -> None:
        nonlocal parent, stamp
        counter[0] += 1
        # A second later each: the timestamp's milliseconds stay as the client writes them.
        head, _, ms = stamp.rpartition(".")
        seconds = int(head[-2:]) + 1
        stamp = f"{head[:-2]}{seconds % 60:02d}.{ms}" if seconds < 60 else stamp
        uuid = f"{rng.getrandbits(128):032x}"
        uuid = f"{uuid[:8]}-{uuid[8:12]}-4{uuid[13:16]}-a{uuid[17:20]}-{uuid[20:32]}"
        rec = {
            "parentUuid": parent,
            "isSidechain": False,
            "userType": "external",
            **envelope,
            "type": kind,
            "message": message,
            "uuid": uuid,
            "timestamp": stamp,
            **extra,
        }
        parent = uuid
        body.append(_line(rec))

    for i, (tool, path) in enumerate(edits):
        tool_id = f"toolu_01edit{i:014d}"
        key = "notebook_path" if tool == "NotebookEdit" else "file_path"
        inp: dict[str, Any] = {key: path}
        inp.update(
            {"content": "x\n"} if tool == "Write" else {"old_string": "a", "new_string": "b"}
        )
        add(
            "assistant",
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": tool_id, "name": tool, "input": inp}],
            },
        )
        add(
            "user",
            {
                "role": "user",
                "content": [{"tool_use_id": tool_id, "type": "tool_result", "content": "ok"}],
            },
            toolUseResult={"filePath": path},
        )
    if todos:
        items = [{"content": c, "status": s, "activeForm": c} for c, s in todos]
        add(
            "assistant",
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_01todo",
                        "name": "TodoWrite",
                        "input": {"todos": items},
                    }
                ],
            },
        )
    if last_prompt is not None:
        add("user", {"role": "user", "content": last_prompt}, permissionMode="default")
    if last_text is not None:
        add("assistant", {"role": "assistant", "content": [{"type": "text", "text": last_text}]})
    if last_prompt is not None:
        tail[0] = _line(
            {"type": "last-prompt", "lastPrompt": last_prompt, "sessionId": spec.session_id}
        )
    return attrs.evolve(spec, lines=tuple(body + tail))
