"""A writer appends lines to a transcript while a sync writes into it: no line is lost.

The writer is a separate process that does what Claude does for every line:
``open(path, "ab")``, write one whole line, close; about one a millisecond. It
starts the moment the sync's staging file appears beside the destination (so
the scan saw the destination as it was, hours old) and goes on until the sync
has returned and at least ``WRITER_LINES`` lines are written, so it writes
through the staging, the re-check, the swap and whatever follows.

The sync is free to refuse (the destination changed under it); it is not free to
lose a line: every writer line is in the destination exactly once (for an
append) or somewhere the user can reach (for a replace), and the sync's own
lines are all there too, or none of them.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import pytest
from conftest import Machines, write_old

from session_sync.agent.paths import TEMP_PREFIX
from session_sync.engine import SyncRequest, run_sync
from session_sync.model.report import ItemReport
from session_sync.testing.lines import all_lines, complete_lines, last_time, transcripts
from session_sync.testing.sessions import (
    continue_session,
    make_session,
    session_bytes,
)
from session_sync.transports.local import LocalProcessTransport

WRITER_LINES = 500
BIG_BYTES = 30_000_000
"""What the sync adds (an append) or swaps in (a replace)."""

WRITER = textwrap.dedent(
    """
    import json, os, sys, time
    path, watch, stop, least, prefix, mode, size = sys.argv[1:8]
    least, size = int(least), int(size)
    print("ready", flush=True)
    deadline = time.monotonic() + 120
    saw, seen = "", set()
    first_size = os.stat(path).st_size
    while not saw and time.monotonic() < deadline and not os.path.exists(stop):
        names = {n for n in os.listdir(watch) if n.startswith(prefix)}
        if seen - names:
            saw = "after"  # a staged file we saw is gone: swapped (or given up)
        for name in names:
            try:
                st = os.stat(os.path.join(watch, name))
            except OSError:
                continue
            seen.add(name)
            if (
                mode == "staging"
                or (mode == "staged" and st.st_size >= size)
                # The staged file got its final mtime (hours ago): the re-check
                # and the swap come next.
                or (mode == "swap" and st.st_mtime < time.time() - 600)
            ):
                saw = "window"
        if mode == "grows" and os.stat(path).st_size > first_size:
            saw = "window"  # the sync writes into the destination itself
        time.sleep(0.0002)
    n = 0
    while n < least or not os.path.exists(stop):
        line = {"type": "writer", "n": n, "pad": "w" * (50 + n % 400)}
        with open(path, "ab") as fh:
            fh.write(json.dumps(line).encode() + b"\\n")
        n += 1
        time.sleep(0.001)
    print(json.dumps({"lines": n, "started": saw}), flush=True)
    """
)


def writer_line(n: int) -> bytes:
    """The ``n``-th line the writer writes (without its newline)."""
    return json.dumps({"type": "writer", "n": n, "pad": "w" * (50 + n % 400)}).encode()


@attrs.frozen
class Written:
    lines: list[bytes]
    started: str
    """window (the staging file was there), after (it was gone) or "" (never seen)."""


def sync_with_writer(
    m: Machines, target: Path, way: str, start: str, incoming: int
) -> tuple[ItemReport, Written]:
    """Run the sync (``way``: push or pull) while the writer appends to ``target``,
    from the moment ``start`` (see ``START``); ``incoming``: the bytes the sync sends."""
    stop = m.root / "stop-writer"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            str(target),
            str(target.parent),
            str(stop),
            str(WRITER_LINES),
            TEMP_PREFIX,
            start,
            str(incoming),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        request = SyncRequest(
            local_config=m.a, local_path=str(m.project), remote_path=str(m.project)
        )
        report = run_sync(request, LocalProcessTransport(m.b))
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=120)
    assert writer.returncode == 0
    summary = json.loads(out)
    (item,) = [i for i in report.items if i.file == target.name]
    assert item.direction == way
    return item, Written([writer_line(n) for n in range(summary["lines"])], summary["started"])


def machines_with_registry(m: Machines) -> None:
    for config in (m.a, m.b):
        # An empty registry: nothing is open on either machine.
        (config / "sessions").mkdir(exist_ok=True)


def refused_for_a_change(item: ItemReport) -> bool:
    return item.outcome == "failed" and "changed" in (item.error or "")


START = ["staging", "staged", "swap"]
"""When the writer starts: the staging file appeared; it holds every byte the sync
sends (the sync then fsyncs, re-checks); or it has its final mtime, so the re-check
and the swap come next (the writer may then land before the re-check, between it
and the swap, or after it: any is allowed)."""
APPEND_START = ["staging", "grows", "swap"]
"""For an append also: the destination itself starts to grow (a sync that writes in
place), or a staging file it saw is gone."""


@pytest.mark.slow
@pytest.mark.parametrize("start", APPEND_START)
@pytest.mark.parametrize("way", ["push", "pull"])
def test_writer_lines_survive_a_large_append(machines: Machines, way: str, start: str) -> None:
    m = machines
    machines_with_registry(m)
    src, dst = (m.a, m.b) if way == "push" else (m.b, m.a)
    full = make_session(random.Random(7), str(m.project), target_bytes=BIG_BYTES)
    head = attrs.evolve(full, lines=full.lines[:4])
    write_old(dst, head, hours=6)
    write_old(src, full)
    target = m.transcript(dst, full.session_id)

    incoming = len(session_bytes(full)) - len(session_bytes(head))
    item, written = sync_with_writer(m, target, way, start, incoming)

    assert written.started, "the writer never saw the sync staging: no overlap tested"
    assert item.action == "append"
    assert item.outcome == "done" or refused_for_a_change(item), item
    data = target.read_bytes()
    assert data.endswith(b"\n"), "the transcript ends inside a line"
    lines = complete_lines(data)
    counts = collections.Counter(lines)
    lost = [n for n, line in enumerate(written.lines) if counts[line] == 0]
    twice = [n for n, line in enumerate(written.lines) if counts[line] > 1]
    assert not lost, f"{len(lost)} of {len(written.lines)} writer lines lost: {lost[:10]}..."
    assert not twice, f"writer lines written twice: {twice[:10]}"
    writer_set = set(written.lines)
    ours = [line for line in lines if line not in writer_set]
    expected = list(full.lines) if item.outcome == "done" else list(head.lines)
    assert ours == expected, "the sync's own lines are not all there, in order (or none)"
    # The writer's lines are in the order it wrote them.
    assert [line for line in lines if line in writer_set] == written.lines


@pytest.mark.slow
@pytest.mark.parametrize("start", START)
@pytest.mark.parametrize("way", ["push", "pull"])
def test_writer_lines_survive_a_replace(machines: Machines, way: str, start: str) -> None:
    """A diverged copy loses to a 30 MB one while the writer appends to it."""
    m = machines
    machines_with_registry(m)
    src, dst = (m.a, m.b) if way == "push" else (m.b, m.a)
    base = make_session(random.Random(8), str(m.project), turns=4)
    last = last_time(base)
    loser = continue_session(random.Random(9), base, turns=1, start=last + dt.timedelta(hours=1))
    grown = continue_session(random.Random(10), base, turns=1, start=last + dt.timedelta(hours=5))
    padding = make_session(random.Random(11), str(m.project), target_bytes=BIG_BYTES)
    # The winner: the common history, then a long branch of its own (padded lines).
    winner = attrs.evolve(grown, lines=grown.lines + padding.lines[2:])
    assert last_time(winner) > last_time(loser)
    write_old(dst, loser, hours=5)
    write_old(src, winner, hours=4)
    target = m.transcript(dst, base.session_id)

    item, written = sync_with_writer(m, target, way, start, len(session_bytes(winner)))

    assert written.started, "the writer never saw the sync staging: no overlap tested"
    assert item.action == "replace"
    assert item.outcome == "done" or refused_for_a_change(item), item
    data = target.read_bytes()
    assert data.endswith(b"\n"), "the transcript ends inside a line"
    writer_set = set(written.lines)
    ours = [line for line in complete_lines(data) if line not in writer_set]
    if item.outcome == "done":
        assert ours == list(winner.lines), "the live file is not the winner (plus writer lines)"
    else:
        assert ours == list(loser.lines), "a refused replace changed the live file"
    reachable = all_lines(dst)
    lost = [n for n, line in enumerate(written.lines) if line not in reachable]
    assert not lost, (
        f"{len(lost)} of {len(written.lines)} writer lines in no live file or forked session:"
        f" {lost[:10]}"
    )
    # The loser's own lines are still reachable on this machine too.
    assert set(loser.lines) <= reachable
    # Nothing but the transcripts that were there, and forks of them, is a session.
    assert all(rel.endswith(".jsonl") for rel in transcripts(dst))
