"""Benchmark the engine over the local transport (two config dirs, one machine).

Prints, for each session count: the first sync (everything copied), a sync after 5
sessions gained lines on each side (only tails should move), a no-op sync with the
hash cache warm, and the same no-op with the cache removed (what the cache saves).

    uv run python benchmarks/bench_local.py [--sessions 10 100 500] [--size-kb 200]

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from session_sync.engine import SyncRequest, run_sync
from session_sync.model.report import SyncReport
from session_sync.testing.sessions import SessionSpec, continue_session, make_session, write_session
from session_sync.transports.local import LocalProcessTransport


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


def bench_big(size_mb: int) -> None:
    """One large session copied, then grown by a little: peak memory on both sides."""
    root = Path(tempfile.mkdtemp(prefix="session-sync-bench-big-"))
    try:
        a, b, project = root / "a", root / "b", root / "project"
        for path in (a, b, project):
            path.mkdir()
        # Made in another process, so this one's peak memory is the sync's alone.
        code = (
            "import random, sys, time, pathlib\n"
            "from session_sync.testing.sessions import make_session, write_session\n"
            "spec = make_session(random.Random(1), sys.argv[2], target_bytes=int(sys.argv[3]))\n"
            "write_session(pathlib.Path(sys.argv[1]), spec, mtime=time.time() - 3600)\n"
        )
        subprocess.run(
            [sys.executable, "-c", code, str(a), str(project), str(size_mb * 1_000_000)],
            check=True,
        )
        # The sync runs in a fresh process whose only child is the agent, so each
        # peak RSS below is one side's own.
        measure = (
            "import json, pathlib, resource, sys, time\n"
            "from session_sync.engine import SyncRequest, run_sync\n"
            "from session_sync.transports.local import LocalProcessTransport\n"
            "a, b, p = sys.argv[1:4]\n"
            "request = SyncRequest(local_config=pathlib.Path(a), local_path=p, remote_path=p)\n"
            "t = time.perf_counter()\n"
            "report = run_sync(request, LocalProcessTransport(pathlib.Path(b)))\n"
            "print(json.dumps({'seconds': time.perf_counter() - t, 'sent': report.bytes_sent,\n"
            "  'controller': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,\n"
            "  'agent': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", measure, str(a), str(b), str(project)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        m = json.loads(out)
        print(f"one {size_mb} MB session")
        print(
            f"  copy: {m['seconds']:.2f}s  sent={m['sent']:,}  peak RSS: controller"
            f" {m['controller'] / 1024:.0f} MiB, agent {m['agent'] / 1024:.0f} MiB"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--size-kb", type=int, default=200, help="approximate size of each session")
    parser.add_argument("--big-mb", type=int, default=200, help="size of the one large session")
    args = parser.parse_args()
    bench_big(args.big_mb)
    for count in args.sessions:
        bench(count, args.size_kb)


if __name__ == "__main__":
    main()
