"""Benchmark ``--all``: every project over one connection, against one ``status``
per project (what a user would script without it).

For each project count P (each with S sessions on both sides, in step): the time and
round trips of ``status --all`` (the library's ``all_projects``) over ``--dir``, the
same P projects surveyed one connection each, and the floor: ``find`` listing the
two trees.

    uv run python benchmarks/bench_all.py [--projects 1 10 50] [--sessions 20]

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path

from session_sync.all_projects import all_projects
from session_sync.engine import SyncRequest, survey
from session_sync.model.pairing import TargetKind
from session_sync.testing.sessions import make_session, write_session
from session_sync.transports.local import LocalProcessTransport


def _populate(root: Path, projects: int, sessions: int) -> tuple[Path, Path, list[str]]:
    a, b = root / "a", root / "b"
    paths = []
    rng = random.Random(projects)
    old = time.time() - 3 * 3600
    for p in range(projects):
        project = root / "home" / "src" / f"project-{p}"
        project.mkdir(parents=True)
        paths.append(str(project))
        for _ in range(sessions):
            spec = make_session(rng, str(project), turns=3, target_bytes=4000)
            write_session(a, spec, mtime=old)
            write_session(b, spec, mtime=old)
    return a, b, paths


def _timed_all(a: Path, b: Path) -> tuple[float, int, int]:
    template = SyncRequest(local_config=a, local_path=None, remote_path=None, dry_run=True)
    started = time.perf_counter()
    found = all_projects(template, LocalProcessTransport(b), kind=TargetKind.DIR, apply=False)
    return time.perf_counter() - started, found.round_trips, len(found.outcomes)


def _timed_each(a: Path, b: Path, paths: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    for path in paths:
        request = SyncRequest(local_config=a, local_path=path, remote_path=path, dry_run=True)
        survey(request, LocalProcessTransport(b))
    return time.perf_counter() - started, len(paths)


def _timed_find(a: Path, b: Path) -> float:
    started = time.perf_counter()
    for config in (a, b):
        subprocess.run(
            ["find", str(config), "-printf", "%p %s %T@\n"], check=True, stdout=subprocess.DEVNULL
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--sessions", type=int, default=20, help="per project, on each side")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {args.sessions} sessions per project on each side, in step")
    print(
        f"  {'projects':>8}  {'--all':>8} {'trips':>5}  {'one by one':>10} {'conns':>5}"
        f"  {'find floor':>10}"
    )
    for count in args.projects:
        with tempfile.TemporaryDirectory() as tmp:
            a, b, paths = _populate(Path(tmp), count, args.sessions)
            _timed_all(a, b)  # warm the hash caches and the page cache
            every, trips, listed = _timed_all(a, b)
            assert listed == count, (listed, count)
            each, connections = _timed_each(a, b, paths)
            floor = _timed_find(a, b)
            print(
                f"  {count:>8}  {every:7.2f}s {trips:>5}  {each:9.2f}s {connections:>5}"
                f"  {floor:9.3f}s"
            )


if __name__ == "__main__":
    main()
