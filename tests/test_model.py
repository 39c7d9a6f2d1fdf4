"""A randomized model over three machines: no line ever written is lost, and after
syncing every pair twice all machines hold the same files, byte for byte.

Each seed plays a fixed sequence of steps on three Claude config dirs that share one
project path: Claude appends whole lines to a session on one machine, starts a new
session, or rewrites a session's tail (a fork: truncated to an earlier line
boundary, then different lines appended); a sync runs between a random pair (in
this process, the far agent in a thread); now and then a sync runs as a real
process that SIGKILLs itself, or its far agent, at a named point.

Every file written gets an mtime in the past (a minute-old write counts as open on
a machine without a registry), and every machine has an empty live-process
registry (``<config>/sessions/``): nothing is open anywhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import attrs
import pytest
from conftest import REPO_ROOT

from session_sync.agent.faults import FAULT_FILE_ENV
from session_sync.agent.paths import encode_project_path
from session_sync.engine import SyncRequest, run_sync
from session_sync.model.forks import fork_session_id
from session_sync.testing.lines import (
    all_lines,
    apply_lock_free,
    complete_lines,
    last_time,
    project_files,
)
from session_sync.testing.sessions import SessionSpec, continue_session, make_session
from session_sync.testing.transports import InProcessTransport

SEEDS = range(10)
STEPS = 30
PAIRS = list(itertools.combinations(range(3), 2))
KILL_POINTS = ("apply.staged", "apply.rechecked", "apply.swapped", "apply.done", "backup.copied")


@attrs.define
class World:
    """Three machines and every line that must never be lost."""

    root: Path
    rng: random.Random
    configs: list[Path]
    project: str
    required: set[bytes] = attrs.field(factory=set)
    clock: float = attrs.field(factory=lambda: time.time() - 4 * 3600)
    log: list[str] = attrs.field(factory=list)

    def project_dir(self, i: int) -> Path:
        return self.configs[i] / "projects" / encode_project_path(self.project)

    def sessions(self, i: int) -> list[Path]:
        d = self.project_dir(i)
        return sorted(d.glob("*.jsonl")) if d.is_dir() else []

    def write(self, path: Path, data: bytes) -> None:
        """Claude writes ``path`` (whole lines); its mtime goes into the past."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_bytes(data)
        path.chmod(0o600)
        self.clock += 1.0
        os.utime(path, (self.clock, self.clock))

    def present(self) -> set[bytes]:
        """Every line some machine still has."""
        return set().union(*(all_lines(c) for c in self.configs))

    def check_nothing_lost(self, what: str) -> None:
        lost = self.required - self.present()
        assert not lost, f"after {what}: {len(lost)} lines on no machine\n" + "\n".join(self.log)


def _joined(spec: SessionSpec) -> bytes:
    return b"".join(line + b"\n" for line in spec.lines)


def _spec(path: Path, lines: list[bytes], cwd: str) -> SessionSpec:
    return SessionSpec(session_id=path.stem, cwd=cwd, lines=tuple(lines))


def step_new(w: World, i: int) -> None:
    spec = make_session(w.rng, w.project, turns=w.rng.randint(1, 3))
    path = w.project_dir(i) / f"{spec.session_id}.jsonl"
    w.write(path, b"".join(line + b"\n" for line in spec.lines))
    w.required |= set(spec.lines)
    w.log.append(f"new {spec.session_id[:8]} on {i}")


def step_append(w: World, i: int) -> None:
    files = w.sessions(i)
    if not files:
        return step_new(w, i)
    path = w.rng.choice(files)
    old = complete_lines(path.read_bytes())
    grown = continue_session(w.rng, _spec(path, old, w.project), turns=1)
    added = grown.lines[len(old) :]
    w.write(path, path.read_bytes() + b"".join(line + b"\n" for line in added))
    w.required |= set(added)
    w.log.append(f"append {len(added)} lines to {path.stem[:8]} on {i}")


def step_fork(w: World, i: int) -> None:
    """Claude rewrites a session's tail here: an earlier line boundary, then new lines."""
    files = [p for p in w.sessions(i) if len(complete_lines(p.read_bytes())) >= 3]
    if not files:
        return step_append(w, i)
    path = w.rng.choice(files)
    old = complete_lines(path.read_bytes())
    keep = w.rng.randint(1, len(old) - 1)
    forked = continue_session(w.rng, _spec(path, old[:keep], w.project), turns=1)
    w.write(path, b"".join(line + b"\n" for line in forked.lines))
    # The lines cut here are the user's own rewrite: still required only where
    # another machine (or a fork) has them.
    w.required = {line for line in w.required if line in w.present()} | set(forked.lines)
    w.log.append(f"fork {path.stem[:8]} on {i} at line {keep} of {len(old)}")


def step_sync(w: World, i: int, j: int) -> None:
    request = SyncRequest(local_config=w.configs[i], local_path=w.project, remote_path=w.project)
    report = run_sync(request, InProcessTransport(w.configs[j]))
    failed = [(x.file, x.error) for x in report.items if x.outcome == "failed"]
    w.log.append(f"sync {i}<->{j}: " + ", ".join(f"{x.action} {x.file[:8]}" for x in report.items))
    assert not failed, f"sync {i}<->{j} failed items: {failed}\n" + "\n".join(w.log)
    w.check_nothing_lost(f"sync {i}<->{j}")


def step_kill(w: World, i: int, j: int) -> None:
    """A sync as a real process, killed (or its far agent) at a random point."""
    point = w.rng.choice(KILL_POINTS)
    count = w.rng.randint(1, 3)
    victim = w.rng.choice((i, j))
    fault = w.root / "fault"
    fault.write_text(f"{point} {count} {w.configs[victim]}\n")
    env = dict(os.environ, CLAUDE_CONFIG_DIR=str(w.configs[i]))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env[FAULT_FILE_ENV] = str(fault)
    argv = ["sync", "--dir", str(w.configs[j]), "--local-path", w.project, "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "session_sync", *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    code = proc.wait(timeout=120)
    deadline = time.monotonic() + 60
    while not all(apply_lock_free(c) for c in (w.configs[i], w.configs[j])):
        if time.monotonic() > deadline:
            pytest.fail("a killed sync still holds an apply lock after a minute")
        time.sleep(0.02)
    with_group = True
    while with_group:
        try:
            os.killpg(proc.pid, 0)
            time.sleep(0.02)
        except ProcessLookupError:
            with_group = False
    killed = "killed" if code == -signal.SIGKILL or code != 0 else "not reached"
    w.log.append(f"kill sync {i}<->{j} at {point} #{count} on {victim}: {killed} ({code})")
    w.check_nothing_lost(f"a sync {i}<->{j} killed at {point} #{count} on {victim}")


def play(w: World) -> None:
    for _ in range(STEPS):
        roll = w.rng.random()
        i = w.rng.randrange(3)
        if roll < 0.25:
            step_append(w, i)
        elif roll < 0.35:
            step_new(w, i)
        elif roll < 0.50:
            step_fork(w, i)
        elif roll < 0.95:
            step_sync(w, *w.rng.choice(PAIRS))
        else:
            step_kill(w, *w.rng.sample(range(3), 2))


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_three_machines_lose_no_line_and_agree(tmp_path: Path, seed: int) -> None:
    project = tmp_path / "src" / "app"
    project.mkdir(parents=True)
    configs = [tmp_path / f"m{n}" for n in range(3)]
    for config in configs:
        (config / "sessions").mkdir(parents=True)
    w = World(tmp_path, random.Random(seed), configs, os.path.realpath(project))

    play(w)
    for _ in range(2):
        for i, j in PAIRS:
            step_sync(w, i, j)

    files = [project_files(w.project_dir(n)) for n in range(3)]
    for n in (1, 2):
        assert sorted(files[n]) == sorted(files[0]), f"machine {n} has other files than 0"
        differ = [rel for rel in files[0] if files[0][rel] != files[n][rel]]
        assert not differ, f"machine {n} differs from 0 in {differ}\n" + "\n".join(w.log)
    for config in configs:
        lines = all_lines(config)
        lost = w.required - lines
        assert not lost, f"{len(lost)} lines are not on {config.name}\n" + "\n".join(w.log)


def test_a_fork_resumed_on_one_machine_meets_its_branch_on_a_third(tmp_path: Path) -> None:
    """Seed 1 of the model, reduced: machine 0 still has branch X of a session that
    machines 1 and 2 settled (X' won, X was kept as fork F); on 2 the user resumed F.
    The sync 0<->2 makes F on 0 from X and also copies F (grown) there: the second
    must not fail, and F ends up with the lines it grew on 2."""
    project = tmp_path / "src" / "app"
    project.mkdir(parents=True)
    configs = [tmp_path / f"m{n}" for n in range(3)]
    for config in configs:
        (config / "sessions").mkdir(parents=True)
    w = World(tmp_path, random.Random(5), configs, os.path.realpath(project))
    # A fixed cwd in the lines: the same bytes, so the same fork id, every run; its
    # id sorts after the session's, so the fork is made before its copy arrives.
    base = make_session(w.rng, "/home/u/src/app", turns=3)
    x = continue_session(w.rng, base, turns=1)
    x2 = continue_session(w.rng, base, turns=1, start=last_time(x) + dt.timedelta(hours=2))
    name = f"{base.session_id}.jsonl"
    for n, spec in ((0, x), (1, x), (2, x2)):
        w.write(w.project_dir(n) / name, b"".join(line + b"\n" for line in spec.lines))
    w.required |= set(x.lines) | set(x2.lines)
    step_sync(w, 1, 2)
    (fork,) = [p for p in w.sessions(2) if p.name != name]
    assert fork.name > name
    grown = continue_session(w.rng, _spec(fork, complete_lines(fork.read_bytes()), w.project))
    w.write(fork, b"".join(line + b"\n" for line in grown.lines))
    w.required |= set(grown.lines)

    step_sync(w, 0, 2)

    assert (w.project_dir(0) / fork.name).read_bytes() == fork.read_bytes()


def test_a_branch_whose_fork_was_rewound_elsewhere_is_kept_as_that_forks_fork(
    tmp_path: Path,
) -> None:
    """Seed 7 of the model, reduced: machines 0 and 1 settled session D (D' won,
    the old branch X was kept as fork F); then F was resumed and rewound on one of
    them (F' won there, X kept as F's fork G). Machine 2 still has D as X. The
    sync 0<->2 brings F' and G and replaces D with D', keeping X: not under F (F'
    has that name now) but as G, the name a sync of F gave it; nothing fails."""
    project = tmp_path / "src" / "app"
    project.mkdir(parents=True)
    configs = [tmp_path / f"m{n}" for n in range(3)]
    for config in configs:
        (config / "sessions").mkdir(parents=True)
    w = World(tmp_path, random.Random(7), configs, os.path.realpath(project))
    x = make_session(w.rng, "/home/u/src/app", turns=4)
    x_bytes = b"".join(line + b"\n" for line in x.lines)
    d_won = continue_session(
        w.rng, attrs.evolve(x, lines=x.lines[:3]), start=last_time(x) + dt.timedelta(hours=2)
    )
    f_id = fork_session_id(x.session_id, hashlib.sha256(x_bytes).hexdigest())
    g_id = fork_session_id(f_id, hashlib.sha256(x_bytes).hexdigest())
    f_won = continue_session(
        w.rng, attrs.evolve(x, lines=x.lines[:1]), start=last_time(x) + dt.timedelta(hours=3)
    )
    on_0 = {x.session_id: d_won.lines, f_id: f_won.lines}
    for sid, lines in on_0.items():
        w.write(w.project_dir(0) / f"{sid}.jsonl", b"".join(line + b"\n" for line in lines))
    w.write(w.project_dir(0) / f"{g_id}.jsonl", x_bytes)
    w.write(w.project_dir(2) / f"{x.session_id}.jsonl", x_bytes)
    w.required |= set(x.lines) | set(d_won.lines) | set(f_won.lines)

    request = SyncRequest(local_config=w.configs[0], local_path=w.project, remote_path=w.project)
    report = run_sync(request, InProcessTransport(w.configs[2]))

    assert [x.error for x in report.items if x.outcome != "done"] == []
    (replace,) = [x for x in report.items if x.action == "replace"]
    assert replace.reason.endswith(
        f"its branch is kept as session {g_id} ({f_id} holds another now)"
    )
    w.check_nothing_lost("sync 0<->2")
    d2 = w.project_dir(2)
    assert (d2 / f"{x.session_id}.jsonl").read_bytes() == _joined(d_won)
    assert (d2 / f"{f_id}.jsonl").read_bytes() == _joined(f_won)
    assert (d2 / f"{g_id}.jsonl").read_bytes() == x_bytes
    assert sorted(p.name for p in w.sessions(2)) == sorted(p.name for p in w.sessions(0))
