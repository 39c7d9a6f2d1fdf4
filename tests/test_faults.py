"""Faults: the stream to the other machine's agent is cut in the middle of a sync.

``CutTransport`` is a real ``Transport``: it starts the agent exactly as
``LocalProcessTransport`` does and hands the engine a stream that forwards
bytes to the agent's stdin until ``cut_after`` bytes have been written, then
cuts (closes the agent's stdin, or kills the agent with SIGKILL) and raises
``BrokenPipeError``. ``ReadCutTransport`` cuts the other way: the engine reads
``cut_after`` bytes of the agent's stdout, then the stream ends.

Cut points are placed inside the file data: each test first runs the same sync
uncut (on a copy of both config dirs) to learn how many bytes cross the stream,
then puts everything back and cuts at a fraction of the file data.

The promise under test: a cut sync raises ``TransportError``, leaves every
destination file byte for byte as it was (never partial), leaves no staging
file behind on this machine, and the next sync completes and leaves both sides
identical.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, ClassVar, Literal, cast

import attrs
import pytest
from conftest import (
    HOUR,
    Entry,
    Machines,
    session_files,
    snapshot_tree,
    temp_files,
    write_old,
)

from session_sync.agent.paths import TEMP_PREFIX, TEMP_SUFFIX
from session_sync.engine import SyncRequest, run_sync
from session_sync.errors import TransportError
from session_sync.model.forks import fork_session_id
from session_sync.model.report import SyncReport
from session_sync.testing.sessions import SessionSpec, continue_session, make_session, session_bytes
from session_sync.transports.base import AgentStream
from session_sync.transports.local import LocalProcessTransport, ProcessStream

How = Literal["close", "kill"]

FILE_BYTES = 3_000_000
"""Size of the session every transfer here is about (a multi-MB stream)."""

ONE_HOUR = dt.timedelta(hours=1)

E_FRAME = 7 + len(b'{"ok":true,"error":null}')
"""The frame that ends one file's data."""

RAW = "never"
"""``--compress`` of the cut syncs: each cut is placed at a byte of the file data
as it goes on the stream, so it goes as it is (compression has its own tests)."""


# ---------------------------------------------------------------- the cutting transport


class _Cut:
    """What one stream has seen, and the cut itself (done once)."""

    def __init__(
        self,
        process: ProcessStream,
        how: How,
        side: str,
        before_kill: Callable[[], None] | None,
    ) -> None:
        self.process = process
        self.how = how
        self.side = side
        self.before_kill = before_kill
        self.done = False

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        popen = self.process.process
        if self.how == "kill":
            if self.before_kill is not None:
                self.before_kill()
            popen.kill()  # SIGKILL: the agent gets no chance to clean up
            popen.wait()
        elif self.side == "write":
            assert popen.stdin is not None
            with contextlib.suppress(OSError):
                popen.stdin.close()  # the agent reads EOF in the middle of a frame
        else:
            assert popen.stdout is not None
            popen.stdout.close()  # the agent's next write fails with EPIPE


class CutWriter:
    """The agent's stdin, until ``limit`` bytes have gone through."""

    def __init__(self, inner: IO[bytes], limit: int | None, cut: _Cut) -> None:
        self.inner = inner
        self.limit = limit
        self.cut = cut
        self.count = 0

    def _broken(self) -> BrokenPipeError:
        return BrokenPipeError(errno.EPIPE, "stream cut by the test")

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.cut.done:
            raise self._broken()
        view = memoryview(data).cast("B")
        if self.limit is None or self.count + len(view) <= self.limit:
            self.inner.write(view)
            self.count += len(view)
            return len(view)
        room = self.limit - self.count
        self.inner.write(view[:room])
        self.count += room
        with contextlib.suppress(OSError):
            self.inner.flush()
        self.cut()
        raise self._broken()

    def flush(self) -> None:
        if self.cut.done:
            raise self._broken()
        self.inner.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.inner.close()


class CutReader:
    """The agent's stdout, until ``limit`` bytes have been read; then end of stream."""

    def __init__(self, inner: IO[bytes], limit: int | None, cut: _Cut) -> None:
        self.inner = inner
        self.limit = limit
        self.cut = cut
        self.count = 0

    def _want(self, n: int) -> int:
        if self.limit is None:
            return n
        room = self.limit - self.count
        return room if n < 0 else min(n, room)

    def _got(self, data: bytes) -> bytes:
        self.count += len(data)
        if self.limit is not None and self.count >= self.limit:
            self.cut()
        return data

    def read(self, n: int = -1) -> bytes:
        if self.cut.done:
            return b""
        want = self._want(n)
        return self._got(self.inner.read(want) if want != 0 else b"")

    def readline(self, size: int = -1) -> bytes:
        if self.cut.done:
            return b""
        want = self._want(size)
        return self._got(self.inner.readline(want) if want != 0 else b"")

    def close(self) -> None:
        self.inner.close()


class CutStream:
    """An ``AgentStream`` over the agent's pipes, with one side cut."""

    def __init__(
        self,
        inner: ProcessStream,
        *,
        write_limit: int | None,
        read_limit: int | None,
        how: How,
        side: str,
        before_kill: Callable[[], None] | None,
    ) -> None:
        self.inner = inner
        self.cut = _Cut(inner, how, side, before_kill)
        self.cut_writer = CutWriter(inner.writer, write_limit, self.cut)
        self.cut_reader = CutReader(inner.reader, read_limit, self.cut)

    @property
    def reader(self) -> IO[bytes]:
        return cast(IO[bytes], self.cut_reader)

    @property
    def writer(self) -> IO[bytes]:
        return cast(IO[bytes], self.cut_writer)

    def diagnostics(self) -> str:
        return self.inner.diagnostics()

    def abort(self) -> None:
        self.inner.abort()

    def close(self) -> int | None:
        return self.inner.close()


class CutTransport:
    """``inner``'s agent, with the stream cut after ``cut_after`` bytes written to it.

    ``cut_after=None`` never cuts: the transport only counts the bytes each way.
    """

    side: ClassVar[str] = "write"

    def __init__(
        self,
        inner: LocalProcessTransport,
        cut_after: int | None,
        *,
        how: How = "kill",
        before_kill: Callable[[], None] | None = None,
    ) -> None:
        self.inner = inner
        self.cut_after = cut_after
        self.how: How = how
        self.before_kill = before_kill
        self.streams: list[CutStream] = []

    @property
    def description(self) -> str:
        return self.inner.description

    def open(self, nonce: str) -> AgentStream:
        stream = self.inner.open(nonce)
        assert isinstance(stream, ProcessStream)
        cut = CutStream(
            stream,
            write_limit=self.cut_after if self.side == "write" else None,
            read_limit=self.cut_after if self.side == "read" else None,
            how=self.how,
            side=self.side,
            before_kill=self.before_kill,
        )
        self.streams.append(cut)
        return cut

    @property
    def did_cut(self) -> bool:
        return any(s.cut.done for s in self.streams)

    @property
    def written(self) -> int:
        return sum(s.cut_writer.count for s in self.streams)

    @property
    def read(self) -> int:
        return sum(s.cut_reader.count for s in self.streams)


class ReadCutTransport(CutTransport):
    """``inner``'s agent, with the stream ending after ``cut_after`` bytes read from it."""

    side: ClassVar[str] = "read"


# ---------------------------------------------------------------- scenarios


PLACEHOLDER = "/placeholder-project"


@pytest.fixture(scope="module")
def big_spec() -> SessionSpec:
    """A ~3 MB session, made once; ``big_session`` moves it into each test's project."""
    return make_session(random.Random(500), PLACEHOLDER, target_bytes=FILE_BYTES)


def last_timestamp(lines: tuple[bytes, ...]) -> dt.datetime:
    """The latest top-level ``timestamp`` of a transcript's lines."""
    stamps = [json.loads(line).get("timestamp") for line in lines]
    return max(
        dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in stamps if isinstance(t, str)
    )


def big_session(m: Machines, spec: SessionSpec) -> SessionSpec:
    """``spec`` as recorded in ``m.project`` (its ``cwd`` and paths rewritten)."""
    old, new = f'"{PLACEHOLDER}'.encode(), f'"{m.project}'.encode()
    return attrs.evolve(
        spec, cwd=str(m.project), lines=tuple(line.replace(old, new) for line in spec.lines)
    )


@attrs.frozen
class Setup:
    """One session whose sync moves a multi-MB file."""

    session_id: str
    final: bytes
    """The transcript's bytes on both sides once the sync succeeds."""
    transfer: int
    """File bytes the sync must move ``way``."""
    fork: tuple[str, bytes] | None = None
    """A divergence: the fork (path under ``projects/``, bytes) that keeps the losing
    branch; its copy goes the other way."""


def build(m: Machines, big: SessionSpec, scenario: str, way: str) -> Setup:
    """Write one session whose sync moves a multi-MB file ``way`` as ``scenario``."""
    src, dst = (m.a, m.b) if way == "push" else (m.b, m.a)
    spec = big_session(m, big)
    if scenario == "copy":
        final = spec
        write_old(src, final)
        transfer = len(session_bytes(final))
    elif scenario == "append":
        head = attrs.evolve(spec, lines=spec.lines[: len(spec.lines) // 4])
        final = spec
        write_old(dst, head, hours=6)
        write_old(src, final)
        transfer = len(session_bytes(final)) - len(session_bytes(head))
    else:
        # Both went on from the same history; ``final`` went on later, so it wins.
        last = last_timestamp(spec.lines)
        loser = continue_session(random.Random(502), spec, turns=2, start=last + ONE_HOUR)
        final = continue_session(random.Random(503), spec, turns=1, start=last + 5 * ONE_HOUR)
        assert last_timestamp(final.lines) > last_timestamp(loser.lines)
        write_old(dst, loser, hours=5)
        write_old(src, final, hours=4)
        transfer = len(session_bytes(final))
        lost = session_bytes(loser)
        fork_id = fork_session_id(spec.session_id, hashlib.sha256(lost).hexdigest())
        assert transfer > 2_000_000
        return Setup(
            spec.session_id, session_bytes(final), transfer, (f"{m.dir_name}/{fork_id}.jsonl", lost)
        )
    assert transfer > 2_000_000
    return Setup(spec.session_id, session_bytes(final), transfer)


def request(m: Machines) -> SyncRequest:
    return SyncRequest(local_config=m.a, local_path=str(m.project), remote_path=str(m.project))


def save(m: Machines) -> Path:
    """A copy of both config dirs (bytes, modes, mtimes)."""
    keep = m.root / "pristine"
    for name, cfg in (("a", m.a), ("b", m.b)):
        shutil.copytree(cfg, keep / name, symlinks=True)
    return keep


def restore(m: Machines, keep: Path) -> None:
    for name, cfg in (("a", m.a), ("b", m.b)):
        shutil.rmtree(cfg)
        shutil.copytree(keep / name, cfg, symlinks=True)


def measure(m: Machines, setup: Setup) -> tuple[int, int]:
    """(bytes written to, bytes read from) the agent by the uncut sync; then undo it."""
    keep = save(m)
    counter = CutTransport(LocalProcessTransport(m.b), None)
    report = run_sync(request(m), counter, compress=RAW)
    assert report.ok, report
    forked = len(setup.fork[1]) if setup.fork else 0
    assert sum(i.bytes for i in report.items) == setup.transfer + forked
    assert session_files(m.a) == session_files(m.b)
    restore(m, keep)
    return counter.written, counter.read


def cut_sync(m: Machines, transport: CutTransport) -> SyncReport | None:
    """Run the sync over ``transport``; None when it raised ``TransportError``."""
    try:
        report = run_sync(request(m), transport, compress=RAW)
    except TransportError:
        assert transport.did_cut
        return None
    assert transport.did_cut, "the stream was never cut: the cut point is past its end"
    assert not report.ok, "a cut sync must not report success"
    return report


def _files(tree: dict[str, Entry]) -> dict[str, Entry]:
    """The files of a snapshot, staging files left out."""
    return {
        rel: e
        for rel, e in tree.items()
        if e.kind == "file" and not rel.rsplit("/", 1)[-1].startswith(TEMP_PREFIX)
    }


def assert_state_kept(
    m: Machines,
    before: tuple[dict[str, Entry], dict[str, Entry]],
    *,
    remote_temps_ok: bool,
    fork: tuple[str, bytes] | None = None,
) -> None:
    """Every file of both sides is as it was (bytes, mode, mtime); no temp left here.
    A fork that keeps a losing branch may have arrived (the other way's copy)."""
    for cfg, was in ((m.a, before[0]), (m.b, before[1])):
        now = _files(snapshot_tree(cfg / "projects"))
        if fork is not None and fork[0] in now and fork[0] not in was:
            assert now.pop(fork[0]).data == fork[1]
        assert now == _files(was)
    assert temp_files(m.a) == []
    leftovers = temp_files(m.b)
    if remote_temps_ok:
        for path in leftovers:
            assert path.name.startswith(TEMP_PREFIX)
            assert path.name.endswith(TEMP_SUFFIX)
            assert not path.name.endswith(".jsonl")
    else:
        assert leftovers == []
    for cfg in (m.a, m.b):
        assert not (cfg / "session-sync" / "backups").exists()


def finish_and_compare(m: Machines, setup: Setup) -> SyncReport:
    """The next, uncut sync completes; both sides end identical."""
    report = run_sync(request(m), LocalProcessTransport(m.b))
    assert report.ok, [i for i in report.items if i.outcome == "failed"]
    assert session_files(m.a) == session_files(m.b)
    rel = f"{m.dir_name}/{setup.session_id}.jsonl"
    assert session_files(m.a)[rel] == setup.final
    return report


# ---------------------------------------------------------------- tests


FRACTIONS = [0.02, 0.5, 1.0]
"""Where in the file data to cut: just after it starts, halfway, in its very last frame."""


@pytest.mark.parametrize("how", ["close", "kill"])
@pytest.mark.parametrize("fraction", FRACTIONS)
@pytest.mark.parametrize("way", ["push", "pull"])
@pytest.mark.parametrize("scenario", ["copy", "append", "replace"])
def test_cut_in_the_data_changes_nothing_and_next_sync_completes(
    machines: Machines,
    big_spec: SessionSpec,
    scenario: str,
    way: str,
    fraction: float,
    how: How,
) -> None:
    m = machines
    setup = build(m, big_spec, scenario, way)
    written, read = measure(m, setup)
    # The file data is the last thing each way carries (then one end-of-file frame).
    total = written if way == "push" else read
    data_end = total - E_FRAME
    if fraction == 1.0:
        # In the middle of the end-of-file frame: all data is across, not its end mark.
        # (Measured and real streams may differ by a few bytes: the scans carry times.)
        cut_at = data_end + E_FRAME // 2
    else:
        cut_at = data_end - int((1.0 - fraction) * setup.transfer)
    assert total - setup.transfer - E_FRAME < cut_at < total
    before = (snapshot_tree(m.a / "projects"), snapshot_tree(m.b / "projects"))
    inner = LocalProcessTransport(m.b)
    transport = (
        CutTransport(inner, cut_at, how=how)
        if way == "push"
        else ReadCutTransport(inner, cut_at, how=how)
    )

    outcome = cut_sync(m, transport)

    assert transport.did_cut
    assert outcome is None or outcome.failed >= 1
    assert_state_kept(
        m,
        before,
        remote_temps_ok=(how == "kill" and way == "push"),  # a SIGKILLed receiver
        fork=setup.fork,
    )
    finish_and_compare(m, setup)


@pytest.mark.parametrize(
    ("side", "where"),
    [
        ("write", "bootstrap"),
        ("write", "agent source"),
        ("write", "requests"),
        ("read", "ready line"),
        ("read", "scan answers"),
    ],
)
def test_cut_before_any_data_changes_nothing(
    machines: Machines, big_spec: SessionSpec, side: str, where: str
) -> None:
    """Cut while the agent starts, in the scans, or in the exchange request: nothing happens."""
    m = machines
    setup = build(m, big_spec, "copy", "push")
    written, read = measure(m, setup)
    before_data = written - setup.transfer - E_FRAME  # everything written before file data
    cut_at = {
        "bootstrap": 3,
        "agent source": 2_000,
        "requests": before_data - 100,
        "ready line": 10,
        "scan answers": read // 3,
    }[where]
    before = (snapshot_tree(m.a / "projects"), snapshot_tree(m.b / "projects"))
    inner = LocalProcessTransport(m.b)
    transport = (
        CutTransport(inner, cut_at, how="close")
        if side == "write"
        else ReadCutTransport(inner, cut_at, how="close")
    )

    with pytest.raises(TransportError):
        run_sync(request(m), transport, compress=RAW)

    assert transport.did_cut
    assert _files(snapshot_tree(m.a / "projects")) == _files(before[0])
    assert _files(snapshot_tree(m.b / "projects")) == _files(before[1]) == {}
    assert temp_files(m.a) == temp_files(m.b) == []
    assert not m.transcript(m.b, setup.session_id).exists()
    finish_and_compare(m, setup)


def test_cut_after_the_agent_applied_is_all_or_nothing(
    machines: Machines, big_spec: SessionSpec
) -> None:
    """The answer to a push is cut after the agent applied it: the sync fails, the file
    is whole (never partial), and the next sync has nothing left to do."""
    m = machines
    setup = build(m, big_spec, "append", "push")
    _, read = measure(m, setup)
    dest = m.transcript(m.b, setup.session_id)
    old = dest.read_bytes()
    # Inside the agent's last frame, its answer (measured and real streams may differ by a
    # few bytes: the scans carry times).
    transport = ReadCutTransport(LocalProcessTransport(m.b), read - 30, how="close")

    with pytest.raises(TransportError):
        run_sync(request(m), transport, compress=RAW)

    assert transport.did_cut
    assert dest.read_bytes() in (old, setup.final)
    assert temp_files(m.a) == temp_files(m.b) == []
    finish_and_compare(m, setup)


def _wait_for_staging(directory: Path, at_least: int) -> Callable[[], None]:
    """A ``before_kill`` hook: wait until the agent's staging file holds some bytes."""

    def wait() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            staged = [p for p in directory.glob(f"{TEMP_PREFIX}*") if p.stat().st_size >= at_least]
            if staged:
                return
            time.sleep(0.01)
        raise AssertionError(f"the agent never staged {at_least} bytes in {directory}")

    return wait


def _kill_mid_push(m: Machines, big_spec: SessionSpec) -> tuple[Setup, list[Path]]:
    """Kill the receiving agent while it stages a copy; returns what it left behind."""
    setup = build(m, big_spec, "copy", "push")
    written, _ = measure(m, setup)
    half = setup.transfer // 2
    cut_at = written - E_FRAME - setup.transfer + half
    dest_dir = m.project_dir(m.b)
    dest_dir.mkdir(parents=True, exist_ok=True)
    transport = CutTransport(
        LocalProcessTransport(m.b),
        cut_at,
        how="kill",
        before_kill=_wait_for_staging(dest_dir, 1),
    )
    with pytest.raises(TransportError):
        run_sync(request(m), transport, compress=RAW)
    assert transport.did_cut
    assert not m.transcript(m.b, setup.session_id).exists()
    return setup, temp_files(m.b)


def test_killed_receiver_leaves_only_a_harmless_temp(
    machines: Machines, big_spec: SessionSpec
) -> None:
    """SIGKILL gives the agent no chance to clean up: its staging file stays. It is never
    named ``*.jsonl``, never taken for a session, and does not stop the next sync."""
    m = machines
    setup, leftovers = _kill_mid_push(m, big_spec)

    assert len(leftovers) == 1
    (temp,) = leftovers
    assert temp.parent == m.project_dir(m.b)
    assert temp.name.startswith(TEMP_PREFIX)
    assert temp.name.endswith(TEMP_SUFFIX)
    assert not temp.name.endswith(".jsonl")
    assert 0 < temp.stat().st_size < len(setup.final)

    report = finish_and_compare(m, setup)

    assert [(i.file, i.action) for i in report.items] == [(f"{setup.session_id}.jsonl", "copy")]
    assert all(TEMP_PREFIX not in i.file for i in report.items)


def test_killed_receiver_temp_is_removed_by_the_next_sync(
    machines: Machines, big_spec: SessionSpec
) -> None:
    """The staging file a SIGKILLed agent left must be gone after the next sync."""
    m = machines
    setup, leftovers = _kill_mid_push(m, big_spec)
    assert leftovers

    finish_and_compare(m, setup)

    assert temp_files(m.b) == []


def test_killed_receiver_temp_is_removed_once_stale(
    machines: Machines, big_spec: SessionSpec
) -> None:
    """What the agent does today: a staging file older than an hour is removed by a
    sync that writes into the same directory."""
    m = machines
    setup, leftovers = _kill_mid_push(m, big_spec)
    finish_and_compare(m, setup)
    stale = time.time() - 2 * HOUR
    for path in leftovers:
        if path.exists():
            os.utime(path, (stale, stale))
    another = make_session(random.Random(504), str(m.project))
    write_old(m.a, another)

    report = run_sync(request(m), LocalProcessTransport(m.b))

    assert report.ok
    assert [i.file for i in report.items] == [f"{another.session_id}.jsonl"]
    assert temp_files(m.b) == []
