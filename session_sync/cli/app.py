"""``session-sync``: builds library objects from flags, calls one function,
maps errors to exit codes.

Exit codes: 0 all went well (skips included), 1 a file or the connection
failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from session_sync.agent.backups import list_backups
from session_sync.agent.paths import claude_config_dir
from session_sync.agent.protocol import Refusal
from session_sync.agent.restore import restore_backup
from session_sync.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    OneLineErrorParser,
    exit_status,
    log_to_stderr,
    positive_number,
    transfer_progress,
)
from session_sync.engine import SyncRequest, run_sync, survey
from session_sync.errors import UsageError
from session_sync.github.gh import ROUTES
from session_sync.model.reconcile import Direction, SyncPolicy
from session_sync.model.report import print_report, status_rows
from session_sync.projects import resolve_local_project, same_place_under_remote_home
from session_sync.transports.base import Transport
from session_sync.transports.local import LocalProcessTransport

__all__ = ["PROG", "build_parser", "main"]

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
        help="a GitHub codespace, reached with gh (a shut-down one is started)",
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


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = OneLineErrorParser(
        prog=PROG,
        description="Keep Claude Code sessions in step between this machine and another.",
        epilog="Exit status: 0 all went well, 1 a file or the connection failed, 2 bad usage.",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineErrorParser
    )

    sync = sub.add_parser(
        "sync",
        help="sync one project's sessions both ways (or --push / --pull)",
        description=(
            "Sync the recent sessions of one project with another machine. Missing sessions are"
            " copied, grown ones get only their new lines, diverged ones go to the copy with the"
            " newer last message and the other copy is backed up. Sessions open in Claude are"
            " skipped. Nothing is ever deleted."
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
    backups.add_argument("--json", action="store_true", help="print JSON")
    bsub = backups.add_subparsers(
        dest="backups_command", metavar="ACTION", parser_class=OneLineErrorParser
    )
    bsub.add_parser("list", help="list backup sets (the default)")
    restore = bsub.add_parser(
        "restore", help="put a backup set's files back (the current ones are backed up)"
    )
    restore.add_argument(
        "backup_id", metavar="SET", help="the set's id, as `backups list` shows it"
    )
    restore.add_argument(
        "--file", metavar="REL", help="restore only this file (path inside the project dir)"
    )

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
    return parser


def _local_config() -> Path:
    return Path(claude_config_dir())


def _notify(message: str) -> None:
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()


@attrs.frozen
class _Target:
    """The other machine, as the flags name it."""

    transport: Transport
    """How to reach it."""
    remote_path_for: Callable[[str], str] | None
    """The project's path there from its path here, when --remote-path is not given
    (None: the same path)."""
    repo: str | None = None
    """The repository the other machine is known to hold (a codespace's)."""


def _target(args: argparse.Namespace, local_config: Path) -> _Target:
    # Imported here: paramiko (under SshTransport) costs 0.2 s and --help needs none of it.
    if args.host is not None:
        from session_sync.transports.ssh import SshTransport

        if not args.host.strip() or args.host.startswith("-"):
            raise UsageError(f"--host {args.host!r} is not a host name")
        return _Target(
            SshTransport(args.host, python=args.remote_python), same_place_under_remote_home
        )
    if args.codespace is not None:
        from session_sync.github.gh import GhCli, check_codespace_state
        from session_sync.transports.codespace import CodespaceTransport

        gh = GhCli(timeout=args.gh_timeout)
        codespace = gh.find(args.codespace)
        # Named on the command line: a shut-down codespace may be started.
        check_codespace_state(codespace, wake=True, notify=_notify)
        transport = CodespaceTransport(
            codespace.name, gh=gh, python=args.remote_python, route=args.codespace_route
        )
        workspace = codespace.workspace_path
        return _Target(transport, lambda _: workspace, codespace.repository or None)
    return _Target(_dir_transport(args, local_config), None)


def _dir_transport(args: argparse.Namespace, local_config: Path) -> Transport:
    target = Path(args.dir).expanduser()
    if not target.is_dir():
        raise UsageError(f"--dir {args.dir}: no such directory")
    if os.path.realpath(target) == os.path.realpath(local_config):
        raise UsageError(
            f"--dir {args.dir} is this machine's own Claude config dir ({local_config})"
        )
    return LocalProcessTransport(Path(os.path.realpath(target)))


def _request(
    args: argparse.Namespace, local_config: Path, target: _Target, dry_run: bool
) -> SyncRequest:
    project = resolve_local_project(local_config, args.local_path, args.repo or target.repo)
    if args.remote_path:
        remote_path = args.remote_path
    elif target.remote_path_for is not None:
        remote_path = target.remote_path_for(project.path)
    else:
        remote_path = project.path
    direction = Direction.BOTH
    if getattr(args, "push", False):
        direction = Direction.PUSH
    elif getattr(args, "pull", False):
        direction = Direction.PULL
    return SyncRequest(
        local_config=local_config,
        local_path=project.path,
        remote_path=remote_path,
        repo=project.repo,
        days=args.days,
        policy=SyncPolicy(direction=direction),
        dry_run=dry_run,
    )


def _cmd_sync(args: argparse.Namespace) -> int:
    local_config = _local_config()
    target = _target(args, local_config)
    transport = target.transport
    request = _request(args, local_config, target, args.dry_run)
    with transfer_progress(not args.json) as progress:
        report = run_sync(request, transport, progress=progress)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(report, sys.stdout)
    if not report.ok:
        sys.stderr.write(
            f"{PROG} sync: {report.failed} file(s) could not be written (each says why in the"
            " report); none was half-written: fix the cause and run the sync again\n"
        )
    return EXIT_OK if report.ok else EXIT_FAILED


def _cmd_status(args: argparse.Namespace) -> int:
    local_config = _local_config()
    target = _target(args, local_config)
    transport = target.transport
    request = _request(args, local_config, target, dry_run=True)
    found = survey(request, transport)
    rows = [row.to_json() for row in status_rows(found.local, found.remote, found.plan)]
    if args.json:
        json.dump(
            {"local": found.local.config_dir, "remote": transport.description, "sessions": rows},
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{found.local.project_path}: here vs {transport.description}")
    for column in (
        "session",
        "state",
        "local last message",
        "remote last message",
        "local size",
        "remote size",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["session"],
            row["state"],
            row["local_last_message"] or "-",
            row["remote_last_message"] or "-",
            str(row["local_size"]) if row["local_size"] is not None else "-",
            str(row["remote_size"]) if row["remote_size"] is not None else "-",
        )
    Console(file=sys.stdout, width=160).print(table)
    if not rows:
        sys.stdout.write(f"no recent sessions of {found.local.project_path} on either side\n")
    return EXIT_OK


def _cmd_backups(args: argparse.Namespace) -> int:
    config = Path(args.config_dir).expanduser() if args.config_dir else _local_config()
    if args.config_dir and not config.is_dir():
        raise UsageError(f"--config-dir {args.config_dir}: no such directory")
    if args.backups_command == "restore":
        try:
            results = restore_backup(str(config), args.backup_id, args.file)
        except Refusal as exc:
            raise UsageError(str(exc)) from None
        if args.file is not None and not results:
            raise UsageError(f"backup set {args.backup_id} holds no file {args.file}")
        if args.json:
            json.dump({"restored": results}, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            for result in results:
                if result.get("unchanged"):
                    sys.stdout.write(f"  same   {result['rel']} (already as in the backup)\n")
                elif result.get("ok"):
                    sys.stdout.write(f"  ok     {result['rel']}\n")
                else:
                    sys.stdout.write(f"  FAILED {result['rel']}: {result.get('error')}\n")
        return EXIT_OK if all(r.get("ok") for r in results) else EXIT_FAILED
    sets = list_backups(str(config))
    if args.json:
        json.dump({"backups": sets}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    if not sets:
        sys.stdout.write(f"no backups in {config / 'session-sync' / 'backups'}\n")
    for backup in sets:
        entries = backup.get("entries", [])
        sys.stdout.write(f"{backup['id']}  {len(entries)} file(s)  {backup.get('label', '')}\n")
        for entry in entries:
            sys.stdout.write(
                f"    {entry['dir']}/{entry['rel']}  {entry['size']} bytes"
                f"  ({entry.get('reason', '')})\n"
            )
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from session_sync.demo import run_demo

    return run_demo(Path(args.keep) if args.keep else None, json_output=args.json, out=sys.stdout)


COMMANDS = {"sync": _cmd_sync, "status": _cmd_status, "backups": _cmd_backups, "demo": _cmd_demo}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    log_to_stderr(PROG)
    return exit_status(f"{PROG} {args.command}", lambda: COMMANDS[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
