"""New files of one batch land in groups (``session_sync.agent.landing``): each
staged and verified, the group fsynced, then each linked to its name. These tests
hold the group to what a copy alone promises: a name only ever leads to a whole,
verified file, an existing file is never overwritten, one bad file does not stop
the others, and the results are one per op, in order."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from session_sync.agent import apply as apply_module
from session_sync.agent import landing as landing_module
from session_sync.agent.apply import apply_batch
from session_sync.agent.faults import FAULT_FILE_ENV
from session_sync.agent.landing import GROUP_FILES
from session_sync.agent.messages import ApplyOp, ExchangeAnswer

DIR = "-workspaces-app"
MTIME_NS = 1_795_318_261_123_456_789


def rel_of(n: int) -> str:
    return f"{uuid.UUID(int=n + 1)}.jsonl"


def body(n: int) -> bytes:
    return b'{"type":"user","timestamp":"2026-11-22T03:00:00.000Z","n":%d}\n' % n * (n + 1)


def copy_op(n: int, data: bytes | None = None, rel: str | None = None) -> ApplyOp:
    """A copy of file ``n``; ``data``: what the sender's scan hashed (else its body)."""
    content = body(n) if data is None else data
    return {
        "action": "copy",
        "dir": DIR,
        "rel": rel_of(n) if rel is None else rel,
        "sha256": hashlib.sha256(content).hexdigest(),
        "size": len(content),
        "mode": 0o600,
        "mtime_ns": MTIME_NS,
        "reason": "test",
        "expect": None,
    }


def run(config: Path, ops: list[ApplyOp], sent: list[bytes]) -> ExchangeAnswer:
    """Apply ``ops`` from ``sent`` (each op's bytes on the stream) as a batch."""
    files = iter(sent)

    def next_file() -> Iterator[bytes]:
        data = next(files)
        return iter([data[i : i + 5] for i in range(0, len(data), 5)])

    return apply_batch(str(config), ops, next_file, "test", 30)


def at_point(monkeypatch: pytest.MonkeyPatch, point: str, action: Callable[[], None]) -> None:
    """Run ``action`` when the apply reaches kill point ``point`` (once)."""
    done: list[bool] = []

    def fault(name: str, where: str) -> None:
        if name == point and not done:
            done.append(True)
            action()

    monkeypatch.setattr(apply_module, "fault_point", fault)
    monkeypatch.setattr(landing_module, "fault_point", fault)


def project(config: Path) -> Path:
    return config / "projects" / DIR


def temps(config: Path) -> list[Path]:
    return [p for p in config.rglob("*") if p.name.startswith(".session-sync-")]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "claude"
    (path / "projects").mkdir(parents=True)
    return path


def test_a_batch_of_copies_lands_every_file_with_one_result_each_in_order(config: Path) -> None:
    count = GROUP_FILES * 2 + 3  # more than one group, the last one partial
    answer = run(config, [copy_op(n) for n in range(count)], [body(n) for n in range(count)])

    assert [r["bytes"] for r in answer["results"]] == [len(body(n)) for n in range(count)]
    assert all(r["ok"] for r in answer["results"])
    for n in range(count):
        assert (project(config) / rel_of(n)).read_bytes() == body(n)
    assert temps(config) == []


def test_a_file_with_bad_data_is_refused_and_the_others_of_its_group_land(config: Path) -> None:
    ops = [copy_op(n) for n in range(5)]
    sent = [body(n) for n in range(5)]
    sent[2] = body(2).replace(b"user", b"evil")  # same length, other bytes

    answer = run(config, ops, sent)

    results = answer["results"]
    assert [r["ok"] for r in results] == [True, True, False, True, True]
    assert "does not match its sha256" in results[2]["error"]
    assert not (project(config) / rel_of(2)).exists()
    for n in (0, 1, 3, 4):
        assert (project(config) / rel_of(n)).read_bytes() == body(n)
    assert temps(config) == []


def test_a_file_that_appears_between_staging_and_landing_is_not_overwritten(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = b'{"type":"user","theirs":true}\n'
    appeared = project(config) / rel_of(1)
    same = project(config) / rel_of(2)
    # Every copy of the group is staged and fsynced; another writer makes two of
    # the names before the links: one with other bytes, one with the same ones.

    def other_writer() -> None:
        appeared.write_bytes(theirs)
        same.write_bytes(body(2))

    at_point(monkeypatch, "apply.grouped", other_writer)

    answer = run(config, [copy_op(n) for n in range(4)], [body(n) for n in range(4)])

    results = answer["results"]
    assert results[0]["ok"]
    assert results[3]["ok"]
    assert not results[1]["ok"]
    assert "appeared since the scan" in results[1]["error"]
    assert results[2]["ok"]
    assert results[2].get("unchanged")
    assert appeared.read_bytes() == theirs
    assert same.read_bytes() == body(2)
    assert (project(config) / rel_of(3)).read_bytes() == body(3)
    assert temps(config) == []


def test_the_same_name_twice_in_one_group_lands_once(config: Path) -> None:
    ops = [copy_op(0), copy_op(1, rel=rel_of(0)), copy_op(0, rel=rel_of(0))]

    answer = run(config, ops, [body(0), body(1), body(0)])

    results = answer["results"]
    assert results[0]["ok"]
    assert not results[0].get("unchanged")
    assert not results[1]["ok"]
    assert "appeared since the scan" in results[1]["error"]
    assert results[2]["ok"]
    assert results[2].get("unchanged")
    assert (project(config) / rel_of(0)).read_bytes() == body(0)


def test_the_dirs_made_for_copies_that_all_failed_are_removed(config: Path) -> None:
    ops = [copy_op(n, rel=f"{rel_of(9)[:-6]}/subagents/agent-{n}.jsonl") for n in range(2)]

    answer = run(config, ops, [b"x" * len(body(n)) for n in range(2)])

    assert not any(r["ok"] for r in answer["results"])
    assert not (project(config) / rel_of(9)[:-6]).exists()


def test_an_append_after_copies_comes_after_them(config: Path) -> None:
    """An op that is not a copy lands the group first: it may name a file copied before it."""
    grown = body(0) + body(1)
    append: ApplyOp = dict(copy_op(0, grown))  # type: ignore[assignment]
    append["action"] = "append"
    append["expect"] = {
        "complete_size": len(body(0)),
        "file_size": len(body(0)),
        "sha256": hashlib.sha256(body(0)).hexdigest(),
    }

    answer = run(config, [copy_op(0), append], [body(0), body(1)])

    assert [r["ok"] for r in answer["results"]] == [True, True], answer["results"]
    assert (project(config) / rel_of(0)).read_bytes() == grown


CHILD = """
import sys
sys.path[:0] = [{tests!r}]
from pathlib import Path
from test_apply_grouped import body, copy_op, run
run(Path({config!r}), [copy_op(n) for n in range(4)], [body(n) for n in range(4)])
"""


@pytest.mark.parametrize(
    ("point", "count"), [("apply.staged", 2), ("apply.grouped", 1), ("apply.rechecked", 2)]
)
def test_a_kill_while_a_group_lands_leaves_no_name_on_a_file_not_whole(
    config: Path, tmp_path: Path, point: str, count: int
) -> None:
    fault = tmp_path / "fault"
    fault.write_text(f"{point} {count}\n")
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(tests=str(Path(__file__).parent), config=str(config))],
        env={**os.environ, FAULT_FILE_ENV: str(fault)},
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert child.returncode == -9, child.stderr

    # Every name there is a whole, verified file; the rest are temp files only.
    names = sorted(p.name for p in project(config).iterdir() if not p.name.startswith("."))
    for name in names:
        n = [rel_of(i) for i in range(4)].index(name)
        assert (project(config) / name).read_bytes() == body(n)
    if point != "apply.rechecked":
        assert names == []  # no link before the whole group is fsynced
    else:
        assert names == [rel_of(0)]

    # The next batch here lands them all (the leftovers are an old sync's temp files).
    answer = run(config, [copy_op(n) for n in range(4)], [body(n) for n in range(4)])
    assert all(r["ok"] for r in answer["results"])
    for n in range(4):
        assert (project(config) / rel_of(n)).read_bytes() == body(n)


def test_the_copies_verified_before_the_stream_breaks_off_land(config: Path) -> None:
    files = iter([body(0), body(1), body(2)])

    def next_file() -> Iterator[bytes]:
        data = next(files, None)
        if data is None:
            raise EOFError("stream ended")
        return iter([data])

    with pytest.raises(EOFError):
        apply_batch(str(config), [copy_op(n) for n in range(5)], next_file, "test", 30)

    for n in range(3):
        assert (project(config) / rel_of(n)).read_bytes() == body(n)
    assert not (project(config) / rel_of(3)).exists()
    assert temps(config) == []
