"""Benchmark what Claude's memory and the prompt history add to a sync.

Two config dirs on this machine (``--dir``: the agent is a subprocess) hold the
same session, ``--files`` memory files of ``--file-kb`` each and a
``history.jsonl`` of ``--history`` lines (a fifth of them this project's). This
prints the best of ``--runs`` in-step syncs with memory and history, beside the
floor measured in the same run: the same sync with both left out. Then the
first sync of a fresh pair (every memory file and prompt crossing) beside its
own floor.

    uv run python benchmarks/bench_memory.py [--files 50] [--file-kb 4] [--history 20000]

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from session_sync.agent.paths import encode_project_path
from session_sync.engine import SyncRequest, run_sync
from session_sync.transports.local import LocalProcessTransport

SID = "0b6f2c1e-1111-4222-8333-444455556666"


def _machine(root: Path, project: str, args: argparse.Namespace, side: str) -> Path:
    config = root / side
    folder = config / "projects" / encode_project_path(project, resolve=False)
    (folder / "memory").mkdir(parents=True)
    line = json.dumps({"type": "user", "timestamp": "2026-12-01T00:00:00.000Z", "cwd": project})
    (folder / f"{SID}.jsonl").write_text((line + "\n") * 100)
    index = [f"- [topic {i}](t{i}.md) — a fact from {side}" for i in range(args.files)]
    (folder / "memory" / "MEMORY.md").write_text("# Memory\n" + "\n".join(index) + "\n")
    for i in range(args.files):
        (folder / "memory" / f"t{i}.md").write_text(("x" * 79 + "\n") * (args.file_kb * 1024 // 80))
    with open(config / "history.jsonl", "w") as fh:
        for i in range(args.history):
            where = project if i % 5 == 0 else f"/elsewhere/{i % 7}"
            entry = {
                "display": f"{side} {i}",
                "pastedContents": {},
                "timestamp": i,
                "project": where,
            }
            fh.write(json.dumps(entry) + "\n")
    return config


def _sync(a: Path, b: Path, project: str, knowledge: bool) -> float:
    request = SyncRequest(
        local_config=a, local_path=project, remote_path=project, memory=knowledge, history=knowledge
    )
    started = time.perf_counter()
    report = run_sync(request, LocalProcessTransport(b))
    took = time.perf_counter() - started
    assert report.ok, report
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--file-kb", type=int, default=4)
    parser.add_argument("--history", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        project = os.path.realpath(root / "src" / "app")
        first = []
        for knowledge in (False, True):
            pair = root / ("with" if knowledge else "without")
            a, b = _machine(pair, project, args, "a"), _machine(pair, project, args, "b")
            first.append(_sync(a, b, project, knowledge))
        a, b = root / "with" / "a", root / "with" / "b"
        floor = min(_sync(a, b, project, False) for _ in range(args.runs))
        steady = min(_sync(a, b, project, True) for _ in range(args.runs))
        print(f"{args.files} memory files of {args.file_kb} KiB, {args.history} history lines")
        floor_text = "floor (--no-memory --no-history)"
        print(f"in step:     {steady * 1000:7.1f} ms   {floor_text}: {floor * 1000:7.1f} ms")
        print(f"first sync:  {first[1] * 1000:7.1f} ms   {floor_text}: {first[0] * 1000:7.1f} ms")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
