"""The fast append: a destination a scan here hashed and that is unchanged since
(same device, inode, size, mtime and ctime) gets its new lines in place, its old
bytes not read again; a destination changed in any way since the scan takes
the full check, which refuses it. ``--paranoid`` always takes the full check.
"""

from __future__ import annotations

import errno
import os
import random
import tempfile
import time
from pathlib import Path
from typing import cast

import pytest
from conftest import Machines, RunCli, write_old
from hypothesis import given, settings
from hypothesis import strategies as st
from test_agent_apply import DIR, OLD_MTIME_NS, REL, expect_of, make_op, put, sha, target

from session_sync.agent import swap
from session_sync.agent.apply import apply_batch
from session_sync.agent.hashcache import HashCache, describe_file
from session_sync.agent.messages import ApplyOp, ExchangeRequest, FileResult
from session_sync.agent.protocol import FrameReader, FrameWriter, Refusal
from session_sync.agent.serve import exchange
from session_sync.testing.sessions import continue_session, make_session, session_bytes


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "claude"
    (path / "projects").mkdir(parents=True)
    return path


STAMP = b'"timestamp":"2026-11-22T03:00:00.000Z"'
NEW = b"".join(b'{"type":"assistant",%s,"n":%d,"t":"nnnn"}\n' % (STAMP, i) for i in range(20))


def lines(count: int) -> bytes:
    """``count`` lines as Claude writes them (a timestamp each: the last one is near)."""
    return b"".join(
        b'{"type":"user",%s,"n":%d,"t":"%s"}\n' % (STAMP, i, b"o" * 60) for i in range(count)
    )


def scanned(config: Path, data: bytes) -> Path:
    """The destination written hours ago and scanned here, its facts in the cache."""
    path = target(config)
    put(path, data)
    cache = HashCache(str(config))
    assert describe_file(str(path.parent), REL, cache) is not None
    cache.save()
    return path


def append_op(old: bytes, new: bytes = NEW) -> ApplyOp:
    op = make_op("append", old + new, expect=expect_of(old))
    op["append_sha256"] = sha(new)
    return op


def apply(config: Path, op: ApplyOp, new: bytes = NEW, paranoid: bool = False) -> FileResult:
    answer = apply_batch(str(config), [op], lambda: iter([new]), "test", 30.0, paranoid)
    return answer["results"][0]


def read_bytes_so_far() -> int:
    """Bytes this process has read with read(2)/pread(2) (Linux ``/proc/self/io``)."""
    with open("/proc/self/io") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("rchar:"))


def test_an_append_to_a_scanned_destination_is_written_in_place(config: Path) -> None:
    old = lines(200)
    path = scanned(config, old)
    inode = path.stat().st_ino
    result = apply(config, append_op(old))
    assert result["ok"], result
    assert path.read_bytes() == old + NEW
    assert path.stat().st_ino == inode, "swapped in a staged copy, not appended in place"
    assert path.stat().st_mtime_ns == make_op("append", b"")["mtime_ns"]
    # The next append to it needs no scan in between to be fast: the apply
    # recorded what it wrote.
    more = b'{"type":"user","n":"more"}\n'
    assert apply(config, append_op(old + NEW, more), more)["ok"]
    assert path.read_bytes() == old + NEW + more
    assert path.stat().st_ino == inode


def test_a_large_fast_append_is_staged_in_a_temp_file_that_goes(config: Path) -> None:
    old = lines(50)
    path = scanned(config, old)
    inode = path.stat().st_ino
    big = NEW * (swap.STAGED_IN_MEMORY // len(NEW) + 2)
    assert apply(config, append_op(old, big), big)["ok"]
    assert path.read_bytes() == old + big
    assert path.stat().st_ino == inode
    assert [p.name for p in path.parent.iterdir()] == [REL]


def test_paranoid_swaps_in_a_staged_copy(config: Path) -> None:
    old = lines(200)
    path = scanned(config, old)
    inode = path.stat().st_ino
    assert apply(config, append_op(old), paranoid=True)["ok"]
    assert path.read_bytes() == old + NEW
    assert path.stat().st_ino != inode


def test_without_the_sender_s_hash_of_the_new_bytes_the_append_is_staged(config: Path) -> None:
    old = lines(50)
    path = scanned(config, old)
    inode = path.stat().st_ino
    op = append_op(old)
    del op["append_sha256"]
    assert apply(config, op)["ok"]
    assert path.read_bytes() == old + NEW
    assert path.stat().st_ino != inode


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="counts reads with /proc/self/io")
def test_the_fast_append_reads_the_new_bytes_and_a_tail_only(config: Path) -> None:
    old = lines(8 * 1024 * 1024 // 80)
    scanned(config, old)
    before = read_bytes_so_far()
    assert apply(config, append_op(old))["ok"]
    fast = read_bytes_so_far() - before
    # The new bytes, twice the tail the re-check compares, and the cache's own
    # look at the last lines for their time: a few blocks, not the 8 MB.
    assert fast < len(NEW) + 8 * swap.TAIL_BYTES, fast

    scanned(config, old)
    before = read_bytes_so_far()
    assert apply(config, append_op(old), paranoid=True)["ok"]
    assert read_bytes_so_far() - before >= len(old)


def test_received_bytes_that_do_not_hash_as_the_sender_said_change_nothing(config: Path) -> None:
    old = lines(50)
    path = scanned(config, old)
    result = apply(config, append_op(old), NEW.replace(b"assistant", b"assistent"))
    assert not result["ok"]
    assert "sha256" in str(result["error"])
    assert path.read_bytes() == old


def test_a_failed_write_takes_its_bytes_back(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = lines(50)
    path = scanned(config, old)
    real_write = os.write

    def half_then_disk_full(fd: int, data: bytes | memoryview) -> int:
        if bytes(data[:20]) == NEW[:20]:
            real_write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_disk_full)
    result = apply(config, append_op(old))
    assert not result["ok"]
    assert "disk full" in str(result["error"])
    assert path.read_bytes() == old


def _flip(data: bytes, at: int) -> bytes:
    """``data`` with the letter at about ``at`` changed: same size, same lines."""
    i = data.index(b"o", at % (len(data) - 100))
    return data[:i] + b"X" + data[i + 1 :]


MUTATIONS = [
    "none",  # as scanned: the fast path
    "grown",  # another writer added a line since the scan
    "truncated",  # cut back to a line boundary
    "rewritten",  # the same size, one byte different
    "rewritten-mtime-kept",  # the same, its mtime set back to the scan's
    "replaced",  # another inode, one byte different, the scan's mtime
    "replaced-same-bytes",  # another inode, the same bytes and mtime
]


def _mutate(path: Path, old: bytes, how: str, at: int) -> bytes:
    """Change the destination after the scan as ``how`` says; return its bytes."""
    # A clock tick for the kernel's timestamps: a change is not in the scan's tick.
    time.sleep(0.02)
    if how == "grown":
        with open(path, "ab") as fh:
            fh.write(b'{"type":"writer"}\n')
    elif how == "truncated":
        os.truncate(path, old.rindex(b"\n", 0, len(old) - 1) + 1)
    elif how in ("rewritten", "rewritten-mtime-kept"):
        with open(path, "r+b") as fh:
            fh.write(_flip(old, at))
        if how == "rewritten-mtime-kept":
            os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    elif how in ("replaced", "replaced-same-bytes"):
        other = path.with_name("other")
        put(other, old if how == "replaced-same-bytes" else _flip(old, at))
        os.replace(other, path)
    return path.read_bytes()


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(min_value=2, max_value=400),
    how=st.sampled_from(MUTATIONS),
    at=st.integers(min_value=0, max_value=10**6),
    paranoid=st.booleans(),
)
def test_a_destination_changed_since_the_scan_is_never_appended_to(
    count: int, how: str, at: int, paranoid: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "claude"
        (config / "projects").mkdir(parents=True)
        old = lines(count)
        path = scanned(config, old)
        now = _mutate(path, old, how, at)
        result = apply(config, append_op(old), paranoid=paranoid)
        if now == old:
            assert result["ok"], result
            assert path.read_bytes() == old + NEW
        else:
            assert not result["ok"], f"appended to a destination {how} since the scan"
            assert "changed" in str(result["error"])
            assert path.read_bytes() == now, "a refused append changed the file"
        assert not [p for p in path.parent.iterdir() if p.name not in (REL, "other")]


def test_the_agent_refuses_a_paranoid_that_is_not_true_or_false(config: Path) -> None:
    request = cast(ExchangeRequest, {"op": "exchange", "paranoid": "yes"})
    with pytest.raises(Refusal, match="paranoid"):
        exchange(str(config), request, cast(FrameReader, None), cast(FrameWriter, None))
    assert not (config / "projects" / DIR).exists()


@pytest.mark.parametrize("paranoid", [False, True])
@pytest.mark.parametrize("way", ["push", "pull"])
def test_sync_paranoid_reaches_the_agent_that_appends(
    machines: Machines, run_cli: RunCli, way: str, paranoid: bool
) -> None:
    """``sync --paranoid`` through the engine and the exchange to the agent on
    either side: its appends swap in a staged copy (a new inode); without it
    they write in place (the same inode)."""
    m = machines
    head = make_session(random.Random(3), str(m.project))
    full = continue_session(random.Random(4), head)
    src, dst = (m.a, m.b) if way == "push" else (m.b, m.a)
    write_old(src, full)
    write_old(dst, head)
    path = m.transcript(dst, full.session_id)
    inode = path.stat().st_ino
    result = run_cli(*m.sync_args(*(["--paranoid"] if paranoid else [])))
    assert result.code == 0, result
    assert path.read_bytes() == session_bytes(full)
    assert (path.stat().st_ino != inode) is paranoid
