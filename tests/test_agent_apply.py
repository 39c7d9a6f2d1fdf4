"""Direct tests of applying file changes in the agent, its backups and its framing."""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

import pytest

from session_sync.agent.apply import apply_batch, apply_file
from session_sync.agent.backups import list_backups, open_backup_set, prune_backups
from session_sync.agent.messages import ApplyOp, Expect, FileResult
from session_sync.agent.paths import TEMP_PREFIX, TEMP_SUFFIX, op_target
from session_sync.agent.protocol import (
    FRAME_HEADER,
    FRAME_MAGIC,
    MAX_JSON_FRAME,
    FrameReader,
    FrameWriter,
    Refusal,
    send_file,
)
from session_sync.agent.restore import restore_backup

DIR = "-workspaces-app"
SID = "0b6f2c1e-1111-4222-8333-444455556666"
REL = f"{SID}.jsonl"
MTIME_NS = 1_795_318_261_123_456_789
OLD_MTIME_NS = 1_700_000_000_987_654_321

P = b'{"type":"user","timestamp":"2026-11-22T03:00:00.000Z","uuid":"1"}\n'
A = b'{"type":"assistant","timestamp":"2026-11-22T03:01:00.000Z","uuid":"2"}\n'
B = b'{"type":"user","timestamp":"2026-11-22T04:00:00.000Z","uuid":"3","t":"\xe2\x80\xa8"}\n'


def session_rel(name: str) -> str:
    """The transcript of a session made up for ``name`` (session ids are uuids)."""
    return f"{uuid.uuid5(uuid.NAMESPACE_URL, name)}.jsonl"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "claude"
    (path / "projects").mkdir(parents=True)
    return path


def target(config: Path, rel: str = REL, dir: str = DIR) -> Path:
    return config / "projects" / dir / rel


def put(path: Path, data: bytes, mode: int = 0o600, mtime_ns: int = OLD_MTIME_NS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def expect_of(data: bytes, size: int | None = None) -> Expect:
    counted = len(data) if size is None else size
    return {"complete_size": counted, "file_size": len(data), "sha256": sha(data[:counted])}


def make_op(
    action: str,
    result: bytes,
    *,
    rel: str = REL,
    dir: str = DIR,
    mode: int = 0o600,
    mtime_ns: int = MTIME_NS,
    expect: Expect | None = None,
) -> ApplyOp:
    return {
        "action": action,
        "dir": dir,
        "rel": rel,
        "sha256": sha(result),
        "size": len(result),
        "mode": mode,
        "mtime_ns": mtime_ns,
        "reason": "test",
        "expect": expect,
    }


def chunks(data: bytes, size: int = 7) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def apply(config: Path, op: ApplyOp, data: bytes) -> FileResult:
    backups = open_backup_set(str(config), "test run")
    return apply_file(str(config), op, chunks(data), backups)


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def backup_sets(config: Path) -> list[Path]:
    base = config / "session-sync" / "backups"
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.exists() else []


def snapshot(path: Path) -> tuple[bytes, int, int]:
    st = path.stat()
    return path.read_bytes(), stat.S_IMODE(st.st_mode), st.st_mtime_ns


# --------------------------------------------------------------------------
# copy


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o640])
def test_copy_keeps_mode_and_mtime(config: Path, mode: int) -> None:
    data = P + A + B
    result = apply(config, make_op("copy", data, mode=mode), data)
    assert result == {"ok": True, "bytes": len(data), "backup": None}
    got, got_mode, got_mtime = snapshot(target(config))
    assert got == data
    assert got_mode == mode
    assert got_mtime == MTIME_NS
    assert temp_files(config) == []
    assert backup_sets(config) == []


def test_copy_into_a_nested_new_dir(config: Path) -> None:
    rel = f"{SID}/subagents/agent-a1.meta.json"
    data = b'{"agentType":"general"}'
    assert apply(config, make_op("copy", data, rel=rel, mode=0o644), data)["ok"]
    assert target(config, rel).read_bytes() == data


def test_copy_of_an_empty_file(config: Path) -> None:
    assert apply(config, make_op("copy", b""), b"")["ok"]
    assert target(config).read_bytes() == b""


def test_copy_never_overwrites_an_existing_file(config: Path) -> None:
    put(target(config), P)
    before = snapshot(target(config))
    result = apply(config, make_op("copy", A), A)
    assert not result["ok"]
    assert "appeared" in result["error"]
    assert snapshot(target(config)) == before
    assert temp_files(config) == []


# --------------------------------------------------------------------------
# replace


def test_replace_backs_up_the_old_bytes(config: Path) -> None:
    old = P + A + b'{"partial'
    put(target(config), old, mode=0o600, mtime_ns=OLD_MTIME_NS)
    new = P + B
    op = make_op("replace", new, mode=0o640, expect=expect_of(old, len(P + A)))
    result = apply(config, op, new)
    assert result["ok"], result
    got, got_mode, got_mtime = snapshot(target(config))
    assert (got, got_mode, got_mtime) == (new, 0o640, MTIME_NS)

    backup = Path(str(result["backup"]))
    sets = backup_sets(config)
    assert len(sets) == 1
    assert backup == sets[0] / DIR / REL
    assert backup.read_bytes() == old
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert backup.stat().st_mtime_ns == OLD_MTIME_NS

    index = json.loads((sets[0] / "backup.json").read_text())
    assert index["label"] == "test run"
    [entry] = index["entries"]
    assert entry["dir"] == DIR
    assert entry["rel"] == REL
    assert entry["sha256"] == sha(old)
    assert entry["size"] == len(old)
    assert entry["replaced_by"] == sha(new)
    assert entry["mode"] == 0o600
    assert entry["mtime_ns"] == OLD_MTIME_NS
    [listed] = list_backups(str(config))
    assert listed["id"] == sets[0].name
    assert temp_files(config) == []


def test_replace_of_a_file_changed_since_the_scan_fails(config: Path) -> None:
    put(target(config), P + A)
    before = snapshot(target(config))
    op = make_op("replace", B, expect=expect_of(P))
    result = apply(config, op, B)
    assert not result["ok"]
    assert "changed since the scan" in result["error"]
    assert snapshot(target(config)) == before
    assert backup_sets(config) == []


def test_replace_of_a_vanished_file_fails(config: Path) -> None:
    result = apply(config, make_op("replace", B, expect=expect_of(P)), B)
    assert not result["ok"]
    assert not target(config).exists()


def test_replace_without_expect_fails(config: Path) -> None:
    put(target(config), P)
    result = apply(config, make_op("replace", B, expect=None), B)
    assert not result["ok"]
    assert target(config).read_bytes() == P


# --------------------------------------------------------------------------
# append


def test_append_adds_the_bytes_and_sets_the_mtime(config: Path) -> None:
    put(target(config), P, mode=0o600)
    op = make_op("append", P + A + B, mode=0o644, expect=expect_of(P))
    result = apply(config, op, A + B)
    assert result["ok"], result
    assert result["bytes"] == len(A + B)
    assert result["backup"] is None
    got, got_mode, got_mtime = snapshot(target(config))
    assert got == P + A + B
    assert got_mode == 0o600  # an append keeps the destination's mode
    assert got_mtime == MTIME_NS
    assert backup_sets(config) == []
    assert temp_files(config) == []


def test_append_rechecks_a_destination_that_grew(config: Path) -> None:
    # Claude appended a line after the scan: nothing may be appended after it.
    put(target(config), P + B)
    before = snapshot(target(config))
    op = make_op("append", P + A, expect=expect_of(P))
    result = apply(config, op, A)
    assert not result["ok"]
    assert "changed since the scan" in result["error"]
    assert snapshot(target(config)) == before
    assert temp_files(config) == []


def test_append_rechecks_a_destination_changed_in_place(config: Path) -> None:
    changed = P.replace(b"uuid", b"UUID")
    assert len(changed) == len(P)
    put(target(config), changed)
    before = snapshot(target(config))
    result = apply(config, make_op("append", P + A, expect=expect_of(P)), A)
    assert not result["ok"]
    assert snapshot(target(config)) == before


def test_append_rechecks_a_destination_that_shrank(config: Path) -> None:
    put(target(config), P)
    result = apply(config, make_op("append", P + A + B, expect=expect_of(P + A)), B)
    assert not result["ok"]
    assert target(config).read_bytes() == P


# --------------------------------------------------------------------------
# wrong sha256, read-only, unsafe names


@pytest.mark.parametrize("action", ["copy", "replace", "append"])
def test_wrong_sha256_changes_nothing_and_leaves_no_temp(config: Path, action: str) -> None:
    if action != "copy":
        put(target(config), P)
    before = snapshot(target(config)) if action != "copy" else None
    result_bytes = P + A if action == "append" else A
    op = make_op(action, result_bytes, expect=expect_of(P) if action != "copy" else None)
    op["sha256"] = sha(b"something else")
    result = apply(config, op, A)
    assert not result["ok"]
    assert "sha256" in result["error"]
    if before is None:
        assert not target(config).exists()
    else:
        assert snapshot(target(config)) == before
    assert temp_files(config.parent) == []
    assert backup_sets(config) == []


def test_corrupted_data_in_transit_is_rejected(config: Path) -> None:
    op = make_op("copy", P + A)
    result = apply(config, op, P + A.replace(b"assistant", b"assistanT"))
    assert not result["ok"]
    assert not target(config).exists()
    assert temp_files(config.parent) == []


@pytest.mark.parametrize("action", ["replace", "append"])
def test_read_only_destination_is_left_alone(config: Path, action: str) -> None:
    put(target(config), P, mode=0o444)
    before = snapshot(target(config))
    result_bytes = P + A if action == "append" else A
    result = apply(config, make_op(action, result_bytes, expect=expect_of(P)), A)
    assert not result["ok"]
    assert "read-only" in result["error"]
    assert snapshot(target(config)) == before
    assert backup_sets(config) == []
    assert temp_files(config.parent) == []


@pytest.mark.parametrize(
    ("dir", "rel"),
    [
        (DIR, "../escape.jsonl"),
        (DIR, f"{SID}/../../escape.jsonl"),
        (DIR, "/etc/escape.jsonl"),
        (DIR, ""),
        (DIR, f"{SID}//x.json"),
        (DIR, f"{SID}/./x.json"),
        (DIR, "a\\..\\escape.jsonl"),
        (DIR, "x\0.jsonl"),
        (DIR, f"{SID}/{TEMP_PREFIX}abc{TEMP_SUFFIX}"),
        ("a/b", REL),
        ("..", REL),
        (".", REL),
        ("", REL),
        ("..\\x", REL),
    ],
)
def test_unsafe_paths_fail(config: Path, dir: str, rel: str) -> None:
    drained: list[bytes] = []

    def feed() -> Iterator[bytes]:
        for chunk in chunks(A):
            drained.append(chunk)
            yield chunk

    op = make_op("copy", A, dir=dir, rel=rel)
    result = apply_file(str(config), op, feed(), open_backup_set(str(config), "t"))
    assert not result["ok"]
    assert "unsafe" in result["error"]
    assert b"".join(drained) == A  # the stream stays in step
    assert sorted(p.name for p in config.parent.rglob("*") if p.is_file()) == []
    with pytest.raises(Refusal):
        op_target(str(config), {"dir": dir, "rel": rel})


# --------------------------------------------------------------------------
# apply_batch over frames


def stream_for(payloads: list[bytes | None]) -> FrameReader:
    """Frames as a sender writes them; None stands for a sender that failed."""
    buf = io.BytesIO()
    writer = FrameWriter(buf)
    for payload in payloads:
        if payload is None:
            writer.frame(b"D", b"half of it")
            writer.json(b"E", {"ok": False, "error": "source shrank since the scan"})
            continue
        for chunk in chunks(payload, 5):
            writer.frame(b"D", chunk)
        writer.json(b"E", {"ok": True, "error": None})
    return FrameReader(io.BytesIO(buf.getvalue()))


def test_apply_batch_one_failure_does_not_stop_the_others(config: Path) -> None:
    put(target(config, session_rel("r")), P)
    put(target(config, session_rel("a")), P)
    ops = [
        make_op("copy", A, rel=session_rel("c1")),
        make_op("copy", B, rel="../evil.jsonl"),
        make_op("replace", B, rel=session_rel("r"), expect=expect_of(P)),
        make_op("copy", A, rel=session_rel("sender-failed")),
        make_op("append", P + A, rel=session_rel("a"), expect=expect_of(P)),
        make_op("copy", B, rel=session_rel("c2")),
    ]
    reader = stream_for([A, B, B, None, A, B])
    answer = apply_batch(str(config), ops, reader.data, "batch", 90)
    oks = [r["ok"] for r in answer["results"]]
    assert oks == [True, False, True, False, True, True]
    assert "transfer failed" in answer["results"][3]["error"]
    assert target(config, session_rel("c1")).read_bytes() == A
    assert target(config, session_rel("r")).read_bytes() == B
    assert target(config, session_rel("a")).read_bytes() == P + A
    assert target(config, session_rel("c2")).read_bytes() == B
    assert not target(config, session_rel("sender-failed")).exists()
    assert answer["backup_set"] is not None
    assert Path(answer["backup_set"]) == backup_sets(config)[0]
    assert answer["pruned_backups"] == []
    assert temp_files(config.parent) == []
    with pytest.raises(EOFError):
        reader.frame()


def test_apply_batch_without_replaces_makes_no_backup_set(config: Path) -> None:
    reader = stream_for([A])
    answer = apply_batch(str(config), [make_op("copy", A)], reader.data, "batch", 90)
    assert answer["results"][0]["ok"]
    assert answer["backup_set"] is None
    assert backup_sets(config) == []


def test_apply_batch_lists_each_dir_once_for_its_stale_temps(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10,000 new files in one dir cost one listing of it, not 10,000; the temp
    files over an hour old there still go, and only those."""
    project = target(config).parent
    stale, fresh = (
        project / f"{TEMP_PREFIX}old{TEMP_SUFFIX}",
        project / f"{TEMP_PREFIX}new{TEMP_SUFFIX}",
    )
    for path, age in ((stale, 2 * 3600), (fresh, 60)):
        put(path, b"x", mtime_ns=time.time_ns() - age * 10**9)
    rels = [session_rel(f"many-{i}") for i in range(20)]
    ops = [make_op("copy", A, rel=rel) for rel in rels]
    ops.append(make_op("copy", A, rel=session_rel("elsewhere"), dir="-other"))
    listed: collections.Counter[str] = collections.Counter()
    real_listdir = os.listdir

    def counting(path: Any = ".") -> list[str]:
        listed[os.fspath(path)] += 1
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", counting)
    answer = apply_batch(str(config), ops, stream_for([A] * len(ops)).data, "batch", 90)
    assert all(r["ok"] for r in answer["results"])
    assert listed[str(project)] == 1
    assert listed[str(target(config, dir="-other").parent)] == 1
    assert not stale.exists()
    assert fresh.exists()


def test_send_file_feeds_apply_file(config: Path, tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    source.write_bytes(P + A + B)
    put(target(config), P)
    buf = io.BytesIO()
    send_file(FrameWriter(buf), str(source), len(P), len(A + B))
    reader = FrameReader(io.BytesIO(buf.getvalue()))
    op = make_op("append", P + A + B, expect=expect_of(P))
    result = apply_file(str(config), op, reader.data(), open_backup_set(str(config), "t"))
    assert result["ok"], result
    assert target(config).read_bytes() == P + A + B


def test_send_file_of_a_shrunk_source_fails_the_receiver(config: Path, tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    source.write_bytes(P)
    buf = io.BytesIO()
    send_file(FrameWriter(buf), str(source), 0, len(P + A))
    reader = FrameReader(io.BytesIO(buf.getvalue()))
    result = apply_file(
        str(config), make_op("copy", P + A), reader.data(), open_backup_set(str(config), "t")
    )
    assert not result["ok"]
    assert "shrank" in result["error"]
    assert not target(config).exists()
    assert temp_files(config.parent) == []


# --------------------------------------------------------------------------
# restore and prune


def replace_with(config: Path, new: bytes, label: str, rel: str = REL) -> FileResult:
    old = target(config, rel).read_bytes()
    op = make_op("replace", new, rel=rel, expect=expect_of(old))
    result = apply_file(str(config), op, chunks(new), open_backup_set(str(config), label))
    assert result["ok"], result
    return result


def set_id_of(result: FileResult, config: Path) -> str:
    backup = Path(str(result["backup"]))
    base = config / "session-sync" / "backups"
    return backup.relative_to(base).parts[0]


def test_restore_backup_puts_the_old_bytes_back_and_backs_up_the_current(config: Path) -> None:
    put(target(config), P + A, mode=0o600, mtime_ns=OLD_MTIME_NS)
    set_id = set_id_of(replace_with(config, P + B, "sync"), config)
    assert target(config).read_bytes() == P + B

    results = restore_backup(str(config), set_id)
    assert [r["ok"] for r in results] == [True]
    assert results[0]["rel"] == REL
    got, got_mode, got_mtime = snapshot(target(config))
    assert (got, got_mode, got_mtime) == (P + A, 0o600, OLD_MTIME_NS)

    sets = list_backups(str(config))
    assert len(sets) == 2
    restore_set = next(s for s in sets if s["id"] != set_id)
    [entry] = restore_set["entries"]
    assert entry["sha256"] == sha(P + B)
    assert (Path(restore_set["path"]) / DIR / REL).read_bytes() == P + B
    # ...so the restore can itself be undone.
    restore_backup(str(config), restore_set["id"])
    assert target(config).read_bytes() == P + B


def test_restore_backup_of_a_deleted_file(config: Path) -> None:
    put(target(config), P)
    set_id = set_id_of(replace_with(config, A, "sync"), config)
    target(config).unlink()
    results = restore_backup(str(config), set_id)
    assert results[0]["ok"]
    assert target(config).read_bytes() == P


def test_restore_backup_when_already_in_place_is_unchanged(config: Path) -> None:
    put(target(config), P)
    set_id = set_id_of(replace_with(config, A, "sync"), config)
    target(config).chmod(0o600)
    target(config).write_bytes(P)
    results = restore_backup(str(config), set_id)
    assert results[0].get("unchanged") is True
    assert len(list_backups(str(config))) == 1


def test_restore_backup_only_the_named_file(config: Path) -> None:
    other = f"{SID}/subagents/agent-a1.jsonl"
    put(target(config), P)
    put(target(config, other), P)
    backups = open_backup_set(str(config), "sync")
    for rel in (REL, other):
        op = make_op("replace", A, rel=rel, expect=expect_of(P))
        assert apply_file(str(config), op, chunks(A), backups)["ok"]
    set_id = list_backups(str(config))[0]["id"]
    results = restore_backup(str(config), set_id, rel=f"{SID}/subagents")
    assert [r["rel"] for r in results] == [other]
    assert target(config, other).read_bytes() == P
    assert target(config).read_bytes() == A


def test_restore_backup_unknown_id(config: Path) -> None:
    with pytest.raises(Refusal):
        restore_backup(str(config), "20990101T000000Z-000000")


def _rename_set(config: Path, set_id: str, new_id: str) -> None:
    base = config / "session-sync" / "backups"
    (base / set_id).rename(base / new_id)


def _set_created(config: Path, set_id: str, created: float) -> None:
    index = config / "session-sync" / "backups" / set_id / "backup.json"
    data = json.loads(index.read_text())
    data["created"] = created
    index.write_text(json.dumps(data))


def _backed_up(config: Path) -> dict[str, set[bytes]]:
    out: dict[str, set[bytes]] = {}
    for backup in list_backups(str(config)):
        for entry in backup["entries"]:
            data = (Path(backup["path"]) / entry["dir"] / entry["rel"]).read_bytes()
            out.setdefault(entry["rel"], set()).add(data)
    return out


def test_prune_removes_old_sets_but_never_a_files_newest_backup(config: Path) -> None:
    other = session_rel("other")
    put(target(config), b"v0\n")
    put(target(config, other), b"w0\n")
    day = 86400.0
    base_time = 1_790_000_000.0
    # Four sets made on four different days (renamed as if made at those times).
    s1 = set_id_of(replace_with(config, b"v1\n", "s1"), config)  # holds v0
    s1b = set_id_of(replace_with(config, b"w1\n", "s1b", rel=other), config)  # holds w0
    s2 = set_id_of(replace_with(config, b"v2\n", "s2"), config)  # holds v1
    s3 = set_id_of(replace_with(config, b"v3\n", "s3"), config)  # holds v2
    for day_no, set_id in enumerate([s1, s1b, s2, s3]):
        new_id = f"202601{day_no + 1:02d}T000000Z-{set_id[-6:]}"
        _rename_set(config, set_id, new_id)
        _set_created(config, new_id, base_time + day_no * day)
    ids = [b["id"] for b in list_backups(str(config))]
    assert len(ids) == 4

    removed = prune_backups(str(config), 0.5, now=base_time + 3 * day + 60)
    remaining = [b["id"] for b in list_backups(str(config))]
    # ids[0] (v0) is superseded by ids[2] and ids[3]; ids[1] holds w0, the only
    # backup of "other"; ids[2] (v1) is old and superseded; ids[3] is recent.
    assert sorted(removed) == sorted([ids[0], ids[2]])
    assert remaining == [ids[1], ids[3]]
    assert _backed_up(config) == {REL: {b"v2\n"}, other: {b"w0\n"}}
    assert not (config / "session-sync" / "backups" / ids[0]).exists()


def test_prune_keeps_the_newest_backup_even_when_everything_is_old(config: Path) -> None:
    put(target(config), b"v0\n")
    s1 = set_id_of(replace_with(config, b"v1\n", "s1"), config)
    s2 = set_id_of(replace_with(config, b"v2\n", "s2"), config)
    _rename_set(config, s1, "20260101T000000Z-aaaaaa")
    _rename_set(config, s2, "20260102T000000Z-aaaaaa")
    _set_created(config, "20260101T000000Z-aaaaaa", 1_000.0)
    _set_created(config, "20260102T000000Z-aaaaaa", 2_000.0)
    removed = prune_backups(str(config), 1, now=10_000_000.0)
    assert removed == ["20260101T000000Z-aaaaaa"]
    assert _backed_up(config) == {REL: {b"v1\n"}}


def test_prune_keeps_everything_within_retention(config: Path) -> None:
    put(target(config), b"v0\n")
    replace_with(config, b"v1\n", "s1")
    replace_with(config, b"v2\n", "s2")
    assert prune_backups(str(config), 90) == []
    assert len(list_backups(str(config))) == 2


def test_prune_keeps_the_newest_of_two_sets_made_in_the_same_second(config: Path) -> None:
    # Set names are "<UTC second>-<random hex>": two sets made in the same second
    # sort by their random part, not by age. The newest backup of a file must
    # survive whichever way the random parts fall.
    put(target(config), b"v0\n")
    older = set_id_of(replace_with(config, b"v1\n", "first sync"), config)  # holds v0
    newer = set_id_of(replace_with(config, b"v2\n", "second sync"), config)  # holds v1
    _rename_set(config, older, "20260101T000000Z-ffffff")
    _rename_set(config, newer, "20260101T000000Z-000000")
    _set_created(config, "20260101T000000Z-ffffff", 1_000.0)
    _set_created(config, "20260101T000000Z-000000", 1_000.5)
    prune_backups(str(config), 1, now=10_000_000.0)
    assert _backed_up(config) == {REL: {b"v1\n"}}


# --------------------------------------------------------------------------
# Framing


def test_frames_round_trip() -> None:
    buf = io.BytesIO()
    writer = FrameWriter(buf)
    big = bytes(range(256)) * 300  # over 64 KiB: written in two parts
    writer.json(b"J", {"op": "scan", "text": "caf\u00e9 \u2028 \U0001f600"})
    writer.frame(b"D", b"abc")
    writer.frame(b"D", big)
    writer.json(b"E", {"ok": True, "error": None})
    writer.json(b"J", {"n": 2})
    writer.flush()

    reader = FrameReader(io.BytesIO(buf.getvalue()))
    assert reader.json() == {"op": "scan", "text": "caf\u00e9 \u2028 \U0001f600"}
    assert b"".join(reader.data()) == b"abc" + big
    assert reader.json() == {"n": 2}
    with pytest.raises(EOFError):
        reader.frame()
    assert writer.data_bytes == reader.data_bytes == 3 + len(big)
    assert writer.frame_bytes == reader.frame_bytes == len(buf.getvalue())


def test_frame_reader_reads_from_a_trickling_stream() -> None:
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            if not self.data:
                return 0
            b[0] = self.data[0]
            self.data = self.data[1:]
            return 1

    buf = io.BytesIO()
    writer = FrameWriter(buf)
    writer.json(b"J", {"hello": "world"})
    writer.frame(b"D", b"xyz")
    writer.json(b"E", {"ok": True})
    # Raw reads return one byte at a time: short reads of headers and payloads.
    reader = FrameReader(cast("IO[bytes]", Trickle(buf.getvalue())))
    assert reader.json() == {"hello": "world"}
    assert list(reader.data()) == [b"xyz"]


def test_bad_magic_is_a_value_error() -> None:
    buf = io.BytesIO()
    FrameWriter(buf).json(b"J", {"a": 1})
    stray = b"Welcome to your codespace!\n" + buf.getvalue()
    with pytest.raises(ValueError, match="out of step"):
        FrameReader(io.BytesIO(stray)).frame()
    data = bytearray(buf.getvalue())
    data[0:2] = b"XX"
    with pytest.raises(ValueError, match="bad frame header"):
        FrameReader(io.BytesIO(bytes(data))).json()


def test_oversized_json_frame_is_refused() -> None:
    header = FRAME_HEADER.pack(FRAME_MAGIC, b"J", MAX_JSON_FRAME + 1)
    with pytest.raises(ValueError, match="too large"):
        FrameReader(io.BytesIO(header)).frame()


@pytest.mark.parametrize("cut", [1, 3, 6, 7, 10])
def test_cut_stream_is_an_eof_error(cut: int) -> None:
    buf = io.BytesIO()
    FrameWriter(buf).json(b"J", {"op": "scan", "pad": "x" * 20})
    data = buf.getvalue()
    assert cut < len(data)
    with pytest.raises(EOFError):
        FrameReader(io.BytesIO(data[:cut])).frame()


def test_empty_stream_is_an_eof_error() -> None:
    with pytest.raises(EOFError):
        FrameReader(io.BytesIO(b"")).json()


def test_data_cut_before_its_end_frame_is_an_eof_error() -> None:
    buf = io.BytesIO()
    FrameWriter(buf).frame(b"D", b"abc")
    reader = FrameReader(io.BytesIO(buf.getvalue()))
    with pytest.raises(EOFError):
        list(reader.data())


def test_error_frames() -> None:
    buf = io.BytesIO()
    writer = FrameWriter(buf)
    writer.json(b"X", {"error": "boom"})
    writer.json(b"E", {"ok": False, "error": "cannot read source"})
    writer.json(b"J", {"a": 1})
    reader = FrameReader(io.BytesIO(buf.getvalue()))
    with pytest.raises(Refusal, match="boom"):
        reader.json()
    with pytest.raises(Refusal, match="cannot read source"):
        list(reader.data())
    with pytest.raises(ValueError, match="expected file data"):
        list(reader.data())  # a J frame where data was expected


def test_json_frame_of_the_wrong_kind() -> None:
    buf = io.BytesIO()
    FrameWriter(buf).frame(b"D", b"{}")
    with pytest.raises(ValueError, match="expected a"):
        FrameReader(io.BytesIO(buf.getvalue())).json()
