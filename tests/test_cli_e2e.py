"""End to end: ``session-sync`` between two Claude config dirs on this machine.

Every test builds real session files with the realistic generator, runs the
command (in-process through ``cli.app.main``, or as a real process), and checks
the bytes, modes and mtimes on disk and the ``--json`` report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import (
    HASH_CACHE,
    CliResult,
    Machines,
    RunCli,
    RunSubprocess,
    changed_but_the_hash_cache,
    session_files,
    set_mtime,
    snapshot_tree,
    temp_files,
    write_old,
)

from session_sync.agent.paths import encode_project_path
from session_sync.model.forks import fork_session_id
from session_sync.testing.sessions import (
    SessionSpec,
    continue_session,
    make_session,
    session_bytes,
    write_live_marker,
    write_session,
)

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
"""Start of the sessions whose timing matters (the generator's turns last minutes)."""

Json = dict[str, Any]


# ---------------------------------------------------------------- helpers


def sync(run_cli: RunCli, m: Machines, *extra: str, expect_code: int = 0) -> Json:
    """``session-sync sync --dir B --local-path P --json EXTRA``; the report."""
    result = run_cli(*m.sync_args(*extra))
    assert result.code == expect_code, result
    return result.json()


def items_of(report: Json, file: str) -> list[Json]:
    return [i for i in report["items"] if i["file"] == file]


def item_of(report: Json, file: str) -> Json:
    """The one item about ``file``."""
    found = items_of(report, file)
    assert len(found) == 1, (file, report["items"])
    return found[0]


def jsonl(spec: SessionSpec) -> str:
    return f"{spec.session_id}.jsonl"


def new_session(m: Machines, seed: int, **kw: Any) -> SessionSpec:
    return make_session(random.Random(seed), str(m.project), **kw)


def last_timestamp(spec: SessionSpec) -> dt.datetime:
    """The latest ``timestamp`` of the transcript (computed here, independently)."""
    stamps = []
    for line in spec.lines:
        obj = json.loads(line)
        if isinstance(obj.get("timestamp"), str):
            stamps.append(dt.datetime.fromisoformat(obj["timestamp"].replace("Z", "+00:00")))
    return max(stamps)


def diverged_pair(
    m: Machines, seed: int, *, newer_turns: int = 1, older_turns: int = 1
) -> tuple[SessionSpec, SessionSpec, SessionSpec]:
    """(base, older, newer): both continued from ``base``; ``newer`` has the later last message."""
    base = new_session(m, seed, turns=3, start=T0)
    older = continue_session(
        random.Random(seed + 1), base, turns=older_turns, start=T0 + dt.timedelta(hours=2)
    )
    newer = continue_session(
        random.Random(seed + 2), base, turns=newer_turns, start=T0 + dt.timedelta(hours=6)
    )
    assert last_timestamp(newer) > last_timestamp(older)
    assert not session_bytes(newer).startswith(session_bytes(older))
    assert not session_bytes(older).startswith(session_bytes(newer))
    return base, older, newer


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def session_tree(config: Path, m: Machines, session_id: str) -> dict[str, Path]:
    """``{rel: path}`` of a session's transcript and every file under ``<uuid>/``."""
    root = m.project_dir(config)
    out = {f"{session_id}.jsonl": root / f"{session_id}.jsonl"}
    sub = root / session_id
    if sub.is_dir():
        for path in sorted(sub.rglob("*")):
            if path.is_file():
                out[path.relative_to(root).as_posix()] = path
    return out


def grow_subagent(path: Path, extra_lines: int, seed: int) -> bytes:
    """Append realistic sidechain lines to a subagent transcript; returns the bytes added."""
    rng = random.Random(seed)
    last = json.loads(path.read_bytes().rstrip(b"\n").split(b"\n")[-1])
    moment = dt.datetime.fromisoformat(last["timestamp"].replace("Z", "+00:00"))
    added = b""
    for n in range(extra_lines):
        moment += dt.timedelta(seconds=rng.randint(2, 40))
        rec = dict(last)
        rec["parentUuid"] = rec["uuid"]
        rec["uuid"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        rec["timestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{n:03d}Z"
        rec["message"] = {
            "role": "assistant",
            "type": "message",
            "model": "claude-haiku-4-5-20251001",
            "content": [{"type": "text", "text": f"Follow-up {n}: checked\u2028again ✔"}],
        }
        line = json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        added += line
        last = rec
    with path.open("ab") as fh:
        fh.write(added)
    return added


# ---------------------------------------------------------------- (1) copy


@pytest.mark.parametrize("way", ["push", "pull"])
def test_missing_session_is_copied(machines: Machines, run_cli: RunCli, way: str) -> None:
    m = machines
    src, dst = (m.a, m.b) if way == "push" else (m.b, m.a)
    spec = new_session(m, 1)
    write_old(src, spec)
    data = session_bytes(spec)

    report = sync(run_cli, m)

    assert m.transcript(dst, spec.session_id).read_bytes() == data
    assert m.transcript(src, spec.session_id).read_bytes() == data
    item = item_of(report, jsonl(spec))
    assert (item["action"], item["direction"], item["outcome"]) == ("copy", way, "done")
    other = "pulled" if way == "push" else "pushed"
    assert (report[f"{way}ed"], report[other], report["failed"]) == (1, 0, 0)
    moved = report["bytes_sent"] if way == "push" else report["bytes_received"]
    assert moved == len(data)


# ---------------------------------------------------------------- (2) append


@pytest.mark.parametrize("way", ["push", "pull"])
def test_prefix_gets_only_the_tail(machines: Machines, run_cli: RunCli, way: str) -> None:
    m = machines
    src, dst = (m.a, m.b) if way == "push" else (m.b, m.a)
    spec = new_session(m, 2, target_bytes=1_000_000)
    longer = continue_session(random.Random(3), spec, turns=2)
    write_old(dst, spec, hours=5)
    write_old(src, longer)
    full = session_bytes(longer)
    tail = len(full) - len(session_bytes(spec))
    assert 0 < tail < len(full) // 50

    report = sync(run_cli, m)

    assert m.transcript(dst, spec.session_id).read_bytes() == full
    item = item_of(report, jsonl(spec))
    assert (item["action"], item["direction"], item["outcome"]) == ("append", way, "done")
    assert item["bytes"] == tail
    moved = report["bytes_sent"] if way == "push" else report["bytes_received"]
    unmoved = report["bytes_received"] if way == "push" else report["bytes_sent"]
    assert tail <= moved < 2 * tail
    assert unmoved == 0


# ---------------------------------------------------------------- (3) divergence + backups


@pytest.mark.parametrize("winner", ["a", "b"])
def test_divergence_newer_wins_loser_backed_up_and_restorable(
    machines: Machines, run_cli: RunCli, winner: str
) -> None:
    m = machines
    win_cfg, lose_cfg = (m.a, m.b) if winner == "a" else (m.b, m.a)
    _, older, newer = diverged_pair(m, 10)
    write_old(win_cfg, newer, hours=4)
    loser_path = write_old(lose_cfg, older, hours=2)
    loser_bytes = session_bytes(older)
    loser_mtime = loser_path.stat().st_mtime_ns

    report = sync(run_cli, m)

    assert report["conflicts"] == 1
    item = item_of(report, jsonl(newer))
    way = "push" if winner == "a" else "pull"
    assert (item["action"], item["direction"], item["outcome"]) == ("replace", way, "done")
    assert item["conflict"] is True
    assert "newer last message" in item["reason"]
    for cfg in (m.a, m.b):
        assert m.transcript(cfg, newer.session_id).read_bytes() == session_bytes(newer)

    # The loser's bytes are kept on the loser's side, nowhere else.
    backups_root = lose_cfg / "session-sync" / "backups"
    kept = list(backups_root.glob(f"*/{m.dir_name}/{jsonl(older)}"))
    assert len(kept) == 1
    assert kept[0].read_bytes() == loser_bytes
    assert item["backup"] is not None
    assert Path(item["backup"]).read_bytes() == loser_bytes
    assert not (win_cfg / "session-sync" / "backups").exists()
    set_id = kept[0].relative_to(backups_root).parts[0]

    # `backups list` shows it (the loser is this machine's config dir, or --config-dir).
    where = [] if lose_cfg == m.a else ["--config-dir", str(lose_cfg)]
    listed = run_cli("backups", *where, "--json", "list")
    assert listed.code == 0, listed
    sets = {s["id"]: s for s in listed.json()["backups"]}
    assert set(sets) == {set_id}
    (entry,) = sets[set_id]["entries"]
    assert (entry["dir"], entry["rel"], entry["size"]) == (
        m.dir_name,
        jsonl(older),
        len(loser_bytes),
    )
    human = run_cli("backups", *where, "list")
    assert human.code == 0
    assert set_id in human.out
    assert jsonl(older) in human.out

    # `backups restore SET` puts it back and backs up what it replaces.
    restored = run_cli("backups", *where, "restore", set_id)
    assert restored.code == 0, restored
    target = m.transcript(lose_cfg, older.session_id)
    assert target.read_bytes() == loser_bytes
    assert target.stat().st_mtime_ns == loser_mtime
    assert mode_of(target) == 0o600
    after = run_cli("backups", *where, "--json", "list").json()["backups"]
    new_sets = [s for s in after if s["id"] != set_id]
    assert len(new_sets) == 1
    (undo,) = new_sets[0]["entries"]
    undo_copy = backups_root / new_sets[0]["id"] / undo["dir"] / undo["rel"]
    assert undo_copy.read_bytes() == session_bytes(newer)


# ---------------------------------------------------------------- (4) active sessions


@pytest.mark.parametrize("how", ["mtime", "marker"])
@pytest.mark.parametrize("side", ["a", "b"])
def test_a_session_open_on_the_receiving_side_is_never_written(
    machines: Machines, run_cli: RunCli, side: str, how: str
) -> None:
    """A session open in Claude where the bytes would land is left alone, with a
    reason naming Claude; other sessions go across."""
    m = machines
    here, there = (m.a, m.b) if side == "a" else (m.b, m.a)
    spec = new_session(m, 20)
    if how == "mtime":
        write_session(here, spec, project_dir_name=m.dir_name)  # modified just now
    else:
        write_old(here, spec)
        write_live_marker(here, spec.session_id, str(m.project), os.getpid())
    write_old(there, continue_session(random.Random(21), spec, turns=2))
    control = new_session(m, 22)
    write_old(there, control)
    before_here, before_there = session_files(here), session_files(there)

    report = sync(run_cli, m)

    item = item_of(report, jsonl(spec))
    assert item["action"] == "skip"
    assert item["outcome"] == "skipped"
    assert "Claude" in item["reason"]
    assert item["direction"] == ("pull" if side == "a" else "push")
    assert report["skipped"] == 1
    # The open session is untouched on both sides; the control session went across.
    assert (
        m.transcript(here, spec.session_id).read_bytes()
        == before_here[f"{m.dir_name}/{jsonl(spec)}"]
    )
    assert m.transcript(here, control.session_id).read_bytes() == session_bytes(control)
    assert session_files(there) == before_there


@pytest.mark.parametrize("how", ["mtime", "marker"])
@pytest.mark.parametrize("side", ["a", "b"])
def test_a_session_open_on_the_sending_side_still_sends_its_complete_lines(
    machines: Machines, run_cli: RunCli, side: str, how: str
) -> None:
    """The last turn comes home: a session open (or just written) where it is
    sent from goes across as a copy or an append of its complete lines."""
    m = machines
    here, there = (m.a, m.b) if side == "a" else (m.b, m.a)
    spec = new_session(m, 20)
    longer = continue_session(random.Random(21), spec, turns=2)
    write_old(there, spec)
    if how == "mtime":
        write_session(here, longer, project_dir_name=m.dir_name)  # modified just now
    else:
        write_old(here, longer)
        write_live_marker(here, spec.session_id, str(m.project), os.getpid())
    fresh = new_session(m, 23)
    write_session(here, fresh, project_dir_name=m.dir_name)  # only here, just written

    report = sync(run_cli, m)

    item = item_of(report, jsonl(spec))
    assert (item["action"], item["outcome"]) == ("append", "done")
    assert item["direction"] == ("push" if side == "a" else "pull")
    assert m.transcript(there, spec.session_id).read_bytes() == session_bytes(longer)
    assert item_of(report, jsonl(fresh))["action"] == "copy"
    assert m.transcript(there, fresh.session_id).read_bytes() == session_bytes(fresh)


# ---------------------------------------------------------------- (5) partial last line


def test_partial_last_line_is_not_sent_then_appended_once_complete(
    machines: Machines, run_cli: RunCli
) -> None:
    m = machines
    spec = new_session(m, 30)
    longer = continue_session(random.Random(31), spec, turns=2)
    next_line = longer.lines[len(spec.lines)]
    half = next_line[: len(next_line) // 2]
    write_old(m.a, spec, partial_tail=half)
    complete = session_bytes(spec)

    first = sync(run_cli, m)

    assert m.transcript(m.b, spec.session_id).read_bytes() == complete
    item = item_of(first, jsonl(spec))
    assert (item["action"], item["bytes"]) == ("copy", len(complete))
    assert first["bytes_sent"] == len(complete)
    assert m.transcript(m.a, spec.session_id).read_bytes() == complete + half

    # Claude finishes the line and writes more: the next sync appends.
    write_old(m.a, longer, hours=2)
    second = sync(run_cli, m)

    full = session_bytes(longer)
    assert m.transcript(m.b, spec.session_id).read_bytes() == full
    item = item_of(second, jsonl(spec))
    assert (item["action"], item["direction"]) == ("append", "push")
    assert second["bytes_sent"] == len(full) - len(complete)


def test_unterminated_destination_is_replaced_and_backed_up(
    machines: Machines, run_cli: RunCli
) -> None:
    """B's copy is a prefix of A's plus a half-written line: B gets A's copy, B's is kept."""
    m = machines
    spec = new_session(m, 32)
    longer = continue_session(random.Random(33), spec, turns=2)
    write_old(m.a, longer)
    stray = b'{"type":"user","message":{"role":"user","content":"interr'
    write_old(m.b, spec, partial_tail=stray, hours=5)
    before_b = session_bytes(spec) + stray

    report = sync(run_cli, m)

    item = item_of(report, jsonl(spec))
    assert (item["action"], item["direction"], item["outcome"]) == ("replace", "push", "done")
    assert m.transcript(m.b, spec.session_id).read_bytes() == session_bytes(longer)
    assert item["backup"] is not None
    assert Path(item["backup"]).read_bytes() == before_b


# ---------------------------------------------------------------- (6) last line has no timestamp


def test_divergence_uses_latest_timestamp_not_last_line_size_or_mtime(
    machines: Machines, run_cli: RunCli
) -> None:
    """Real sessions end with last-prompt + cost-state (no timestamp). The winner is the
    copy whose latest timestamp, scanning back, is newer, even though the loser is larger
    and was modified later on disk."""
    m = machines
    base = new_session(m, 40, turns=3, start=T0)
    newer = continue_session(random.Random(41), base, turns=1, start=T0 + dt.timedelta(hours=9))
    older_bigger = continue_session(
        random.Random(42), base, turns=6, start=T0 + dt.timedelta(hours=1)
    )
    for spec in (newer, older_bigger):
        tail = [json.loads(line) for line in spec.lines[-2:]]
        assert [t["type"] for t in tail] == ["last-prompt", "cost-state"]
        assert all("timestamp" not in t for t in tail)
    assert len(session_bytes(older_bigger)) > len(session_bytes(newer))
    assert last_timestamp(newer) > last_timestamp(older_bigger)
    write_old(m.a, newer, hours=10)  # older on disk
    write_old(m.b, older_bigger, hours=1)  # newer on disk

    report = sync(run_cli, m)

    item = item_of(report, jsonl(newer))
    assert (item["action"], item["direction"], item["outcome"]) == ("replace", "push", "done")
    assert report["conflicts"] == 1
    for cfg in (m.a, m.b):
        assert m.transcript(cfg, newer.session_id).read_bytes() == session_bytes(newer)
    assert Path(item["backup"]).read_bytes() == session_bytes(older_bigger)


# ---------------------------------------------------------------- (7) modes and mtimes


def test_copy_keeps_modes_and_mtimes(machines: Machines, run_cli: RunCli) -> None:
    m = machines
    spec = new_session(m, 50, with_subagent=True, with_tool_result=True)
    write_old(m.a, spec)
    src = session_tree(m.a, m, spec.session_id)
    assert len(src) == 4  # transcript, subagent transcript + meta, one tool result
    for n, path in enumerate(src.values()):
        set_mtime(path, hours=3 + n)
    # The session's mtime (its transcript's) decides "recent": keep it in the window.

    report = sync(run_cli, m)

    assert report["failed"] == 0
    dst = session_tree(m.b, m, spec.session_id)
    assert set(dst) == set(src)
    for rel, path in src.items():
        want = 0o600 if rel.endswith(".jsonl") else 0o644
        assert mode_of(path) == want
        assert mode_of(dst[rel]) == want, rel
        assert dst[rel].stat().st_mtime_ns == path.stat().st_mtime_ns, rel
        assert dst[rel].read_bytes() == path.read_bytes()
        assert item_of(report, rel)["action"] == "copy"


def test_append_keeps_mode_and_takes_source_mtime(machines: Machines, run_cli: RunCli) -> None:
    m = machines
    spec = new_session(m, 51)
    write_old(m.b, spec, hours=6)
    src = write_old(m.a, continue_session(random.Random(52), spec))
    src_mtime = set_mtime(src, hours=2)

    report = sync(run_cli, m)

    assert item_of(report, jsonl(spec))["action"] == "append"
    dst = m.transcript(m.b, spec.session_id)
    assert dst.read_bytes() == src.read_bytes()
    assert mode_of(dst) == 0o600
    assert dst.stat().st_mtime_ns == src_mtime


def test_replace_takes_source_mode_and_mtime(machines: Machines, run_cli: RunCli) -> None:
    m = machines
    _, older, newer = diverged_pair(m, 53)
    newer = attrs.evolve(newer, subagents=(), tool_results=())
    src = write_old(m.a, newer)
    dst = write_old(m.b, older)
    dst.chmod(0o640)  # whatever the loser had, the winner's mode lands
    src_mtime = set_mtime(src, hours=4)
    # A non-transcript file that differs: the newer mtime wins, mode kept.
    meta_a = m.project_dir(m.a) / newer.session_id / "subagents" / "agent-x.meta.json"
    meta_b = m.project_dir(m.b) / newer.session_id / "subagents" / "agent-x.meta.json"
    for path, body, hours in ((meta_a, b'{"agentType":"Explore"}', 1), (meta_b, b"{}", 8)):
        path.parent.mkdir(parents=True)
        path.write_bytes(body)
        path.chmod(0o644)
        set_mtime(path, hours=hours)
    meta_mtime = meta_a.stat().st_mtime_ns

    report = sync(run_cli, m)

    assert item_of(report, jsonl(newer))["action"] == "replace"
    assert dst.read_bytes() == session_bytes(newer)
    assert mode_of(dst) == 0o600
    assert dst.stat().st_mtime_ns == src_mtime
    meta_item = item_of(report, f"{newer.session_id}/subagents/agent-x.meta.json")
    assert (meta_item["action"], meta_item["direction"]) == ("replace", "push")
    assert meta_b.read_bytes() == b'{"agentType":"Explore"}'
    assert mode_of(meta_b) == 0o644
    assert meta_b.stat().st_mtime_ns == meta_mtime


# ---------------------------------------------------------------- (8) subagents, tool results


def test_subagent_and_tool_result_files_copied_then_subagent_appended(
    machines: Machines, run_cli: RunCli
) -> None:
    m = machines
    spec = new_session(m, 60, with_subagent=True, with_tool_result=True)
    write_old(m.a, spec, hours=5)
    files = session_tree(m.a, m, spec.session_id)
    assert any("/subagents/" in r and r.endswith(".jsonl") for r in files)
    assert any("/subagents/" in r and r.endswith(".meta.json") for r in files)
    assert any("/tool-results/" in r for r in files)

    first = sync(run_cli, m)

    assert {i["file"] for i in first["items"]} == set(files)
    assert all(i["action"] == "copy" and i["outcome"] == "done" for i in first["items"])
    assert session_files(m.b) == session_files(m.a)

    # The session goes on in A, its subagent too.
    write_old(m.a, continue_session(random.Random(61), spec), hours=1)
    (sub_rel,) = [r for r in files if r.endswith(".jsonl") and "/subagents/" in r]
    added = grow_subagent(m.project_dir(m.a) / sub_rel, 3, seed=62)

    second = sync(run_cli, m)

    sub_item = item_of(second, sub_rel)
    assert (sub_item["action"], sub_item["direction"], sub_item["bytes"]) == (
        "append",
        "push",
        len(added),
    )
    assert item_of(second, jsonl(spec))["action"] == "append"
    assert {i["file"] for i in second["items"]} == {sub_rel, jsonl(spec)}
    assert session_files(m.b) == session_files(m.a)


# ---------------------------------------------------------------- (9) 50 MB


@pytest.mark.slow
def test_fifty_megabyte_session_copy_then_append_moves_only_the_tail(
    machines: Machines, run_cli: RunCli
) -> None:
    m = machines
    spec = new_session(m, 70, target_bytes=50_000_000)
    big = session_bytes(spec)
    assert len(big) >= 50_000_000
    write_old(m.a, spec, hours=3)

    first = sync(run_cli, m)

    assert item_of(first, jsonl(spec))["action"] == "copy"
    assert first["bytes_sent"] == len(big)
    assert m.transcript(m.b, spec.session_id).read_bytes() == big

    longer = continue_session(random.Random(71), spec, turns=3)
    write_old(m.a, longer, hours=1)
    tail = len(session_bytes(longer)) - len(big)

    second = sync(run_cli, m)

    item = item_of(second, jsonl(spec))
    assert (item["action"], item["bytes"]) == ("append", tail)
    assert tail <= second["bytes_sent"] < 2 * tail
    assert second["bytes_sent"] < 1_000_000
    assert second["bytes_received"] == 0
    assert m.transcript(m.b, spec.session_id).read_bytes() == session_bytes(longer)


# ---------------------------------------------------------------- (10) 500 sessions


@pytest.mark.slow
def test_five_hundred_sessions_in_two_round_trips_then_nothing(
    machines: Machines, run_cli: RunCli
) -> None:
    m = machines
    rng = random.Random(80)
    specs = [make_session(rng, str(m.project), turns=2) for _ in range(500)]
    for n, spec in enumerate(specs):
        write_old(m.a if n < 300 else m.b, spec, hours=2 + n / 100)

    first = sync(run_cli, m)

    assert (first["pushed"], first["pulled"], first["failed"]) == (300, 200, 0)
    assert first["round_trips"] <= 2
    assert len(session_files(m.a)) == len(session_files(m.b)) == 500
    assert session_files(m.a) == session_files(m.b)

    second = sync(run_cli, m)

    assert second["items"] == []
    assert (second["bytes_sent"], second["bytes_received"]) == (0, 0)
    assert second["round_trips"] == 1


# ---------------------------------------------------------------- (11) hostile path


def test_project_path_with_shell_characters_is_never_executed(
    machines: Machines, run_subprocess: RunSubprocess, tmp_path: Path
) -> None:
    m = machines
    weird = tmp_path / 'it\'s "my" proj $(touch x); `touch y` & echo'
    weird.mkdir()
    project = Path(os.path.realpath(weird))
    other = tmp_path / "b $(touch x); 'q' \"dq\""
    other.mkdir()
    spec = make_session(random.Random(90), str(project))
    write_old(m.a, spec)
    back = make_session(random.Random(91), str(project))
    write_old(other, back)
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    result = run_subprocess(
        ["sync", "--dir", str(other), "--local-path", str(project), "--json"], cwd=cwd
    )

    assert result.code == 0, result
    report = result.json()
    assert (report["pushed"], report["pulled"], report["failed"]) == (1, 1, 0)
    name = encode_project_path(str(project))
    assert (other / "projects" / name / jsonl(spec)).read_bytes() == session_bytes(spec)
    assert (m.a / "projects" / name / jsonl(back)).read_bytes() == session_bytes(back)
    for root in (tmp_path, cwd, Path.cwd()):
        assert not (root / "x").exists()
        assert not (root / "y").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name in ("x", "y")]


# ---------------------------------------------------------------- (12) read-only destination


@pytest.mark.parametrize("action", ["append", "replace"])
def test_read_only_destination_fails_alone(
    machines: Machines, run_cli: RunCli, action: str
) -> None:
    m = machines
    if action == "append":
        stuck = new_session(m, 100)
        write_old(m.a, continue_session(random.Random(101), stuck))
        ro = write_old(m.b, stuck, hours=5)
    else:
        _, older, stuck = diverged_pair(m, 104)
        write_old(m.a, stuck)
        ro = write_old(m.b, older, hours=5)
    ro.chmod(0o444)
    ro_before = (ro.read_bytes(), ro.stat().st_mtime_ns)
    pushed = new_session(m, 102)
    write_old(m.a, pushed)
    pulled = new_session(m, 103)
    write_old(m.b, pulled)

    report = sync(run_cli, m, expect_code=1)

    item = item_of(report, jsonl(stuck))
    assert (item["action"], item["direction"], item["outcome"]) == (action, "push", "failed")
    assert "read-only" in item["error"]
    assert report["failed"] == 1
    assert (ro.read_bytes(), ro.stat().st_mtime_ns) == ro_before
    assert mode_of(ro) == 0o444
    assert m.transcript(m.b, pushed.session_id).read_bytes() == session_bytes(pushed)
    assert m.transcript(m.a, pulled.session_id).read_bytes() == session_bytes(pulled)
    assert (report["pushed"], report["pulled"]) == (1, 1)
    assert temp_files(m.b) == []
    assert not (m.b / "session-sync" / "backups").exists()


# ---------------------------------------------------------------- (13) dry run


def _mixed_sides(m: Machines) -> dict[str, tuple[str, str]]:
    """One of every kind of change; ``{file: (action, direction)}`` a sync would do."""
    only_a = new_session(m, 110, with_subagent=True)
    write_old(m.a, only_a)
    only_b = new_session(m, 111)
    write_old(m.b, only_b)
    grown = new_session(m, 112)
    write_old(m.b, grown, hours=6)
    write_old(m.a, continue_session(random.Random(113), grown))
    _, older, newer = diverged_pair(m, 114)
    write_old(m.a, older)
    write_old(m.b, newer)
    expected = {rel: ("copy", "push") for rel in session_tree(m.a, m, only_a.session_id)}
    expected[jsonl(only_b)] = ("copy", "pull")
    expected[jsonl(grown)] = ("append", "push")
    expected[jsonl(newer)] = ("replace", "pull")
    # The losing branch (here) is kept as a fork on both machines.
    lost = hashlib.sha256(session_bytes(older)).hexdigest()
    expected[f"{fork_session_id(older.session_id, lost)}.jsonl"] = ("copy", "push")
    return expected


def test_dry_run_plans_but_changes_no_session_file(machines: Machines, run_cli: RunCli) -> None:
    m = machines
    expected = _mixed_sides(m)
    before = (snapshot_tree(m.a / "projects"), snapshot_tree(m.b / "projects"))

    report = sync(run_cli, m, "--dry-run")

    assert (snapshot_tree(m.a / "projects"), snapshot_tree(m.b / "projects")) == before
    assert report["dry_run"] is True
    planned = {i["file"]: (i["action"], i["direction"]) for i in report["items"]}
    assert planned == expected
    assert all(i["outcome"] == "planned" for i in report["items"])
    assert (report["pushed"], report["pulled"], report["bytes_sent"]) == (0, 0, 0)
    assert report["bytes_received"] == 0

    human = run_cli(*[a for a in m.sync_args("--dry-run") if a != "--json"])
    assert human.code == 0
    assert f"dry run: {len(expected)} changes planned, nothing written" in human.out


@pytest.mark.parametrize("command", ["sync --dry-run", "status"])
def test_dry_run_and_status_write_nothing_but_the_hash_cache_in_either_config_dir(
    machines: Machines, run_cli: RunCli, command: str
) -> None:
    """The whole config dirs stay as they were, but for session-sync's hash cache:
    ``--dry-run`` is "change nothing", and so is ``status``; what they hashed is
    kept, so the next one reads nothing again."""
    m = machines
    _mixed_sides(m)
    before = (snapshot_tree(m.a), snapshot_tree(m.b))
    verb, *flags = command.split()

    def run() -> CliResult:
        args = ("--dir", str(m.b), "--local-path", str(m.project), "--json", *flags)
        result = run_cli(verb, *args)
        assert result.code == 0, result
        return result

    first = run()
    after = (snapshot_tree(m.a), snapshot_tree(m.b))
    changed = sorted(
        f"{side}/{rel}"
        for side, old, new in (("a", before[0], after[0]), ("b", before[1], after[1]))
        for rel in set(old) | set(new)
        if old.get(rel) != new.get(rel)
    )
    own = {f"{side}/{rel}" for side in "ab" for rel in ("session-sync", HASH_CACHE)}
    assert set(changed) <= own, changed
    assert {f"a/{HASH_CACHE}", f"b/{HASH_CACHE}"} <= set(changed), changed
    assert changed_but_the_hash_cache(before[0], after[0]) == []
    assert changed_but_the_hash_cache(before[1], after[1]) == []
    if verb == "sync":
        assert first.json()["bytes_hashed"] > 0
        assert run().json()["bytes_hashed"] == 0


# ---------------------------------------------------------------- (14) direction


@pytest.mark.parametrize("way", ["push", "pull"])
def test_one_way_only(machines: Machines, run_cli: RunCli, way: str) -> None:
    m = machines
    mine = new_session(m, 120)
    write_old(m.a, mine)
    theirs = new_session(m, 121)
    write_old(m.b, theirs)
    shared = new_session(m, 122)
    write_old(m.a, shared, hours=6)
    write_old(m.b, continue_session(random.Random(123), shared))
    before = (session_files(m.a), session_files(m.b))

    report = sync(run_cli, m, f"--{way}")

    if way == "push":
        assert m.transcript(m.b, mine.session_id).read_bytes() == session_bytes(mine)
        assert session_files(m.a) == before[0]
        skipped = {jsonl(theirs), jsonl(shared)}
        assert (report["pushed"], report["pulled"]) == (1, 0)
    else:
        assert m.transcript(m.a, theirs.session_id).read_bytes() == session_bytes(theirs)
        assert (
            m.transcript(m.a, shared.session_id).read_bytes()
            == m.transcript(m.b, shared.session_id).read_bytes()
        )
        assert session_files(m.b) == before[1]
        skipped = {jsonl(mine)}
        assert (report["pushed"], report["pulled"]) == (0, 2)
    other = "pull" if way == "push" else "push"
    for item in report["items"]:
        if item["file"] in skipped:
            assert (item["action"], item["direction"]) == ("skip", other)
            assert way in item["reason"]
        else:
            assert item["direction"] == way
            assert item["outcome"] == "done"
    assert report["skipped"] == len(skipped)


# ---------------------------------------------------------------- (15) --days


def test_days_leaves_older_sessions_alone(machines: Machines, run_cli: RunCli) -> None:
    m = machines
    old = new_session(m, 130)
    write_old(m.a, old, hours=3 * 24)
    fresh = new_session(m, 131)
    write_old(m.a, fresh, hours=3)

    report = sync(run_cli, m, "--days", "1")

    assert {i["file"] for i in report["items"]} == {jsonl(fresh)}
    assert not m.transcript(m.b, old.session_id).exists()
    assert m.transcript(m.b, fresh.session_id).read_bytes() == session_bytes(fresh)

    wider = sync(run_cli, m, "--days", "4")
    assert {i["file"] for i in wider["items"]} == {jsonl(old)}
    assert m.transcript(m.b, old.session_id).read_bytes() == session_bytes(old)


# ---------------------------------------------------------------- (16) bad input

BAD_INPUT: dict[str, tuple[list[str], str]] = {
    "dir-is-local-config": (["--dir", "{a}", "--local-path", "{p}"], "own Claude config dir"),
    "dir-is-link-to-local": (["--dir", "{link}", "--local-path", "{p}"], "own Claude config dir"),
    "dir-missing": (["--dir", "{root}/nope", "--local-path", "{p}"], "no such directory"),
    "dir-is-a-file": (["--dir", "{root}/a-file", "--local-path", "{p}"], "not a directory"),
    "dir-not-a-config-dir": (["--dir", "{root}/plain", "--local-path", "{p}"], "CLAUDE_CONFIG_DIR"),
    "days-zero": (["--dir", "{b}", "--local-path", "{p}", "--days", "0"], "--days"),
    "days-negative": (["--dir", "{b}", "--local-path", "{p}", "--days", "-1"], "--days"),
    "days-nan": (["--dir", "{b}", "--local-path", "{p}", "--days", "nan"], "--days"),
    "days-abc": (["--dir", "{b}", "--local-path", "{p}", "--days", "abc"], "--days"),
    "dir-and-host": (["--dir", "{b}", "--host", "x", "--local-path", "{p}"], "not allowed"),
    "no-project": (["--dir", "{b}"], "--local-path"),
    "local-path-missing": (["--dir", "{b}", "--local-path", "{root}/gone"], "no such directory"),
    "bad-repo": (["--dir", "{b}", "--repo", "not a repo!"], "--repo"),
    "no-target": (["--local-path", "{p}"], "needs the other machine: --dir, --host or --codespace"),
}


@pytest.mark.parametrize("command", ["sync", "status"])
@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_exits_2_with_one_line(
    machines: Machines,
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    command: str,
) -> None:
    m = machines
    write_old(m.a, new_session(m, 140))
    write_old(m.b, new_session(m, 141))
    link = m.root / "link-to-a"
    link.symlink_to(m.a)
    outside = m.root / "not-a-checkout"
    outside.mkdir()
    monkeypatch.chdir(outside)
    (m.root / "a-file").write_text("not a dir\n")
    (m.root / "plain").mkdir()
    args, needle = BAD_INPUT[case]
    values = {"a": str(m.a), "b": str(m.b), "p": str(m.project), "root": str(m.root)}
    values["link"] = str(link)
    before = (snapshot_tree(m.a), snapshot_tree(m.b))

    result = run_cli(command, *[a.format(**values) for a in args])

    assert result.code == 2, result
    assert result.out == ""
    assert result.err.endswith("\n")
    assert result.err.count("\n") == 1, result.err
    assert needle in result.err
    assert (snapshot_tree(m.a), snapshot_tree(m.b)) == before
    assert list((m.root / "plain").iterdir()) == []  # no projects/ made in a stray dir


# ---------------------------------------------------------------- (17) --json shape

REPORT_KEYS = {
    "pushed": int,
    "pulled": int,
    "skipped": int,
    "failed": int,
    "conflicts": int,
    "bytes_sent": int,
    "bytes_received": int,
    "round_trips": int,
    "items": list,
}


def test_json_is_exactly_one_object_with_the_documented_fields(
    machines: Machines, run_subprocess: RunSubprocess
) -> None:
    m = machines
    expected = _mixed_sides(m)
    active = new_session(m, 150)
    write_old(m.b, continue_session(random.Random(151), active))
    write_session(m.a, active, project_dir_name=m.dir_name)  # open here right now
    expected[jsonl(active)] = ("skip", "pull")

    result = run_subprocess(m.sync_args())

    assert result.code == 0, result
    raw = result.out.strip()
    assert raw.startswith("{")
    assert raw.endswith("}")
    report = json.loads(raw)
    for key, kind in REPORT_KEYS.items():
        assert isinstance(report[key], kind), key
    assert report["items"]
    seen = {}
    for item in report["items"]:
        assert {"session", "file", "action", "direction", "reason"} <= set(item)
        assert item["action"] in {"copy", "append", "replace", "skip"}
        assert item["direction"] in {"push", "pull"}
        assert isinstance(item["reason"], str)
        assert item["reason"]
        assert item["file"].startswith(item["session"])
        seen[item["file"]] = (item["action"], item["direction"])
    assert seen == expected
    pushes = sum(1 for a, d in expected.values() if d == "push" and a != "skip")
    pulls = sum(1 for a, d in expected.values() if d == "pull" and a != "skip")
    assert (pushes, pulls) == (5, 2)  # the fork of the losing branch is a push
    assert (report["pushed"], report["pulled"], report["skipped"]) == (pushes, pulls, 1)
    assert (report["failed"], report["conflicts"]) == (0, 1)


# ---------------------------------------------------------------- (18) status


def test_status_shows_both_sides_and_which_is_newer(machines: Machines, run_cli: RunCli) -> None:
    m = machines
    ahead_a = new_session(m, 160)
    write_old(m.b, ahead_a, hours=6)
    write_old(m.a, continue_session(random.Random(161), ahead_a))
    _, older, newer = diverged_pair(m, 162)
    write_old(m.a, older)
    write_old(m.b, newer)
    only_a = new_session(m, 163)
    write_old(m.a, only_a)
    only_b = new_session(m, 164)
    write_old(m.b, only_b)
    same = new_session(m, 165)
    write_old(m.a, same)
    write_old(m.b, same)
    before = (session_files(m.a), session_files(m.b))

    result = run_cli("status", "--dir", str(m.b), "--local-path", str(m.project), "--json")

    assert result.code == 0, result
    status = result.json()
    assert (session_files(m.a), session_files(m.b)) == before
    assert str(m.b) in status["remote"]
    rows = {r["session"]: r for r in status["sessions"]}
    states = {sid: r["state"] for sid, r in rows.items()}
    assert states == {
        ahead_a.session_id: "local is ahead",
        newer.session_id: "remote is newer",
        only_a.session_id: "only on local",
        only_b.session_id: "only on remote",
        same.session_id: "in step",
    }
    row = rows[newer.session_id]
    assert row["local_size"] == len(session_bytes(older))
    assert row["remote_size"] == len(session_bytes(newer))
    assert dt.datetime.fromisoformat(row["remote_last_message"]) == last_timestamp(newer)
    assert dt.datetime.fromisoformat(row["local_last_message"]) == last_timestamp(older)
    assert rows[only_a.session_id]["remote_size"] is None
    assert rows[only_b.session_id]["local_size"] is None

    table = run_cli("status", "--dir", str(m.b), "--local-path", str(m.project))
    assert table.code == 0
    assert "remote is newer" in table.out
    assert "only on local" in table.out


# ---------------------------------------------------------------- (19) demo


def test_demo_runs_in_a_sandbox(tmp_path: Path, run_subprocess: RunSubprocess) -> None:
    home = tmp_path / "home"
    home.mkdir()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in run_subprocess.env.items() if k != "CLAUDE_CONFIG_DIR"}
    env.update(HOME=str(home), TMPDIR=str(scratch))

    result = run_subprocess(["demo"], env=env, cwd=tmp_path)

    assert result.code == 0, result
    assert "nothing left to move" in result.out
    second = result.out.split("nothing left to move", 1)[1]
    assert "0 sessions pushed, 0 sessions pulled, 0 files skipped, 0 failed" in second
    assert "everything is in step" in second
    # Each side's memory entry reached the other, and a prompt typed on each.
    first = result.out.split("nothing left to move", 1)[0]
    assert "memory came in: memory/MEMORY.md" in first
    assert "+ - The codespace has no GPU: skip CUDA tests" in first
    assert "> run the slow tests too" in first
    assert list(home.iterdir()) == []
    assert list(scratch.iterdir()) == []  # the sandbox was removed


def test_demo_json_reports_both_syncs(tmp_path: Path, run_subprocess: RunSubprocess) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in run_subprocess.env.items() if k != "CLAUDE_CONFIG_DIR"}
    env.update(HOME=str(home), TMPDIR=str(tmp_path))
    keep = tmp_path / "kept"

    result = run_subprocess(["demo", "--json", "--keep", str(keep)], env=env, cwd=tmp_path)

    assert result.code == 0, result
    data = result.json()
    assert data["first"]["conflicts"] == 1
    assert data["first"]["failed"] == 0
    assert data["second"]["items"] == []
    assert data["second"]["round_trips"] == 1
    assert (keep / "laptop" / ".claude" / "projects").is_dir()
    assert list(home.iterdir()) == []


# ---------------------------------------------------------------- (20) --repo


def _git_checkout(path: Path, origin: str) -> Path:
    path.mkdir(parents=True)
    for args in (["init", "-q"], ["remote", "add", "origin", origin]):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    return Path(os.path.realpath(path))


def test_repo_finds_the_checkout_by_recorded_cwd_not_by_name_suffix(
    machines: Machines, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = machines
    api = _git_checkout(m.root / "code" / "api", "git@github.com:acme/api.git")
    decoy_checkout = _git_checkout(m.root / "code" / "my-api", "git@github.com:acme/my-api.git")
    real = make_session(random.Random(170), str(api))
    write_old(m.a, real)
    # Dirs whose encoded names merely end in "-api".
    ghost = make_session(random.Random(171), "/x/my-api")
    write_old(m.a, ghost)
    assert (m.a / "projects" / "-x-my-api").is_dir()
    decoy = make_session(random.Random(172), str(decoy_checkout))
    write_old(m.a, decoy)
    elsewhere = m.root / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    result = run_cli("sync", "--dir", str(m.b), "--repo", "acme/api", "--json")

    assert result.code == 0, result
    report = result.json()
    assert {i["file"] for i in report["items"]} == {jsonl(real)}
    assert str(api) in report["local"]
    name = encode_project_path(str(api))
    assert (m.b / "projects" / name / jsonl(real)).read_bytes() == session_bytes(real)
    assert sorted(p.name for p in (m.b / "projects").iterdir()) == [name]
    assert not list((m.b / "projects").rglob(jsonl(ghost)))
    assert not list((m.b / "projects").rglob(jsonl(decoy)))


def test_repo_with_only_a_suffix_match_is_not_found(
    machines: Machines, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = machines
    write_old(m.a, make_session(random.Random(173), "/x/my-api"))
    elsewhere = m.root / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    before = (snapshot_tree(m.a), snapshot_tree(m.b))

    result = run_cli("sync", "--dir", str(m.b), "--repo", "acme/api", "--json")

    assert result.code == 2, result
    assert result.out == ""
    assert "acme/api" in result.err
    assert result.err.count("\n") == 1
    assert (snapshot_tree(m.a), snapshot_tree(m.b)) == before


# ---------------------------------------------------------------- more: restore --file


def test_restore_one_file_of_a_backup_set(machines: Machines, run_cli: RunCli) -> None:
    """One sync replacing two diverged sessions makes one backup set of two files;
    ``backups restore SET --file REL`` puts back only that one."""
    m = machines
    pairs = [diverged_pair(m, seed) for seed in (180, 190)]
    for _, older, newer in pairs:
        write_old(m.a, older)
        write_old(m.b, newer)

    report = sync(run_cli, m)

    assert report["conflicts"] == 2
    (backup_set,) = run_cli("backups", "--json", "list").json()["backups"]
    assert {e["rel"] for e in backup_set["entries"]} == {jsonl(p[2]) for p in pairs}
    (_, first_old, _), (_, second_old, second_new) = pairs

    restored = run_cli("backups", "restore", backup_set["id"], "--file", jsonl(first_old))

    assert restored.code == 0, restored
    assert jsonl(first_old) in restored.out
    assert m.transcript(m.a, first_old.session_id).read_bytes() == session_bytes(first_old)
    assert m.transcript(m.a, second_old.session_id).read_bytes() == session_bytes(second_new)
    missing = run_cli("backups", "restore", backup_set["id"], "--file", "nope.jsonl")
    assert missing.code == 2
    assert missing.err.count("\n") == 1
    unknown = run_cli("backups", "restore", "no-such-set")
    assert unknown.code == 2
    assert unknown.out == ""


# ---------------------------------------------------------------- more: --remote-path


def test_remote_path_maps_the_project_dirs(
    machines: Machines, run_cli: RunCli, tmp_path: Path
) -> None:
    """The other machine has the project elsewhere (a codespace's /workspaces/<repo>)."""
    m = machines
    there = str(tmp_path / "workspaces" / "app")  # need not exist here
    mine = new_session(m, 200)
    write_old(m.a, mine)
    theirs = make_session(random.Random(201), there)
    write_old(m.b, theirs)
    grown = make_session(random.Random(202), there)
    write_old(m.b, grown, hours=6)
    write_old(m.a, continue_session(random.Random(203), grown), dir_name=m.dir_name)

    report = sync(run_cli, m, "--remote-path", there)

    assert (report["pushed"], report["pulled"], report["failed"]) == (2, 1, 0)
    remote_dir = m.b / "projects" / encode_project_path(there)
    assert (remote_dir / jsonl(mine)).read_bytes() == session_bytes(mine)
    assert (remote_dir / jsonl(grown)).read_bytes() == m.transcript(
        m.a, grown.session_id
    ).read_bytes()
    assert item_of(report, jsonl(grown))["action"] == "append"
    assert m.transcript(m.a, theirs.session_id).read_bytes() == session_bytes(theirs)
    assert sorted(p.name for p in (m.b / "projects").iterdir()) == [remote_dir.name]
    assert sorted(p.name for p in (m.a / "projects").iterdir()) == [m.dir_name]


# ---------------------------------------------------------------- more: long paths


def test_long_project_path_dirs_are_matched_by_their_cut_prefix(
    machines: Machines, run_cli: RunCli, tmp_path: Path
) -> None:
    """Over 200 characters Claude names the dir ``<first 200>-<hash>``, with a hash that
    differs between builds: each side's own dir is found and used."""
    m = machines
    project = tmp_path / ("very-long-" * 14) / ("and-longer-" * 6)
    project.mkdir(parents=True)
    project = Path(os.path.realpath(project))
    cut = encode_project_path(str(project))
    assert len(cut) == 200
    mine = make_session(random.Random(210), str(project))
    write_old(m.a, mine, dir_name=f"{cut}-abc123")
    theirs = make_session(random.Random(211), str(project))
    write_old(m.b, theirs, dir_name=f"{cut}-zz9")

    result = run_cli("sync", "--dir", str(m.b), "--local-path", str(project), "--json")

    assert result.code == 0, result
    assert (m.b / "projects" / f"{cut}-zz9" / jsonl(mine)).read_bytes() == session_bytes(mine)
    assert (m.a / "projects" / f"{cut}-abc123" / jsonl(theirs)).read_bytes() == session_bytes(
        theirs
    )
    assert [p.name for p in (m.a / "projects").iterdir()] == [f"{cut}-abc123"]
    assert [p.name for p in (m.b / "projects").iterdir()] == [f"{cut}-zz9"]
