"""A no-op ``sync --host`` of 1,000 and 10,000 sessions, beside the floor.

A sandbox machine (a real sshd on 127.0.0.1 with its own HOME) holds the same
sessions as the laptop (HOME = a temp dir whose ``~/.ssh/config`` names it
``box``). After one sync that warms both hash caches, each method runs
``--repeat`` times on the identical trees and the median wall time is printed:

- session-sync: ``session-sync sync --host box --json``, a subprocess as a
  user runs it (its Python start-up, SSH, the agent's start and scan included);
- ``ssh box true``: OpenSSH's connect, login and a command: the least any
  remote sync pays;
- ``ssh box find ... -printf``: listing the tree over there (name, size,
  mtime), what a no-op must learn at the least;
- rsync push then pull (``rsync -a`` laptop -> box, then back), over the same
  ssh: the tool a no-op is compared with.

The ratio printed is session-sync's median over rsync push+pull's.

    uv run python benchmarks/bench_noop.py [--sessions 1000 10000] [--repeat 3]

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from session_sync.agent.paths import encode_project_path
from session_sync.testing.sandbox import Sandbox, SshHost
from session_sync.testing.sessions import make_session, write_session

TIMEOUT = 900.0


def cli() -> list[str]:
    """The ``session-sync`` command of this environment (its console script)."""
    script = Path(sys.executable).parent / "session-sync"
    return [str(script)] if script.exists() else [sys.executable, "-m", "session_sync"]


def laptop_env(laptop: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(laptop)
    env.pop("CLAUDE_CONFIG_DIR", None)
    # As a user's install runs: with its bytecode cache.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(argv)}: exit status {done.returncode}\n"
            + done.stderr.decode("utf-8", "replace")[-2000:]
        )
    return wall, done.stdout.decode("utf-8", "replace")


def populate(laptop: Path, project: Path, host: SshHost, count: int) -> tuple[Path, Path]:
    """``count`` sessions in the laptop's project dir and the same bytes (and mtimes)
    in the box's; returns both dirs."""
    config = laptop / ".claude"
    rng = random.Random(count)
    hour_ago = time.time() - 3600
    for i in range(count):
        spec = make_session(rng, str(project), turns=3, with_subagent=i % 10 == 0)
        write_session(config, spec, mtime=hour_ago)
    local_dir = config / "projects" / encode_project_path(str(project))
    remote_project = host.home / "src" / "app"
    remote_dir = host.home / ".claude" / "projects" / encode_project_path(str(remote_project))
    remote_dir.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(local_dir, remote_dir)  # copy2: mtimes kept, so rsync sees no change
    return local_dir, remote_dir


def tree_size(path: Path) -> tuple[int, int]:
    files = size = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            files += 1
            size += os.lstat(os.path.join(root, name)).st_size
    return files, size


def bench(box: Sandbox, root: Path, count: int, repeat: int) -> None:
    laptop = root / "laptop"
    project = laptop / "src" / "app"
    project.mkdir(parents=True)
    (laptop / ".claude").mkdir()
    host = box.add_host(f"noop{count}")
    config = box.write_client_config(laptop, {"box": (host.host, host.port)})
    env = laptop_env(laptop)
    local_dir, remote_dir = populate(laptop, project, host, count)
    files, size = tree_size(local_dir)
    sync = [*cli(), "sync", "--host", "box", "--local-path", str(project), "--json"]
    _wall, first = timed(sync, env)  # warms both hash caches; moves nothing
    moved = json.loads(first)
    if moved["pushed"] or moved["pulled"] or moved["failed"]:
        print(f"  note: the warm-up sync moved something: {moved['pushed']}/{moved['pulled']}")
    ssh = ["ssh", "-F", str(config)]
    rsync_e = shlex.join(ssh)
    remote = f"box:{shlex.quote(str(remote_dir))}/"
    methods: list[tuple[str, list[list[str]]]] = [
        ("session-sync sync --host (no-op)", [sync]),
        ("ssh box true", [[*ssh, "box", "true"]]),
        (
            "ssh box find -printf (the tree)",
            [[*ssh, "box", shlex.join(["find", str(remote_dir), "-printf", r"%P %s %T@\n"])]],
        ),
    ]
    have_rsync = shutil.which("rsync") is not None
    if have_rsync:
        methods.append(
            (
                "rsync -a push then pull",
                [
                    ["rsync", "-a", "-e", rsync_e, f"{local_dir}/", remote],
                    ["rsync", "-a", "-e", rsync_e, remote, f"{local_dir}/"],
                ],
            )
        )
    medians: dict[str, float] = {}
    reports: list[dict[str, object]] = []
    for label, steps in methods:
        walls = []
        for _ in range(repeat):
            total = 0.0
            for argv in steps:
                wall, out = timed(argv, env)
                total += wall
                if argv is sync:
                    reports.append(json.loads(out))
            walls.append(total)
        medians[label] = statistics.median(walls)
    print(f"{count:,} sessions ({files:,} files, {size / 1e6:.1f} MB on each side, identical):")
    for label, _steps in methods:
        print(f"  {label:36} {medians[label]:7.3f} s")
    report = reports[-1]
    print(
        f"  (session-sync's own report: {float(str(report.get('seconds', 0))):.3f} s from"
        f" connecting to done, {report.get('round_trips')} round trip(s),"
        f" {int(str(report.get('bytes_hashed', 0))):,} bytes hashed)"
    )
    if have_rsync:
        ratio = medians[methods[0][0]] / medians["rsync -a push then pull"]
        print(f"  session-sync / rsync push+pull: {ratio:.2f}x")
    else:
        print("  rsync is not installed (apt-get install -y rsync): its row is not run")
    host.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per method (median)")
    args = parser.parse_args()
    help_walls = [timed([*cli(), "--help"], laptop_env(Path.home()))[0] for _ in range(5)]
    median = statistics.median(help_walls)
    print(f"python start-up: session-sync --help {median:.3f} s (median of 5)")
    with tempfile.TemporaryDirectory(prefix="bench-noop-") as tmp, Sandbox(Path(tmp) / "sb") as box:
        for count in args.sessions:
            bench(box, Path(tmp) / f"n{count}", count, args.repeat)


if __name__ == "__main__":
    main()
