"""The ``bin/`` commands end to end: real processes, the fake ``gh``, real sshd.

Each test runs ``bin/NAME`` as a subprocess from the laptop's checkout of
``octo-org/app`` (``remote.project``) with ``HOME`` = the laptop home. The
codespace ``CODESPACE`` is ``remote.host``; every run passes ``--workspace
'~/workspaces/{repo}'`` so the codespace's checkout is
``<host.home>/workspaces/app`` and its sessions live under
``<host.home>/.claude/projects/<that path encoded>``. ``codespace-create``
takes a "spare" sshd (a fresh sandbox host) for the codespace it makes.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from conftest import (
    CODESPACE,
    CODESPACE_REPO,
    HOUR,
    REPO_ROOT,
    CliResult,
    Remote,
    changed_but_the_hash_cache,
    run_process,
    snapshot_tree,
    write_old,
)

from session_sync.agent.paths import encode_project_path
from session_sync.projects import git_toplevel
from session_sync.testing.sandbox import SshHost
from session_sync.testing.sessions import SessionSpec, make_session, session_bytes

WORKSPACE = "~/workspaces/{repo}"
"""The codespace's checkout: under its own home, never the real /workspaces."""
COMMANDS = ("codespace-create", "codespace-ssh", "sync-to-codespace", "sync-dev-env")
NOTES = "# notes\nthe plan: ship it\n"


# --- helpers --------------------------------------------------------------------------


def run_bin(
    remote: Remote,
    name: str,
    *args: str,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    workspace: bool = True,
    timeout: float = 120.0,
) -> CliResult:
    """``bin/NAME [--workspace ~/workspaces/{repo}] ARGS`` from the checkout (or ``cwd``)."""
    argv = [sys.executable, str(REPO_ROOT / "bin" / name)]
    argv += ["--workspace", WORKSPACE] if workspace else []
    return run_process(
        [*argv, *args],
        env=remote.env if env is None else env,
        cwd=cwd or remote.project,
        stdin=stdin,
        timeout=timeout,
    )


def cs_checkout(host: SshHost) -> Path:
    """The codespace's checkout of ``app`` (under its home, see ``WORKSPACE``)."""
    return host.home / "workspaces" / "app"


def cs_sessions(host: SshHost) -> Path:
    """The codespace's project dir of its checkout."""
    encoded = encode_project_path(str(cs_checkout(host)), resolve=False)
    return host.home / ".claude" / "projects" / encoded


def laptop_sessions(remote: Remote) -> Path:
    """The laptop's project dir of its checkout."""
    return remote.config / "projects" / encode_project_path(str(remote.project))


def laptop_session(remote: Remote, seed: int, *, hours: float = 3.0) -> SessionSpec:
    """A session of the laptop's checkout, modified ``hours`` ago."""
    spec = make_session(random.Random(seed), str(remote.project), turns=3, target_bytes=4000)
    write_old(remote.config, spec, hours=hours, dir_name=laptop_sessions(remote).name)
    return spec


def codespace_session(host: SshHost, seed: int, *, hours: float = 3.0) -> SessionSpec:
    """A session of the codespace's checkout, modified ``hours`` ago."""
    spec = make_session(random.Random(seed), str(cs_checkout(host)), turns=3, target_bytes=4000)
    write_old(host.home / ".claude", spec, hours=hours, dir_name=cs_sessions(host).name)
    return spec


def holds(project_dir: Path, spec: SessionSpec) -> bool:
    """Whether ``project_dir`` has ``spec``'s transcript, byte for byte."""
    path = project_dir / f"{spec.session_id}.jsonl"
    return path.is_file() and path.read_bytes() == session_bytes(spec)


def write_file(path: Path, text: str, *, hours: float) -> Path:
    """Write ``text`` to ``path`` (parents made) with its mtime ``hours`` ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    mtime = time.time() - hours * HOUR
    os.utime(path, (mtime, mtime))
    return path


def laptop_dev_env(remote: Remote) -> Path:
    return remote.project / ".coding-agent"


def cs_dev_env(host: SshHost) -> Path:
    return cs_checkout(host) / ".coding-agent"


def laptop_memory(remote: Remote) -> Path:
    return laptop_sessions(remote) / "memory"


def cs_memory(host: SshHost) -> Path:
    return cs_sessions(host) / "memory"


def ssh_calls(remote: Remote, name: str | None = None) -> list[list[str]]:
    """Every ``gh codespace ssh`` call so far (of codespace ``name`` only, if given)."""
    calls = [a for a in remote.gh.invocations() if a[:2] in (["codespace", "ssh"], ["cs", "ssh"])]
    if name is not None:
        calls = [a for a in calls if name in a]
    return calls


def interactive_calls(remote: Remote) -> list[list[str]]:
    """The ``gh codespace ssh`` calls that are neither ``--config`` nor a tunnel nor an exec."""
    return [
        a for a in ssh_calls(remote) if "--stdio" not in a and "--config" not in a and not _exec(a)
    ]


def _exec(argv: list[str]) -> bool:
    """A ``gh codespace ssh -c NAME -- COMMAND`` call (the exec route carries the agent)."""
    return "--" in argv and any("python" in word for word in argv[argv.index("--") + 1 :])


def one_line_error(result: CliResult, prog: str) -> str:
    """The last line of stderr, checked to be the command's own ``PROG: ...`` line."""
    lines = result.err.strip().splitlines()
    assert lines, result
    assert all(line.startswith(f"{prog}: ") for line in lines), result.err
    return lines[-1]


def only_error(result: CliResult, prog: str) -> str:
    """stderr, checked to be exactly one ``PROG: ...`` line: the failure."""
    assert len(result.err.strip().splitlines()) == 1, result.err
    return one_line_error(result, prog)


@pytest.fixture
def box(remote: Remote) -> Remote:
    """``remote`` with the codespace's checkout dir made (the agent does not make it)."""
    cs_checkout(remote.host).mkdir(parents=True)
    return remote


@pytest.fixture
def spare(box: Remote, tmp_path: Path) -> Iterator[SshHost]:
    """A fresh sshd offered to the next ``gh codespace create`` (its checkout dir made)."""
    host = box.sandbox.add_host(f"spare-{tmp_path.name}"[:60])
    try:
        cs_checkout(host).mkdir(parents=True)
        box.gh.add_spare(host.port)
        yield host
    finally:
        host.stop()


def created_name(box: Remote) -> str:
    """The one codespace ``gh codespace create`` made in this test."""
    names = [n for n in box.gh.codespace_names() if n != CODESPACE]
    assert len(names) == 1, names
    return names[0]


# --- codespace-create -----------------------------------------------------------------


def test_create_prints_the_name_and_pushes_sessions_and_dev_env(
    box: Remote, spare: SshHost
) -> None:
    first, second = laptop_session(box, 1), laptop_session(box, 2, hours=30)
    write_file(laptop_dev_env(box) / "notes.md", NOTES, hours=2)

    result = run_bin(box, "codespace-create", "-R", CODESPACE_REPO)

    assert result.code == 0, result
    name = created_name(box)
    assert result.out == f"{name}\n"
    assert box.gh.codespace(name)["repository"] == CODESPACE_REPO
    assert box.gh.codespace(name)["port"] == spare.port
    assert holds(cs_sessions(spare), first)
    assert holds(cs_sessions(spare), second)
    assert (cs_dev_env(spare) / "notes.md").read_text() == NOTES
    # The old codespace was not touched.
    assert not (box.remote_config / "projects").exists()


def test_create_waits_for_a_starting_codespace_then_pushes(box: Remote, spare: SshHost) -> None:
    spec = laptop_session(box, 3)
    box.gh.set_create_outcome("Starting", ready_after=2.5)

    result = run_bin(box, "codespace-create", "-R", CODESPACE_REPO, "--wait", "60")

    assert result.code == 0, result
    name = created_name(box)
    assert result.out == f"{name}\n"
    assert f"codespace {name} is Starting: waiting for it to be available" in result.err
    assert box.gh.state_of(name) == "Available"
    assert holds(cs_sessions(spare), spec)


def test_create_of_a_codespace_that_fails_is_exit_1_with_the_name(
    box: Remote, spare: SshHost
) -> None:
    laptop_session(box, 4)
    box.gh.set_create_outcome("Starting", ready_after=1, final_state="Failed")

    result = run_bin(box, "codespace-create", "-R", CODESPACE_REPO, "--wait", "60")

    assert result.code == 1, result
    name = created_name(box)
    assert result.out == f"{name}\n"
    last = one_line_error(result, "codespace-create")
    assert name in last
    assert "Failed" in last
    assert ssh_calls(box, name) == []
    assert not cs_sessions(spare).exists()


def test_create_that_outwaits_wait_warns_and_pushes_nothing(box: Remote, spare: SshHost) -> None:
    laptop_session(box, 5)
    box.gh.set_create_outcome("Starting", ready_after=30)

    result = run_bin(box, "codespace-create", "-R", CODESPACE_REPO, "--wait", "1")

    assert result.code == 0, result
    name = created_name(box)
    assert result.out == f"{name}\n"
    assert "sessions not pushed" in result.err
    assert f"sync-to-codespace -c {name}" in result.err
    assert ssh_calls(box, name) == []
    assert not cs_sessions(spare).exists()


def test_create_whose_push_fails_warns_and_still_succeeds(box: Remote, spare: SshHost) -> None:
    laptop_session(box, 6)

    result = run_bin(
        box, "codespace-create", "-R", CODESPACE_REPO, "--remote-python", "/nonexistent/python3"
    )

    assert result.code == 0, result
    name = created_name(box)
    assert result.out == f"{name}\n"
    assert "warning: sync to the new codespace failed" in result.err
    assert not cs_sessions(spare).exists()


def test_create_that_cannot_tell_which_checkout_warns_and_still_prints_the_name(
    box: Remote, spare: SshHost, tmp_path: Path
) -> None:
    # Sessions of the repository in two checkouts here, and run from neither: which
    # sessions to push is a question, but the codespace exists and its name is owed.
    for n, where in enumerate(("one", "two")):
        checkout = box.laptop / where / "app"
        (checkout / ".git").mkdir(parents=True)
        (checkout / ".git" / "config").write_text(
            f'[remote "origin"]\n\turl = git@github.com:{CODESPACE_REPO}.git\n'
        )
        write_old(box.config, make_session(random.Random(40 + n), str(checkout), turns=2))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = run_bin(box, "codespace-create", "-R", CODESPACE_REPO, cwd=elsewhere)

    assert result.code == 0, result
    name = created_name(box)
    assert result.out == f"{name}\n"
    assert "warning: sync to the new codespace skipped" in result.err
    assert "several checkouts" in result.err
    assert not cs_sessions(spare).exists()


def test_create_with_a_bad_repository_is_usage(box: Remote) -> None:
    result = run_bin(box, "codespace-create", "-R", "notarepo")

    assert result.code == 2, result
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("codespace-create: ")
    assert "notarepo" in lines[0]
    assert not any(a[:2] == ["codespace", "create"] for a in box.gh.invocations())


def test_create_when_gh_cannot_create_is_exit_1(box: Remote) -> None:
    # No spare: the fake gh answers like a GitHub out of capacity.
    result = run_bin(box, "codespace-create", "-R", CODESPACE_REPO)

    assert result.code == 1, result
    assert result.out == ""
    last = one_line_error(result, "codespace-create")
    assert "gh codespace create" in last
    assert "no capacity" in last
    assert box.gh.codespace_names() == [CODESPACE]


def test_create_dry_run_creates_nothing_and_says_what_it_would_push(
    box: Remote, spare: SshHost
) -> None:
    laptop_session(box, 7)
    laptop_session(box, 8)

    result = run_bin(box, "codespace-create", "-R", CODESPACE_REPO, "-b", "dev", "--dry-run")

    assert result.code == 0, result
    assert result.out == ""
    assert not any("create" in argv for argv in box.gh.invocations())
    assert "would run: gh codespace create -R octo-org/app -b dev" in result.err
    assert "push 2 session(s) of octo-org/app" in result.err
    assert box.gh.codespace_names() == [CODESPACE]
    assert set(snapshot_tree(spare.home)) == {"workspaces", "workspaces/app"}


# --- codespace-ssh --------------------------------------------------------------------


def test_ssh_syncs_both_ways_runs_the_session_and_pulls_after(box: Remote, tmp_path: Path) -> None:
    mine = laptop_session(box, 10)
    theirs = codespace_session(box.host, 11)
    write_file(laptop_dev_env(box) / "notes.md", NOTES, hours=2)
    # A session written in the codespace during the ssh session (by the stdin script).
    during = make_session(random.Random(12), str(cs_checkout(box.host)), turns=3)
    prepared = tmp_path / "prepared.jsonl"
    prepared.write_bytes(session_bytes(during))
    dest = cs_sessions(box.host) / f"{during.session_id}.jsonl"
    script = (
        "echo hi-from-cs\n"
        f"cp {shlex.quote(str(prepared))} {shlex.quote(str(dest))}\n"
        f"touch -d '3 hours ago' {shlex.quote(str(dest))}\n"
        "exit 7\n"
    )

    result = run_bin(box, "codespace-ssh", stdin=script)

    assert result.code == 7, result
    assert "hi-from-cs" in result.out
    assert holds(cs_sessions(box.host), mine)
    assert holds(laptop_sessions(box), theirs)
    assert (cs_dev_env(box.host) / "notes.md").read_text() == NOTES
    assert holds(laptop_sessions(box), during)
    assert interactive_calls(box) == [["codespace", "ssh", "-c", CODESPACE]]


def test_ssh_exit_status_comes_through_when_the_syncs_fail(box: Remote) -> None:
    mine = laptop_session(box, 13)

    result = run_bin(
        box,
        "codespace-ssh",
        "--remote-python",
        "/nonexistent/python3",
        stdin="echo hi-from-cs; exit 7\n",
    )

    assert result.code == 7, result
    assert "hi-from-cs" in result.out
    assert "codespace-ssh: warning: sync before connecting failed" in result.err
    assert "codespace-ssh: warning: sync after the session failed" in result.err
    assert not cs_sessions(box.host).exists()
    assert holds(laptop_sessions(box), mine)


def test_ssh_outside_a_checkout_connects_without_syncing(box: Remote, tmp_path: Path) -> None:
    laptop_session(box, 14)
    theirs = codespace_session(box.host, 15)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert git_toplevel(elsewhere) is None

    result = run_bin(
        box, "codespace-ssh", "-c", CODESPACE, cwd=elsewhere, stdin="echo hi-from-cs; exit 0\n"
    )

    assert result.code == 0, result
    assert "hi-from-cs" in result.out
    assert "not syncing" in result.err
    assert ssh_calls(box) == [["codespace", "ssh", "-c", CODESPACE]]
    assert [p.name for p in cs_sessions(box.host).iterdir()] == [f"{theirs.session_id}.jsonl"]
    assert not holds(laptop_sessions(box), theirs)


def test_ssh_picks_the_one_codespace_of_the_checkout(box: Remote) -> None:
    # Another repository's codespace does not count.
    box.gh.add_codespace("other-space", "octo-org/other", port=box.host.port)

    result = run_bin(box, "codespace-ssh", stdin="echo picked; exit 0\n")

    assert result.code == 0, result
    assert "picked" in result.out
    assert interactive_calls(box) == [["codespace", "ssh", "-c", CODESPACE]]


def test_ssh_with_two_codespaces_of_the_repo_asks_for_c(box: Remote) -> None:
    box.gh.add_codespace("second-space", CODESPACE_REPO, port=box.host.port)

    result = run_bin(box, "codespace-ssh", stdin="echo no; exit 0\n")

    assert result.code == 2, result
    last = one_line_error(result, "codespace-ssh")
    assert CODESPACE in last
    assert "second-space" in last
    assert "pass -c" in last
    assert ssh_calls(box) == []


def test_ssh_outside_any_git_repository_without_c_is_usage(box: Remote, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert git_toplevel(elsewhere) is None

    result = run_bin(box, "codespace-ssh", cwd=elsewhere, stdin="exit 0\n")

    assert result.code == 2, result
    assert "not in a git repository" in one_line_error(result, "codespace-ssh")
    assert box.gh.invocations() == []


def test_ssh_to_an_unknown_codespace_names_those_that_exist(box: Remote) -> None:
    # A codespace that does not exist is a CodespaceNotFoundError, a UsageError: exit 2,
    # as `session-sync --codespace` (README: "a codespace not found (exit 2)").
    result = run_bin(box, "codespace-ssh", "-c", "no-such", stdin="exit 0\n")

    assert result.code == 2, result
    last = one_line_error(result, "codespace-ssh")
    assert "'no-such'" in last
    assert CODESPACE in last
    assert ssh_calls(box) == []


def test_ssh_starts_a_shut_down_codespace_and_says_so(box: Remote) -> None:
    box.gh.set_state(CODESPACE, "Shutdown")
    mine = laptop_session(box, 16)

    result = run_bin(box, "codespace-ssh", "-c", CODESPACE, stdin="echo awake; exit 0\n")

    assert result.code == 0, result
    assert "awake" in result.out
    assert f"codespace {CODESPACE} is Shutdown: starting it" in result.err
    assert box.gh.state_of(CODESPACE) == "Available"
    assert holds(cs_sessions(box.host), mine)


def test_ssh_passes_the_args_after_dashes_to_ssh(box: Remote) -> None:
    result = run_bin(
        box, "codespace-ssh", "--", "-o", "LogLevel=error", stdin="echo with-args; exit 3\n"
    )

    assert result.code == 3, result
    assert "with-args" in result.out
    assert interactive_calls(box) == [
        ["codespace", "ssh", "-c", CODESPACE, "--", "-o", "LogLevel=error"]
    ]


# --- sync-to-codespace ----------------------------------------------------------------


def test_sync_to_codespace_pushes_dev_env_and_sessions_and_pulls_nothing(box: Remote) -> None:
    mine = laptop_session(box, 20)
    theirs = codespace_session(box.host, 21)
    write_file(laptop_dev_env(box) / "notes.md", NOTES, hours=2)
    write_file(cs_dev_env(box.host) / "only-there.md", "theirs\n", hours=2)
    write_file(laptop_memory(box) / "MEMORY.md", "- mine\n", hours=2)
    write_file(cs_memory(box.host) / "MEMORY.md", "- theirs\n", hours=2)

    result = run_bin(box, "sync-to-codespace")

    assert result.code == 0, result
    assert "dev env (.coding-agent/): synced" in result.out
    assert "sessions: synced" in result.out
    assert holds(cs_sessions(box.host), mine)
    assert (cs_dev_env(box.host) / "notes.md").read_text() == NOTES
    # Nothing comes back.
    assert not holds(laptop_sessions(box), theirs)
    assert not (laptop_dev_env(box) / "only-there.md").exists()
    assert holds(cs_sessions(box.host), theirs)
    # Memory goes only there too: merged into the codespace's, ours left as it was.
    assert (cs_memory(box.host) / "MEMORY.md").read_text() == "- mine\n- theirs\n"
    assert (laptop_memory(box) / "MEMORY.md").read_text() == "- mine\n"
    assert "memory sent: memory/MEMORY.md" in result.out


def test_sync_to_codespace_no_sessions_pushes_only_the_folder(box: Remote) -> None:
    laptop_session(box, 22)
    write_file(laptop_dev_env(box) / "plan.md", "plan\n", hours=2)

    result = run_bin(box, "sync-to-codespace", "--no-sessions")

    assert result.code == 0, result
    assert (cs_dev_env(box.host) / "plan.md").read_text() == "plan\n"
    assert not cs_sessions(box.host).exists()
    assert "sessions: " not in result.out


def test_sync_to_codespace_dry_run_changes_nothing(box: Remote) -> None:
    laptop_session(box, 23)
    codespace_session(box.host, 24)
    write_file(laptop_dev_env(box) / "notes.md", NOTES, hours=2)
    laptop_before, cs_before = snapshot_tree(box.laptop), snapshot_tree(box.host.home)

    result = run_bin(box, "sync-to-codespace", "--dry-run")

    assert result.code == 0, result
    assert "would sync" in result.out
    assert "plan" in result.out
    laptop, cs = snapshot_tree(box.laptop), snapshot_tree(box.host.home)
    assert changed_but_the_hash_cache(laptop_before, laptop) == []
    assert changed_but_the_hash_cache(cs_before, cs) == []


@pytest.mark.parametrize("command", ["sync-to-codespace", "sync-dev-env", "codespace-ssh"])
def test_a_dry_run_never_starts_a_shut_down_codespace(box: Remote, command: str) -> None:
    laptop_session(box, 27)
    write_file(laptop_dev_env(box) / "notes.md", NOTES, hours=2)
    box.gh.set_state(CODESPACE, "Shutdown")
    laptop_before, cs_before = snapshot_tree(box.laptop), snapshot_tree(box.host.home)

    result = run_bin(box, command, "--dry-run", stdin="exit 0\n")

    assert f"codespace {CODESPACE} is Shutdown: not starting it (a dry run never" in result.err
    assert "starting it (this can take" not in result.err
    assert ssh_calls(box) == []
    assert box.gh.state_of(CODESPACE) == "Shutdown"
    assert snapshot_tree(box.laptop) == laptop_before
    assert snapshot_tree(box.host.home) == cs_before


def test_sync_to_codespace_json_is_one_object_with_both_reports(box: Remote) -> None:
    laptop_session(box, 25)
    write_file(laptop_dev_env(box) / "notes.md", NOTES, hours=2)

    result = run_bin(box, "sync-to-codespace", "--json")

    assert result.code == 0, result
    document = result.json()
    assert document["codespace"] == CODESPACE
    assert document["repository"] == CODESPACE_REPO
    assert document["error"] is None
    assert set(document["reports"]) == {"dev_env", "sessions"}
    assert document["reports"]["dev_env"]["pushed"] == 1
    assert document["reports"]["sessions"]["pushed"] == 1
    assert document["reports"]["sessions"]["pulled"] == 0


def test_sync_to_a_rebuilding_codespace_is_exit_1_without_ssh(box: Remote) -> None:
    laptop_session(box, 26)
    box.gh.set_state(CODESPACE, "Rebuilding")

    result = run_bin(box, "sync-to-codespace")

    assert result.code == 1, result
    assert "Rebuilding" in one_line_error(result, "sync-to-codespace")
    assert ssh_calls(box) == []
    assert not cs_sessions(box.host).exists()


# --- sync-dev-env ---------------------------------------------------------------------


def test_sync_dev_env_syncs_the_folder_both_ways_newer_wins_with_a_backup(box: Remote) -> None:
    mine = laptop_session(box, 30)
    theirs = codespace_session(box.host, 31)
    old = write_file(laptop_dev_env(box) / "notes.md", "old notes\n", hours=5)
    write_file(cs_dev_env(box.host) / "notes.md", "newer notes\n", hours=1)
    write_file(laptop_dev_env(box) / "plans" / "here.md", "here\n", hours=2)
    write_file(cs_dev_env(box.host) / "only-there.md", "there\n", hours=2)

    result = run_bin(box, "sync-dev-env")

    assert result.code == 0, result
    assert old.read_text() == "newer notes\n"
    assert (laptop_dev_env(box) / "only-there.md").read_text() == "there\n"
    assert (cs_dev_env(box.host) / "plans" / "here.md").read_text() == "here\n"
    # Nothing deleted on either side.
    for side in (laptop_dev_env(box), cs_dev_env(box.host)):
        files = sorted(p.relative_to(side).as_posix() for p in side.rglob("*") if p.is_file())
        assert files == ["notes.md", "only-there.md", "plans/here.md"], side
    backups = list((box.config / "session-sync" / "backups").glob("*/folder-*/notes.md"))
    assert [b.read_text() for b in backups] == ["old notes\n"]
    # Sessions untouched.
    assert not cs_sessions(box.host).joinpath(f"{mine.session_id}.jsonl").exists()
    assert not laptop_sessions(box).joinpath(f"{theirs.session_id}.jsonl").exists()


def test_sync_dev_env_with_sessions_syncs_both(box: Remote) -> None:
    mine = laptop_session(box, 32)
    theirs = codespace_session(box.host, 33)
    write_file(cs_dev_env(box.host) / "notes.md", NOTES, hours=2)

    result = run_bin(box, "sync-dev-env", "--sessions")

    assert result.code == 0, result
    assert (laptop_dev_env(box) / "notes.md").read_text() == NOTES
    assert holds(cs_sessions(box.host), mine)
    assert holds(laptop_sessions(box), theirs)


def test_sync_dev_env_sessions_only_leaves_the_folder(box: Remote) -> None:
    mine = laptop_session(box, 34)
    theirs = codespace_session(box.host, 35)
    write_file(laptop_dev_env(box) / "here.md", "here\n", hours=2)
    write_file(cs_dev_env(box.host) / "there.md", "there\n", hours=2)
    here_before = snapshot_tree(laptop_dev_env(box))
    there_before = snapshot_tree(cs_dev_env(box.host))

    result = run_bin(box, "sync-dev-env", "--sessions-only")

    assert result.code == 0, result
    assert holds(cs_sessions(box.host), mine)
    assert holds(laptop_sessions(box), theirs)
    assert snapshot_tree(laptop_dev_env(box)) == here_before
    assert snapshot_tree(cs_dev_env(box.host)) == there_before


@pytest.mark.parametrize("way", ["--push", "--pull"])
def test_sync_dev_env_one_way(box: Remote, way: str) -> None:
    write_file(laptop_dev_env(box) / "here.md", "here\n", hours=2)
    write_file(cs_dev_env(box.host) / "there.md", "there\n", hours=2)

    result = run_bin(box, "sync-dev-env", way)

    assert result.code == 0, result
    pushed = (cs_dev_env(box.host) / "here.md").exists()
    pulled = (laptop_dev_env(box) / "there.md").exists()
    assert (pushed, pulled) == ((True, False) if way == "--push" else (False, True))


def test_sync_dev_env_days_limits_the_sessions(box: Remote) -> None:
    recent_here = laptop_session(box, 36, hours=3)
    old_here = laptop_session(box, 37, hours=20)
    recent_there = codespace_session(box.host, 38, hours=3)
    old_there = codespace_session(box.host, 39, hours=20)

    result = run_bin(box, "sync-dev-env", "--sessions-only", "--days", "0.5")

    assert result.code == 0, result
    assert holds(cs_sessions(box.host), recent_here)
    assert holds(laptop_sessions(box), recent_there)
    assert not cs_sessions(box.host).joinpath(f"{old_here.session_id}.jsonl").exists()
    assert not laptop_sessions(box).joinpath(f"{old_there.session_id}.jsonl").exists()


def test_sync_dev_env_outside_a_checkout_is_usage(box: Remote, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_file(cs_dev_env(box.host) / "there.md", "there\n", hours=2)

    result = run_bin(box, "sync-dev-env", "-c", CODESPACE, cwd=elsewhere)

    assert result.code == 2, result
    last = one_line_error(result, "sync-dev-env")
    assert "not in a checkout of octo-org/app" in last
    assert "--sessions-only" in last
    assert ssh_calls(box) == []


def test_sync_dev_env_sessions_only_works_outside_a_checkout(box: Remote, tmp_path: Path) -> None:
    mine = laptop_session(box, 40)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = run_bin(box, "sync-dev-env", "-c", CODESPACE, "--sessions-only", cwd=elsewhere)

    assert result.code == 0, result
    # The laptop's sessions of the repository are found by their checkout's origin.
    assert holds(cs_sessions(box.host), mine)


# --- failures common to every command -------------------------------------------------

ARGS = {
    "codespace-create": ["-R", CODESPACE_REPO],
    "codespace-ssh": [],
    "sync-to-codespace": [],
    "sync-dev-env": [],
}


def path_without_gh(remote: Remote) -> str:
    dirs = remote.env["PATH"].split(os.pathsep)
    return os.pathsep.join(d for d in dirs if d and not (Path(d) / "gh").exists())


@pytest.mark.parametrize("command", COMMANDS)
def test_gh_missing_is_exit_1_naming_gh(box: Remote, command: str) -> None:
    env = dict(box.env, PATH=path_without_gh(box))

    result = run_bin(box, command, *ARGS[command], env=env, stdin="exit 0\n")

    assert result.code == 1, result
    last = only_error(result, command)
    assert "gh (the GitHub CLI) is not installed" in last
    assert box.gh.invocations() == []


# codespace-create too: it asks `gh codespace list` (with --gh-timeout) before the
# create, which gets the 10-minute start timeout since a real create takes minutes.
@pytest.mark.parametrize("command", COMMANDS)
def test_gh_that_hangs_is_exit_1_did_not_answer(box: Remote, command: str) -> None:
    box.gh.set_logged_in(False, hang=True)

    result = run_bin(
        box, command, *ARGS[command], "--gh-timeout", "2", stdin="exit 0\n", timeout=60
    )

    assert result.code == 1, result
    last = only_error(result, command)
    assert "did not answer" in last
    assert "gh auth status" in last


@pytest.mark.parametrize("command", COMMANDS)
def test_gh_logged_out_is_exit_1_not_logged_in(box: Remote, command: str) -> None:
    box.gh.set_logged_in(False)

    result = run_bin(box, command, *ARGS[command], stdin="exit 0\n")

    assert result.code == 1, result
    assert "gh is not logged in: run `gh auth login`" in only_error(result, command)
    assert ssh_calls(box) == []


HELP_FLAGS = {
    "codespace-create": ["-R", "--repo", "-b", "-m", "--wait", "--dry-run", "--workspace"],
    "codespace-ssh": ["-c", "--", "--days", "--dry-run", "--workspace"],
    "sync-to-codespace": ["-c", "--no-sessions", "--json", "--dry-run", "--workspace"],
    "sync-dev-env": ["--sessions", "--sessions-only", "--push", "--pull", "--days", "--json"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_help_exits_0_and_names_the_main_flags(box: Remote, command: str) -> None:
    result = run_bin(box, command, "--help", workspace=False)

    assert result.code == 0, result
    assert result.out.startswith(f"usage: {command}")
    for flag in HELP_FLAGS[command]:
        assert f" {flag}" in result.out, (flag, result.out)
    assert box.gh.invocations() == []


def test_every_syncing_command_reports_json_only_on_stdout(box: Remote) -> None:
    laptop_session(box, 41)
    codespace_session(box.host, 42)

    result = run_bin(box, "sync-dev-env", "--sessions", "--json")

    assert result.code == 0, result
    document = json.loads(result.out)
    assert set(document["reports"]) == {"dev_env", "sessions"}
    assert document["reports"]["dev_env"]["pushed"] == 0
    assert document["reports"]["sessions"]["pushed"] == 1
    assert document["reports"]["sessions"]["pulled"] == 1
