"""kill -9 at named points of one sync: every file is old, new, or old + whole lines,
and the next sync converges without losing a line of either side.

One sync here copies an 8 MB session (pulled: many ``apply.staged`` points in the
controller, many ``send.chunk`` in the far agent) and a 2.5 MB one with a subagent
and a tool result (pushed), appends more than a MiB each way, replaces a diverged
session each way (a backup first) and copies a small new session each way. The
sync runs as a real process (``python -m session_sync sync``) whose far agent is a
local subprocess (``--dir``) or is started by the sandbox's real sshd (``--host``).

``$SESSION_SYNC_FAULT_FILE`` (``session_sync.agent.faults``) names the point: the
controller (``WHERE`` = ``controller``: a pull is applied in the controller's own
process) or the far agent (``WHERE`` = its config dir) SIGKILLs itself the COUNT-th
time it reaches POINT. Each (side, point, count) is one test id.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs
import pytest
from conftest import REPO_ROOT, CliResult, make_laptop, require_openssh, write_old

from session_sync.agent.faults import FAULT_FILE_ENV
from session_sync.agent.paths import TEMP_SUFFIX, encode_project_path
from session_sync.cli import app as cli
from session_sync.testing.lines import (
    all_lines,
    apply_lock_free,
    complete_lines,
    judge_file,
    last_time,
    project_files,
    temp_names,
)
from session_sync.testing.sandbox import Sandbox, SshHost
from session_sync.testing.sessions import SessionSpec, continue_session, make_session

BIG_BYTES = 8_000_000
"""The pulled copy: eight or more 1 MiB chunks staged by the controller."""
MID_BYTES = 2_500_000
"""The pushed copy and the grown sessions."""

WAIT_SECONDS = 60.0
"""How long a killed sync's leftover processes get to let go of the apply locks."""


@attrs.frozen
class Side:
    """One machine of the sync: its config dir and the project's dir and path there."""

    config: Path
    project_dir: Path
    cwd: str

    def files(self) -> dict[str, bytes]:
        return project_files(self.project_dir)


@attrs.frozen
class Bench:
    """Both machines, the fault file, and how to run the CLI against the other one."""

    local: Side
    remote: Side
    fault_file: Path
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path

    def where(self, side: str) -> str:
        return "controller" if side == "local" else str(self.remote.config)


# ------------------------------------------------------------------ the sessions


def _diverged(seed: int, cwd: str) -> tuple[SessionSpec, SessionSpec]:
    """(winner, loser): one history, two continuations; the winner's last message is later."""
    base = make_session(random.Random(seed), cwd, turns=5)
    last = last_time(base)
    loser = continue_session(
        random.Random(seed + 1), base, turns=2, start=last + dt.timedelta(hours=1)
    )
    winner = continue_session(
        random.Random(seed + 2), base, turns=1, start=last + dt.timedelta(hours=5)
    )
    return winner, loser


def write_sessions(local: Side, remote: Side) -> None:
    """The sync's work: copies, appends and replaces, each way."""

    def put(side: Side, spec: SessionSpec, hours: float = 3.0) -> None:
        write_old(side.config, spec, hours=hours, dir_name=side.project_dir.name)

    put(remote, make_session(random.Random(11), remote.cwd, target_bytes=BIG_BYTES))
    mid = make_session(
        random.Random(12),
        local.cwd,
        target_bytes=MID_BYTES,
        with_subagent=True,
        with_tool_result=True,
    )
    put(local, mid)
    for seed, (longer, shorter) in ((13, (local, remote)), (14, (remote, local))):
        full = make_session(random.Random(seed), local.cwd, target_bytes=MID_BYTES)
        put(shorter, attrs.evolve(full, lines=full.lines[: len(full.lines) // 3]), hours=6)
        put(longer, full)
    for seed, (winning, losing) in ((20, (local, remote)), (30, (remote, local))):
        winner, loser = _diverged(seed, local.cwd)
        put(losing, loser, hours=5)
        put(winning, winner, hours=4)
    put(local, make_session(random.Random(15), local.cwd, turns=2))
    put(remote, make_session(random.Random(16), remote.cwd, turns=2))
    for side in (local, remote):
        # An empty registry: this machine says which sessions are open, and none is.
        (side.config / "sessions").mkdir(exist_ok=True)


# ------------------------------------------------------------------ running a sync


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_sync(bench: Bench, fault: str) -> CliResult:
    """Run the sync as a process group; after it ends, wait for what it left behind
    (a far agent still reading a cut stream) to end and let go of both apply locks."""
    bench.fault_file.write_text(fault)
    env = dict(bench.env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env[FAULT_FILE_ENV] = str(bench.fault_file)
    proc = subprocess.Popen(
        [sys.executable, "-m", "session_sync", *bench.argv],
        env=env,
        cwd=bench.cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the sync did not end:\n{err.decode(errors='replace')}")
    deadline = time.monotonic() + WAIT_SECONDS
    configs = (bench.local.config, bench.remote.config)
    while _group_alive(proc.pid) or not all(apply_lock_free(c) for c in configs):
        if time.monotonic() > deadline:
            if _group_alive(proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("a killed sync's far agent still holds an apply lock after a minute")
        time.sleep(0.02)
    return CliResult(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def converge(bench: Bench) -> CliResult:
    """The sync again, no fault, in this process (no interpreter to start: the
    same code, a second faster): ``bench.env`` is this process's environment."""
    assert FAULT_FILE_ENV not in os.environ
    bench.fault_file.write_text("")  # the far side reads it too (over --host, SetEnv)
    saved, here = dict(os.environ), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear()
        os.environ.update(bench.env)
        os.chdir(bench.cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(bench.argv))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.chdir(here)
    return CliResult(code, out.getvalue(), err.getvalue())


# ------------------------------------------------------------------ the checks


def assert_each_file_old_new_or_grown(
    bench: Bench, before: Mapping[str, Mapping[str, bytes]]
) -> None:
    problems: list[str] = []
    for name, side, other in (("local", bench.local, "remote"), ("remote", bench.remote, "local")):
        after = side.files()
        for rel in sorted(set(before[name]) - set(after)):
            problems.append(f"{name}: {rel} is gone")
        for rel, data in sorted(after.items()):
            why = judge_file(rel, data, before[name], before[other])
            if why is not None:
                problems.append(f"{name}: {why}")
        for rel in temp_names(side.project_dir):
            # A leftover staging file is harmless only while nothing takes it for a session.
            if not rel.endswith(TEMP_SUFFIX) or rel.endswith(".jsonl"):
                problems.append(f"{name}: temp file {rel} looks like a session")
    assert not problems, "\n".join(problems)


def assert_converged_and_nothing_lost(
    bench: Bench, before: Mapping[str, Mapping[str, bytes]]
) -> None:
    local, remote = bench.local.files(), bench.remote.files()
    assert sorted(local) == sorted(remote), "both sides must have every file"
    differ = [rel for rel in local if local[rel] != remote[rel]]
    assert not differ, f"files that still differ after the second sync: {differ}"
    wanted = {
        line
        for files in before.values()
        for rel, data in files.items()
        if rel.endswith(".jsonl")
        for line in complete_lines(data)
    }
    for side in (bench.local, bench.remote):
        lost = wanted - all_lines(side.config)
        assert not lost, f"{len(lost)} lines are in no transcript of {side.config}"


def check_kill_then_converge(bench: Bench, side: str, point: str, count: int) -> None:
    write_sessions(bench.local, bench.remote)
    before = {"local": bench.local.files(), "remote": bench.remote.files()}
    killed = run_sync(bench, f"{point} {count} {bench.where(side)}\n")
    if side == "local":
        assert killed.code == -signal.SIGKILL, (
            f"the controller was not killed at {point} #{count} (exit {killed.code}):\n{killed.err}"
        )
    else:
        assert killed.code != 0, (
            f"the sync succeeded: the far agent never reached {point} #{count}\n{killed.out}"
        )
    assert_each_file_old_new_or_grown(bench, before)
    again = converge(bench)
    assert again.code == 0, f"the sync after the kill failed:\n{again.out}\n{again.err}"
    assert_converged_and_nothing_lost(bench, before)


# ------------------------------------------------------------------ the kill points

KILLS = [
    # The far agent applies the pushes: a 2.5 MB copy, files of its folder, a grown
    # session, a replaced one, a small copy; then it sends the pulls.
    ("remote", "apply.staged", 1),
    ("remote", "apply.staged", 3),
    ("remote", "apply.staged", 5),
    ("remote", "apply.grouped", 1),
    ("remote", "apply.rechecked", 1),
    ("remote", "apply.rechecked", 2),
    ("remote", "apply.rechecked", 4),
    ("remote", "apply.swapped", 1),
    ("remote", "apply.swapped", 2),
    ("remote", "apply.swapped", 4),
    ("remote", "apply.done", 1),
    ("remote", "apply.done", 3),
    ("remote", "backup.copied", 1),
    ("remote", "send.chunk", 1),
    ("remote", "send.chunk", 5),
    ("remote", "send.chunk", 10),
    # The controller sends the pushes, then applies the pulls: the 8 MB copy, a grown
    # session, a replaced one, a small copy.
    ("local", "send.chunk", 1),
    ("local", "send.chunk", 3),
    ("local", "apply.staged", 1),
    ("local", "apply.staged", 4),
    ("local", "apply.staged", 8),
    ("local", "apply.staged", 10),
    ("local", "apply.grouped", 1),
    ("local", "apply.rechecked", 1),
    ("local", "apply.rechecked", 2),
    ("local", "apply.rechecked", 3),
    ("local", "apply.swapped", 1),
    ("local", "apply.swapped", 3),
    ("local", "apply.done", 1),
    ("local", "apply.done", 3),
    ("local", "backup.copied", 1),
]
HOST_KILLS = [
    kill
    for kill in KILLS
    if kill
    in {
        ("remote", "apply.staged", 1),
        ("remote", "apply.staged", 5),
        ("remote", "apply.rechecked", 1),
        ("remote", "apply.rechecked", 4),
        ("remote", "apply.swapped", 1),
        ("remote", "apply.swapped", 4),
        ("remote", "apply.done", 3),
        ("remote", "backup.copied", 1),
        ("remote", "send.chunk", 1),
        ("remote", "send.chunk", 10),
        ("local", "send.chunk", 3),
        ("local", "apply.staged", 1),
        ("local", "apply.staged", 8),
        ("local", "apply.staged", 10),
        ("local", "apply.rechecked", 1),
        ("local", "apply.rechecked", 3),
        ("local", "apply.swapped", 1),
        ("local", "apply.swapped", 3),
        ("local", "apply.done", 3),
        ("local", "backup.copied", 1),
    }
]
"""Over real SSH each run costs a few seconds more: 20 of the points."""


def kill_ids(kills: list[tuple[str, str, int]]) -> list[str]:
    return [f"{side}-{point}-{count}" for side, point, count in kills]


# ------------------------------------------------------------------ over --dir


@pytest.fixture
def dir_bench(tmp_path: Path) -> Bench:
    project = tmp_path / "src" / "app"
    project.mkdir(parents=True)
    cwd = os.path.realpath(project)
    # "controller" in this machine's path: its apply points match whether the
    # controller names itself by role or by config dir.
    a, b = tmp_path / "controller", tmp_path / "far"
    a.mkdir()
    b.mkdir()
    name = encode_project_path(cwd)
    env = dict(os.environ, CLAUDE_CONFIG_DIR=str(a))
    return Bench(
        local=Side(a, a / "projects" / name, cwd),
        remote=Side(b, b / "projects" / name, cwd),
        fault_file=tmp_path / "fault",
        argv=("sync", "--dir", str(b), "--local-path", cwd, "--json"),
        env=env,
        cwd=Path(cwd),
    )


@pytest.mark.slow
@pytest.mark.parametrize(("side", "point", "count"), KILLS, ids=kill_ids(KILLS))
def test_kill_during_dir_sync(dir_bench: Bench, side: str, point: str, count: int) -> None:
    check_kill_then_converge(dir_bench, side, point, count)


# ------------------------------------------------------------------ over --host (real sshd)


@attrs.frozen
class CrashHost:
    host: SshHost
    sandbox: Sandbox
    fault_file: Path


@pytest.fixture(scope="module")
def crash_host(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashHost]:
    """One sshd for every test of the module; its sessions get the fault file's name
    (the file's content changes from run to run)."""
    require_openssh()
    fault_file = tmp_path_factory.mktemp("crash-fault") / "fault"
    fault_file.write_text("")
    host = sandbox.add_host("crashbox", env={FAULT_FILE_ENV: str(fault_file)})
    try:
        yield CrashHost(host, sandbox, fault_file)
    finally:
        host.stop()


@pytest.fixture
def host_bench(crash_host: CrashHost, tmp_path: Path) -> Bench:
    home = crash_host.host.home
    for leftover in (home / ".claude", home / "src"):
        shutil.rmtree(leftover, ignore_errors=True)
    remote_project = home / "src" / "app"
    remote_project.mkdir(parents=True)
    (home / ".claude").mkdir()
    laptop, project = make_laptop(tmp_path / "controller-laptop", "octo-org/app")
    crash_host.sandbox.write_client_config(
        laptop, {"box": (crash_host.host.host, crash_host.host.port)}
    )
    env = dict(os.environ, HOME=str(laptop))
    env.pop("CLAUDE_CONFIG_DIR", None)
    remote_cwd = str(remote_project)
    return Bench(
        local=Side(
            laptop / ".claude",
            laptop / ".claude" / "projects" / encode_project_path(str(project)),
            str(project),
        ),
        remote=Side(
            home / ".claude",
            home / ".claude" / "projects" / encode_project_path(remote_cwd),
            remote_cwd,
        ),
        fault_file=crash_host.fault_file,
        argv=("sync", "--host", "box", "--json"),
        env=env,
        cwd=project,
    )


@pytest.mark.slow
@pytest.mark.parametrize(("side", "point", "count"), HOST_KILLS, ids=kill_ids(HOST_KILLS))
def test_kill_during_host_sync(host_bench: Bench, side: str, point: str, count: int) -> None:
    check_kill_then_converge(host_bench, side, point, count)


@pytest.mark.parametrize("route", ["dir", "host"])
def test_the_sync_without_a_kill_does_all_its_work(
    route: str, request: pytest.FixtureRequest
) -> None:
    """The bench itself: uncut, the one sync moves everything and both sides agree."""
    bench: Bench = request.getfixturevalue(f"{route}_bench")
    write_sessions(bench.local, bench.remote)
    before = {"local": bench.local.files(), "remote": bench.remote.files()}
    done = converge(bench)
    assert done.code == 0, f"{done.out}\n{done.err}"
    items = json.loads(done.out)["items"]
    actions = sorted((i["action"], i["direction"]) for i in items if i["outcome"] == "done")
    assert {a for a, _ in actions} == {"copy", "append", "replace"}, actions
    assert {d for _, d in actions} == {"push", "pull"}, actions
    assert_converged_and_nothing_lost(bench, before)
