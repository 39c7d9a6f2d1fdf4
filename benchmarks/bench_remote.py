"""Benchmark a codespace sync against the seed's algorithm and rsync, over real SSH.

Each size gets a sandbox machine (a real sshd with its own HOME) served as a
codespace by the fake ``gh`` (every ``gh`` call first sleeps ``--gh-delay``
seconds, like a real gh's API round trip). A ``TcpRelay`` sits in front of that
sshd, so every byte of every method crosses it and is counted there: "wire
bytes" are the encrypted SSH bytes, both directions, measured the same way for
all three methods (all three compress: gh passes ``-C``, session-sync compresses
file data in its frames, rsync's ssh gets ``Compression=yes``).

For each session count, both sides start with the same sessions; then 5 gain
lines on the laptop and 5 others on the codespace. From that same starting
state (restored before each method), three methods sync both ways:

- session-sync: ``python -m session_sync sync --codespace NAME --json`` as a
  user runs it (HOME = the laptop, the fake gh first on PATH);
- seed baseline: the seed's ``ClaudeSessionSyncer`` call pattern (push, then
  pull): one ``gh codespace ssh -- CMD`` per timestamp check, per ``mkdir``,
  per ``test -d`` and per whole-file ``tar`` transfer (argv lists, quoted
  remote commands; the timestamp check returns the last lines that carry a
  timestamp, since the seed's ``tail -1`` finds none in a real session);
- rsync: ``rsync -a --update`` laptop -> codespace, then back, over plain ssh
  to the same sshd (no gh, so no gh delay), when rsync is installed.

Then a no-op sync of ``--noop-sessions`` sessions totalling ``--noop-mb`` MB on
each side: caches cold, warm, both hash caches removed, warm again.

    uv run python benchmarks/bench_remote.py [--sessions 10 100 500] [--size-kb 200]
        [--gh-delay 1.0] [--noop-sessions 1000] [--noop-mb 500] [--skip-baseline]
        [--skip-noop] [--baseline-max N]

A script that prints numbers, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import posixpath
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from session_sync.agent.paths import encode_project_path
from session_sync.testing.sandbox import (
    FakeGh,
    Sandbox,
    SshHost,
    TcpRelay,
    current_user,
    install_fake_gh,
)
from session_sync.testing.sandbox.sshd import client_options
from session_sync.testing.sessions import SessionSpec, continue_session, make_session, write_session
from session_sync.timestamps import last_message_time, latest_timestamp

CODESPACE = "octo-app-bench-q7x9"
REPO = "octo-org/app"
WORKSPACE = "/workspaces/app"
DAYS = 7
TS_MARK = '"timestamp":"'
CALL_TIMEOUT = 900.0


# --- one simulated laptop + codespace ---------------------------------------------------


@dataclass
class World:
    """A laptop home and one codespace (an sshd behind a counting relay)."""

    root: Path
    host: SshHost
    relay: TcpRelay
    gh: FakeGh
    laptop: Path
    project: Path
    env: dict[str, str]

    @property
    def local_config(self) -> Path:
        return self.laptop / ".claude"

    @property
    def remote_config(self) -> Path:
        return self.host.home / ".claude"

    @property
    def local_dir(self) -> Path:
        return self.local_config / "projects" / encode_project_path(str(self.project))

    @property
    def remote_dir(self) -> Path:
        return self.remote_config / "projects" / encode_project_path(WORKSPACE, False)

    def close(self) -> None:
        self.relay.close()
        self.host.stop()


def make_world(sandbox: Sandbox, root: Path, name: str, gh_delay: float) -> World:
    root.mkdir(parents=True)
    host = sandbox.add_host(name)
    relay = TcpRelay(host.port)
    laptop = root / "laptop"
    project = laptop / "src" / "app"
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "config").write_text(
        f'[remote "origin"]\n\turl = git@github.com:{REPO}.git\n'
    )
    (laptop / ".claude").mkdir(mode=0o700)
    gh = install_fake_gh(root / "bin", root / "gh-state.json", identity_file=sandbox.client_key)
    gh.add_codespace(CODESPACE, REPO, port=relay.port)
    gh.set_delay(gh_delay)
    env = gh.env(dict(os.environ))
    env["HOME"] = str(laptop)
    env.pop("CLAUDE_CONFIG_DIR", None)
    return World(root, host, relay, gh, laptop, project, env)


def populate(world: World, count: int, size_bytes: int, seed: int) -> list[SessionSpec]:
    """``count`` sessions, the same bytes on both sides, 3 hours old.

    Half were started on the laptop, half in the codespace (their ``cwd``); every
    tenth has a subagent and every tenth a persisted tool result (``<uuid>/``).
    """
    rng = random.Random(seed)
    old = time.time() - 3 * 3600
    specs = []
    for i in range(count):
        spec = make_session(
            rng,
            str(world.project) if i % 2 == 0 else WORKSPACE,
            turns=4,
            target_bytes=size_bytes,
            with_subagent=i % 10 == 3,
            with_tool_result=i % 10 == 7,
        )
        write_session(world.local_config, spec, project_dir_name=world.local_dir.name, mtime=old)
        write_session(world.remote_config, spec, project_dir_name=world.remote_dir.name, mtime=old)
        specs.append(spec)
    return specs


def grow(config: Path, dir_name: str, specs: list[SessionSpec], seed: int) -> list[SessionSpec]:
    """Append two turns to each session on one side (an hour ago: not open in Claude)."""
    rng = random.Random(seed)
    old = time.time() - 3600
    grown = []
    for spec in specs:
        more = continue_session(rng, spec, turns=2)
        write_session(config, more, project_dir_name=dir_name, mtime=old)
        grown.append(more)
    return grown


def transcript(spec: SessionSpec) -> bytes:
    return b"".join(line + b"\n" for line in spec.lines)


def wrong_sessions(world: World, expected: dict[str, bytes]) -> int:
    """Sessions whose transcript is not the expected one on both sides."""
    bad = 0
    for session_id, data in expected.items():
        for directory in (world.local_dir, world.remote_dir):
            try:
                same = (directory / f"{session_id}.jsonl").read_bytes() == data
            except OSError:
                same = False
            if not same:
                bad += 1
                break
    return bad


# --- the same starting state before each method -----------------------------------------


class Snapshot:
    """A tree copied aside; ``restore`` puts back what changed, leaving the rest alone.

    Files that no method touched keep their inodes, so the hash caches (keyed by
    device, inode, size and mtime) stay as warm as they were: each method starts
    from the state a user syncing regularly would be in.
    """

    def __init__(self, tree: Path, aside: Path) -> None:
        self.tree = tree
        self.aside = aside
        shutil.copytree(tree, aside, symlinks=True)
        self.files: dict[str, tuple[int, int, int, int]] = {}
        self.dirs: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(tree):
            rel_dir = os.path.relpath(dirpath, tree)
            for d in dirnames:
                self.dirs.add(os.path.normpath(os.path.join(rel_dir, d)))
            for f in filenames:
                st = os.lstat(os.path.join(dirpath, f))
                rel = os.path.normpath(os.path.join(rel_dir, f))
                self.files[rel] = (st.st_size, st.st_mtime_ns, st.st_mode, st.st_ino)

    def restore(self) -> None:
        for dirpath, dirnames, filenames in os.walk(self.tree, topdown=True):
            rel_dir = os.path.relpath(dirpath, self.tree)
            keep = []
            for d in dirnames:
                if os.path.normpath(os.path.join(rel_dir, d)) in self.dirs:
                    keep.append(d)
                else:
                    shutil.rmtree(os.path.join(dirpath, d))
            dirnames[:] = keep
            for f in filenames:
                if os.path.normpath(os.path.join(rel_dir, f)) not in self.files:
                    os.unlink(os.path.join(dirpath, f))
        for rel in sorted(self.dirs):
            (self.tree / rel).mkdir(parents=True, exist_ok=True)
        for rel, facts in self.files.items():
            path = self.tree / rel
            try:
                st = os.lstat(path)
                now = (st.st_size, st.st_mtime_ns, st.st_mode, st.st_ino)
            except FileNotFoundError:
                now = None
            if now != facts:
                shutil.copy2(self.aside / rel, path)
                st = os.lstat(path)
                if (st.st_size, st.st_mtime_ns, st.st_mode) != facts[:3]:
                    raise RuntimeError(f"could not restore {path}")


# --- measuring one method ----------------------------------------------------------------


@dataclass
class Row:
    label: str
    gh_calls: int = 0
    connections: int = 0
    round_trips: int | None = None
    wire: int = 0
    moved: int | None = None
    wall: float = 0.0
    wrong: int | None = None
    failures: int = 0
    estimated: bool = False
    notes: list[str] = field(default_factory=list)


def measure(world: World, row: Row, action: Callable[[Row], None]) -> Row:
    calls = len(world.gh.invocations())
    conns, up, down = world.relay.connections, world.relay.bytes_up, world.relay.bytes_down
    started = time.perf_counter()
    action(row)
    row.wall = time.perf_counter() - started
    world.relay.wait_idle(timeout=30)
    row.gh_calls = len(world.gh.invocations()) - calls
    row.connections = world.relay.connections - conns
    row.wire = world.relay.bytes_up - up + world.relay.bytes_down - down
    return row


def run_cli(world: World) -> dict[str, Any]:
    """``session-sync sync --codespace NAME --json`` as a user runs it; its report."""
    argv = [sys.executable, "-m", "session_sync", "sync", "--codespace", CODESPACE, "--json"]
    done = subprocess.run(
        argv,
        cwd=world.project,
        env=world.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=CALL_TIMEOUT,
        check=False,
    )
    report: dict[str, Any] = {}
    if done.stdout.strip():
        report = json.loads(done.stdout)
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip()
        sys.stderr.write(f"session-sync exited with {done.returncode}: {err}\n")
        report.setdefault("failed", 1)
    return report


def ours(world: World) -> Callable[[Row], None]:
    def action(row: Row) -> None:
        report = run_cli(world)
        row.round_trips = report.get("round_trips")
        row.moved = int(report.get("bytes_sent", 0)) + int(report.get("bytes_received", 0))
        row.failures = int(report.get("failed", 0))
        hashed = report.get("bytes_hashed")
        if hashed is not None:
            row.notes.append(f"bytes hashed (both sides): {hashed:,}")

    return action


# --- the seed's algorithm ---------------------------------------------------------------


def _latest_in(lines_newest_first: Iterable[bytes]) -> datetime | None:
    """The last message time from lines read back from the end (the project's rule:
    snapshot times up to and including the last line with a top-level timestamp)."""
    found: list[str] = []
    for line in lines_newest_first:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        snap = obj.get("snapshot")
        if isinstance(snap, dict) and isinstance(snap.get("timestamp"), str):
            found.append(snap["timestamp"])
        if isinstance(obj.get("timestamp"), str):
            found.append(obj["timestamp"])
            break
    return latest_timestamp(found)


def _newer(a: datetime | None, b: datetime | None) -> bool:
    """The seed's ``timestamp_newer?``: a missing time is the oldest."""
    if a is None:
        return False
    return b is None or a > b


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class SeedBaseline:
    """``ClaudeSessionSyncer``'s call pattern: push, then pull, one gh process per step."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.gh = str(world.gh.gh)
        self.local_dir = world.local_dir
        self.remote_dir = str(world.remote_dir)
        self.moved = 0
        self.failures = 0

    def _argv(self, command: str) -> list[str]:
        return [self.gh, "codespace", "ssh", "-c", CODESPACE, "--", command]

    def _gh(self, command: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            self._argv(command),
            env=self.world.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CALL_TIMEOUT,
            check=False,
        )

    def _pipe(self, producer: list[str], consumer: list[str]) -> bool:
        """``producer | consumer`` (one side is a gh call); whether both succeeded."""
        with subprocess.Popen(
            producer,
            env=self.world.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as first:
            assert first.stdout is not None
            second = subprocess.run(
                consumer,
                env=self.world.env,
                stdin=first.stdout,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=CALL_TIMEOUT,
                check=False,
            )
            first.stdout.close()
            first.wait(timeout=CALL_TIMEOUT)
        ok = first.returncode == 0 and second.returncode == 0
        self.failures += not ok
        return ok

    def remote_time(self, path: str) -> datetime | None:
        """One gh call: the last lines carrying a timestamp, newest first (None: no file)."""
        mark = shlex.quote(TS_MARK)
        done = self._gh(f"tac {shlex.quote(path)} 2>/dev/null | grep -m 3 -F {mark}")
        if done.returncode != 0:
            return None
        return _latest_in(done.stdout.split(b"\n"))

    def mkdir(self, path: str) -> None:
        self.failures += self._gh(f"mkdir -p {shlex.quote(path)}").returncode != 0

    def push(self, name: str) -> None:
        """``tar -cf - -C DIR NAME | gh codespace ssh -c CS -- tar -xf - -C RDIR``."""
        tar = ["tar", "-cf", "-", "-C", str(self.local_dir), name]
        if self._pipe(tar, self._argv(f"tar -xf - -C {shlex.quote(self.remote_dir)}")):
            self.moved += _tree_bytes(self.local_dir / name)

    def pull(self, name: str) -> None:
        """``gh codespace ssh -c CS -- tar -cf - -C RDIR NAME | tar -xf - -C DIR``."""
        command = f"tar -cf - -C {shlex.quote(self.remote_dir)} {shlex.quote(name)}"
        if self._pipe(self._argv(command), ["tar", "-xf", "-", "-C", str(self.local_dir)]):
            self.moved += _tree_bytes(self.local_dir / name)

    def run(self) -> None:
        cutoff = time.time() - DAYS * 86400
        # sync_sessions_to_codespace
        for local in sorted(self.local_dir.glob("*.jsonl")):
            if local.stat().st_mtime <= cutoff:
                continue
            session_id = local.name[: -len(".jsonl")]
            local_time = last_message_time(local)
            remote_time = self.remote_time(posixpath.join(self.remote_dir, local.name))
            if _newer(local_time, remote_time):
                self.mkdir(self.remote_dir)
                self.push(local.name)
                if (self.local_dir / session_id).is_dir():
                    self.mkdir(self.remote_dir)  # ensure_remote_dir(dirname(remote_dir))
                    self.push(session_id)
        # sync_sessions_from_codespace
        find = (
            f"find {shlex.quote(self.remote_dir)} -maxdepth 1 -name '*.jsonl'"
            f" -mtime -{DAYS} 2>/dev/null"
        )
        listed = self._gh(find)
        remote_files = listed.stdout.decode("utf-8", "replace").splitlines()
        self.local_dir.mkdir(parents=True, exist_ok=True)
        for remote in (p for p in remote_files if p.strip()):
            name = posixpath.basename(remote)
            session_id = name[: -len(".jsonl")]
            remote_time = self.remote_time(remote)
            local = self.local_dir / name
            local_time = last_message_time(local) if local.exists() else None
            if _newer(remote_time, local_time):
                self.pull(name)
                session_dir = posixpath.join(self.remote_dir, session_id)
                if self._gh(f"test -d {shlex.quote(session_dir)}").returncode == 0:
                    self.pull(session_id)


def seed(world: World) -> Callable[[Row], None]:
    def action(row: Row) -> None:
        baseline = SeedBaseline(world)
        baseline.run()
        row.moved = baseline.moved
        row.failures = baseline.failures

    return action


def seed_calls(specs: list[SessionSpec], laptop: int, codespace: int) -> int:
    """The gh calls the seed makes: per check, per transfer, per mkdir/test -d."""
    calls = 2 * len(specs) + 1
    for i, spec in enumerate(specs):
        has_dir = bool(spec.subagents or spec.tool_results)
        if i < laptop:
            calls += 2 + (2 if has_dir else 0)
        elif i < laptop + codespace:
            calls += 2 + (1 if has_dir else 0)
    return calls


# --- rsync ------------------------------------------------------------------------------


def rsync_ssh(world: World, key: Path) -> str:
    argv = ["ssh", *client_options(key), "-p", str(world.relay.port), "-o", "Compression=yes"]
    return shlex.join(argv)


_LITERAL = re.compile(rb"Literal data: ([\d,.]+) bytes")


def rsync(world: World, key: Path) -> Callable[[Row], None]:
    def action(row: Row) -> None:
        remote = f"{current_user()}@127.0.0.1:{world.remote_dir}/"
        local = f"{world.local_dir}/"
        row.moved = 0
        for src, dst in ((local, remote), (remote, local)):
            argv = ["rsync", "-a", "--update", "--stats", "-e", rsync_ssh(world, key), src, dst]
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=CALL_TIMEOUT,
                check=False,
            )
            if done.returncode != 0:
                row.failures += 1
                sys.stderr.write(done.stderr.decode("utf-8", "replace"))
            found = _LITERAL.search(done.stdout)
            if found:
                row.moved += int(found.group(1).replace(b",", b"").replace(b".", b""))

    return action


# --- printing ---------------------------------------------------------------------------


def _n(value: int | None, width: int) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value:>{width},}"


def print_table(rows: list[Row], appended: int) -> None:
    print(
        f"  {'method':24} {'gh calls':>8} {'conns':>6} {'trips':>5} {'wire bytes':>13}"
        f" {'file bytes':>12} {'appended':>9} {'wire/app':>9} {'wall s':>8}  correct"
    )
    for r in rows:
        t = "~" if r.estimated else ""
        wire = _n(None, 13) if r.estimated else _n(r.wire, 13)
        ratio = f"{r.wire / appended:9.2f}" if appended and not r.estimated else f"{'n/a':>9}"
        if r.wrong is None:
            correct = "n/a"
        elif r.wrong == 0 and r.failures == 0:
            correct = "ok"
        else:
            correct = f"WRONG ({r.wrong} sessions, {r.failures} failed steps)"
        print(
            f"  {r.label:24} {t + format(r.gh_calls, ','):>8} {t + format(r.connections, ','):>6}"
            f" {_n(r.round_trips, 5)} {wire} {_n(r.moved, 12)} {appended:>9,} {ratio}"
            f" {t + format(r.wall, '.2f'):>8}  {correct}"
        )
        for note in r.notes:
            print(f"  {'':24} {note}")


def print_ratios(ours_row: Row, others: list[Row]) -> None:
    for other in others:
        if other.estimated:
            print(
                f"  {other.label} / session-sync: wall ~{other.wall / ours_row.wall:.1f}x"
                " (estimated)"
            )
            continue
        print(
            f"  {other.label} / session-sync: wall {other.wall / ours_row.wall:.2f}x,"
            f" wire bytes {other.wire / max(ours_row.wire, 1):.2f}x,"
            f" connections {other.connections / max(ours_row.connections, 1):.0f}x"
        )


# --- the benchmarks ---------------------------------------------------------------------


@dataclass
class Options:
    size_kb: int
    gh_delay: float
    skip_baseline: bool
    baseline_max: int | None
    seconds_per_seed_call: float | None = None


def bench(sandbox: Sandbox, root: Path, count: int, opts: Options) -> None:
    world = make_world(sandbox, root, f"cs{count}", opts.gh_delay)
    try:
        specs = populate(world, count, opts.size_kb * 1024, seed=count)
        total = _tree_bytes(world.local_dir)
        # Settle: a regular user's hash caches are warm for the files that did not change.
        settle = run_cli(world)
        if settle.get("failed") or settle.get("pushed") or settle.get("pulled"):
            print(f"  (settle sync was not a clean no-op: {settle})")
        n = min(5, count // 2)
        grown_laptop = grow(world.local_config, world.local_dir.name, specs[:n], seed=1)
        grown_cs = grow(world.remote_config, world.remote_dir.name, specs[n : 2 * n], seed=2)
        appended = sum(
            len(transcript(g)) - len(transcript(s))
            for g, s in zip(grown_laptop + grown_cs, specs[: 2 * n], strict=True)
        )
        expected = {s.session_id: transcript(s) for s in specs}
        expected.update({g.session_id: transcript(g) for g in grown_laptop + grown_cs})
        snapshots = [
            Snapshot(world.local_config, root / "aside" / "laptop"),
            Snapshot(world.remote_config, root / "aside" / "codespace"),
        ]
        print(
            f"{count} sessions, {total / 1e6:.1f} MB on each side; {n} grew on the laptop,"
            f" {n} in the codespace ({appended:,} bytes appended)"
        )

        def run(label: str, action: Callable[[Row], None]) -> Row:
            for snapshot in snapshots:
                snapshot.restore()
            row = measure(world, Row(label), action)
            row.wrong = wrong_sessions(world, expected)
            return row

        rows = [run("session-sync", ours(world))]
        if opts.skip_baseline:
            pass
        elif opts.baseline_max is not None and count > opts.baseline_max:
            calls = seed_calls(specs, n, n)
            per_call = opts.seconds_per_seed_call or (opts.gh_delay + 0.15)
            row = Row("seed baseline", gh_calls=calls, connections=calls, estimated=True)
            row.wall = calls * per_call
            row.notes.append(
                f"NOT RUN ({count} > --baseline-max {opts.baseline_max}): calls counted from"
                f" the data, wall = calls x {per_call:.2f} s/call measured at a smaller size"
            )
            rows.append(row)
        else:
            row = run("seed baseline", seed(world))
            if row.gh_calls:
                opts.seconds_per_seed_call = row.wall / row.gh_calls
            rows.append(row)
        if shutil.which("rsync"):
            rows.append(run("rsync -a --update (x2)", rsync(world, sandbox.client_key)))
        else:
            rows.append(Row("rsync", notes=["rsync is not installed: not run"]))
        print_table(rows, appended)
        print_ratios(rows[0], [r for r in rows[1:] if r.wall])
    finally:
        world.close()
        shutil.rmtree(root, ignore_errors=True)


def bench_noop(sandbox: Sandbox, root: Path, sessions: int, total_mb: int, gh_delay: float) -> None:
    size = math.ceil(total_mb * 1_000_000 / sessions)
    need = 2 * sessions * size * 1.1
    free = shutil.disk_usage(root.parent).free
    if free < need:
        print(f"no-op: skipped, needs {need / 1e9:.1f} GB free, {root.parent} has {free / 1e9:.1f}")
        return
    world = make_world(sandbox, root, "noop", gh_delay)
    try:
        rng = random.Random(sessions)
        old = time.time() - 3 * 3600
        for i in range(sessions):
            cwd = str(world.project) if i % 2 == 0 else WORKSPACE
            spec = make_session(rng, cwd, turns=4, target_bytes=size)
            write_session(
                world.local_config, spec, project_dir_name=world.local_dir.name, mtime=old
            )
        world.remote_config.mkdir(mode=0o700, parents=True, exist_ok=True)
        (world.remote_config / "projects").mkdir(mode=0o700, exist_ok=True)
        shutil.copytree(world.local_dir, world.remote_dir)
        total = _tree_bytes(world.local_dir)
        print(
            f"no-op: {sessions} sessions, {total / 1e6:.1f} MB on each side"
            f" (identical), gh delay {gh_delay:g} s"
        )
        caches = [
            config / "session-sync" / "hash-cache.json"
            for config in (world.local_config, world.remote_config)
        ]
        print(
            f"  {'':30} {'wall s':>7} {'sync s':>7} {'trips':>5} {'gh calls':>8} {'conns':>5}"
            f" {'wire bytes':>11} {'bytes hashed':>15} {'moved':>6}"
        )
        for label, drop in (
            ("first sync (caches cold)", False),
            ("no-op, caches warm", False),
            ("no-op, both caches removed", True),
            ("no-op, caches warm again", False),
        ):
            if drop:
                for cache in caches:
                    cache.unlink(missing_ok=True)
            report: dict[str, Any] = {}
            row = measure(world, Row(label), _into(world, report))
            moved = int(report.get("pushed", 0)) + int(report.get("pulled", 0))
            failed = int(report.get("failed", 0))
            print(
                f"  {label:30} {row.wall:7.2f} {float(report.get('seconds', 0.0)):7.2f}"
                f" {report.get('round_trips', 0):>5} {row.gh_calls:>8} {row.connections:>5}"
                f" {row.wire:>11,} {int(report.get('bytes_hashed', 0)):>15,} {moved:>6}"
                + (f"  FAILED {failed}" if failed else "")
            )
        print(
            "  (wall s: the whole command, gh calls included; sync s: the report's own time,"
            " from connecting to done)"
        )
    finally:
        world.close()
        shutil.rmtree(root, ignore_errors=True)


def _into(world: World, report: dict[str, Any]) -> Callable[[Row], None]:
    """An action that runs the CLI and keeps its whole report in ``report``."""

    def action(row: Row) -> None:
        report.update(run_cli(world))

    return action


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    except OSError:
        return "not installed"
    text = (done.stdout + done.stderr).decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else "?"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--size-kb", type=int, default=200, help="approximate size of each session")
    parser.add_argument(
        "--gh-delay", type=float, default=1.0, help="seconds every gh invocation sleeps first"
    )
    parser.add_argument("--noop-sessions", type=int, default=1000)
    parser.add_argument("--noop-mb", type=int, default=500, help="total MB of the no-op sessions")
    parser.add_argument("--skip-noop", action="store_true", help="skip the no-op benchmark")
    parser.add_argument(
        "--skip-baseline", action="store_true", help="skip the seed baseline (rsync still runs)"
    )
    parser.add_argument(
        "--baseline-max",
        type=int,
        default=None,
        help="run the seed baseline only up to this many sessions; above, print an estimate",
    )
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, {platform.platform()}, Python"
        f" {platform.python_version()}"
    )
    print(f"ssh: {_version(['ssh', '-V'])}; rsync: {_version(['rsync', '--version'])}")
    print(
        f"gh delay: {args.gh_delay:g} s per gh invocation (fake gh; codespace = local sshd"
        " behind a counting TCP relay)"
    )
    print(
        "wire bytes: SSH bytes through the relay, both ways (all methods compress);"
        " file bytes: transcript/file data moved (rsync: literal data)"
    )
    print()
    opts = Options(args.size_kb, args.gh_delay, args.skip_baseline, args.baseline_max)
    top = Path(os.path.realpath(tempfile.mkdtemp(prefix="session-sync-bench-remote-")))
    try:
        with Sandbox(top / "sandbox") as sandbox:
            for count in args.sessions:
                bench(sandbox, top / f"n{count}", count, opts)
                print()
            if not args.skip_noop:
                bench_noop(sandbox, top / "noop", args.noop_sessions, args.noop_mb, args.gh_delay)
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
