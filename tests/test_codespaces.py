"""``--codespace``: sync with a codespace served by the fake ``gh`` over a real sshd.

The fake ``gh`` stands in for GitHub only; the SSH behind it is real. Its log of
invocations lets the tests count connections and check that nothing ever runs
``gh codespace ssh`` (which would wake it) against a codespace it must not wake.
"""

from __future__ import annotations

import json
import os
import random
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CODESPACE, Remote, session_files, snapshot_tree, write_old

from session_sync.agent.paths import encode_project_path
from session_sync.testing.sessions import SessionSpec, continue_session, make_session, session_bytes

WORKSPACE = "/workspaces/app"


def spec_at(path: Path | str, seed: int, size: int = 6000) -> SessionSpec:
    return make_session(random.Random(seed), str(path), turns=3, target_bytes=size)


def workspace_dir(remote: Remote) -> Path:
    return remote.remote_config / "projects" / encode_project_path(WORKSPACE, resolve=False)


def ssh_calls(remote: Remote) -> list[list[str]]:
    return [
        argv
        for argv in remote.gh.invocations()
        if argv[:2] in (["codespace", "ssh"], ["cs", "ssh"])
    ]


def stdio_calls(remote: Remote) -> list[list[str]]:
    return [argv for argv in ssh_calls(remote) if "--stdio" in argv]


def call_kind(argv: list[str]) -> str:
    """``list``, ``ssh --config``, ``ssh --stdio``, ``ssh --`` (exec) or the argv."""
    if argv[:2] == ["codespace", "list"]:
        return "list"
    if argv[:2] == ["codespace", "ssh"]:
        return next((f"ssh {a}" for a in argv if a in ("--config", "--stdio", "--")), "ssh")
    return " ".join(argv)


def populate(remote: Remote) -> tuple[SessionSpec, SessionSpec]:
    here = spec_at(remote.project, 1)
    there = spec_at(WORKSPACE, 2)
    write_old(remote.config, here)
    write_old(remote.remote_config, there)
    return here, there


def test_sync_with_a_codespace_over_one_connection(remote: Remote) -> None:
    rng = random.Random(4)
    here, there = populate(remote)
    shared = [spec_at(remote.project, 10 + i, size=3000) for i in range(30)]
    for i, spec in enumerate(shared):
        write_old(remote.config, spec)
        write_old(remote.remote_config, spec, dir_name=workspace_dir(remote).name)
        if i < 5:
            write_old(remote.config, continue_session(rng, spec), hours=1)
        elif i < 10:
            grown = continue_session(rng, spec)
            write_old(remote.remote_config, grown, hours=1, dir_name=workspace_dir(remote).name)

    result = remote.run("sync", "--codespace", CODESPACE, "--json")

    assert result.code == 0, result
    report = result.json()
    assert report["remote_project_path"] == WORKSPACE
    assert (report["pushed"], report["pulled"], report["failed"]) == (6, 6, 0)
    assert report["round_trips"] <= 3
    # The name's list (fresh: it stands in for the first re-read), --config for user
    # and key, the state read again right before the tunnel, the tunnel: nothing per
    # session.
    assert [call_kind(argv) for argv in remote.gh.invocations()] == [
        "list",
        "ssh --config",
        "list",
        "ssh --stdio",
    ]
    mine = {Path(k).name: v for k, v in session_files(remote.config).items()}
    theirs = {Path(k).name: v for k, v in session_files(remote.remote_config).items()}
    assert mine == theirs
    assert theirs[f"{here.session_id}.jsonl"] == session_bytes(here)
    assert mine[f"{there.session_id}.jsonl"] == session_bytes(there)


def kept_config(remote: Remote) -> Path:
    """Where the CLI keeps ``gh codespace ssh --config``'s answer (the laptop's ~/.cache)."""
    return remote.laptop / ".cache" / "session-sync" / "codespace-ssh" / f"{CODESPACE}.json"


def keep_config(remote: Remote, text: str, mode: int = 0o600) -> None:
    kept = kept_config(remote)
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(text)
    kept.chmod(mode)


def test_a_second_sync_asks_gh_for_no_ssh_config(remote: Remote) -> None:
    populate(remote)
    first = remote.run("sync", "--codespace", CODESPACE, "--json")
    assert first.code == 0, first
    kept = kept_config(remote)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert json.loads(kept.read_text()) == {
        "codespace": CODESPACE,
        "user": remote.host.user,
        "identity_file": str(remote.sandbox.client_key),
    }
    write_old(remote.config, spec_at(remote.project, 3))
    remote.gh.clear_log()

    second = remote.run("sync", "--codespace", CODESPACE, "--json")

    assert second.code == 0, second
    assert second.json()["pushed"] == 1
    # The name's list (it stands in for the re-read right before the tunnel), the tunnel.
    assert [call_kind(argv) for argv in remote.gh.invocations()] == ["list", "ssh --stdio"]


def test_a_kept_ssh_config_that_fails_is_asked_for_again(remote: Remote) -> None:
    populate(remote)
    # Stale: the codespace was rebuilt with an image that logs in as another user.
    stale = {
        "codespace": CODESPACE,
        "user": "gone",
        "identity_file": str(remote.sandbox.client_key),
    }
    keep_config(remote, json.dumps(stale))

    result = remote.run("sync", "--codespace", CODESPACE, "--json")

    assert result.code == 0, result
    assert (result.json()["pushed"], result.json()["pulled"]) == (1, 1)
    kinds = [call_kind(argv) for argv in remote.gh.invocations()]
    # One try with the kept answer (no retries), then as with none kept.
    assert kinds == ["list", "ssh --stdio", "list", "ssh --config", "list", "ssh --stdio"]
    assert json.loads(kept_config(remote).read_text())["user"] == remote.host.user


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        pytest.param("{not json", 0o600, id="not-json"),
        pytest.param(
            '{"codespace": "other", "user": "u", "identity_file": "k"}', 0o600, id="other"
        ),
        pytest.param('{"codespace": "%s", "user": "a\\nb", "identity_file": "k"}', 0o600, id="ctl"),
        pytest.param(
            '{"codespace": "%s", "user": "u", "identity_file": "k"}', 0o620, id="writable"
        ),
    ],
)
def test_a_kept_ssh_config_that_fails_a_check_is_not_used(
    remote: Remote, text: str, mode: int
) -> None:
    populate(remote)
    keep_config(remote, text.replace("%s", CODESPACE), mode)

    result = remote.run("sync", "--codespace", CODESPACE, "--json")

    assert result.code == 0, result
    kinds = [call_kind(argv) for argv in remote.gh.invocations()]
    assert kinds == ["list", "ssh --config", "list", "ssh --stdio"]
    assert json.loads(kept_config(remote).read_text())["user"] == remote.host.user
    assert stat.S_IMODE(kept_config(remote).stat().st_mode) == 0o600


def test_exec_route_is_one_gh_process(remote: Remote) -> None:
    populate(remote)

    result = remote.run("sync", "--codespace", CODESPACE, "--codespace-route", "exec", "--json")

    assert result.code == 0, result
    assert (result.json()["pushed"], result.json()["pulled"]) == (1, 1)
    calls = ssh_calls(remote)
    assert len(calls) == 1
    assert "--" in calls[0]
    assert "--stdio" not in calls[0]


def test_auto_route_falls_back_to_exec_when_the_tunnel_fails(remote: Remote) -> None:
    populate(remote)
    remote.gh.set_proxy_port_override(1)  # nothing listens there

    result = remote.run("sync", "--codespace", CODESPACE, "--json")

    assert result.code == 0, result
    # The fallback is said on stderr (after the retries of the tunnel).
    assert result.err.count("instead") == 1, result.err
    assert "attempt 1 of 3" in result.err
    calls = ssh_calls(remote)
    assert any("--stdio" in c for c in calls)
    assert calls[-1][-2] == "--" or "--" in calls[-1]
    assert not any("--stdio" in c for c in calls[-1:])


def test_a_shut_down_codespace_that_was_named_is_started_and_said_so(remote: Remote) -> None:
    populate(remote)
    remote.gh.set_state(CODESPACE, "Shutdown")

    result = remote.run("sync", "--codespace", CODESPACE, "--json")

    assert result.code == 0, result
    assert f"codespace {CODESPACE} is Shutdown: starting it" in result.err
    assert remote.gh.state_of(CODESPACE) == "Available"
    assert [e["event"] for e in remote.gh.events() if e["event"] == "started"] == ["started"]


@pytest.mark.parametrize("state", ["Rebuilding", "Failed", "Deleted", "Unavailable"])
def test_codespaces_that_cannot_be_synced_are_never_touched(remote: Remote, state: str) -> None:
    populate(remote)
    remote.gh.set_state(CODESPACE, state)
    before = snapshot_tree(remote.config), snapshot_tree(remote.remote_config)

    result = remote.run("sync", "--codespace", CODESPACE)

    assert result.code == 1, result
    assert result.err.count("\n") == 1
    assert f"is {state}" in result.err
    assert ssh_calls(remote) == []  # no gh codespace ssh: nothing was woken or reached
    assert (snapshot_tree(remote.config), snapshot_tree(remote.remote_config)) == before


def test_unknown_codespace_names_the_ones_there_are(remote: Remote) -> None:
    result = remote.run("sync", "--codespace", "no-such-space")

    assert result.code == 2, result
    assert result.err.count("\n") == 1
    assert "no codespace named 'no-such-space'" in result.err
    assert CODESPACE in result.err
    assert ssh_calls(remote) == []


def test_gh_missing(remote: Remote, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = remote.run("sync", "--codespace", CODESPACE, env={"PATH": str(empty)})

    assert result.code == 1, result
    assert result.err.count("\n") == 1
    assert "not installed or not on PATH" in result.err
    assert "cli.github.com" in result.err


def test_gh_not_logged_in(remote: Remote) -> None:
    remote.gh.set_logged_in(False)

    result = remote.run("sync", "--codespace", CODESPACE)

    assert result.code == 1, result
    assert result.err.count("\n") == 1
    assert "gh auth login" in result.err


def test_gh_that_hangs_is_given_up_on_and_killed(remote: Remote) -> None:
    remote.gh.set_logged_in(False, hang=True)

    result = remote.run("sync", "--codespace", CODESPACE, "--gh-timeout", "2", timeout=60)

    assert result.code == 1, result
    assert result.err.count("\n") == 1
    assert "did not answer in 2 s" in result.err
    assert "gh auth status" in result.err
    # The hung gh was ended with its process group, not left behind.
    pids = [e["pid"] for e in _calls(remote)]
    assert pids
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def _calls(remote: Remote) -> list[dict[str, Any]]:
    """The log's invocation lines (with their pids)."""
    lines = remote.gh.log_file.read_text().splitlines()
    return [entry for entry in map(json.loads, lines) if "argv" in entry]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; /proc tells them apart.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


HOSTILE = ["space name", "quote'd\"name", "$(touch PWNED)", "x;touch PWNED2;y", "`touch PWNED3`"]


@pytest.mark.parametrize("route", ["proxy", "exec"])
@pytest.mark.parametrize("name", HOSTILE)
def test_codespace_names_never_reach_a_shell_unquoted(
    remote: Remote, name: str, route: str
) -> None:
    populate(remote)
    remote.gh.add_codespace(name, "octo-org/app", port=remote.host.port)

    result = remote.run("sync", "--codespace", name, "--codespace-route", route, "--json")

    assert result.code == 0, result
    assert (result.json()["pushed"], result.json()["pulled"]) == (1, 1)
    assert any(name in argv for argv in ssh_calls(remote))
    for place in (remote.laptop, remote.host.home, remote.project, Path.cwd(), Path("/root")):
        assert not list(place.glob("PWNED*")), f"a shell ran part of {name!r} in {place}"


def test_verbose_logs_each_gh_call_and_the_ssh_login(remote: Remote) -> None:
    populate(remote)

    quiet = remote.run("sync", "--codespace", CODESPACE, "--json")
    loud = remote.run("-v", "status", "--codespace", CODESPACE, "--json")

    assert (quiet.code, quiet.err) == (0, "")
    assert loud.code == 0, loud
    lines = loud.err.splitlines()
    gh_lines = [line for line in lines if line.startswith("session-sync: gh codespace ")]
    # The name's list, then the state read right before the tunnel (its config is kept).
    assert len(gh_lines) == 2, lines
    assert all(" list " in line and "exit status 0 in " in line for line in gh_lines), lines
    assert any(
        line.startswith(f"session-sync: ssh {remote.host.user}@") and "logged in" in line
        for line in lines
    ), lines
    assert any(line.startswith("session-sync: connected to codespace ") for line in lines), lines
