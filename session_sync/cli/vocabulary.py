"""The flags that mean the same thing on every command, ``session-sync``'s subcommands
and the bin/ commands alike: each is defined once here, so its short form, metavar and
``--help`` line cannot drift apart (tests/test_flag_vocabulary.py builds every parser
and holds them to it). A command adds one with ``add_flag(parser, "--days")`` and
chooses only what is its own: the default, and whether it is required.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import attrs

from session_sync.cli.common import positive_number
from session_sync.errors import UsageError
from session_sync.github.gh import ROUTES

__all__ = ["FLAGS", "Flag", "add_flag", "remote_path"]


@attrs.frozen
class Flag:
    """One flag of the shared vocabulary."""

    names: tuple[str, ...]
    """Its option strings, the short form first (the first long one names it)."""
    help: str
    """Its ``--help`` line, the same on every command."""
    metavar: str | None = None
    """The value's name in ``--help`` (None: a switch, ``store_true``)."""
    type: Callable[[str], Any] | None = None
    """The argparse ``type`` of its value."""
    choices: tuple[str, ...] | None = None
    """The values it takes, when it takes only some."""
    dest: str | None = None
    """Where argparse puts it (None: from the first long name)."""


_SECONDS = positive_number(" of seconds")

FLAGS: dict[str, Flag] = {
    next(n for n in flag.names if n.startswith("--")): flag
    for flag in (
        Flag(
            ("-c", "--codespace"),
            "a GitHub codespace, by its name in `gh codespace list` (a shut-down one is"
            " started only to change something there, never by --dry-run)",
            metavar="NAME",
        ),
        Flag(
            ("--host",),
            "an SSH host: an alias from ~/.ssh/config or [USER@]HOST[:PORT]",
            metavar="HOST",
        ),
        Flag(
            ("--dir",),
            "another Claude config dir on this machine (e.g. a second CLAUDE_CONFIG_DIR)",
            metavar="CONFIG_DIR",
        ),
        Flag(("-R", "--repo"), "the project's GitHub repository", metavar="OWNER/REPO"),
        Flag(
            ("--local-path",),
            "the project's path here (default: the git top level of the current directory;"
            " with --repo and no checkout of it there, the path its sessions recorded)",
            metavar="PATH",
        ),
        Flag(
            ("--remote-path", "--workspace"),
            "the project's path on the other machine; ~/ is its home there, {repo} the"
            " repository's name (default: in a codespace /workspaces/{repo}; on --host the"
            " local path relative to your home, under the remote home; --dir the local path)",
            metavar="PATH",
        ),
        Flag(
            ("--remote-python",),
            "the Python (3.8+) that runs the agent on the other machine (default: python3)",
            metavar="PATH",
        ),
        Flag(
            ("--codespace-route",),
            "how to reach a codespace: proxy = SSH through `gh codespace ssh --stdio`; exec ="
            " one `gh codespace ssh -- COMMAND` process; auto (default) = proxy, else exec",
            choices=ROUTES,
        ),
        Flag(
            ("--gh-timeout",),
            "give up on a gh call that has not answered in this long (default: 60; the call"
            " that may have to start the codespace gets 10 minutes)",
            metavar="SECONDS",
            type=_SECONDS,
        ),
        Flag(
            ("--days",),
            "only sessions modified in the last N days (default: 7; for sync and status, days ="
            " in the config file)",
            metavar="N",
            type=positive_number(),
        ),
        Flag(("--dry-run",), "show what would be done, change none of your files"),
        Flag(("--json",), "print one JSON object on stdout and nothing else"),
        Flag(
            ("--config-dir",),
            "this machine's Claude config dir (default: $CLAUDE_CONFIG_DIR or ~/.claude)",
            metavar="DIR",
        ),
        Flag(("--push",), "only send from here to the other machine"),
        Flag(("--pull",), "only bring from the other machine here"),
        Flag(
            ("-v", "--verbose"),
            "log what happens (connecting, each request and its answer) to stderr",
        ),
    )
}


def add_flag(
    target: argparse.ArgumentParser | argparse._ActionsContainer,
    name: str,
    *,
    hidden: bool = False,
    **settings: Any,
) -> argparse.Action:
    """Add the shared flag ``name`` (its long form) to ``target``, a parser or group;
    ``hidden`` leaves it out of ``--help``; ``settings``: its ``default``, ``required``."""
    if not set(settings) <= {"default", "required"}:
        raise TypeError(f"{name}: only default and required are a command's own")
    flag = FLAGS[name]
    if flag.metavar is None and flag.choices is None:
        settings["action"] = "store_true"
    else:
        settings.update(metavar=flag.metavar, type=flag.type, choices=flag.choices)
    if flag.dest is not None:
        settings["dest"] = flag.dest
    return target.add_argument(
        *flag.names, help=argparse.SUPPRESS if hidden else flag.help, **settings
    )


def remote_path(path: str, repo: str | None) -> str:
    """``--remote-path`` with ``{repo}`` made the repository's name (``repo``: OWNER/REPO)."""
    if "{repo}" not in path:
        return path
    if not repo:
        raise UsageError(f"--remote-path {path!r} names {{repo}}: pass --repo OWNER/REPO")
    return path.replace("{repo}", repo.rsplit("/", 1)[-1])
