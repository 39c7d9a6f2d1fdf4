"""Benchmark what an append costs when it is staged whole and swapped in.

That is the path of ``sync --paranoid`` and of a destination not as its scan
saw it (``benchmarks/bench_apply.py`` times the fast path beside it): the
append re-reads and re-writes the destination's old bytes (so that at every
instant the file is its old bytes plus whole lines, whatever is killed when),
so it costs a copy of the file, not only the new bytes. This prints, for each
destination size, the agent's ``apply_file`` appending ``--append-kb`` of new
lines, beside the floors measured in the same run: ``cp`` of the destination
(what the staging copy cannot beat) and a bare ``O_APPEND`` write of the new
bytes (what an in-place append would cost).

    uv run python benchmarks/bench_append.py [--sizes-mb 1 10 100] [--append-kb 64]

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from session_sync.agent.apply import apply_file
from session_sync.agent.backups import open_backup_set
from session_sync.agent.messages import ApplyOp

DIR = "-bench"
SID = "0b6f2c1e-1111-4222-8333-444455556666"


def _lines(size: int, tag: bytes) -> bytes:
    line = b'{"type":"user","tag":"' + tag + b'","text":"' + b"x" * 400 + b'"}\n'
    return line * max(1, size // len(line))


def _best(runs: list[float]) -> float:
    return min(runs)


def bench(size_mb: int, append_kb: int, repeat: int) -> None:
    old = _lines(size_mb << 20, b"old")
    new = _lines(append_kb << 10, b"new")
    with tempfile.TemporaryDirectory(prefix="bench-append-") as tmp:
        config = Path(tmp) / "claude"
        target = config / "projects" / DIR / f"{SID}.jsonl"
        target.parent.mkdir(parents=True)
        apply_runs, cp_runs, raw_runs = [], [], []
        for _ in range(repeat):
            target.write_bytes(old)
            op: ApplyOp = {
                "action": "append",
                "dir": DIR,
                "rel": target.name,
                "sha256": hashlib.sha256(old + new).hexdigest(),
                "size": len(old) + len(new),
                "mode": 0o600,
                "mtime_ns": time.time_ns(),
                "expect": {
                    "complete_size": len(old),
                    "file_size": len(old),
                    "sha256": hashlib.sha256(old).hexdigest(),
                },
            }
            started = time.perf_counter()
            result = apply_file(str(config), op, iter([new]), open_backup_set(str(config), "b"))
            apply_runs.append(time.perf_counter() - started)
            assert result["ok"], result

            target.write_bytes(old)
            copy = target.with_name("copy")
            started = time.perf_counter()
            subprocess.run(["cp", str(target), str(copy)], check=True)
            cp_runs.append(time.perf_counter() - started)
            copy.unlink()

            started = time.perf_counter()
            fd = os.open(target, os.O_WRONLY | os.O_APPEND)
            os.write(fd, new)
            os.fsync(fd)
            os.close(fd)
            raw_runs.append(time.perf_counter() - started)
        shutil.rmtree(config)
    print(
        f"  {size_mb:5} MB + {append_kb} KB:  apply_file {_best(apply_runs) * 1000:8.1f} ms"
        f"   floor cp {_best(cp_runs) * 1000:8.1f} ms"
        f"   bare O_APPEND {_best(raw_runs) * 1000:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--append-kb", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    print(f"append: staged copy + swap (best of {args.repeat})")
    for size in args.sizes_mb:
        bench(size, args.append_kb, args.repeat)


if __name__ == "__main__":
    main()
