"""Benchmark a first copy over SSH: session-sync beside ``tar | ssh tar`` and ``rsync -a``.

One sandbox machine (a real sshd on 127.0.0.1 with its own HOME) and a laptop
home holding ``--mb`` MB of generated transcripts (``session_sync.testing.sessions``:
JSONL as Claude writes it, subagents and tool results included, so they
compress as transcripts do). Every method copies all of it to an empty
machine, over each link: ``direct`` (loopback, no relay), then through a
``TcpRelay`` at each of ``--rates`` MB/s each way (0: the relay, unthrottled).
Through the relay, "wire bytes" are the SSH bytes it forwarded, both ways,
counted the same way for every method; direct, only session-sync's own count
of its frames is known (``frames``). Methods, all in the same run:

- ``session-sync --compress MODE`` for each of ``--modes``: ``sync --host
  --push --json`` as a user runs it (SSH compression off; file data compressed
  in the agent's frames as the mode says);
- ``tar | ssh tar``: ``tar -cf - projects | ssh HOST 'tar -xf -'``;
- ``tar | ssh -C tar``: the same with SSH's zlib (level 6) on;
- ``rsync -a``, over plain ssh (when rsync is installed).

Each copy is checked byte for byte against the laptop's files.

    uv run python benchmarks/bench_first_copy.py [--mb 200] [--rates 0 50 15 5]
        [--modes auto always never] [--seed 1] [--repeat 1]

With ``--repeat N`` every method runs N times on each link, in turn (tar, then
the others, then tar again...), and each row is the median run.

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from session_sync.testing.sandbox import Sandbox, SshHost, TcpRelay
from session_sync.testing.sessions import make_session, write_session

CALL_TIMEOUT = 1800.0


@dataclass
class World:
    """The laptop, the machine, and the relay in front of it."""

    laptop: Path
    project: Path
    host: SshHost
    sandbox: Sandbox
    relay: TcpRelay

    @property
    def projects(self) -> Path:
        return self.laptop / ".claude" / "projects"

    @property
    def remote_projects(self) -> Path:
        return self.host.home / ".claude" / "projects"

    @property
    def tar_dest(self) -> Path:
        return self.host.home / "copy"


@dataclass
class Result:
    seconds: float
    wire: int | None
    frames: int | None
    correct: bool


def _tree(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root``."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def make_world(root: Path, sandbox: Sandbox, mb: float, seed: int) -> tuple[World, int, int]:
    host = sandbox.add_host("box")
    laptop = root / "laptop"
    project = laptop / "src" / "app"
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "config").write_text(
        '[remote "origin"]\n\turl = git@github.com:octo-org/app.git\n'
    )
    laptop, project = Path(os.path.realpath(laptop)), Path(os.path.realpath(project))
    relay = TcpRelay(host.port)
    sandbox.write_client_config(
        laptop, {"box": (host.host, host.port), "relayed": ("127.0.0.1", relay.port)}
    )
    rng = random.Random(seed)
    total = files = 0
    config = laptop / ".claude"
    while total < mb * 1e6:
        spec = make_session(rng, str(project), turns=900, with_tool_result=True, with_subagent=True)
        write_session(config, spec)
        total = sum(p.stat().st_size for p in config.rglob("*") if p.is_file())
    files = sum(1 for p in config.rglob("*") if p.is_file())
    return World(laptop, project, host, sandbox, relay), total, files


def _env(world: World) -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(world.laptop)
    env.pop("CLAUDE_CONFIG_DIR", None)
    # As an installed copy runs: its modules compiled once, not at every start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _clean(world: World) -> None:
    """An empty machine, and nothing cached here: every method starts cold."""
    shutil.rmtree(world.host.home / ".claude", ignore_errors=True)
    shutil.rmtree(world.tar_dest, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        (world.laptop / ".claude" / "session-sync" / "hash-cache.json").unlink()


Method = Callable[[World, bool], tuple[int | None, bool]]
"""Copies the laptop's projects to the machine (directly or through the relay);
returns session-sync's own count of its frames (None for the others) and whether
the copy is byte for byte the laptop's."""


def session_sync(mode: str) -> Method:
    def run(world: World, relayed: bool) -> tuple[int | None, bool]:
        argv = [sys.executable, "-m", "session_sync", "sync", "--host"]
        argv += ["relayed" if relayed else "box", "--push", "--compress", mode, "--json"]
        done = subprocess.run(
            argv,
            cwd=world.project,
            env=_env(world),
            capture_output=True,
            timeout=CALL_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"session-sync failed: {done.stderr.decode()[-2000:]}")
        report = json.loads(done.stdout)
        # The one project dir there (named after the project's path over there).
        remote = world.remote_projects / os.listdir(world.remote_projects)[0]
        local = world.projects / os.listdir(world.projects)[0]
        correct = _tree(remote) == _tree(local)
        return report["wire_bytes_sent"] + report["wire_bytes_received"], correct

    return run


def _ssh(world: World, relayed: bool, *options: str) -> list[str]:
    port = world.relay.port if relayed else world.host.port
    argv = world.sandbox.ssh_command(port)
    return [argv[0], *options, *argv[1:]]


def tar_ssh(*options: str) -> Method:
    def run(world: World, relayed: bool) -> tuple[int | None, bool]:
        dest = shlex.quote(str(world.tar_dest))
        remote = f"mkdir -p {dest} && tar -C {dest} -xf -"
        tar = subprocess.Popen(
            ["tar", "-C", str(world.laptop / ".claude"), "-cf", "-", "projects"],
            stdout=subprocess.PIPE,
        )
        ssh = subprocess.run(
            [*_ssh(world, relayed, *options), remote],
            stdin=tar.stdout,
            timeout=CALL_TIMEOUT,
            check=False,
        )
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or ssh.returncode != 0:
            raise RuntimeError("tar | ssh tar failed")
        return None, _tree(world.tar_dest / "projects") == _tree(world.projects)

    return run


def rsync(world: World, relayed: bool) -> tuple[int | None, bool]:
    ssh = _ssh(world, relayed)
    *options, destination = ssh
    argv = ["rsync", "-a", "-e", shlex.join(options)]
    argv += [f"{world.projects}/", f"{destination}:{world.tar_dest}/"]
    subprocess.run(argv, timeout=CALL_TIMEOUT, check=True)
    return None, _tree(world.tar_dest) == _tree(world.projects)


def measure(
    world: World, method: Callable[[World, bool], tuple[int | None, bool]], rate: float | None
) -> Result:
    _clean(world)
    # The last copy's files were just deleted: their journal commit (and, on a
    # filesystem mounted with ``discard``, the TRIMs) would otherwise land on the
    # first fsync of the next method, that is on session-sync's and never on tar's.
    os.sync()
    relayed = rate is not None
    world.relay.rate = rate * 1e6 if rate else None
    world.relay.wait_idle()
    world.relay.reset_counts()
    started = time.monotonic()
    frames, correct = method(world, relayed)
    seconds = time.monotonic() - started
    wire = None
    if relayed:
        world.relay.wait_idle()
        wire = world.relay.bytes_up + world.relay.bytes_down
    return Result(seconds, wire, frames, correct)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def run_link(
    world: World,
    methods: list[tuple[str, Method]],
    label: str,
    rate: float | None,
    total: int,
    repeat: int,
) -> None:
    """Every method over one link, ``repeat`` rounds of all of them in turn, then a
    table row each: the median round."""
    print(f"\n{label}")
    print(
        f"  {'method':30} {'wall s':>7} {'MB/s':>6} {'x tar':>6} {'wire bytes':>14}"
        f" {'wire/data':>9} {'x ssh -C':>8}  correct"
    )
    results: dict[str, list[Result]] = {name: [] for name, _ in methods}
    for _ in range(repeat):
        for name, method in methods:
            results[name].append(measure(world, method, rate))
    floor = squeezed = None
    for name, _ in methods:
        runs = results[name]
        seconds = _median([r.seconds for r in runs])
        measured = [r.wire for r in runs if r.wire is not None]
        counted = [r.frames for r in runs if r.frames is not None]
        wire_seen = round(_median([float(w) for w in measured])) if measured else None
        frames = round(_median([float(f) for f in counted])) if counted else None
        wire = wire_seen if wire_seen is not None else frames
        floor = floor or seconds
        if name == "tar | ssh -C tar":
            squeezed = wire_seen
        shown = "-" if wire is None else f"{wire:,}"
        if wire_seen is None and frames is not None:
            shown = f"({wire:,})"
        vs_c = "-" if wire_seen is None or squeezed is None else f"{wire_seen / squeezed:.2f}"
        correct = all(r.correct for r in runs)
        print(
            f"  {name:30} {seconds:7.2f} {total / 1e6 / seconds:6.1f}"
            f" {seconds / floor:6.2f} {shown:>14}"
            f" {'-' if wire is None else f'{wire / total:.3f}':>9} {vs_c:>8}"
            f"  {'ok' if correct else 'WRONG'}",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="MB of transcripts (default 200)")
    parser.add_argument(
        "--rates",
        type=float,
        nargs="*",
        default=[0.0, 50.0, 15.0, 5.0],
        help="relay links, MB/s each way (0: unthrottled; default 0 50 15 5)",
    )
    parser.add_argument("--modes", nargs="*", default=["auto", "always", "never"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of every method in turn on each link; each row is the median (default 1)",
    )
    args = parser.parse_args()

    # The floor first: each session-sync row is shown against it.
    methods: list[tuple[str, Method]] = [
        ("tar | ssh tar", tar_ssh()),
        ("tar | ssh -C tar", tar_ssh("-C")),
    ]
    if shutil.which("rsync"):
        methods.append(("rsync -a", rsync))
    methods += [(f"session-sync --compress {mode}", session_sync(mode)) for mode in args.modes]

    with tempfile.TemporaryDirectory(prefix="bench-first-copy-") as tmp:
        root = Path(tmp)
        with Sandbox(root / "sandbox") as sandbox:
            started = time.monotonic()
            world, total, files = make_world(root, sandbox, args.mb, args.seed)
            print(
                f"first copy of {total / 1e6:.1f} MB in {files} files (generated in"
                f" {time.monotonic() - started:.1f} s); {platform.machine()},"
                f" {os.cpu_count()} cores, Python {platform.python_version()}"
            )
            links: list[tuple[str, float | None]] = [("direct", None)]
            links += [(f"relay {r:g} MB/s" if r else "relay, no limit", r) for r in args.rates]
            try:
                for label, rate in links:
                    run_link(world, methods, label, rate, total, max(1, args.repeat))
            finally:
                world.relay.close()
                world.host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
