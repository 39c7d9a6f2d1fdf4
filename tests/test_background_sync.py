"""``bin/sync-sessions-from-all-codespaces``: the hourly job, end to end.

The script runs as a real process with ``HOME`` = a temp laptop home, the fake
``gh`` first on ``PATH`` and ``--workspace '~/workspaces/{repo}'``, so each
simulated codespace (a real sshd with its own home) keeps its checkout and its
sessions under that home. The fake gh's log of invocations shows which
codespaces were reached at all: one that is not ``Available`` must never see a
``gh codespace ssh`` (that would start it, and keep it billed).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs
import pytest
from conftest import (
    REPO_ROOT,
    CliResult,
    changed_but_the_hash_cache,
    laptop_env,
    make_laptop,
    run_process,
    session_files,
    snapshot_tree,
    write_old,
)
from test_codespaces import call_kind

from session_sync.agent.paths import encode_project_path
from session_sync.github.background import default_log_file
from session_sync.testing.sandbox import FakeGh, Sandbox, SshHost, install_fake_gh
from session_sync.testing.sessions import SessionSpec, make_session, session_bytes

SCRIPT = REPO_ROOT / "bin" / "sync-sessions-from-all-codespaces"
APP_REPO = "octo-org/app"
OTHER_REPO = "octo-org/other"
WORKSPACE_TEMPLATE = "~/workspaces/{repo}"


def spec_at(cwd: Path | str, seed: int) -> SessionSpec:
    return make_session(random.Random(seed), str(cwd), turns=3, target_bytes=4000)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def rotated_logs(log: Path) -> list[Path]:
    """The rotated copies beside ``log`` (``sync.log.<date>``; not the lock file)."""
    return sorted(
        p
        for p in log.parent.iterdir()
        if p.name.startswith(log.name + ".") and not p.name.endswith(".lock")
    )


def transcripts(project_dir: Path) -> dict[str, bytes]:
    """``{file name: bytes}`` of the session transcripts directly in ``project_dir``."""
    if not project_dir.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in project_dir.glob("*.jsonl") if p.is_file()}


def name_of(spec: SessionSpec) -> str:
    return f"{spec.session_id}.jsonl"


@attrs.frozen
class Space:
    """One simulated codespace: its name, repository, and the sshd that is its machine."""

    name: str
    repository: str
    host: SshHost

    @property
    def workspace(self) -> Path:
        """The checkout's path in the codespace (``~/workspaces/<repo>``)."""
        return self.host.home / "workspaces" / self.repository.rsplit("/", 1)[-1]

    @property
    def config(self) -> Path:
        """The codespace's Claude config dir."""
        return self.host.home / ".claude"

    @property
    def project_dir(self) -> Path:
        """Where the codespace keeps the sessions of its checkout."""
        return self.config / "projects" / encode_project_path(str(self.workspace), resolve=False)

    def write(self, seed: int) -> SessionSpec:
        """A session of the codespace's checkout, written there hours ago."""
        spec = spec_at(self.workspace, seed)
        write_old(self.config, spec, dir_name=self.project_dir.name)
        return spec


@attrs.define
class Fleet:
    """A laptop home with a checkout of ``octo-org/app``, and codespaces behind a fake gh."""

    laptop: Path
    project: Path
    gh: FakeGh
    sandbox: Sandbox
    root: Path
    base_env: dict[str, str]
    spaces: list[Space] = attrs.field(factory=list)

    @property
    def config(self) -> Path:
        """The laptop's Claude config dir."""
        return self.laptop / ".claude"

    @property
    def project_dir(self) -> Path:
        """The laptop's project dir of the checkout."""
        return self.config / "projects" / encode_project_path(str(self.project))

    @property
    def log_file(self) -> Path:
        return self.root / "logs" / "sync.log"

    def add(self, name: str, repository: str = APP_REPO, state: str = "Available") -> Space:
        """A new codespace (its own sshd and home, its checkout dir made)."""
        host_name = f"{self.root.name}-{len(self.spaces)}"[-60:]
        host = self.sandbox.add_host(host_name)
        space = Space(name, repository, host)
        self.spaces.append(space)
        space.workspace.mkdir(parents=True)
        self.gh.add_codespace(name, repository, port=host.port, state=state)
        return space

    def write_here(self, seed: int) -> SessionSpec:
        """A session of the laptop's checkout, written hours ago."""
        spec = spec_at(self.project, seed)
        write_old(self.config, spec)
        return spec

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return dict(self.base_env, **(extra or {}))

    def argv(self, *args: str, log_file: bool = True) -> list[str]:
        argv = [sys.executable, str(SCRIPT), "--workspace", WORKSPACE_TEMPLATE]
        if log_file:
            argv += ["--log-file", str(self.log_file)]
        return [*argv, *args]

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        log_file: bool = True,
        timeout: float = 180.0,
    ) -> CliResult:
        """Run the script to its end, from the laptop's home (not from the checkout)."""
        return run_process(
            self.argv(*args, log_file=log_file),
            env=self.env() if env is None else env,
            cwd=self.laptop,
            timeout=timeout,
        )

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Start the script without waiting for it."""
        return subprocess.Popen(
            self.argv(*args),
            env=self.env(),
            cwd=self.laptop,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def log_lines(self, path: Path | None = None) -> list[str]:
        path = path or self.log_file
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def ssh_calls_naming(self, name: str) -> list[list[str]]:
        """Every gh call that has ``ssh`` in it and names ``name``."""
        return [
            argv
            for argv in self.gh.invocations()
            if "ssh" in argv and any(name in word for word in argv)
        ]

    def call_kinds(self) -> list[str]:
        """Each gh call so far: ``list``, ``ssh --config``, ``ssh --stdio``..."""
        return [call_kind(argv) for argv in self.gh.invocations()]


ONE_RUN = ["list", "list", "ssh --config", "list", "ssh --stdio"]
"""The gh calls of a run that syncs one codespace: the state is read again right
before each ``gh codespace ssh``."""


@pytest.fixture
def fleet(sandbox: Sandbox, tmp_path: Path) -> Iterator[Fleet]:
    laptop, project = make_laptop(tmp_path / "laptop", APP_REPO)
    gh = install_fake_gh(
        tmp_path / "bin", tmp_path / "gh-state.json", identity_file=sandbox.client_key
    )
    env = laptop_env(gh, laptop)
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.pop("XDG_STATE_HOME", None)
    fleet = Fleet(
        laptop=laptop,
        project=project,
        gh=gh,
        sandbox=sandbox,
        root=tmp_path,
        base_env=env,
    )
    try:
        yield fleet
    finally:
        for space in fleet.spaces:
            space.host.stop()


def test_every_available_codespace_is_synced_both_ways_and_no_other_is_touched(
    fleet: Fleet,
) -> None:
    first = fleet.add("app-first-q7x9")
    second = fleet.add("app-second-w4r2")
    other = fleet.add("other-space-k8m1", OTHER_REPO)
    asleep = fleet.add("app-asleep-z0z0", state="Shutdown")
    waking = fleet.add("app-waking-y1y1", state="Starting")
    here = fleet.write_here(1)
    from_first = first.write(2)
    from_second = second.write(3)
    from_other = other.write(4)
    in_asleep = asleep.write(5)
    in_waking = waking.write(6)
    (first.project_dir / "memory").mkdir()
    (first.project_dir / "memory" / "MEMORY.md").write_text("- [CI](ci.md) — from first\n")
    asleep_before = snapshot_tree(asleep.config)
    waking_before = snapshot_tree(waking.config)

    result = fleet.run()

    assert result.code == 0, result
    mine = transcripts(fleet.project_dir)
    # Both app codespaces' sessions came here, into the checkout's project...
    everything = {name_of(s): session_bytes(s) for s in (here, from_first, from_second)}
    assert mine == everything, sorted(mine)
    # ...and ours went there (the two run at once, so the one synced first may not
    # have the other's yet: that comes next hour).
    for space, theirs in ((first, from_first), (second, from_second)):
        there = transcripts(space.project_dir)
        assert there[name_of(here)] == session_bytes(here), space.name
        assert there[name_of(theirs)] == session_bytes(theirs), space.name
        assert set(there) <= set(mine), space.name
    # The codespace of a repository with no checkout here: its sessions are kept as
    # those of /workspaces/other, and nothing of app's went to it.
    kept = fleet.config / "projects" / encode_project_path("/workspaces/other", resolve=False)
    assert transcripts(kept) == {name_of(from_other): session_bytes(from_other)}
    assert transcripts(other.project_dir) == {name_of(from_other): session_bytes(from_other)}
    assert set(session_files(other.config)) == {f"{other.project_dir.name}/{name_of(from_other)}"}
    # The Shutdown and Starting ones: still in their states, never reached over ssh.
    assert fleet.gh.state_of(asleep.name) == "Shutdown"
    assert fleet.gh.state_of(waking.name) == "Starting"
    for space in (asleep, waking):
        assert fleet.ssh_calls_naming(space.name) == [], fleet.gh.invocations()
    assert [e for e in fleet.gh.events() if e.get("event") == "started"] == []
    assert snapshot_tree(asleep.config) == asleep_before
    assert snapshot_tree(waking.config) == waking_before
    assert name_of(in_asleep) not in mine
    assert name_of(in_waking) not in mine
    # The running ones were reached.
    for space in (first, second, other):
        assert fleet.ssh_calls_naming(space.name), space.name
    # The log names each synced codespace, with what was done.
    lines = fleet.log_lines()
    for space in (first, second, other):
        assert any(re.search(rf"\b{space.name}: \d+ pulled, \d+ pushed", ln) for ln in lines), (
            space.name,
            lines,
        )
    assert not any(asleep.name in ln and "pulled" in ln for ln in lines), lines
    assert any("3 synced, 0 failed, 2 not running" in ln for ln in lines), lines
    # The hourly job syncs Claude's memory too, and logs what came in.
    memory = fleet.project_dir / "memory" / "MEMORY.md"
    assert memory.read_text() == "- [CI](ci.md) — from first\n"
    assert any("memory came in: memory/MEMORY.md" in ln for ln in lines), lines
    assert any("+ - [CI](ci.md) — from first" in ln for ln in lines), lines
    assert not any(" ERROR " in ln for ln in lines), lines

    # The next hour's run brings both app codespaces level with this machine.
    again = fleet.run()

    assert again.code == 0, again
    assert transcripts(fleet.project_dir) == everything
    assert transcripts(first.project_dir) == everything
    assert transcripts(second.project_dir) == everything
    assert fleet.gh.state_of(asleep.name) == "Shutdown"
    assert fleet.gh.state_of(waking.name) == "Starting"


def test_a_codespace_that_shuts_down_after_the_list_is_skipped_not_started(
    fleet: Fleet,
) -> None:
    stopping = fleet.add("app-stopping-s5s5")
    running = fleet.add("app-running-r6r6")
    here = fleet.write_here(1)
    in_stopping = stopping.write(2)
    from_running = running.write(3)
    stopping_before = snapshot_tree(stopping.config)
    # Available in the job's list, shut down right after it (it timed out just then).
    fleet.gh.stop_after_lists(stopping.name, 1)

    result = fleet.run("--json")

    assert result.code == 0, result
    assert fleet.gh.state_of(stopping.name) == "Shutdown"
    assert fleet.ssh_calls_naming(stopping.name) == [], fleet.gh.invocations()
    assert [e for e in fleet.gh.events() if e.get("event") == "started"] == []
    assert snapshot_tree(stopping.config) == stopping_before
    assert name_of(in_stopping) not in transcripts(fleet.project_dir)
    lines = fleet.log_lines()
    assert any(
        f"{stopping.name}: skipped: codespace {stopping.name} is Shutdown: shut down since"
        " the list; not started" in ln
        for ln in lines
    ), lines
    assert any("1 synced, 0 failed, 1 not running" in ln for ln in lines), lines
    outcomes = {o["name"]: o for o in result.json()["codespaces"]}
    assert (outcomes[stopping.name]["synced"], outcomes[stopping.name]["state"]) == (
        False,
        "Shutdown",
    )
    # The other one was synced as usual.
    assert (outcomes[running.name]["ok"], outcomes[running.name]["synced"]) == (True, True)
    assert transcripts(running.project_dir)[name_of(here)] == session_bytes(here)
    assert transcripts(fleet.project_dir)[name_of(from_running)] == session_bytes(from_running)


def test_nothing_running_is_a_silent_no_op(fleet: Fleet) -> None:
    asleep = fleet.add("app-asleep-a1b2", state="Shutdown")
    fleet.write_here(1)
    asleep.write(2)
    before = snapshot_tree(fleet.config)

    result = fleet.run()

    assert result == CliResult(0, "", ""), result
    lines = fleet.log_lines()
    assert any("no running codespace (of 1); nothing to do" in ln for ln in lines), lines
    assert snapshot_tree(fleet.config) == before
    assert fleet.ssh_calls_naming(asleep.name) == []
    assert fleet.gh.state_of(asleep.name) == "Shutdown"


def test_no_codespace_at_all_is_a_silent_no_op_too(fleet: Fleet) -> None:
    result = fleet.run()

    assert result == CliResult(0, "", ""), result
    assert any("no running codespace (of 0)" in ln for ln in fleet.log_lines())


def test_one_failing_codespace_fails_the_run_and_the_others_are_still_synced(
    fleet: Fleet,
) -> None:
    good = fleet.add("app-good-g1g1")
    other = fleet.add("other-good-g2g2", OTHER_REPO)
    broken = fleet.add("app-broken-b0b0")
    here = fleet.write_here(1)
    from_good = good.write(2)
    from_other = other.write(3)
    broken.write(4)
    fleet.gh.set_port(broken.name, closed_port())

    result = fleet.run()

    assert result.code == 1, result
    assert transcripts(fleet.project_dir) == {
        name_of(s): session_bytes(s) for s in (here, from_good)
    }
    assert transcripts(good.project_dir) == {
        name_of(s): session_bytes(s) for s in (here, from_good)
    }
    kept = fleet.config / "projects" / encode_project_path("/workspaces/other", resolve=False)
    assert transcripts(kept) == {name_of(from_other): session_bytes(from_other)}
    lines = fleet.log_lines()
    errors = [ln for ln in lines if " ERROR " in ln]
    assert errors, lines
    assert all(broken.name in ln for ln in errors), errors
    assert any(ln.split(" ERROR ", 1)[1].startswith(f"{broken.name}: failed") for ln in errors)
    assert any("2 synced, 1 failed" in ln for ln in lines), lines
    # The broken one's own sessions stayed where they were.
    assert name_of(from_good) in transcripts(fleet.project_dir)
    assert len(transcripts(broken.project_dir)) == 1


def test_a_second_run_while_one_is_going_does_nothing(fleet: Fleet) -> None:
    space = fleet.add("app-slow-s1s1")
    here = fleet.write_here(1)
    theirs = space.write(2)
    fleet.gh.set_delay(2.0)
    lock = fleet.log_file.with_name(fleet.log_file.name + ".lock")

    first = fleet.start()
    try:
        deadline = time.monotonic() + 60
        holder = ""
        while time.monotonic() < deadline and first.poll() is None:
            if lock.exists():
                holder = lock.read_text().strip()
                if holder:
                    break
            time.sleep(0.02)
        assert holder == str(first.pid), (holder, first.poll())

        second = fleet.run()
        # The first still holds the lock: otherwise the second was not a second run.
        still_going = first.poll() is None
        out, err = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    assert still_going
    assert second == CliResult(0, "", ""), second
    assert first.returncode == 0, (out, err)
    lines = fleet.log_lines()
    assert any(f"another run (pid {first.pid}) is still going" in ln for ln in lines), lines
    # Only one run asked gh anything: its list, and its sync (each `gh codespace ssh`
    # right after the state is read again).
    assert fleet.call_kinds() == ONE_RUN, fleet.gh.invocations()
    everything = {name_of(s): session_bytes(s) for s in (here, theirs)}
    assert transcripts(fleet.project_dir) == everything
    assert transcripts(space.project_dir) == everything

    # Once the first is over, the lock is free again.
    fleet.gh.set_delay(0.0)
    after = fleet.run()
    assert after.code == 0, after
    assert fleet.call_kinds() == ONE_RUN + ONE_RUN


def test_dry_run_changes_nothing_on_either_side(fleet: Fleet) -> None:
    space = fleet.add("app-dry-d1d1")
    fleet.write_here(1)
    space.write(2)
    here_before = snapshot_tree(fleet.config)
    there_before = snapshot_tree(space.config)

    result = fleet.run("--dry-run")

    assert result.code == 0, result
    here, there = snapshot_tree(fleet.config), snapshot_tree(space.config)
    assert changed_but_the_hash_cache(here_before, here) == []
    assert changed_but_the_hash_cache(there_before, there) == []
    lines = fleet.log_lines()
    assert any("(dry run)" in ln and space.name in ln for ln in lines), lines
    assert fleet.ssh_calls_naming(space.name)  # it did look


def test_json_has_an_entry_per_codespace(fleet: Fleet) -> None:
    running = fleet.add("app-json-j1j1")
    asleep = fleet.add("app-json-j2j2", state="Shutdown")
    here = fleet.write_here(1)
    theirs = running.write(2)

    result = fleet.run("--json")

    assert result.code == 0, result
    document = json.loads(result.out)
    assert isinstance(document, dict)
    entries = {e["name"]: e for e in document["codespaces"]}
    assert set(entries) == {running.name, asleep.name}
    ran = entries[running.name]
    assert (ran["synced"], ran["ok"], ran["state"], ran["repository"]) == (
        True,
        True,
        "Available",
        APP_REPO,
    )
    assert ran["error"] is None
    assert (ran["report"]["pulled"], ran["report"]["pushed"], ran["report"]["failed"]) == (1, 1, 0)
    left = entries[asleep.name]
    assert (left["synced"], left["ok"], left["state"], left["report"]) == (
        False,
        True,
        "Shutdown",
        None,
    )
    assert transcripts(running.project_dir) == {
        name_of(s): session_bytes(s) for s in (here, theirs)
    }


def test_json_reports_a_failed_codespace(fleet: Fleet) -> None:
    broken = fleet.add("app-json-b1b1")
    fleet.gh.set_port(broken.name, closed_port())

    result = fleet.run("--json", "--codespace-route", "exec")

    assert result.code == 1, result
    entry = json.loads(result.out)["codespaces"][0]
    assert (entry["name"], entry["synced"], entry["ok"]) == (broken.name, True, False)
    assert entry["error"]


def test_gh_not_installed(fleet: Fleet, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    path = os.pathsep.join([str(empty), os.path.dirname(sys.executable)])
    assert shutil.which("gh", path=path) is None
    env = fleet.env({"PATH": path})

    result = fleet.run(env=env)

    assert result.code == 1, result
    lines = fleet.log_lines()
    said = [ln for ln in lines if "not installed" in ln]
    assert len(said) == 1, lines
    assert " ERROR " in said[0]
    assert "GitHub CLI" in said[0]


def test_gh_that_does_not_answer(fleet: Fleet) -> None:
    fleet.add("app-hang-h1h1")
    fleet.gh.set_logged_in(False, hang=True)

    result = fleet.run("--gh-timeout", "2", timeout=60)

    assert result.code == 1, result
    lines = fleet.log_lines()
    assert any(" ERROR " in ln and "did not answer in 2 s" in ln for ln in lines), lines


def test_gh_logged_out(fleet: Fleet) -> None:
    fleet.add("app-out-o1o1")
    fleet.gh.set_logged_in(False)

    result = fleet.run()

    assert result.code == 1, result
    lines = fleet.log_lines()
    assert any(" ERROR " in ln and "not logged in" in ln for ln in lines), lines
    assert fleet.ssh_calls_naming("app-out-o1o1") == []


@pytest.mark.skipif(sys.platform == "darwin", reason="the macOS log is in ~/Library/Logs")
def test_the_default_log_is_under_xdg_state_home(fleet: Fleet, tmp_path: Path) -> None:
    state = tmp_path / "state"

    result = fleet.run(env=fleet.env({"XDG_STATE_HOME": str(state)}), log_file=False)

    assert result.code == 0, result
    log = state / "session-sync" / "sync.log"
    assert any("nothing to do" in ln for ln in fleet.log_lines(log))
    assert (state / "session-sync" / "sync.log.lock").exists()
    assert not (fleet.laptop / ".local" / "state").exists()


@pytest.mark.skipif(sys.platform == "darwin", reason="the macOS log is in ~/Library/Logs")
def test_the_default_log_without_xdg_state_home(fleet: Fleet) -> None:
    result = fleet.run(log_file=False)

    assert result.code == 0, result
    log = fleet.laptop / ".local" / "state" / "session-sync" / "sync.log"
    assert any("nothing to do" in ln for ln in fleet.log_lines(log))


def test_default_log_file() -> None:
    assert default_log_file(platform="darwin", environ={"HOME": "/Users/me"}) == Path(
        "/Users/me/Library/Logs/claude-session-sync.log"
    )
    # macOS ignores XDG_STATE_HOME.
    assert default_log_file(
        platform="darwin", environ={"HOME": "/Users/me", "XDG_STATE_HOME": "/x"}
    ) == Path("/Users/me/Library/Logs/claude-session-sync.log")
    assert default_log_file(platform="linux", environ={"HOME": "/home/me"}) == Path(
        "/home/me/.local/state/session-sync/sync.log"
    )
    assert default_log_file(
        platform="linux", environ={"HOME": "/home/me", "XDG_STATE_HOME": "/var/st"}
    ) == Path("/var/st/session-sync/sync.log")
    # A relative XDG_STATE_HOME is invalid (XDG spec): ignored; so is an empty one.
    for relative in ("state", "./state", ""):
        assert default_log_file(
            platform="linux", environ={"HOME": "/home/me", "XDG_STATE_HOME": relative}
        ) == Path("/home/me/.local/state/session-sync/sync.log"), relative


def test_the_log_is_rotated_weekly(fleet: Fleet) -> None:
    log = fleet.log_file
    log.parent.mkdir(parents=True)
    old = "2020-01-01 00:00:00,000 INFO last week's run\n"
    log.write_text(old)
    eight_days_ago = time.time() - 8 * 86400
    os.utime(log, (eight_days_ago, eight_days_ago))

    result = fleet.run()

    assert result.code == 0, result
    rotated = rotated_logs(log)
    assert len(rotated) == 1, sorted(p.name for p in log.parent.iterdir())
    assert rotated[0].read_text() == old
    lines = fleet.log_lines()
    assert "last week's run" not in log.read_text()
    assert any("nothing to do" in ln for ln in lines), lines

    # A log written to this week is not rotated again.
    result = fleet.run()

    assert result.code == 0, result
    names = sorted(p.name for p in log.parent.iterdir())
    assert names == sorted([log.name, rotated[0].name, log.name + ".lock"]), names
    assert sum("nothing to do" in ln for ln in fleet.log_lines()) == 2


def test_eight_weeks_of_logs_are_kept(fleet: Fleet) -> None:
    log = fleet.log_file
    log.parent.mkdir(parents=True)
    week = 7 * 86400
    old = [log.with_name(f"sync.log.2020-01-{day:02d}") for day in range(1, 10)]
    for i, path in enumerate(old):
        path.write_text(f"week {i}\n")
        os.utime(path, (time.time() - (20 - i) * week,) * 2)
    log.write_text("last week\n")
    os.utime(log, (time.time() - 8 * 86400,) * 2)

    result = fleet.run()

    assert result.code == 0, result
    kept = rotated_logs(log)
    assert len(kept) == 8, [p.name for p in kept]
    # The oldest went; last week's log is among those kept.
    assert old[0] not in kept
    assert old[1] not in kept
    assert "last week\n" in [p.read_text() for p in kept]
