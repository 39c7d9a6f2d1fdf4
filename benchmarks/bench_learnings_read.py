"""Benchmark what ``session-sync learnings`` costs to read sessions (before any LLM
call): ``read_sessions`` over realistic generated transcripts, beside the floor
measured in the same run, reading the same bytes and parsing every line as JSON
(what any reader of "what was said" must do). A second read, with the marks
saved, shows what an incremental run costs when nothing is new.

    uv run python benchmarks/bench_learnings_read.py [--sessions 40] [--session-kb 500]

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from session_sync.learnings.read import project_dirs, read_sessions, save_mark
from session_sync.testing.sessions import make_session, write_session


def _floor(paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        for line in path.read_bytes().split(b"\n"):
            if line:
                json.loads(line)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--session-kb", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-learnings-") as tmp:
        config = Path(tmp) / "claude"
        project = Path(tmp) / "src" / "app"
        project.mkdir(parents=True)
        rng = random.Random(1)
        old = time.time() - 3600
        for _ in range(args.sessions):
            spec = make_session(rng, str(project), turns=20, target_bytes=args.session_kb << 10)
            write_session(config, spec, mtime=old)
        dirs = project_dirs(config, str(project), None)
        paths = sorted((config / "projects").glob("*/*.jsonl"))
        total = sum(p.stat().st_size for p in paths)
        first, floor, again = [], [], []
        for _ in range(args.repeat):
            marks = config / "session-sync"
            if marks.exists():
                for mark in sorted(marks.rglob("*.json")):
                    os.unlink(mark)
            start = time.perf_counter()
            reads, _ = read_sessions(config, dirs, days=7, now=time.time())
            first.append(time.perf_counter() - start)
            floor.append(_floor(paths))
            for read in reads:
                save_mark(config, read)
            start = time.perf_counter()
            read_sessions(config, dirs, days=7, now=time.time())
            again.append(time.perf_counter() - start)
        turns = sum(len(r.turns) for r in reads)
        mb = total / (1 << 20)
        print(f"{len(paths)} sessions, {mb:.1f} MiB, {turns} turns kept")
        print(f"first read (no marks):  {min(first) * 1000:8.1f} ms  {mb / min(first):7.1f} MiB/s")
        print(f"floor (read + json):    {min(floor) * 1000:8.1f} ms  {mb / min(floor):7.1f} MiB/s")
        print(f"second read (marks):    {min(again) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
