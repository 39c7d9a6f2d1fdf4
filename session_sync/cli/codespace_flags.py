"""The bin/ commands' shared flags, parsed into the options of ``github.workflows``.

Each script in ``bin/`` builds its parser with ``command_parser`` and
``add_common_flags``, turns the parsed arguments into options, and makes one
call, ``run(prog, command, options)``, which maps errors to exit statuses: 0
all went well, 1 gh or a sync failed, 2 bad usage; ``codespace-ssh`` exits with
its ssh session's status whatever the syncs did.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from session_sync.cli.common import (
    OneLineErrorParser,
    add_io_timeout,
    exit_status,
    log_to_stderr,
    positive_integer,
    positive_number,
)
from session_sync.cli.knowledge import add_knowledge_flags
from session_sync.github.background import AllCodespacesOptions
from session_sync.github.gh import ROUTES, GhCli
from session_sync.github.parts import CommonOptions
from session_sync.github.syncs import DEFAULT_DAYS, WORKSPACE_TEMPLATE
from session_sync.model.reconcile import Direction

__all__ = [
    "add_common_flags",
    "all_codespaces_options",
    "command_parser",
    "common_options",
    "direction",
    "positive_integer",
    "positive_number",
    "run",
]

Options = TypeVar("Options")


def command_parser(prog: str, description: str, epilog: str | None = None) -> OneLineErrorParser:
    """A parser whose errors are one line and exit status 2."""
    return OneLineErrorParser(
        prog=prog,
        description=description,
        epilog=epilog or "Exit status: 0 all went well, 1 gh or a sync failed, 2 bad usage.",
    )


def add_common_flags(
    parser: argparse.ArgumentParser, *, pick: bool = True, report: bool = True
) -> None:
    """Flags every codespace command shares (``pick``: ``-c``; ``report``: ``--json``)."""
    if pick:
        parser.add_argument(
            "-c",
            "--codespace",
            metavar="NAME",
            help="the codespace (default: the one of this checkout's GitHub repository)",
        )
    parser.add_argument(
        "--days",
        type=positive_number(),
        default=DEFAULT_DAYS,
        metavar="N",
        help=f"only sessions modified in the last N days (default: {DEFAULT_DAYS:g})",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what a sync would do, change nothing"
    )
    add_knowledge_flags(parser)
    if report:
        parser.add_argument(
            "--json", action="store_true", help="print one JSON object on stdout and nothing else"
        )
    parser.add_argument(
        "--workspace",
        metavar="PATH",
        default=WORKSPACE_TEMPLATE,
        help=(
            "the checkout's path in the codespace; {repo} is the repository's name, ~/ the"
            f" codespace's home (default: {WORKSPACE_TEMPLATE})"
        ),
    )
    parser.add_argument(
        "--remote-python",
        metavar="PATH",
        default="python3",
        help="the Python (3.8+) that runs the sync agent in the codespace (default: python3)",
    )
    parser.add_argument(
        "--codespace-route",
        choices=ROUTES,
        default="auto",
        help="proxy = SSH through `gh codespace ssh --stdio`; exec = `gh codespace ssh -- CMD`",
    )
    parser.add_argument(
        "--gh-timeout",
        type=positive_number(" of seconds"),
        default=60.0,
        metavar="SECONDS",
        help="give up on a gh call that has not answered in this long (default: 60)",
    )
    add_io_timeout(parser)


def common_options(args: argparse.Namespace, prog: str) -> CommonOptions:
    """The ``CommonOptions`` in parsed arguments (see ``add_common_flags``)."""
    return CommonOptions(
        prog=prog,
        codespace=getattr(args, "codespace", None),
        days=args.days,
        dry_run=args.dry_run,
        json=getattr(args, "json", False),
        workspace=args.workspace,
        remote_python=args.remote_python,
        route=args.codespace_route,
        gh_timeout=args.gh_timeout,
        io_timeout=args.io_timeout,
        memory=not args.no_memory,
        history=not args.no_history,
    )


def direction(*, push: bool, pull: bool) -> Direction:
    """``--push`` / ``--pull`` / neither (both ways)."""
    return Direction.PUSH if push else Direction.PULL if pull else Direction.BOTH


def all_codespaces_options(args: argparse.Namespace) -> AllCodespacesOptions:
    """The background sync's options in parsed arguments."""
    return AllCodespacesOptions(
        days=args.days,
        jobs=args.jobs,
        dry_run=args.dry_run,
        json=args.json,
        log_file=Path(args.log_file).expanduser() if args.log_file else None,
        workspace=args.workspace,
        remote_python=args.remote_python,
        route=args.codespace_route,
        gh=GhCli(timeout=args.gh_timeout),
        io_timeout=args.io_timeout,
        memory=not args.no_memory,
        history=not args.no_history,
    )


def run(prog: str, command: Callable[[Options], int], options: Options) -> int:
    """Run ``command(options)`` as program ``prog``; its exit status, errors mapped."""
    log_to_stderr(prog)
    return exit_status(prog, lambda: command(options))
