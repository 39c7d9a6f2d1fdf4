"""The ``session-sync`` command line: every subcommand and flag, and its ``--help``."""

from __future__ import annotations

import argparse

from session_sync.agent.deflate import MODES
from session_sync.cli import checkpoints as checkpoints_cli
from session_sync.cli import handoff as handoff_cli
from session_sync.cli import learnings as learnings_cli
from session_sync.cli import resume as resume_cli
from session_sync.cli.common import OneLineErrorParser, add_io_timeout, positive_number
from session_sync.cli.everyday import add_everyday_flags
from session_sync.cli.knowledge import add_knowledge_flags
from session_sync.github.gh import ROUTES

__all__ = ["PROG", "build_parser"]

PROG = "session-sync"


def _add_target(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--dir",
        metavar="CONFIG_DIR",
        help="another Claude config dir on this machine (e.g. a second CLAUDE_CONFIG_DIR)",
    )
    target.add_argument(
        "--host",
        metavar="HOST",
        help="an SSH host: an alias from ~/.ssh/config or [USER@]HOST[:PORT]",
    )
    target.add_argument(
        "--codespace",
        metavar="NAME",
        help=(
            "a GitHub codespace, reached with gh (sync starts a shut-down one; status and"
            " --dry-run never do)"
        ),
    )
    parser.add_argument(
        "--repo",
        metavar="REPO",
        help="GitHub repo (OWNER/REPO) of the project (with --codespace: the codespace's)",
    )
    parser.add_argument(
        "--local-path",
        metavar="PATH",
        help=(
            "the project's path here (default: the git top level of the current directory;"
            " with --repo and no checkout of it there, the path its sessions recorded)"
        ),
    )
    parser.add_argument(
        "--remote-path",
        metavar="PATH",
        help=(
            "the project's path on the other machine; ~/ is its home there (default: --dir the"
            " local path; --host the local path relative to your home, under the remote home;"
            " --codespace /workspaces/<repo>)"
        ),
    )
    parser.add_argument(
        "--remote-python",
        metavar="PATH",
        default="python3",
        help="the Python (3.8+) that runs the agent on the host or codespace (default: python3)",
    )
    parser.add_argument(
        "--codespace-route",
        choices=ROUTES,
        default="auto",
        help=(
            "how to reach a codespace: proxy = SSH through `gh codespace ssh --stdio`; exec = one"
            " `gh codespace ssh -- COMMAND` process; auto (default) = proxy, else exec"
        ),
    )
    parser.add_argument(
        "--gh-timeout",
        type=positive_number(" of seconds"),
        default=60.0,
        metavar="SECONDS",
        help=(
            "give up on a gh call that has not answered in this long (default: 60; the call"
            " that may have to start the codespace gets 10 minutes)"
        ),
    )
    add_io_timeout(parser)
    parser.add_argument(
        "--days",
        type=positive_number(),
        default=7.0,
        metavar="N",
        help="only sessions modified in the last N days (default: 7)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object and nothing else"
    )


def _add_backups_target(parser: argparse.ArgumentParser, top: str | None) -> None:
    """``backups``' flags; ``top`` is None on the top-level parser (real defaults), else
    argparse.SUPPRESS (absent unless given, so they do not undo the top level's)."""

    def default(value: object) -> object:
        return value if top is None else top

    parser.add_argument("--json", action="store_true", default=default(False), help="print JSON")
    other = parser.add_mutually_exclusive_group()
    other.add_argument(
        "--dir",
        metavar="CONFIG_DIR",
        default=default(None),
        help="the backups of another config dir",
    )
    other.add_argument(
        "--host", metavar="HOST", default=default(None), help="the backups on an SSH host"
    )
    other.add_argument(
        "--codespace", metavar="NAME", default=default(None), help="the backups in a codespace"
    )
    parser.add_argument(
        "--remote-python",
        metavar="PATH",
        default=default("python3"),
        help="the Python (3.8+) on the host or codespace (default: python3)",
    )


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
        help="sync one project's sessions both ways (or --push / --pull)",
        description=(
            "Sync the recent sessions of one project with another machine. Missing sessions are"
            " copied, grown ones get only their new lines. Of a diverged one, the copy with the"
            " newer last message stays in place and the other branch becomes a session of its"
            " own on both machines (and is backed up). Nothing is written into a session open"
            " in Claude there; an open session still sends its complete lines. Nothing is ever"
            " deleted."
        ),
    )
    _add_target(sync)
    way = sync.add_mutually_exclusive_group()
    way.add_argument(
        "--push", action="store_true", help="only send local sessions to the other side"
    )
    way.add_argument(
        "--pull", action="store_true", help="only bring the other side's sessions here"
    )
    sync.add_argument(
        "--dry-run", action="store_true", help="show what would happen, change nothing"
    )
    sync.add_argument(
        "--compress",
        choices=MODES,
        default="auto",
        help=(
            "compress file data on the way (zlib, only what shrinks): auto (default) = level 1,"
            " level 6 or none, whichever moves it fastest as measured; always = level 1 or 6;"
            " never"
        ),
    )
    add_knowledge_flags(sync)

    status = sub.add_parser(
        "status",
        help="show what is where and which side is newer (changes nothing)",
        description="Compare the project's sessions here and on the other machine; change nothing.",
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
    backups.add_argument(
        "--config-dir",
        metavar="DIR",
        help="the Claude config dir to use (default: $CLAUDE_CONFIG_DIR or ~/.claude)",
    )
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
    demo.add_argument("--json", action="store_true", help="print both reports as JSON")
    learnings_cli.add_parsers(sub)
    handoff_cli.add_parsers(sub)
    resume_cli.add_parsers(sub)
    return parser
