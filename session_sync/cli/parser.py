"""The ``session-sync`` command line: every subcommand and flag, and its ``--help``."""

from __future__ import annotations

import argparse

from session_sync.agent.deflate import MODES
from session_sync.cli import checkpoints as checkpoints_cli
from session_sync.cli import completion as completion_cli
from session_sync.cli import handoff as handoff_cli
from session_sync.cli import learnings as learnings_cli
from session_sync.cli import resume as resume_cli
from session_sync.cli.common import OneLineErrorParser, add_io_timeout
from session_sync.cli.everyday import add_everyday_flags, add_verbose_to_subcommands
from session_sync.cli.knowledge import add_knowledge_flags
from session_sync.cli.settings import add_config_parser
from session_sync.cli.vocabulary import add_flag

__all__ = ["PROG", "build_parser"]

PROG = "session-sync"


def _add_target(parser: argparse.ArgumentParser) -> None:
    # Not required: the config file's host = / codespace = is the default.
    target = parser.add_mutually_exclusive_group()
    add_flag(target, "--dir")
    add_flag(target, "--host")
    add_flag(target, "--codespace")
    parser.add_argument(
        "--all",
        action="store_true",
        help=(
            "every project with recent sessions on either side, over one connection: paired"
            " by git remote, else by a path map of the config file, else by the same path"
            " under the home (--dir: the same path; --codespace: /workspaces/<repo>, its own"
            " repository's only); one found on one side only is made on the other"
        ),
    )
    add_flag(parser, "--repo")
    add_flag(parser, "--local-path")
    add_flag(parser, "--remote-path")
    add_flag(parser, "--remote-python", default="python3")
    add_flag(parser, "--codespace-route", default="auto")
    add_flag(parser, "--gh-timeout", default=60.0)
    add_io_timeout(parser, default=None)
    add_flag(parser, "--days", default=None)
    add_flag(parser, "--json")


def _add_backups_target(parser: argparse.ArgumentParser, top: str | None) -> None:
    """``backups``' flags; ``top`` is None on the top-level parser (real defaults), else
    argparse.SUPPRESS (absent unless given, so they do not undo the top level's)."""

    def default(value: object) -> object:
        return value if top is None else top

    add_flag(parser, "--json", default=default(False))
    other = parser.add_mutually_exclusive_group()
    add_flag(other, "--dir", default=default(None))
    add_flag(other, "--host", default=default(None))
    add_flag(other, "--codespace", default=default(None))
    add_flag(parser, "--remote-python", default=default("python3"))


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = OneLineErrorParser(
        prog=PROG,
        description=(
            "Keep Claude Code sessions in step between this machine and another, with"
            " Claude's memory and prompt history; keep learnings in the repository,"
            " checkpoints of a codespace's work, and a handoff for new sessions."
        ),
        epilog="Exit status: 0 all went well, 1 a file or the connection failed, 2 bad usage.",
    )
    add_everyday_flags(parser)
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineErrorParser
    )

    sync = sub.add_parser(
        "sync",
        help="sync a project's sessions (or --all projects') both ways (or --push / --pull)",
        description=(
            "Sync the recent sessions of one project (or, with --all, of every project) with"
            " another machine. Missing sessions are"
            " copied, grown ones get only their new lines. Of a diverged one, the copy with the"
            " newer last message stays in place and the other branch becomes a session of its"
            " own on both machines (and is backed up). Nothing is written into a session open"
            " in Claude there; an open session still sends its complete lines. Nothing is ever"
            " deleted."
        ),
    )
    _add_target(sync)
    way = sync.add_mutually_exclusive_group()
    add_flag(way, "--push")
    add_flag(way, "--pull")
    add_flag(sync, "--dry-run")
    sync.add_argument(
        "--paranoid",
        action="store_true",
        help=(
            "re-read each appended file whole and swap in a staged copy, even when it"
            " is as the scan saw it (slower: an append then costs a copy of the file)"
        ),
    )
    sync.add_argument(
        "--compress",
        choices=MODES,
        default="auto",
        help=(
            "compress file data on the way (zlib, only what shrinks): auto (default) = level 1,"
            " level 9 or none, whichever moves it fastest as measured; always = level 9 (fewer"
            " bytes than ssh -C); never"
        ),
    )
    add_knowledge_flags(sync)
    for part in ("memory", "history"):
        sync.add_argument(
            f"--{part}",
            action="store_true",
            help=f"sync the {part} even when the config file says {part} = false",
        )

    status = sub.add_parser(
        "status",
        help="show what is where and which side is newer (changes none of your files)",
        description=(
            "Compare the project's sessions here and on the other machine; change none of"
            " your files (session-sync keeps the hashes it read, in its hash cache)."
        ),
    )
    _add_target(status)

    backups = sub.add_parser(
        "backups",
        help="list or restore the copies kept of replaced files",
        description=(
            "Every file a sync replaces is first copied to"
            " <config>/session-sync/backups/<set>/. Sets older than 90 days are pruned after"
            " a sync, except the newest backup of each file, which is kept for good."
        ),
    )
    add_flag(backups, "--config-dir")
    _add_backups_target(backups, None)
    bsub = backups.add_subparsers(
        dest="backups_command", metavar="ACTION", parser_class=OneLineErrorParser
    )
    # The same flags after the action too (`backups list --json`), where they leave
    # the values given before it alone unless given again.
    _add_backups_target(
        bsub.add_parser("list", help="list backup sets (the default)"), argparse.SUPPRESS
    )
    restore = bsub.add_parser(
        "restore", help="put a backup set's files back (the current ones are backed up)"
    )
    _add_backups_target(restore, argparse.SUPPRESS)
    restore.add_argument(
        "backup_id", metavar="SET", help="the set's id, as `backups list` shows it"
    )
    restore.add_argument(
        "--file", metavar="REL", help="restore only this file (path inside the project dir)"
    )

    checkpoints_cli.add_parsers(sub)

    demo = sub.add_parser(
        "demo",
        help="run a sync between two sandboxed machines, twice",
        description=(
            "Build a sandbox with two machines (a laptop and a codespace, each its own Claude"
            " config dir) holding realistic sessions, sync them, show the report, then sync again"
            " to show that nothing moves. Never touches your own config dir."
        ),
    )
    demo.add_argument("--keep", metavar="DIR", help="build the sandbox in DIR and keep it")
    add_flag(demo, "--json")
    learnings_cli.add_parsers(sub)
    add_config_parser(sub)
    handoff_cli.add_parsers(sub)
    resume_cli.add_parsers(sub)
    completion_cli.add_parsers(sub)
    add_verbose_to_subcommands(parser)
    return parser
