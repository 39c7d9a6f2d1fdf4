"""One flag vocabulary: a flag is spelled, shortened, named and explained the same way on
every command, ``session-sync``'s subcommands and the bin/ commands alike; the README's
Flags table lists each flag more than one command takes, and which commands take it."""

from __future__ import annotations

import argparse
import re
import runpy
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import REPO_ROOT, Machines, RunCli

from session_sync.cli.parser import build_parser
from session_sync.cli.vocabulary import FLAGS

BIN = sorted((REPO_ROOT / "bin").iterdir())

PER_COMMAND = {"--branch", "--machine"}
"""Named after git's and gh's own flags, they name a different branch or machine on
each command (the one to check out, the one to make; a filter, a heading, a machine
type): the same short form and metavar, their own help line."""


def bin_parser(path: Path) -> argparse.ArgumentParser:
    """The parser of bin/NAME, built as the command builds it (it runs nothing more)."""
    parser = runpy.run_path(str(path), run_name="bin_parser")["parser"]
    assert isinstance(parser, argparse.ArgumentParser)
    return parser


def all_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command's parser, by its name (``session-sync`` and each bin/ command)."""
    return {"session-sync": build_parser(), **{path.name: bin_parser(path) for path in BIN}}


def uses(
    parser: argparse.ArgumentParser,
    command: str,
    found: dict[str, list[tuple[str, argparse.Action]]],
) -> None:
    """``found[--flag]`` gets (command, action) for every flag of ``parser`` and its
    subcommands; ``command`` is ``session-sync`` or ``session-sync SUB``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                top = command if command.count(" ") else f"{command} {name}"
                uses(sub, top, found)
        for option in action.option_strings:
            if option.startswith("--"):
                found[option].append((command, action))


def vocabulary() -> dict[str, list[tuple[str, argparse.Action]]]:
    found: dict[str, list[tuple[str, argparse.Action]]] = defaultdict(list)
    for name, parser in all_parsers().items():
        uses(parser, name, found)
    return found


def shape(action: argparse.Action) -> tuple[object, ...]:
    shorts = tuple(o for o in action.option_strings if not o.startswith("--"))
    longs = tuple(o for o in action.option_strings if o.startswith("--"))
    choices = tuple(action.choices) if action.choices else None
    return (shorts, longs, action.metavar, action.dest, action.nargs, choices, type(action))


def test_a_flag_has_one_short_form_metavar_and_dest_everywhere() -> None:
    odd = {}
    for flag, found in vocabulary().items():
        shapes: dict[tuple[object, ...], list[str]] = {shape(a): [] for _, a in found}
        for command, action in found:
            shapes[shape(action)].append(command)
        if len(shapes) > 1:
            odd[flag] = shapes
    assert not odd, "flags that differ between commands:\n" + "\n".join(
        f"  {flag}: {shapes}" for flag, shapes in odd.items()
    )


def test_a_flag_has_one_help_line_everywhere() -> None:
    odd = {}
    for flag, found in vocabulary().items():
        shown = [(c, a.help) for c, a in found if a.help != argparse.SUPPRESS]
        helps = {text for _, text in shown}
        if flag not in PER_COMMAND and len(helps) > 1:
            odd[flag] = shown
        if flag in FLAGS:
            assert helps <= {FLAGS[flag].help}, f"{flag} is not the shared definition"
    assert not odd, "flags explained differently:\n" + "\n".join(
        f"  {flag}: {shown}" for flag, shown in odd.items()
    )


def test_a_short_form_is_one_flag_everywhere() -> None:
    meaning: dict[str, set[str]] = defaultdict(set)
    for flag, found in vocabulary().items():
        for _, action in found:
            for option in action.option_strings:
                if not option.startswith("--"):
                    meaning[option].add(flag)
    assert {short: longs for short, longs in meaning.items() if len(longs) > 1} == {}
    assert meaning["-c"] == {"--codespace"}


@pytest.mark.parametrize("command", ["session-sync", *(path.name for path in BIN)])
def test_remote_path_and_workspace_are_one_flag(command: str) -> None:
    parser = all_parsers()[command]
    given = ["--codespace", "cs"] if command != "codespace-create" else ["-R", "o/r"]
    head = ["sync", *given] if command == "session-sync" else given
    if command == "sync-sessions-from-all-codespaces":
        head = []
    one = parser.parse_args([*head, "--remote-path", "~/x/{repo}"])
    other = parser.parse_args([*head, "--workspace", "~/x/{repo}"])
    assert one == other
    assert one.remote_path == "~/x/{repo}"


def test_codespace_is_dash_c_on_session_sync_and_the_bin_commands() -> None:
    args = build_parser().parse_args(["sync", "-c", "cs"])
    assert args.codespace == "cs"
    assert bin_parser(REPO_ROOT / "bin" / "sync-to-codespace").parse_args(["-c", "cs"]).codespace


EVERY_SUBCOMMAND = "every session-sync subcommand"
"""How the README's Flags table names all of ``session-sync``'s subcommands at once."""


def subcommands() -> set[str]:
    """The names of ``session-sync``'s subcommands (not their own subcommands)."""
    return {
        name
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }


def readme_flags() -> dict[tuple[str, ...], tuple[str, set[str]]]:
    """The README's Flags table: option strings -> (meaning, commands)."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Flags\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`-"):
            names = tuple(re.findall(r"`([^`]+)`", cells[0]))
            commands = {c.strip().strip("`") for c in cells[2].split(",")}
            if EVERY_SUBCOMMAND in commands:
                commands = (commands - {EVERY_SUBCOMMAND}) | subcommands()
            rows[names] = (cells[1], commands)
    return rows


def test_readme_lists_every_shared_flag_and_its_commands() -> None:
    table = readme_flags()
    expected: dict[tuple[str, ...], set[str]] = {}
    for found in vocabulary().values():
        action = found[0][1]
        commands = {
            c.removeprefix("session-sync ") for c, a in found if a.help != argparse.SUPPRESS
        }
        if len(commands) > 1 and "--help" not in action.option_strings:
            expected[tuple(action.option_strings)] = commands
    assert {names: commands for names, (_, commands) in table.items()} == expected


def test_remote_path_names_the_repository_in_session_sync_too(
    machines: Machines, run_cli: RunCli
) -> None:
    far = f"{machines.root}/far/{{repo}}"
    args = ["sync", "--dir", str(machines.b), "--local-path", str(machines.project), "--json"]
    result = run_cli(*args, "--dry-run", "--repo", "octo-org/app", "--workspace", far)
    assert result.code == 0, result
    assert result.json()["remote_project_path"] == f"{machines.root}/far/app"

    result = run_cli(*args, "--remote-path", far)
    assert result.code == 2, result
    assert "names {repo}: pass --repo OWNER/REPO" in result.err
