"""What an apply and a repeated scan cost, each beside its floor from the same run.

Three tables:

- an append of ``--append-kb`` to a ``--transcript-mb`` transcript that this
  machine's scan hashed (the fast path: its tail and the new bytes are read),
  beside the same append with ``--paranoid`` (re-read whole, staged copy swapped
  in) and the floors: reading the new bytes once, and ``cat`` of the file; plus
  the sender's scan of its grown copy, which this does not change;
- applying ``--files`` new small files into one dir, beside the same batch
  listing the dir for stale temp files once per file (as before), and the floors:
  writing that many files, bare and each fsynced;
- a repeated ``status`` (a read-only scan) of ``--sessions`` sessions with the
  hash cache saved, beside the first one (every file hashed: what each status
  cost before it saved the cache) and the floor: listing and stat-ing the files.

    uv run python benchmarks/bench_apply.py [--transcript-mb 200] [--files 10000] [--sessions 1000]

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from session_sync.agent import apply as apply_module
from session_sync.agent.apply import apply_batch
from session_sync.agent.hashcache import HashCache, describe_file
from session_sync.agent.messages import ApplyOp, FileResult, ScanRequest
from session_sync.agent.paths import encode_project_path
from session_sync.agent.scan import scan

DIR = "-bench"
STAMP = b'"timestamp":"2026-11-30T10:00:00.123Z"'


def _lines(size: int, tag: bytes) -> bytes:
    line = b'{"type":"user",' + STAMP + b',"tag":"' + tag + b'","text":"' + b"x" * 400 + b'"}\n'
    return line * max(1, size // len(line))


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _op(action: str, rel: str, result: bytes, old: bytes | None, tail: bytes | None) -> ApplyOp:
    op: ApplyOp = {
        "action": action,
        "dir": DIR,
        "rel": rel,
        "sha256": hashlib.sha256(result).hexdigest(),
        "size": len(result),
        "mode": 0o600,
        "mtime_ns": time.time_ns(),
        "expect": None,
    }
    if old is not None:
        digest = hashlib.sha256(old).hexdigest()
        op["expect"] = {"complete_size": len(old), "file_size": len(old), "sha256": digest}
    if tail is not None:
        op["append_sha256"] = hashlib.sha256(tail).hexdigest()
    return op


def _append_once(config: Path, target: Path, old: bytes, new: bytes, paranoid: bool) -> float:
    """Time one append to ``target`` as a sync makes it, after a scan (not timed)."""
    target.write_bytes(old)
    cache = HashCache(str(config))
    describe_file(str(target.parent), target.name, cache)
    cache.save()
    op = _op("append", target.name, old + new, old, new)
    started = time.perf_counter()
    answer = apply_batch(str(config), [op], lambda: iter([new]), "b", 30, paranoid)
    took = time.perf_counter() - started
    assert answer["results"][0]["ok"], answer
    assert target.read_bytes() == old + new
    return took


def append(transcript_mb: int, append_kb: int, repeat: int) -> None:
    old = _lines(transcript_mb << 20, b"old")
    new = _lines(append_kb << 10, b"new")
    rel = f"{uuid.UUID(int=1)}.jsonl"
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        config = Path(tmp) / "claude"
        target = config / "projects" / DIR / rel
        target.parent.mkdir(parents=True)
        source = Path(tmp) / "source" / rel
        source.parent.mkdir()
        source.write_bytes(old + new)
        fd = os.open(source, os.O_RDONLY)
        cat = ["cat", str(target)]
        runs: dict[str, list[float]] = {"now": [], "paranoid": [], "read": [], "cat": []}
        for _ in range(repeat):
            runs["now"].append(_append_once(config, target, old, new, False))
            runs["paranoid"].append(_append_once(config, target, old, new, True))
            runs["read"].append(_timed(lambda: os.pread(fd, len(new), len(old))))
            runs["cat"].append(_timed(lambda: subprocess.run(cat, stdout=subprocess.DEVNULL)))
        os.close(fd)
        sender = _timed(lambda: describe_file(str(source.parent), rel, HashCache(tmp), len(old)))
    best = {k: min(v) for k, v in runs.items()}
    print(
        f"append {append_kb} KB to a {transcript_mb} MB transcript (best of {repeat})\n"
        f"{'now s':>12} {'--paranoid s':>13} {'floor: read the new bytes s':>28}"
        f" {'cat of the file s':>18}\n"
        f"{best['now']:>12.4f} {best['paranoid']:>13.3f} {best['read']:>28.6f}"
        f" {best['cat']:>18.3f}\n"
        f"  (the sender's scan of its grown copy, not changed here: {sender:.3f} s)"
    )


def _apply_all(config: str, ops: list[ApplyOp], data: bytes, listing_per_file: bool) -> float:
    """Time ``apply_batch`` of ``ops``; ``listing_per_file``: as it was before, each
    file's dir listed for stale temp files (``apply_or_stage`` without ``swept``)."""
    real = apply_module.apply_or_stage

    def without_swept(*args: Any, **kwargs: Any) -> FileResult | None:
        kwargs["swept"] = None
        return real(*args, **kwargs)

    if listing_per_file:
        apply_module.apply_or_stage = without_swept
    try:
        return _timed(lambda: apply_batch(config, ops, lambda: iter([data]), "b", 30))
    finally:
        apply_module.apply_or_stage = real


def many_files(count: int) -> None:
    data = b'{"type":"user","n":1}\n'
    rels = [f"{uuid.UUID(int=i + 1)}.jsonl" for i in range(count)]
    ops = [_op("copy", rel, data, None, None) for rel in rels]
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        for name in ("now", "before"):
            config = os.path.join(tmp, name)
            os.makedirs(os.path.join(config, "projects", DIR))
            times[name] = _apply_all(config, ops, data, listing_per_file=name == "before")
        for name in ("bare", "fsync"):
            where = os.path.join(tmp, name)
            os.makedirs(where)
            times[name] = _write_files(where, rels, data, sync=name == "fsync")
    print(
        f"\napply {count} new small files into one dir\n"
        f"{'now s':>8} {'a listing per file s':>21} {'floor: write them s':>20}"
        f" {'write + fsync each s':>21}\n"
        f"{times['now']:>8.2f} {times['before']:>21.2f} {times['bare']:>20.2f}"
        f" {times['fsync']:>21.2f}"
    )


def _write_files(where: str, rels: list[str], data: bytes, sync: bool) -> float:
    started = time.perf_counter()
    for rel in rels:
        fd = os.open(os.path.join(where, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        if sync:
            os.fsync(fd)
        os.close(fd)
    return time.perf_counter() - started


def statuses(count: int, repeat: int) -> None:
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        project = os.path.join(tmp, "project")
        os.makedirs(project)
        config = os.path.join(tmp, "claude")
        here = os.path.join(config, "projects", encode_project_path(project))
        os.makedirs(here)
        cwd = b'"cwd":"' + project.encode() + b'",'
        body = b"".join(
            b'{"type":"user",' + cwd + STAMP + b',"n":%d,"t":"%s"}\n' % (i, b"x" * 200)
            for i in range(80)
        )
        paths = []
        for _ in range(count):
            path = os.path.join(here, f"{uuid.UUID(int=rng.getrandbits(128), version=4)}.jsonl")
            with open(path, "wb") as fh:
                fh.write(body)
            paths.append(path)
        request: ScanRequest = {"project_path": project, "days": 7, "read_only": True}
        first = _timed(lambda: scan(config, request))
        saved = os.stat(os.path.join(config, "session-sync", "hash-cache.json"))
        again = min(_timed(lambda: scan(config, request)) for _ in range(repeat))
        after = os.stat(os.path.join(config, "session-sync", "hash-cache.json"))
        floor = min(_timed(lambda: [e.stat() for e in os.scandir(here)]) for _ in range(repeat))
    rewritten = (after.st_ino, after.st_mtime_ns) != (saved.st_ino, saved.st_mtime_ns)
    print(
        f"\nstatus (a read-only scan) of {count} sessions, {len(body) * count >> 20} MB"
        f" (best of {repeat})\n"
        f"{'repeated s':>11} {'first: hashes all s':>20} {'floor: list + stat s':>21}"
        f" {'cache rewritten':>16}\n"
        f"{again:>11.3f} {first:>20.3f} {floor:>21.4f} {'yes' if rewritten else 'no':>16}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transcript-mb", type=int, default=200)
    parser.add_argument("--append-kb", type=int, default=1)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    append(args.transcript_mb, args.append_kb, args.repeat)
    many_files(args.files)
    statuses(args.sessions, args.repeat)


if __name__ == "__main__":
    main()
