"""``session-sync completion bash|zsh|fish``: the scripts, run in the real shells."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from session_sync.cli.completion import SHELLS, script
from session_sync.cli.parser import build_parser


def need(shell: str) -> str:
    """The shell's path; skip without it, except in CI, which installs them all."""
    found = shutil.which(shell)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {shell} installed (.ci/run installs it)", pytrace=False)
        pytest.skip(f"{shell} is not installed")
    return found


def written(tmp_path: Path, shell: str) -> Path:
    """The script as `session-sync completion SHELL` prints it, in a file."""
    done = subprocess.run(
        [sys.executable, "-m", "session_sync", "completion", shell],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stderr == ""
    path = tmp_path / f"completion.{shell}"
    path.write_text(done.stdout, encoding="utf-8")
    return path


def run_shell(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert (done.returncode, done.stderr) == (0, ""), done
    return done.stdout


def bash_complete(path: Path, *typed: str) -> list[str]:
    """What bash's completion function puts in COMPREPLY for ``session-sync TYPED``
    (the last word of ``typed`` is the one being completed)."""
    words = " ".join(f"'{w}'" for w in ("session-sync", *typed))
    program = (
        f"source '{path}'\n"
        f"COMP_WORDS=({words}); COMP_CWORD={len(typed)}\n"
        f'COMP_LINE="${{COMP_WORDS[*]}}"; COMP_POINT=${{#COMP_LINE}}\n'
        "_session_sync\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    return run_shell([need("bash"), "--norc", "--noprofile", "-c", program]).split()


def test_bash_completes_a_subcommand_and_a_flag(tmp_path: Path) -> None:
    path = written(tmp_path, "bash")
    assert bash_complete(path, "sy") == ["sync"]
    assert sorted(bash_complete(path, "sync", "--pu")) == ["--pull", "--push"]


def test_bash_completes_choices_and_nested_levels(tmp_path: Path) -> None:
    path = written(tmp_path, "bash")
    assert bash_complete(path, "sync", "--codespace-route", "") == ["auto", "proxy", "exec"]
    # A flag's value is not taken for a subcommand: `--host sync` stays at `status`.
    assert bash_complete(path, "status", "--host", "sync", "--pu") == []
    assert bash_complete(path, "hooks", "un") == ["uninstall"]
    assert bash_complete(path, "checkpoints", "res") == ["restore"]
    assert bash_complete(path, "checkpoints", "restore", "--wo") == ["--worktree"]
    assert bash_complete(path, "completion", "") == list(SHELLS)


def test_zsh_script_parses_and_completes(tmp_path: Path) -> None:
    path = written(tmp_path, "zsh")
    zsh = need("zsh")
    run_shell([zsh, "-n", str(path)])
    out = run_shell([zsh, "-f", "-c", f"source '{path}'; _session_sync_candidates sync --pu"])
    assert sorted(out.split()) == ["--pull", "--push"]
    out = run_shell([zsh, "-f", "-c", f"source '{path}'; _session_sync_candidates sy"])
    assert out.split() == ["sync"]
    # Sourced after compinit, it registers itself for session-sync.
    program = (
        f"autoload -U compinit; compinit -u -d '{tmp_path}/zcompdump'; source '{path}';"
        " print -r -- $_comps[session-sync]"
    )
    assert run_shell([zsh, "-f", "-c", program]).split() == ["_session_sync"]


def test_fish_script_parses_and_completes(tmp_path: Path) -> None:
    path = written(tmp_path, "fish")
    fish = need("fish")
    run_shell([fish, "--no-config", "-n", str(path)])

    def complete(line: str) -> list[str]:
        program = f"source '{path}'; complete -C '{line}'"
        return sorted(run_shell([fish, "--no-config", "-c", program]).split())

    assert complete("session-sync sy") == ["sync"]
    assert complete("session-sync sync --pu") == ["--pull", "--push"]
    assert complete("session-sync sync --codespace-route ") == ["auto", "exec", "proxy"]


def parser_words(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], set[str]]:
    """Every subcommand and every flag ``--help`` shows, by the subcommands before it."""
    found: dict[tuple[str, ...], set[str]] = {path: set()}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[path].add(name)
                found.update(parser_words(sub, (*path, name)))
        elif action.help != argparse.SUPPRESS:
            found[path].update(action.option_strings)
            found[path].update(str(c) for c in action.choices or ())
    return found


def script_rows(shell: str, text: str) -> dict[str, set[str]]:
    """The script's table: ``KIND PATH`` -> its words."""
    if shell == "fish":
        found = re.findall(r"case '([^']*)'\n\s+printf '%s\\n' ([^\n]*)", text)
    else:
        found = re.findall(r"'([^']*)'\) printf '%s\\n' '([^']*)' ;;", text)
    assert found, f"no table in the {shell} script"
    return {key: set(words.split()) for key, words in found}


@pytest.mark.parametrize("shell", SHELLS)
def test_every_subcommand_and_flag_is_in_the_script(shell: str) -> None:
    words = parser_words(build_parser())
    assert {"sync", "completion"} <= words[()]
    assert {"--push", "--pull", "--dry-run", "auto"} <= words[("sync",)]
    rows = script_rows(shell, script(shell, build_parser()))
    for path, names in words.items():
        at = " ".join(path)
        there = set().union(*(w for key, w in rows.items() if key.split(" ", 1)[1] == at))
        assert names <= there, f"{shell}: {at or '(top)'}: not in the script: {names - there}"


def test_a_broken_config_file_does_not_break_the_shells_start(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("days = [not toml\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "session_sync", "completion", "bash"],
        capture_output=True,
        text=True,
        env={**os.environ, "SESSION_SYNC_CONFIG": str(config)},
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "complete -o bashdefault -o default -F _session_sync session-sync" in done.stdout
