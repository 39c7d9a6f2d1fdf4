"""Benchmark what a checkpoint of this machine's checkout costs.

Builds a repository of ``--files`` committed files, changes ``--changed`` of them and
adds as many untracked ones, then times ``take_local`` (a temporary index copied from
the real one, ``git add -u``, the untracked files, ``write-tree``, ``commit-tree``, a
ref) beside the floor measured in the same run: ``git stash create``, git's own way
to make a commit of the work without touching the checkout (it leaves out untracked
files, so it does less).

    uv run python benchmarks/bench_checkpoint.py [--files 5000] [--changed 50] [--runs 3]

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import tempfile
import time
from pathlib import Path

from session_sync.checkpoints.take import take_local

IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *IDENTITY, *args], cwd=cwd, check=True, capture_output=True)


def _repo(root: Path, files: int, changed: int) -> Path:
    top = root / "repo"
    _git(root, "init", "-q", "-b", "main", str(top))
    for i in range(files):
        path = top / f"dir{i % 50}" / f"file{i}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"line {i}\n" * 40)
    _git(top, "add", ".")
    _git(top, "commit", "-q", "-m", "base")
    for i in range(changed):
        (top / f"dir{i % 50}" / f"file{i}.txt").write_text(f"changed {i}\n")
        (top / f"new{i}.txt").write_text(f"new {i}\n" * 10)
    return top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--changed", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        top = _repo(Path(tmp), args.files, args.changed)
        ours: list[float] = []
        floor: list[float] = []
        start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        for run in range(args.runs):
            # Each run other work, so each makes a checkpoint.
            (top / "run.txt").write_text(f"run {run}\n")
            began = time.perf_counter()
            taken = take_local(top, now=start + dt.timedelta(minutes=run))
            ours.append(time.perf_counter() - began)
            assert taken.checkpoint is not None
            began = time.perf_counter()
            subprocess.run(
                ["git", *IDENTITY, "stash", "create"],
                cwd=top,
                check=True,
                capture_output=True,
                env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
            )
            floor.append(time.perf_counter() - began)
    print(f"repository: {args.files} files, {args.changed} changed, {args.changed + 1} untracked")
    print(f"checkpoint (take_local):      best {min(ours) * 1000:7.1f} ms of {args.runs}")
    print(f"floor (git stash create):     best {min(floor) * 1000:7.1f} ms of {args.runs}")


if __name__ == "__main__":
    main()
