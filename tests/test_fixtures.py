"""Tests for the realistic session generator in ``session_sync.testing.sessions``."""

from __future__ import annotations

import datetime
import itertools
import json
import os
import pathlib
import random
import re
import stat
import sys
import time
from typing import Any

import pytest

from session_sync.testing.sessions import (
    SessionSpec,
    continue_session,
    encode_dir_name,
    make_session,
    session_bytes,
    write_live_marker,
    write_session,
)

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CWD = "/home/me/src/my_app"


def _records(lines: tuple[bytes, ...]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        assert b"\n" not in line
        rec = json.loads(line)
        assert isinstance(rec, dict)
        out.append(rec)
    return out


def _timestamps(lines: tuple[bytes, ...]) -> list[str]:
    return [r["timestamp"] for r in _records(lines) if "timestamp" in r]


def _assert_increasing(stamps: list[str]) -> None:
    assert stamps
    for ts in stamps:
        assert TS_RE.match(ts), ts
    assert all(a < b for a, b in itertools.pairwise(stamps)), stamps


@pytest.fixture
def spec() -> SessionSpec:
    return make_session(random.Random(7), CWD, with_subagent=True, with_tool_result=True)


def test_every_line_is_json(spec: SessionSpec) -> None:
    data = session_bytes(spec)
    assert data.endswith(b"\n")
    assert data.split(b"\n")[:-1] == list(spec.lines)
    _records(spec.lines)
    for _, lines in spec.subagents:
        _records(lines)


def test_raw_line_separators_present(spec: SessionSpec) -> None:
    data = session_bytes(spec)
    assert "\u2028".encode() in data
    assert "\u2029".encode() in data
    assert b"\\u2028" not in data
    # str.splitlines() would cut these lines: the fixture really exercises that trap.
    assert len(data.decode().splitlines()) > len(spec.lines)


def test_line_shapes(spec: SessionSpec) -> None:
    recs = _records(spec.lines)
    assert recs[0]["type"] == "queue-operation"
    assert "cwd" not in recs[0]
    assert recs[-2]["type"] == "last-prompt"
    assert recs[-1]["type"] == "cost-state"
    assert "timestamp" not in recs[-2]
    assert "timestamp" not in recs[-1]
    snaps = [r for r in recs if r["type"] == "file-history-snapshot"]
    assert len(snaps) == 1
    assert "timestamp" not in snaps[0]
    assert TS_RE.match(snaps[0]["snapshot"]["timestamp"])
    chat = [r for r in recs if r["type"] in ("user", "assistant")]
    assert [r["type"] for r in chat] == ["user", "assistant"] * (len(chat) // 2)
    parent = None
    for r in chat:
        assert r["parentUuid"] == parent
        assert r["sessionId"] == spec.session_id
        assert r["cwd"] == CWD
        assert r["version"] == "2.1.328"
        assert "message" in r
        parent = r["uuid"]
    assert len({r["uuid"] for r in chat}) == len(chat)


def test_timestamps_strictly_increase(spec: SessionSpec) -> None:
    _assert_increasing(_timestamps(spec.lines))
    for _, lines in spec.subagents:
        _assert_increasing(_timestamps(lines))


def test_start_is_honoured() -> None:
    start = datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)
    s = make_session(random.Random(1), CWD, start=start, turns=2)
    assert _timestamps(s.lines)[0] == "2026-01-02T03:04:05.678Z"


def test_subagent_and_tool_result_referenced(spec: SessionSpec) -> None:
    data = session_bytes(spec).decode()
    ((agent_id, sub_lines),) = spec.subagents
    assert f'"agentId":"{agent_id}"' in data
    for r in _records(sub_lines):
        assert r["isSidechain"] is True
        assert r["sessionId"] == spec.session_id
    ((name, content),) = spec.tool_results
    assert name.startswith("toolu_")
    assert name.endswith(".txt")
    assert len(content) > 2000
    assert f"/{spec.session_id}/tool-results/{name}" in data


def test_continue_session_appends(spec: SessionSpec) -> None:
    more = continue_session(random.Random(8), spec, turns=3)
    old, new = session_bytes(spec), session_bytes(more)
    assert new.startswith(old)
    assert len(new) > len(old)
    assert more.session_id == spec.session_id
    assert more.subagents == spec.subagents
    recs = _records(more.lines)
    assert recs[-2]["type"] == "last-prompt"
    assert recs[-1]["type"] == "cost-state"
    _assert_increasing(_timestamps(more.lines))
    added = recs[len(spec.lines) :]
    first = next(r for r in added if r["type"] == "user")
    last_old = next(r for r in reversed(_records(spec.lines)) if r["type"] == "assistant")
    assert first["parentUuid"] == last_old["uuid"]
    assert recs[-1]["totalCostUSD"] > _records(spec.lines)[-1]["totalCostUSD"]


def test_continue_session_rejects_earlier_start(spec: SessionSpec) -> None:
    with pytest.raises(ValueError, match="start"):
        continue_session(random.Random(1), spec, start=datetime.datetime(2020, 1, 1))


def test_write_session_modes_and_mtime(tmp_path: pathlib.Path, spec: SessionSpec) -> None:
    config = tmp_path / "claude"
    mtime = 1_790_000_000.0
    tail = b'{"parentUuid":"x","type":"assist'
    path = write_session(config, spec, mtime=mtime, partial_tail=tail)
    project = config / "projects" / "-home-me-src-my-app"
    assert path == project / f"{spec.session_id}.jsonl"
    assert path.read_bytes() == session_bytes(spec) + tail

    def mode(p: pathlib.Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    ((agent_id, _),) = spec.subagents
    ((name, content),) = spec.tool_results
    sub = project / spec.session_id / "subagents"
    files = {
        path: 0o600,
        sub / f"agent-{agent_id}.jsonl": 0o600,
        sub / f"agent-{agent_id}.meta.json": 0o644,
        project / spec.session_id / "tool-results" / name: 0o644,
    }
    for f, want in files.items():
        assert mode(f) == want, f
        assert f.stat().st_mtime == mtime, f
    for d in (project, project / spec.session_id, sub, sub.parent / "tool-results"):
        assert mode(d) == 0o700, d
    assert json.loads((sub / f"agent-{agent_id}.meta.json").read_bytes())["agentType"]
    assert (project / spec.session_id / "tool-results" / name).read_bytes() == content


def test_write_session_custom_dir_no_extras(tmp_path: pathlib.Path) -> None:
    s = make_session(random.Random(3), "/workspaces/repo", turns=2)
    path = write_session(tmp_path, s, project_dir_name="-custom")
    assert path.parent == tmp_path / "projects" / "-custom"
    assert not (path.parent / s.session_id).exists()
    assert path.read_bytes() == session_bytes(s)


def test_target_bytes_pads_over_many_lines() -> None:
    s = make_session(random.Random(5), CWD, target_bytes=5_000_000)
    data = session_bytes(s)
    assert len(data) >= 5_000_000
    assert max(map(len, s.lines)) < 1_000_000  # spread over many lines, like real sessions
    recs = _records(s.lines)
    assert recs[-1]["type"] == "cost-state"
    _assert_increasing(_timestamps(s.lines))


def test_deterministic() -> None:
    def build(seed: int) -> tuple[bytes, SessionSpec]:
        rng = random.Random(seed)
        s = make_session(rng, CWD, with_subagent=True, with_tool_result=True, target_bytes=200_000)
        s = continue_session(rng, s)
        return session_bytes(s), s

    a, sa = build(42)
    b, sb = build(42)
    assert a == b
    assert sa == sb
    assert build(43)[0] != a


def test_encode_dir_name() -> None:
    assert encode_dir_name("/Users/me/.config/my_app") == "-Users-me--config-my-app"
    assert encode_dir_name("/workspaces/repo") == "-workspaces-repo"
    assert encode_dir_name("C:\\git\\x") == "C--git-x"
    assert encode_dir_name("/a/café") == "-a-caf-"
    assert encode_dir_name("/a😀b") == "-a--b"  # non-BMP: two UTF-16 code units
    long = encode_dir_name("/x" * 150)
    assert long.startswith(("-x" * 150)[:200] + "-")


def test_write_live_marker(tmp_path: pathlib.Path) -> None:
    pid = os.getpid()
    path = write_live_marker(tmp_path, "abc", CWD, pid)
    assert path == tmp_path / "sessions" / f"{pid}.json"
    data = json.loads(path.read_bytes())
    assert data["pid"] == pid
    assert data["sessionId"] == "abc"
    assert data["cwd"] == CWD
    assert data["kind"] == "interactive"
    assert isinstance(data["startedAt"], int)
    assert abs(data["startedAt"] - time.time() * 1000) < 60_000
    assert isinstance(data["procStart"], str)
    if sys.platform.startswith("linux"):
        stat_text = pathlib.Path(f"/proc/{pid}/stat").read_text()
        assert data["procStart"] == stat_text.rsplit(")", 1)[1].split()[19]
        assert data["procStart"] != "0"
    gone = write_live_marker(tmp_path, "abc", CWD, 2**22 + 12345)
    assert json.loads(gone.read_bytes())["procStart"] == "0"


def test_home_untouched(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    s = make_session(random.Random(9), CWD, with_subagent=True, with_tool_result=True)
    write_session(tmp_path / "cfg", s)
    assert not (tmp_path / "home").exists()
