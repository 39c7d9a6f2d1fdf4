"""--version, -v/--verbose, backups flags after the action, and a quiet end on a
closed pipe."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from session_sync.cli.entry import main
from session_sync.cli.parser import build_parser
from session_sync.testing.sessions import make_session, write_session

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_version_is_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == (
        f"session-sync {importlib.metadata.version('session-sync')}\n"
    )


def test_backups_list_takes_json_after_the_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "claude"
    (config / "projects").mkdir(parents=True)
    assert main(["backups", "--config-dir", str(config), "list", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert main(["backups", "--config-dir", str(config), "--json", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == after


@pytest.mark.parametrize("args", [["--help"], ["backups", "list"]])
def test_a_closed_pipe_ends_quietly(tmp_path: Path, args: list[str]) -> None:
    config = tmp_path / "claude"
    (config / "projects").mkdir(parents=True)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first byte, as `| head -0`
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config)}
    done = subprocess.run(
        [sys.executable, "-m", "session_sync", *args],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        check=False,
    )
    os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")


def test_verbose_logs_the_connection_and_each_request_and_without_it_nothing(
    tmp_path: Path,
) -> None:
    here, far, project = tmp_path / "here", tmp_path / "far", tmp_path / "project"
    for path in (here, far, project):
        path.mkdir()
    write_session(far, make_session(random.Random(4), str(project), turns=2))
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(here)}
    where = ["--local-path", str(project)]

    def sync(*flags: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "session_sync", *flags, "sync", "--dir", str(far), *where],
            cwd=project,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stderr

    assert sync() == ""
    lines = sync("-v").splitlines()
    far_side = f"dir {far}"
    assert lines[0] == f"session-sync: connecting to {far_side}"
    assert re.fullmatch(rf"session-sync: connected to {re.escape(far_side)} in \d+ ms .*", lines[1])
    ops = [m.group(1) for line in lines if (m := re.match(r"session-sync: request (\w+): ", line))]
    answers = [
        m.group(1)
        for line in lines
        if (m := re.match(r"session-sync: answer to (\w+): \d+ bytes, \d+ ms", line))
    ]
    assert ops[:1] == ["scan"], lines
    assert ops == answers, lines


BIN = REPO_ROOT / "bin"


def fake_gh(tmp_path: Path, script: str) -> dict[str, str]:
    """An environment whose ``gh`` is ``script`` (sh), with a home of its own."""
    tools = tmp_path / "tools"
    tools.mkdir()
    gh = tools / "gh"
    gh.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    gh.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    return {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "HOME": str(home)}


@pytest.mark.parametrize("name", sorted(p.name for p in BIN.iterdir()))
def test_every_bin_command_has_version_and_verbose(name: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BIN / name), "--version"], capture_output=True, text=True, check=False
    )
    version = importlib.metadata.version("session-sync")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{name} {version}\n", "")
    shown = subprocess.run(
        [sys.executable, str(BIN / name), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "-v, --verbose" in shown


@pytest.mark.parametrize("verbose", [False, True])
def test_verbose_shows_the_hourly_jobs_gh_calls(tmp_path: Path, verbose: bool) -> None:
    env = fake_gh(tmp_path, "echo '[]'")
    log = tmp_path / "sync.log"
    argv = [sys.executable, str(BIN / "sync-sessions-from-all-codespaces"), "--log-file", str(log)]
    done = subprocess.run(
        argv + (["-v"] if verbose else []), capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done
    listing = "running gh codespace list --json name,repository,state"
    # stderr is a pipe here: without -v the job writes only to its log.
    assert (listing in done.stderr) is verbose
    assert (listing in log.read_text(encoding="utf-8")) is verbose
    assert "no running codespace" in log.read_text(encoding="utf-8")


def test_verbose_shows_each_request_of_a_sync(tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    for config in (here, there):
        (config / "projects").mkdir(parents=True)
    project = tmp_path / "app"
    project.mkdir()
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(here)}
    argv = [sys.executable, "-m", "session_sync", "-v", "sync", "--dir", str(there)]
    argv += ["--local-path", str(project), "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done
    assert "session-sync: " in done.stderr
    assert ": request scan" in done.stderr
    assert json.loads(done.stdout)["failed"] == 0


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [
        (["sync", "--dir", "/x"], False),
        (["-v", "sync", "--dir", "/x"], True),
        (["sync", "-v", "--dir", "/x"], True),
        (["sync", "--dir", "/x", "--verbose"], True),
        (["-v", "status", "-v"], True),
        (["backups", "list", "-v"], True),
        (["learnings", "--dry-run", "-v"], True),
        (["skill", "install", "-v"], True),
    ],
)
def test_verbose_is_taken_before_or_after_the_subcommand(argv: list[str], verbose: bool) -> None:
    assert build_parser().parse_args(argv).verbose is verbose


def test_every_subcommand_shows_verbose_in_its_help() -> None:
    def walk(parser: argparse.ArgumentParser, path: str) -> list[str]:
        missing = [] if "--verbose" in parser._option_string_actions else [path]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    missing += walk(child, f"{path} {name}")
        return missing

    assert walk(build_parser(), "session-sync") == []
