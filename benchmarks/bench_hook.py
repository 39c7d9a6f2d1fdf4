"""Benchmark the session-start hook: ``session-sync hook session-start`` on a project
with hundreds of sessions, as Claude Code runs it (a new process, JSON on stdin).

The project is a git checkout with ``--sessions`` generated sessions (half
written here, half pulled from a codespace), each about ``--session-kb`` KiB.
Measured, each ``--repeat`` times (the best and the median are printed):

- floor: ``python -c pass`` and ``session-sync --help`` (the interpreter's start,
  and the full command line's imports), in the same run, for scale;
- cold: no summary cache (every transcript read) and nothing printed before;
- warm: the cache filled, nothing printed before (the handoff is printed);
- warm, unchanged: the same handoff was printed last time (prints nothing).

    uv run python benchmarks/bench_hook.py [--sessions 300] [--session-kb 40] [--repeat 5]

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from session_sync.agent.paths import encode_project_path
from session_sync.testing.sessions import make_session, write_session

SESSION_SYNC = str(Path(sys.executable).parent / "session-sync")


def setup(root: Path, sessions: int, session_kb: int) -> tuple[Path, Path]:
    """(config dir, project checkout) with ``sessions`` sessions of the project."""
    config, project = root / "config", root / "app"
    project.mkdir(parents=True)
    git = ["git", "-C", str(project), "-c", "user.email=b@b", "-c", "user.name=b"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "git@github.com:me/app.git"], check=True)
    (project / "app.py").write_text("print('hi')\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "start"], check=True)
    dir_name = encode_project_path(str(project))
    rng = random.Random(15)
    now = time.time()
    for i in range(sessions):
        cwd = str(project) if i % 2 else "/workspaces/app"
        spec = make_session(rng, cwd, turns=4, target_bytes=session_kb * 1024)
        write_session(config, spec, project_dir_name=dir_name, mtime=now - 3600 - i * 60)
    return config, project


def run_hook(config: Path, project: Path) -> tuple[float, int]:
    """One hook run: (seconds, bytes printed)."""
    stdin = json.dumps({"session_id": "x", "cwd": str(project), "source": "startup"})
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config)}
    start = time.perf_counter()
    done = subprocess.run(
        [SESSION_SYNC, "hook", "session-start"],
        input=stdin.encode(),
        env=env,
        capture_output=True,
        check=False,
    )
    took = time.perf_counter() - start
    if done.returncode != 0 or done.stderr:
        raise SystemExit(f"the hook failed: {done.stderr.decode(errors='replace')}")
    return took, len(done.stdout)


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--session-kb", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-hook-"))
    try:
        config, project = setup(root, args.sessions, args.session_kb)
        handoff = config / "session-sync" / "handoff"
        store = handoff / encode_project_path(str(project))
        rows: dict[str, list[float]] = {}
        printed: dict[str, int] = {}
        for _ in range(args.repeat):
            rows.setdefault("floor: python -c pass", []).append(
                timed([sys.executable, "-c", "pass"])
            )
            rows.setdefault("floor: session-sync --help", []).append(
                timed([SESSION_SYNC, "--help"])
            )
            shutil.rmtree(handoff, ignore_errors=True)
            took, n = run_hook(config, project)
            rows.setdefault("hook, cold (no cache)", []).append(took)
            printed["hook, cold (no cache)"] = n
            (store / "hook.last").unlink()
            took, n = run_hook(config, project)
            rows.setdefault("hook, warm", []).append(took)
            printed["hook, warm"] = n
            took, n = run_hook(config, project)
            rows.setdefault("hook, warm, unchanged", []).append(took)
            printed["hook, warm, unchanged"] = n
        total = sum(p.stat().st_size for p in config.glob("projects/*/*.jsonl"))
        print(
            f"{args.sessions} sessions, {total / 1e6:.1f} MB of transcripts,"
            f" best and median of {args.repeat} runs"
        )
        print(f"{'what':<30} {'best s':>8} {'median s':>9} {'printed B':>10}")
        for name, times in rows.items():
            shown = str(printed[name]) if name in printed else "-"
            print(f"{name:<30} {min(times):>8.3f} {statistics.median(times):>9.3f} {shown:>10}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
