"""The apply's re-check right before every swap, its writer-safe append and its
hostile-input rules (masked modes, private dirs, no dirs left by a refusal).

A writer "during" the apply is simulated at the exact moment that matters: in
the chunk stream (while the data arrives) or at the kill points of
``session_sync.agent.faults`` (after the re-check, after the swap).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_agent_apply import (  # the same machine, names and helpers
    DIR,
    MTIME_NS,
    OLD_MTIME_NS,
    REL,
    SID,
    expect_of,
    put,
    sha,
    target,
)

from session_sync.agent import apply as apply_module
from session_sync.agent import swap as swap_module
from session_sync.agent.apply import apply_file
from session_sync.agent.backups import list_backups, open_backup_set
from session_sync.agent.messages import ApplyOp, Expect, FileResult

OLD = b"".join(b'{"type":"user","n":%d}\n' % i for i in range(50))
NEW = b"".join(b'{"type":"assistant","n":%d}\n' % i for i in range(50))
WRITER = b'{"type":"writer","n":1}\n'


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "claude"
    (path / "projects").mkdir(parents=True)
    return path


def op_for(action: str, result: bytes, expect: Expect | None, mode: int = 0o600) -> ApplyOp:
    return {
        "action": action,
        "dir": DIR,
        "rel": REL,
        "sha256": sha(result),
        "size": len(result),
        "mode": mode,
        "mtime_ns": MTIME_NS,
        "reason": "test",
        "expect": expect,
    }


def chunks(data: bytes, during: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """``data`` in small chunks, calling ``during(i)`` before chunk ``i``."""
    for i in range(0, len(data), 97):
        if during is not None:
            during(i)
        yield data[i : i + 97]


def apply(
    config: Path, op: ApplyOp, data: bytes, during: Callable[[int], None] | None = None
) -> FileResult:
    backups = open_backup_set(str(config), "test")
    return apply_file(str(config), op, chunks(data, during), backups)


def append_line(path: Path, line: bytes = WRITER) -> None:
    with open(path, "ab") as fh:  # as Claude does: open by name, append, close
        fh.write(line)


def at_point(monkeypatch: pytest.MonkeyPatch, point: str, action: Callable[[], None]) -> None:
    """Run ``action`` when the apply reaches kill point ``point`` (once)."""
    done: list[bool] = []

    def fault(name: str, where: str) -> None:
        if name == point and not done:
            done.append(True)
            action()

    monkeypatch.setattr(apply_module, "fault_point", fault)
    monkeypatch.setattr(swap_module, "fault_point", fault)  # the staging's


def no_temps(config: Path) -> bool:
    return not [p for p in config.rglob("*") if p.name.startswith(".session-sync-")]


# --- the re-check before the swap -------------------------------------------------


@pytest.mark.parametrize("action", ["append", "replace"])
def test_a_line_written_while_the_data_streams_is_never_lost(config: Path, action: str) -> None:
    path = target(config)
    put(path, OLD)
    result_bytes = OLD + NEW if action == "append" else NEW
    data = NEW
    op = op_for(action, result_bytes, expect_of(OLD))

    result = apply(config, op, data, during=lambda i: append_line(path) if i == 97 * 3 else None)

    # The writer's line came after the first check and before the swap: the
    # re-check sees it, and nothing is changed.
    assert not result["ok"]
    assert "changed during the sync" in result["error"]
    assert path.read_bytes() == OLD + WRITER
    assert no_temps(config)


def test_a_file_rewritten_in_place_with_the_same_size_is_seen(config: Path) -> None:
    path = target(config)
    put(path, OLD)
    changed = OLD[:-3] + b"X}\n"

    def rewrite(i: int) -> None:
        if i == 97:
            with open(path, "r+b") as fh:
                fh.write(changed)
            os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))  # even the mtime is kept

    result = apply(config, op_for("append", OLD + NEW, expect_of(OLD)), NEW, during=rewrite)

    assert not result["ok"]
    assert path.read_bytes() == changed


def test_a_destination_swapped_for_another_file_is_seen(config: Path) -> None:
    path = target(config)
    put(path, OLD)

    def swap(i: int) -> None:
        if i == 0:
            other = path.with_name("other")
            other.write_bytes(OLD)
            os.utime(other, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
            os.replace(other, path)

    result = apply(config, op_for("append", OLD + NEW, expect_of(OLD)), NEW, during=swap)

    assert not result["ok"]
    assert "replaced during the sync" in result["error"]
    assert path.read_bytes() == OLD


def test_a_copy_whose_destination_appears_while_streaming_overwrites_nothing(
    config: Path,
) -> None:
    path = target(config)
    path.parent.mkdir(parents=True)

    result = apply(
        config, op_for("copy", NEW, None), NEW, during=lambda i: put(path, OLD) if i else None
    )

    assert not result["ok"]
    assert "appeared since the scan" in result["error"]
    assert path.read_bytes() == OLD
    assert no_temps(config)


# --- a writer between the re-check and the swap -------------------------------------


def test_append_keeps_lines_written_between_the_recheck_and_the_swap(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = target(config)
    put(path, OLD)
    at_point(monkeypatch, "apply.rechecked", lambda: append_line(path))

    result = apply(config, op_for("append", OLD + NEW, expect_of(OLD)), NEW)

    assert result["ok"], result
    assert path.read_bytes() == OLD + NEW + WRITER
    assert "another writer" in result["note"]


def test_replace_keeps_lines_written_between_the_recheck_and_the_swap_in_the_backup(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = target(config)
    put(path, OLD)
    at_point(monkeypatch, "apply.rechecked", lambda: append_line(path))

    result = apply(config, op_for("replace", NEW, expect_of(OLD)), NEW)

    assert result["ok"], result
    assert path.read_bytes() == NEW
    backup = Path(str(result["backup"]))
    assert backup.read_bytes() == OLD + WRITER
    (entry,) = list_backups(str(config))[0]["entries"]
    assert entry["sha256"] == sha(OLD + WRITER)
    assert entry["size"] == len(OLD + WRITER)


def test_an_append_is_old_bytes_plus_whole_lines_at_every_instant(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = target(config)
    put(path, OLD)
    seen: list[bytes] = []

    def look(name: str, where: str) -> None:
        seen.append(path.read_bytes())

    monkeypatch.setattr(apply_module, "fault_point", look)
    monkeypatch.setattr(swap_module, "fault_point", look)  # the staging's
    result = apply(config, op_for("append", OLD + NEW, expect_of(OLD)), NEW)

    assert result["ok"]
    assert len(seen) > 10  # every staged chunk, the re-check, the swap, done
    assert set(seen) <= {OLD, OLD + NEW}
    assert seen[-1] == OLD + NEW


# --- a hostile sender ---------------------------------------------------------------


def test_received_modes_are_masked_to_the_permission_bits(config: Path) -> None:
    result = apply(config, op_for("copy", NEW, None, mode=0o106755), NEW)

    assert result["ok"]
    assert stat.S_IMODE(target(config).stat().st_mode) == 0o755


def test_new_dirs_are_private_at_every_level(config: Path) -> None:
    op = op_for("copy", NEW, None)
    op["rel"] = f"{SID}/subagents/deep/agent-1.jsonl"

    result = apply(config, op, NEW)

    assert result["ok"]
    for directory in (
        config / "projects" / DIR,
        config / "projects" / DIR / SID,
        config / "projects" / DIR / SID / "subagents",
        config / "projects" / DIR / SID / "subagents" / "deep",
    ):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_a_refused_copy_leaves_no_empty_dirs(config: Path) -> None:
    op = op_for("copy", NEW, None)
    op["rel"] = f"{SID}/subagents/agent-1.jsonl"
    op["sha256"] = sha(b"something else")

    result: FileResult = apply(config, op, NEW)

    assert not result["ok"]
    assert not (config / "projects" / DIR).exists()


def test_more_data_than_announced_stops_the_transfer(config: Path) -> None:
    op = op_for("copy", NEW, None)
    op["size"] = 10

    result = apply(config, op, NEW)

    assert not result["ok"]
    assert "more data than announced" in result["error"]
    assert not target(config).exists()


def test_an_append_onto_an_unterminated_line_is_refused(config: Path) -> None:
    path = target(config)
    put(path, OLD + b'{"half')
    expect: Expect = {
        "complete_size": len(OLD),
        "file_size": len(OLD) + 6,
        "sha256": sha(OLD),
    }

    result = apply(config, op_for("append", OLD + NEW, expect), NEW)

    assert not result["ok"]
    assert path.read_bytes() == OLD + b'{"half'


def test_an_append_through_a_symlinked_destination_is_refused(config: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    put(outside, OLD)
    path = target(config)
    path.parent.mkdir(parents=True)
    path.symlink_to(outside)

    result = apply(config, op_for("append", OLD + NEW, expect_of(OLD)), NEW)

    assert not result["ok"]
    assert "symbolic link" in result["error"]
    assert outside.read_bytes() == OLD


def test_a_backup_set_is_indexed_from_its_first_moment(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from session_sync.agent import backups as backups_module

    path = target(config)
    put(path, OLD)
    indexed: list[bool] = []

    def look(name: str, where: str) -> None:
        if name == "backup.copied":
            root = next((config / "session-sync" / "backups").iterdir())
            indexed.append((root / "backup.json").exists())

    monkeypatch.setattr(backups_module, "fault_point", look)
    result = apply(config, op_for("replace", NEW, expect_of(OLD)), NEW)

    assert result["ok"]
    assert indexed == [True]


def test_a_backup_set_without_its_index_is_listed_and_pruned_in_time(config: Path) -> None:
    from session_sync.agent.backups import prune_backups

    root = config / "session-sync" / "backups" / "20200101T000000Z-abcdef"
    (root / DIR).mkdir(parents=True)
    (root / DIR / REL).write_bytes(OLD)  # copied, then killed before the index
    os.utime(root, (1_600_000_000, 1_600_000_000))

    (listed,) = list_backups(str(config))
    assert listed["incomplete"] is True
    assert listed["entries"] == []
    assert prune_backups(str(config), retention_days=90) == [listed["id"]]
    assert not root.exists()
