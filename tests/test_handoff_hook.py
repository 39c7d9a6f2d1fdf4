"""``session-sync hook session-start`` and ``session-sync hooks install|uninstall``,
run as Claude Code runs them: the installed executable, JSON on stdin."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import RunCli, write_old
from handoff_work import worked_session
from test_handoff import checkout, two_machines

from session_sync.handoff.settings import is_our_command

SESSION_SYNC = str(Path(sys.executable).parent / "session-sync")
"""This checkout's installed executable (the venv's console script)."""


def hook(config: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config)}
    return subprocess.run(
        [SESSION_SYNC, "hook", "session-start"],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def hook_input(project: Path, session_id: str = "11111111-2222-4333-8444-555555555555") -> str:
    return json.dumps(
        {
            "session_id": session_id,
            "transcript_path": f"/nowhere/{session_id}.jsonl",
            "cwd": str(project),
            "hook_event_name": "SessionStart",
            "source": "startup",
        }
    )


def test_the_hook_prints_the_handoff_once(config_a: Path, project: Path) -> None:
    checkout(project)
    here, there = two_machines(config_a, project)
    first = hook(config_a, hook_input(project / "src"))
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout.startswith("# session-sync handoff: me/app")
    assert here[:8] in first.stdout
    assert there[:8] in first.stdout
    assert first.stdout.count("## Files those sessions edited") == 1
    assert first.stdout.count("- src/app.py ") == 1

    again = hook(config_a, hook_input(project, "22222222-2222-4333-8444-555555555555"))
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")

    # New work: the next session hears of it.
    later = worked_session(
        random.Random(9), str(project), edits=[("Edit", f"{project}/README.md")], last_prompt="docs"
    )
    write_old(config_a, later, hours=1)
    third = hook(config_a, hook_input(project))
    assert third.returncode == 0
    assert later.session_id[:8] in third.stdout
    assert third.stdout.count("- README.md ") == 1


def test_the_hook_prints_utf_8_whatever_the_locale_and_then_stays_quiet(
    config_a: Path, project: Path
) -> None:
    """Claude reads the hook's stdout as UTF-8: an ASCII or Latin-1 locale must not
    turn the handoff (its "·", a prompt in another script) into an error after the
    hash was recorded as printed, which would silence it for good."""
    checkout(project)
    two_machines(config_a, project)
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config_a), "PYTHONIOENCODING": "ascii"}
    done = subprocess.run(
        [SESSION_SYNC, "hook", "session-start"],
        input=hook_input(project).encode("utf-8"),
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, b"")
    text = done.stdout.decode("utf-8")
    assert text.startswith("# session-sync handoff: me/app")
    assert " \u00b7 " in text
    again = hook(config_a, hook_input(project))
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_a_reader_gone_before_the_handoff_is_printed_is_still_exit_0(
    config_a: Path, project: Path
) -> None:
    """Claude gone (its end of stdout closed): one stderr line, exit 0, never the
    interpreter's exit 120 for an unflushable stdout."""
    checkout(project)
    two_machines(config_a, project)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [SESSION_SYNC, "hook", "session-start"],
            input=hook_input(project).encode("utf-8"),
            stdout=write_end,
            stderr=subprocess.PIPE,
            env={**os.environ, "CLAUDE_CONFIG_DIR": str(config_a)},
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


def test_the_session_starting_is_left_out(config_a: Path, project: Path) -> None:
    checkout(project)
    here, there = two_machines(config_a, project)
    done = hook(config_a, hook_input(project, here))
    assert done.returncode == 0
    assert here[:8] not in done.stdout
    assert there[:8] in done.stdout


@pytest.mark.parametrize(
    "stdin",
    ["", "not json", "[1, 2]", '{"cwd": 3}', '{"cwd": "relative/dir"}', "\udcff"],
    ids=["empty", "garbage", "array", "cwd-not-text", "cwd-relative", "bad-utf8"],
)
def test_a_broken_input_prints_nothing_and_exits_0(
    config_a: Path, project: Path, stdin: str
) -> None:
    done = hook(config_a, stdin.encode("utf-8", "surrogateescape").decode("latin-1"))
    assert done.returncode == 0
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("session-sync hook session-start: ")


def test_an_unwritable_handoff_dir_prints_nothing_and_exits_0(
    config_a: Path, project: Path
) -> None:
    checkout(project)
    two_machines(config_a, project)
    (config_a / "session-sync").mkdir()
    # A file where the handoff dir should be: every write there fails, even as root.
    (config_a / "session-sync" / "handoff").write_text("in the way")
    done = hook(config_a, hook_input(project))
    assert (done.returncode, done.stdout) == (0, "")
    assert len(done.stderr.splitlines()) == 1, done.stderr


# --- hooks install / uninstall -------------------------------------------------------

OTHER_SETTINGS: dict[str, Any] = {
    "model": "opus",
    "permissions": {"allow": ["Bash(git status)"], "deny": []},
    "hooks": {
        "SessionStart": [
            {"matcher": "resume", "hooks": [{"type": "command", "command": "echo resumed"}]}
        ],
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "true"}]}],
    },
    "env": {"FOO": "bär"},
}


def settings_of(config: Path) -> Any:
    return json.loads((config / "settings.json").read_text(encoding="utf-8"))


def without_ours(settings: dict[str, Any]) -> dict[str, Any]:
    groups = [
        g
        for g in settings["hooks"]["SessionStart"]
        if not any(is_our_command(h.get("command")) for h in g["hooks"])
    ]
    return {**settings, "hooks": {**settings["hooks"], "SessionStart": groups}}


def backups(config: Path) -> list[Path]:
    return sorted((config / "session-sync" / "settings-backups").glob("settings.json.*"))


def test_install_and_uninstall_are_idempotent_and_keep_the_rest(
    config_a: Path, run_cli: RunCli
) -> None:
    original = json.dumps(OTHER_SETTINGS, indent=4, ensure_ascii=False).encode("utf-8")
    (config_a / "settings.json").write_bytes(original)
    (config_a / "settings.json").chmod(0o640)

    done = run_cli("hooks", "install", "--json")
    assert done.code == 0, done.err
    result = done.json()
    assert result["changed"] is True
    command = result["command"]
    assert command.endswith(" hook session-start")
    assert os.path.isabs(command.split()[0])
    installed = settings_of(config_a)
    assert without_ours(installed) == OTHER_SETTINGS
    ours = [
        g
        for g in installed["hooks"]["SessionStart"]
        if g not in without_ours(installed)["hooks"]["SessionStart"]
    ]
    assert ours == [
        {
            "matcher": "startup|clear",
            "hooks": [{"type": "command", "command": command, "timeout": 10}],
        }
    ]
    assert (config_a / "settings.json").stat().st_mode & 0o777 == 0o640
    [backup] = backups(config_a)
    assert backup.read_bytes() == original

    after_install = (config_a / "settings.json").read_bytes()
    again = run_cli("hooks", "install", "--json")
    assert again.json()["changed"] is False
    assert (config_a / "settings.json").read_bytes() == after_install
    assert len(backups(config_a)) == 1

    gone = run_cli("hooks", "uninstall")
    assert gone.code == 0, gone.err
    assert "hook removed" in gone.out
    assert settings_of(config_a) == OTHER_SETTINGS
    still = run_cli("hooks", "uninstall")
    assert "no session-sync hook there" in still.out
    assert settings_of(config_a) == OTHER_SETTINGS


def test_install_replaces_an_older_install_and_makes_a_new_file(
    config_a: Path, run_cli: RunCli
) -> None:
    assert run_cli("hooks", "install").code == 0
    fresh = settings_of(config_a)
    assert list(fresh) == ["hooks"]
    assert backups(config_a) == []  # nothing was replaced
    stale = "/old/venv/bin/session-sync hook session-start"
    fresh["hooks"]["SessionStart"][0]["hooks"][0]["command"] = stale
    (config_a / "settings.json").write_text(json.dumps(fresh))
    assert run_cli("hooks", "install").code == 0
    commands = [
        h["command"] for g in settings_of(config_a)["hooks"]["SessionStart"] for h in g["hooks"]
    ]
    assert len(commands) == 1
    assert commands[0] != stale
    assert run_cli("hooks", "uninstall").code == 0
    assert settings_of(config_a) == {}


@pytest.mark.parametrize(
    "body",
    ['{"model": "opus",', "[]", '{"hooks": {"SessionStart": {"x": 1}}}'],
    ids=["not-json", "not-object", "wrong-shape"],
)
def test_a_malformed_settings_json_is_refused_never_overwritten(
    config_a: Path, run_cli: RunCli, body: str
) -> None:
    (config_a / "settings.json").write_text(body)
    for action in ("install", "uninstall"):
        done = run_cli("hooks", action)
        assert done.code == 2
        assert len(done.err.splitlines()) == 1, done.err
        assert "not touched" in done.err
        assert (config_a / "settings.json").read_text() == body
    assert backups(config_a) == []


def test_a_hook_that_cannot_even_load_still_exits_0_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A half-upgraded install (the hook's module does not import) must not fail
    every session start either."""
    from session_sync.cli import entry

    monkeypatch.setitem(sys.modules, "session_sync.handoff.hook", None)  # import fails
    assert entry.main(["hook", "session-start"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("session-sync hook session-start: ")
