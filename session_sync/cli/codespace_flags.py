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
from session_sync.cli.everyday import add_everyday_flags, quiet_on_closed_pipe, set_verbosity
from session_sync.cli.knowledge import add_knowledge_flags
from session_sync.cli.vocabulary import add_flag
from session_sync.github.background import AllCodespacesOptions
from session_sync.github.gh import GhCli
from session_sync.github.parts import CommonOptions
from session_sync.github.syncs import DEFAULT_DAYS, WORKSPACE_TEMPLATE
from session_sync.model.reconcile import Direction

__all__ = [
    "add_common_flags",
    "add_flag",
    "all_codespaces_options",
    "command_parser",
    "common_options",
    "direction",
    "positive_integer",
    "positive_number",
    "run",
]

Options = TypeVar("Options")

PICK_DEFAULT = "Without -c, the codespace of this checkout's GitHub repository."


def command_parser(prog: str, description: str, epilog: str | None = None) -> OneLineErrorParser:
    """A parser whose errors are one line and exit status 2, with ``--version`` and
    ``-v/--verbose``."""
    parser = OneLineErrorParser(
        prog=prog,
        description=description,
        epilog=epilog or "Exit status: 0 all went well, 1 gh or a sync failed, 2 bad usage.",
    )
    add_everyday_flags(parser)
    return parser


def add_common_flags(
    parser: argparse.ArgumentParser, *, pick: bool = True, report: bool = True
) -> None:
    """Flags every codespace command shares (``pick``: ``-c``; ``report``: ``--json``)."""
    if pick:
        add_flag(parser, "--codespace")
        parser.epilog = f"{parser.epilog} {PICK_DEFAULT}" if parser.epilog else PICK_DEFAULT
    add_flag(parser, "--days", default=DEFAULT_DAYS)
    add_flag(parser, "--dry-run")
    add_knowledge_flags(parser)
    if report:
        add_flag(parser, "--json")
    add_flag(parser, "--remote-path", default=WORKSPACE_TEMPLATE)
    add_flag(parser, "--remote-python", default="python3")
    add_flag(parser, "--codespace-route", default="auto")
    add_flag(parser, "--gh-timeout", default=60.0)
    add_io_timeout(parser)


def common_options(args: argparse.Namespace, prog: str) -> CommonOptions:
    """The ``CommonOptions`` in parsed arguments (see ``add_common_flags``)."""
    return CommonOptions(
        prog=prog,
        codespace=getattr(args, "codespace", None),
        days=args.days,
        dry_run=args.dry_run,
        json=getattr(args, "json", False),
        workspace=args.remote_path,
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
        workspace=args.remote_path,
        remote_python=args.remote_python,
        route=args.codespace_route,
        gh=GhCli(timeout=args.gh_timeout),
        io_timeout=args.io_timeout,
        memory=not args.no_memory,
        history=not args.no_history,
        verbose=args.verbose,
    )


def run(
    prog: str, command: Callable[[Options], int], options: Options, *, verbose: bool = False
) -> int:
    """Run ``command(options)`` as program ``prog``; its exit status, errors mapped
    (``verbose``: the library's debug lines on stderr; a closed stdout ends quietly)."""
    log_to_stderr(prog)
    set_verbosity(verbose)
    return quiet_on_closed_pipe(lambda: exit_status(prog, lambda: command(options)))
