"""Benchmark the engine over the local transport (two config dirs, one machine).

Prints, for each session count: the first sync (everything copied), a sync after 5
sessions gained lines on each side (only tails should move), a no-op sync with the
hash cache warm, and the same no-op with the cache removed (what the cache saves).

    uv run python benchmarks/bench_local.py [--sessions 10 100 500] [--size-kb 200]

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from session_sync.engine import SyncRequest, run_sync
from session_sync.fixtures import SessionSpec, continue_session, make_session, write_session
from session_sync.report import SyncReport
from session_sync.transport import LocalProcessTransport


def _populate(root: Path, count: int, size_kb: int) -> tuple[Path, Path, str, list[SessionSpec]]:
    a, b, project = root / "a", root / "b", root / "project"
    for path in (a, b, project):
        path.mkdir(parents=True)
    rng = random.Random(count)
    old = time.time() - 3 * 3600
    specs = []
    for _ in range(count):
        spec = make_session(rng, str(project), turns=4, target_bytes=size_kb * 1024)
        write_session(a, spec, mtime=old)
        specs.append(spec)
    return a, b, str(project), specs


def _grow(config: Path, specs: list[SessionSpec], seed: int) -> int:
    rng = random.Random(seed)
    added = 0
    old = time.time() - 3600
    for spec in specs:
        more = continue_session(rng, spec, turns=2)
        added += sum(len(x) + 1 for x in more.lines) - sum(len(x) + 1 for x in spec.lines)
        write_session(config, more, mtime=old)
    return added


def _row(label: str, report: SyncReport, seconds: float, hashed: int, extra: str = "") -> str:
    return (
        f"  {label:28} {seconds:7.2f}s  trips={report.round_trips}  "
        f"moved={report.pushed + report.pulled:5}  sent={report.bytes_sent:>12,}  "
        f"recv={report.bytes_received:>12,}  "
        f"wire={report.wire_bytes_sent + report.wire_bytes_received:>12,}"
        f"  hashed={hashed:>12,} {extra}"
    )


def bench(count: int, size_kb: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="session-sync-bench-"))
    try:
        a, b, project, specs = _populate(root, count, size_kb)
        total = sum(f.stat().st_size for f in (a / "projects").rglob("*") if f.is_file())
        request = SyncRequest(local_config=a, local_path=project, remote_path=project)
        transport = LocalProcessTransport(b)
        print(f"{count} sessions, {total / 1e6:.1f} MB on one side")

        def timed(label: str, extra: str = "") -> SyncReport:
            started = time.perf_counter()
            report = run_sync(request, transport)
            seconds = time.perf_counter() - started
            print(_row(label, report, seconds, report.bytes_hashed, extra))
            return report

        timed("first sync (copy all)")
        timed("settle (new files hashed)")
        n = min(5, count // 2)
        added = _grow(a, specs[:n], 1) + _grow(b, specs[n : 2 * n], 2)
        report = timed("5+5 sessions grew", f"appended={added:,}")
        if report.bytes_sent + report.bytes_received:
            moved = report.bytes_sent + report.bytes_received
            print(f"    bytes moved / bytes appended = {moved / added:.3f}")
        timed("no-op, cache warm")
        for cache in (
            a / "session-sync" / "hash-cache.json",
            b / "session-sync" / "hash-cache.json",
        ):
            os.unlink(cache)
        timed("no-op, cache removed")
        timed("no-op, cache warm again")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--size-kb", type=int, default=200, help="approximate size of each session")
    args = parser.parse_args()
    for count in args.sessions:
        bench(count, args.size_kb)


if __name__ == "__main__":
    main()
