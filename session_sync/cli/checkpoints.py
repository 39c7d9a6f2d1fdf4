"""``session-sync checkpoint`` and ``session-sync checkpoints list|show|restore``."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from session_sync.agent.checkpoint import DEFAULT_MAX_FILE_SIZE
from session_sync.cli.common import EXIT_OK, OneLineErrorParser, add_io_timeout
from session_sync.cli.vocabulary import add_flag
from session_sync.cli.vocabulary import remote_path as remote_path_flag
from session_sync.errors import UsageError
from session_sync.terminal import printable

if TYPE_CHECKING:
    from session_sync.checkpoints.store import Checkpoint
    from session_sync.checkpoints.take import Taken

__all__ = ["add_parsers", "cmd_checkpoint", "cmd_checkpoints", "file_size"]

_SIZE = re.compile(r"^(\d+)\s*([kmg]?)i?b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def file_size(text: str) -> int:
    """An argparse ``type``: a size in bytes, or with ``k``/``M``/``G`` (``50M``)."""
    match = _SIZE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"takes a size such as 50M or 1000, not {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _add_checkout(parser: argparse.ArgumentParser) -> None:
    add_flag(parser, "--local-path")
    add_flag(parser, "--json")


def add_parsers(sub: Any) -> None:
    """Add ``checkpoint`` and ``checkpoints`` to the subcommands ``sub``."""
    take = sub.add_parser(
        "checkpoint",
        help="save a checkout's uncommitted and unpushed work as a checkpoint (changes nothing)",
        description=(
            "Save the work of a checkout (tracked changes staged or not, untracked files that"
            " are not ignored, commits not pushed) as a commit under"
            " refs/session-sync/checkpoints/<machine>/<time> of the checkout here, without"
            " touching the branch, index or files there. With --codespace/--host the work of"
            " the checkout there comes home over one connection as a git bundle. Unchanged"
            " work makes no new one. Old ones are pruned: the newest 20 per machine and all of"
            " the last 30 days are kept."
        ),
    )
    where = take.add_mutually_exclusive_group()
    add_flag(where, "--codespace")
    add_flag(where, "--host")
    add_flag(take, "--remote-path")
    take.add_argument(
        "--max-file-size",
        type=file_size,
        default=DEFAULT_MAX_FILE_SIZE,
        metavar="SIZE",
        help="leave out (and list) untracked files larger than this (default: 50M)",
    )
    add_flag(take, "--remote-python", default="python3")
    add_flag(take, "--codespace-route", default="auto", hidden=True)
    add_flag(take, "--gh-timeout", default=60.0)
    add_io_timeout(take, default=None)
    add_flag(take, "--dry-run")
    _add_checkout(take)

    listing = sub.add_parser(
        "checkpoints",
        help="list, show or restore the checkpoints of this checkout",
        description=(
            "The checkpoints stored in this checkout's repository (of this machine and those"
            " brought home from codespaces and hosts). A restore makes a new branch (or a new"
            " worktree) and never writes into the current checkout."
        ),
    )
    _add_checkout(listing)
    actions = listing.add_subparsers(
        dest="checkpoints_command", metavar="ACTION", parser_class=OneLineErrorParser
    )
    listed = actions.add_parser("list", help="machine, time, branch, files, size (the default)")
    listed.add_argument("-m", "--machine", metavar="NAME", help="only this machine's")
    show = actions.add_parser("show", help="what a checkpoint changes against its HEAD")
    show.add_argument("checkpoint_id", metavar="ID", help="MACHINE/TIME, as `list` shows it")
    restore = actions.add_parser(
        "restore", help="make a branch (or with --worktree a worktree) of a checkpoint"
    )
    restore.add_argument("checkpoint_id", metavar="ID", help="MACHINE/TIME, as `list` shows it")
    restore.add_argument(
        "-b",
        "--branch",
        metavar="NAME",
        help="the new branch (default: checkpoint/MACHINE/TIME); an existing one is refused",
    )
    restore.add_argument(
        "--worktree",
        metavar="DIR",
        help="check the branch out in a new worktree at DIR (new or empty)",
    )
    for action in (listed, show, restore):
        # SUPPRESS: a subcommand's default must not undo the flag given before it.
        add_flag(action, "--json", default=argparse.SUPPRESS)
        add_flag(action, "--local-path", default=argparse.SUPPRESS, hidden=True)


def _top(args: argparse.Namespace) -> Path:
    # The checkpoint modules are imported by the command that runs, not by --help.
    from session_sync.checkpoints.take import checkout_top

    path = Path(args.local_path).expanduser() if args.local_path else Path(os.getcwd())
    return checkout_top(path)


def _print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        sys.stdout.write(f"{line}\n")


def cmd_checkpoint(args: argparse.Namespace) -> int:
    """``session-sync checkpoint``."""
    from session_sync.checkpoints.report import taken_lines
    from session_sync.checkpoints.take import take_local

    top = _top(args)
    if args.codespace is None and args.host is None:
        if args.remote_path:
            raise UsageError("--remote-path needs --codespace or --host")
        taken = take_local(top, max_file_size=args.max_file_size, dry_run=args.dry_run)
    else:
        taken = _take_remote(args, top)
    if args.json:
        _print_json(taken.to_json())
    else:
        _print_lines(taken_lines(taken))
    return EXIT_OK


def _take_remote(args: argparse.Namespace, top: Path) -> Taken:
    # Imported here: the target's resolution lives with the sync command (and pulls in
    # paramiko, which the local case needs none of).
    from session_sync.agent.gitinfo import git_origin_url
    from session_sync.agent.paths import claude_config_dir, normalize_github_repo
    from session_sync.checkpoints.remote import fetch_checkpoint, same_repository
    from session_sync.cli.app import _target
    from session_sync.transports.connection import AgentConnection

    args.dir = None
    not_woken = "a dry run never starts one" if args.dry_run else None
    target = _target(args, Path(claude_config_dir()), wake=not_woken)
    if target.repo is not None and not same_repository(target.repo, git_origin_url(str(top))):
        raise UsageError(
            f"{top} is not a checkout of {target.repo}: run from the checkout of it here"
            " (its repository keeps the checkpoint), or pass --local-path"
        )
    if args.remote_path:
        origin = normalize_github_repo(git_origin_url(str(top)))
        remote_path = remote_path_flag(args.remote_path, target.repo or origin)
    elif target.remote_path_for is not None:
        remote_path = target.remote_path_for(str(top))
    else:
        remote_path = str(top)
    machine = args.codespace if args.codespace is not None else args.host
    connection = AgentConnection(target.transport, io_timeout=args.io_timeout)
    try:
        return fetch_checkpoint(
            connection,
            top,
            machine,
            remote_path,
            max_file_size=args.max_file_size,
            dry_run=args.dry_run,
        )
    finally:
        connection.close()


def cmd_checkpoints(args: argparse.Namespace) -> int:
    """``session-sync checkpoints [list | show ID | restore ID]``."""
    from session_sync.checkpoints.report import list_lines
    from session_sync.checkpoints.restore import changed_files, diff_stat, restore_checkpoint
    from session_sync.checkpoints.store import default_branch, find_checkpoint, list_checkpoints

    top = _top(args)
    action = args.checkpoints_command or "list"
    if action == "list":
        found = list_checkpoints(top, getattr(args, "machine", None))
        if args.json:
            _print_json({"checkout": str(top), "checkpoints": [_cp_json(c) for c in found]})
        else:
            _print_lines(list_lines(found))
        return EXIT_OK
    checkpoint = find_checkpoint(top, args.checkpoint_id)
    if action == "show":
        if args.json:
            files = changed_files(top, checkpoint)
            _print_json({"checkpoint": _cp_json(checkpoint), "files": files})
        else:
            lines = _show_lines(checkpoint) + diff_stat(top, checkpoint).splitlines()
            _print_lines([printable(line) for line in lines])
        return EXIT_OK
    branch = args.branch or default_branch(checkpoint)
    worktree = Path(args.worktree).expanduser() if args.worktree else None
    restored = restore_checkpoint(top, checkpoint, branch, worktree)
    if args.json:
        _print_json(restored.to_json())
    else:
        where = f" checked out in {restored.worktree}" if restored.worktree else ""
        _print_lines(
            [
                printable(f"made branch {restored.branch} from checkpoint {checkpoint.id}{where}"),
                "  its tip is the checkpoint commit; `git reset HEAD~` there makes its"
                " changes uncommitted again",
            ]
        )
    return EXIT_OK


def _cp_json(cp: Checkpoint) -> dict[str, Any]:
    return {
        "id": cp.id,
        "machine": cp.machine,
        "time": cp.time.isoformat(),
        "branch": cp.branch,
        "commit": cp.commit,
        "head": cp.head,
        "files": cp.files,
        "bytes": cp.bytes,
        "upstream": cp.upstream,
        "ref": cp.ref,
    }


def _show_lines(cp: Checkpoint) -> list[str]:
    return [
        f"checkpoint {cp.id}: {cp.machine} at {cp.time:%Y-%m-%d %H:%M:%S} UTC",
        f"  branch {cp.branch}" + (f" (upstream {cp.upstream})" if cp.upstream else ""),
        f"  commit {cp.commit} on {cp.head or '(no commit yet)'}",
    ]
