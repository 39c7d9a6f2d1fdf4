"""Show that the per-line and per-session costs grow linearly.

Three tables, each beside a floor measured in the same run:

- the last-message scan of a transcript that is one long line (1, 10, 20 MB),
  beside reading the file once;
- parsing 100,000 timestamps as Claude writes them, beside python-dateutil's
  ``isoparse`` of the same strings;
- the planner's prefix check (``survey.missing_prefixes``) and ``plan_sync``
  at 2,000 / 10,000 / 20,000 sessions and at 100 sessions of 1,000 files, beside
  building the manifests (what any planner must pay).

    uv run python benchmarks/bench_linear.py [--line-mb 1 10 20] [--sessions 2000 10000 20000]

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable

from session_sync.model.manifest import FileEntry, SessionEntry, SessionManifest
from session_sync.model.reconcile import SyncPolicy, plan_sync
from session_sync.survey import missing_prefixes as _missing_prefixes
from session_sync.timestamps import last_message_time, parse_timestamp

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


def _timed(call: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    call(*args)
    return time.perf_counter() - started


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def long_lines(sizes_mb: list[int]) -> None:
    print(f"{'one-line transcript':>20} {'last-message scan s':>20} {'read once s':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for mb in sizes_mb:
            path = os.path.join(tmp, f"{mb}.jsonl")
            body = b'{"type":"user","timestamp":"2026-11-30T10:00:00.123Z","t":"'
            with open(path, "wb") as fh:
                fh.write(body + b"x" * (mb * 1_000_000) + b'"}\n')
            scan = _timed(last_message_time, path)
            read = _timed(_read, path)
            print(f"{mb:>17} MB {scan:>20.3f} {read:>12.3f}")


def timestamps(count: int) -> None:
    from dateutil import parser as date_parser

    texts = [f"2026-11-{1 + i % 28:02d}T10:{i % 60:02d}:00.{i % 1000:03d}Z" for i in range(count)]
    ours = _timed(lambda: [parse_timestamp(t) for t in texts])
    floor = _timed(lambda: [date_parser.isoparse(t) for t in texts])
    print(f"\n{count} timestamps: parse_timestamp {ours:.3f} s, dateutil isoparse {floor:.3f} s")


def _manifest(sessions: int, files: int, grown: bool) -> SessionManifest:
    entries = []
    for s in range(sessions):
        sid = f"{s:08d}-0000-4000-8000-000000000000"
        size = 2000 if grown else 1000
        rows = [
            FileEntry(
                rel=f"{sid}.jsonl",
                sha256="a" * 64,
                complete_size=size,
                file_size=size,
                mtime_ns=1,
                mode=0o600,
                last_message_time=NOW,
                prefix_size=1000 if grown else None,
                prefix_sha256="a" * 64 if grown else None,
            )
        ]
        rows += [
            FileEntry(
                rel=f"{sid}/tool-results/{f}.txt",
                sha256="b" * 64,
                complete_size=10,
                file_size=10,
                mtime_ns=1,
                mode=0o600,
            )
            for f in range(files)
        ]
        entries.append(SessionEntry(sid, "-p", True, False, tuple(rows)))
    return SessionManifest("/c", "h", "-p", "/p", (), tuple(entries))


def planner(counts: list[int]) -> None:
    print(f"\n{'shape':>22} {'build manifests s':>18} {'prefix check s':>15} {'plan_sync s':>12}")
    for sessions, files in [(n, 0) for n in counts] + [(100, 1000)]:
        started = time.perf_counter()
        local = _manifest(sessions, files, False)
        remote = _manifest(sessions, files, True)
        build = time.perf_counter() - started
        check = _timed(_missing_prefixes, remote, local)
        plan = _timed(plan_sync, local, remote, SyncPolicy(), NOW)
        shape = f"{sessions} x {files + 1} files"
        print(f"{shape:>22} {build:>18.3f} {check:>15.3f} {plan:>12.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--line-mb", type=int, nargs="+", default=[1, 10, 20])
    parser.add_argument("--sessions", type=int, nargs="+", default=[2000, 10000, 20000])
    parser.add_argument("--timestamps", type=int, default=100_000)
    args = parser.parse_args()
    long_lines(args.line_mb)
    timestamps(args.timestamps)
    planner(args.sessions)


if __name__ == "__main__":
    main()
