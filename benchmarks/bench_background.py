"""Benchmark the hourly job: ``sync-sessions-from-all-codespaces`` over many codespaces.

Each codespace is a sandbox machine (a real sshd with its own HOME) served by
the fake ``gh``, which sleeps ``--gh-delay`` seconds per call like a real gh's
API round trip. Every codespace holds ``--sessions`` sessions of the same
repository that the laptop also has; before each run, 2 of them grow on the
codespace and 1 more is new there, so every run has real work. Half as many
codespaces again are ``Shutdown``: the job must leave them alone.

For each ``--jobs`` value the job runs once from the same starting state, as
the hourly timer runs it (a subprocess, HOME = the laptop, the fake gh first on
``PATH``). Printed: wall time, gh calls, ``codespace ssh`` calls per running
codespace and on shut-down ones (must be 0), and whether every codespace's
work arrived.

    uv run python benchmarks/bench_background.py [--codespaces 8] [--sessions 20]
        [--gh-delay 1.0] [--jobs 1 4 8]

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from session_sync.agent.paths import encode_project_path
from session_sync.testing.sandbox import FakeGh, Sandbox, SshHost, install_fake_gh
from session_sync.testing.sessions import (
    SessionSpec,
    continue_session,
    make_session,
    session_bytes,
    write_session,
)

REPO = "octo-org/app"
BIN = Path(__file__).resolve().parent.parent / "bin" / "sync-sessions-from-all-codespaces"
HOUR = 3600.0


def write(config: Path, spec: SessionSpec, dir_name: str, hours: float) -> None:
    write_session(config, spec, project_dir_name=dir_name, mtime=time.time() - hours * HOUR)


def codespace_dir(host: SshHost) -> str:
    return encode_project_path(str(host.home / "workspaces" / "app"), resolve=False)


World = tuple[Path, Path, Path, FakeGh, list[SshHost], dict[str, dict[str, bytes]]]


def setup(root: Path, sandbox: Sandbox, count: int, sessions: int, gh_delay: float) -> World:
    laptop = root / "laptop"
    project = laptop / "src" / "app"
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "config").write_text(
        f'[remote "origin"]\n\turl = git@github.com:{REPO}.git\n'
    )
    config = laptop / ".claude"
    gh = install_fake_gh(root / "bin", root / "gh-state.json", identity_file=sandbox.client_key)
    rng = random.Random(7)
    shared = [
        make_session(rng, str(project), turns=3, target_bytes=20_000) for _ in range(sessions)
    ]
    here = encode_project_path(str(project))
    for spec in shared:
        write(config, spec, here, 5)
    hosts = []
    expected: dict[str, dict[str, bytes]] = {}
    for i in range(count):
        host = sandbox.add_host(f"bg{i}")
        (host.home / "workspaces" / "app").mkdir(parents=True)
        there = host.home / ".claude"
        wanted: dict[str, bytes] = {}
        for j, spec in enumerate(shared):
            final = spec
            if j in (2 * i % sessions, (2 * i + 1) % sessions):  # disjoint per codespace
                final = continue_session(rng, spec)
                wanted[spec.session_id] = session_bytes(final)
            write(there, final, codespace_dir(host), 2 if final is not spec else 5)
        new = make_session(rng, str(host.home / "workspaces" / "app"), turns=2, target_bytes=8000)
        write(there, new, codespace_dir(host), 2)
        wanted[new.session_id] = session_bytes(new)
        gh.add_codespace(f"app-running-{i}", REPO, port=host.port)
        hosts.append(host)
        expected[f"app-running-{i}"] = wanted
    for i in range(max(1, count // 2)):
        gh.add_codespace(f"app-asleep-{i}", REPO, port=hosts[0].port, state="Shutdown")
    gh.set_delay(gh_delay)
    return laptop, project, config, gh, hosts, expected


def run_job(laptop: Path, gh: FakeGh, jobs: int, log: Path) -> tuple[int, float]:
    env = gh.env(dict(os.environ))
    env["HOME"] = str(laptop)
    env.pop("CLAUDE_CONFIG_DIR", None)
    env["PYTHONPATH"] = str(BIN.parent.parent)
    argv = [sys.executable, str(BIN), "--jobs", str(jobs), "--workspace", "~/workspaces/{repo}"]
    started = time.monotonic()
    done = subprocess.run(
        [*argv, "--log-file", str(log)], env=env, capture_output=True, check=False, cwd="/"
    )
    return done.returncode, time.monotonic() - started


def arrived(config: Path, project: Path, expected: dict[str, dict[str, bytes]]) -> bool:
    """Every session grown or made in a codespace is here, byte for byte."""
    mine = config / "projects" / encode_project_path(str(project))
    for wanted in expected.values():
        for session_id, data in wanted.items():
            path = mine / f"{session_id}.jsonl"
            if not path.is_file() or path.read_bytes() != data:
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codespaces", type=int, default=8)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--gh-delay", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()
    if args.sessions < 2 * args.codespaces:
        parser.error("--sessions must be at least twice --codespaces (each grows 2 of its own)")
    print(
        f"{args.codespaces} running codespaces (+{max(1, args.codespaces // 2)} shut down),"
        f" {args.sessions} shared sessions each, gh delay {args.gh_delay:g} s"
    )
    print(
        f"{'jobs':>4}  {'exit':>4}  {'seconds':>7}  {'gh calls':>8}  "
        f"{'ssh/running':>11}  {'ssh/asleep':>10}  all arrived"
    )
    for jobs in args.jobs:
        root = Path(tempfile.mkdtemp(prefix="bench-bg-"))
        try:
            with Sandbox(root / "sandbox") as sandbox:
                laptop, project, config, gh, hosts, expected = setup(
                    root, sandbox, args.codespaces, args.sessions, args.gh_delay
                )
                gh.clear_log()
                code, seconds = run_job(laptop, gh, jobs, root / "sync.log")
                calls = gh.invocations()
                ssh = [c for c in calls if "ssh" in c]
                asleep = [c for c in ssh if any(w.startswith("app-asleep") for w in c)]
                per_running = len(ssh) / args.codespaces
                ok = arrived(config, project, expected)
                print(
                    f"{jobs:>4}  {code:>4}  {seconds:>7.1f}  {len(calls):>8}  "
                    f"{per_running:>11.1f}  {len(asleep):>10}  {'yes' if ok else 'NO'}"
                )
                for host in hosts:
                    host.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
