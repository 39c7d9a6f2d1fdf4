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
from typing import Any

import attrs

from session_sync.agent.backups import list_backups
from session_sync.agent.paths import claude_config_dir
from session_sync.agent.protocol import Refusal
from session_sync.agent.restore import restore_backup
from session_sync.cli import backups as backups_cli
from session_sync.cli import checkpoints as checkpoints_cli
from session_sync.cli import handoff as handoff_cli
from session_sync.cli import learnings as learnings_cli
from session_sync.cli import resume as resume_cli
from session_sync.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    exit_status,
    log_to_stderr,
    transfer_progress,
)
from session_sync.cli.everyday import set_verbosity
from session_sync.cli.parser import PROG, build_parser
from session_sync.cli.status_table import print_status_table
from session_sync.engine import SyncRequest, run_sync, survey
from session_sync.errors import UsageError
from session_sync.model.reconcile import Direction, SyncPolicy
from session_sync.model.report import status_rows
from session_sync.model.report_text import print_report
from session_sync.projects import resolve_local_project, same_place_under_remote_home
from session_sync.terminal import line_safe
from session_sync.transports.base import Transport
from session_sync.transports.local import LocalProcessTransport

__all__ = ["PROG", "build_parser", "main"]


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


def _target(args: argparse.Namespace, local_config: Path, *, wake: str | None) -> _Target:
    """The other machine. ``wake``: None when a shut-down codespace may be started (a
    sync that names it), else why it is not."""
    # Imported here: paramiko (under SshTransport) costs 0.2 s and --help needs none of it.
    if args.host is not None:
        from session_sync.transports.ssh import SshTransport

        if not args.host.strip() or args.host.startswith("-"):
            raise UsageError(f"--host {args.host!r} is not a host name")
        return _Target(
            SshTransport(args.host, python=args.remote_python), same_place_under_remote_home
        )
    if args.codespace is not None:
        from session_sync.github.gh import GhCli
        from session_sync.transports.codespace import CodespaceTransport

        gh = GhCli(timeout=getattr(args, "gh_timeout", 60.0))
        codespace = gh.find(args.codespace)
        # The transport reads the state again right before it connects, and starts
        # a shut-down codespace only for a sync that named it.
        transport = CodespaceTransport(
            codespace.name,
            gh=gh,
            python=args.remote_python,
            route=getattr(args, "codespace_route", "auto"),
            wake=wake is None,
            notify=_notify,
            not_woken=wake or "",
        )
        workspace = codespace.workspace_path
        return _Target(transport, lambda _: workspace, codespace.repository or None)
    return _Target(_dir_transport(args, local_config), None)


def _dir_transport(args: argparse.Namespace, local_config: Path) -> Transport:
    target = Path(args.dir).expanduser()
    if target.exists() and not target.is_dir():
        raise UsageError(f"--dir {args.dir}: not a directory")
    if not target.is_dir():
        raise UsageError(f"--dir {args.dir}: no such directory")
    if not _is_claude_config_dir(target):
        # Syncing into any directory would make a projects/ there: a typo costs a mess.
        raise UsageError(
            f"--dir {args.dir} is not a Claude config dir (no projects/, settings.json,"
            " .claude.json or session-sync/ in it, nor .claude.json beside it): name the dir"
            " Claude runs with as CLAUDE_CONFIG_DIR (run claude with it once to make one)"
        )
    if os.path.realpath(target) == os.path.realpath(local_config):
        raise UsageError(
            f"--dir {args.dir} is this machine's own Claude config dir ({local_config})"
        )
    return LocalProcessTransport(Path(os.path.realpath(target)))


def _is_claude_config_dir(path: Path) -> bool:
    """What a config dir Claude has run with holds (``~/.claude.json`` sits beside
    ``~/.claude``; with ``CLAUDE_CONFIG_DIR`` it is inside)."""
    return (
        (path / "projects").is_dir()
        or (path / "session-sync").is_dir()  # one we have synced with
        or (path / "settings.json").is_file()
        or (path / ".claude.json").is_file()
        or (path.parent / ".claude.json").is_file()
    )


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
        memory=not getattr(args, "no_memory", False),
        history=not getattr(args, "no_history", False),
    )


def _cmd_sync(args: argparse.Namespace) -> int:
    local_config = _local_config()
    not_woken = (
        "a dry run never starts one; the sync without --dry-run does" if args.dry_run else None
    )
    target = _target(args, local_config, wake=not_woken)
    transport = target.transport
    request = _request(args, local_config, target, args.dry_run)
    with transfer_progress(not args.json) as progress:
        report = run_sync(
            request,
            transport,
            progress=progress,
            io_timeout=args.io_timeout,
            compress=args.compress,
        )
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(report, line_safe(sys.stdout))
    if not report.ok:
        sys.stderr.write(
            f"{PROG} sync: {report.failed} file(s) could not be written (each says why in the"
            " report); none was half-written: fix the cause and run the sync again\n"
        )
    return EXIT_OK if report.ok else EXIT_FAILED


def _cmd_status(args: argparse.Namespace) -> int:
    local_config = _local_config()
    not_woken = f"status never starts one; `{PROG} sync --codespace {args.codespace}` does"
    target = _target(args, local_config, wake=not_woken)
    transport = target.transport
    request = _request(args, local_config, target, dry_run=True)
    found = survey(request, transport, io_timeout=args.io_timeout)
    status = status_rows(found.local, found.remote, found.plan)
    rows = [row.to_json() for row in status]
    # A file that cannot be read is a failure to report, here as in a sync.
    code = EXIT_FAILED if any(row.failed for row in status) else EXIT_OK
    if args.json:
        json.dump(
            {"local": found.local.config_dir, "remote": transport.description, "sessions": rows},
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return code
    print_status_table(
        f"{found.local.project_path}: here vs {transport.description}", rows, sys.stdout
    )
    if not rows:
        sys.stdout.write(f"no recent sessions of {found.local.project_path} on either side\n")
    return code


def _cmd_backups(args: argparse.Namespace) -> int:
    if args.dir is not None or args.host is not None or args.codespace is not None:
        return _remote_backups(args)
    config = Path(args.config_dir).expanduser() if args.config_dir else _local_config()
    if args.config_dir and not config.is_dir():
        raise UsageError(f"--config-dir {args.config_dir}: no such directory")
    if args.backups_command == "restore":
        try:
            results = restore_backup(str(config), args.backup_id, args.file)
        except Refusal as exc:
            raise UsageError(str(exc)) from None
        return _restored(args, [dict(r) for r in results])
    sets = list_backups(str(config))
    if args.json:
        backups_cli.write_json({"backups": sets}, sys.stdout)
    else:
        backups_cli.print_sets(
            sets, f"no backups in {config / 'session-sync' / 'backups'}", sys.stdout
        )
    return EXIT_OK


def _remote_backups(args: argparse.Namespace) -> int:
    """The other machine's backups, listed or restored over one agent connection."""
    from session_sync.transports.connection import AgentConnection

    if args.config_dir:
        raise UsageError(
            "--config-dir names this machine's config dir; not with --dir/--host/--codespace"
        )
    restoring = args.backups_command == "restore"
    # Listing is looking, like status: it never starts a shut-down codespace.
    not_woken = None if restoring else "listing backups never starts one; a restore does"
    transport = _target(args, _local_config(), wake=not_woken).transport
    where = transport.description
    connection = AgentConnection(transport)
    try:
        sets = backups_cli.remote_sets(connection)
        if restoring:
            backups_cli.check_restorable(sets, args.backup_id, where)
            results = backups_cli.remote_restore(connection, args.backup_id, args.file)
    finally:
        connection.close()
    if restoring:
        return _restored(args, results)
    if args.json:
        backups_cli.write_json({"machine": where, "backups": sets}, sys.stdout)
    else:
        backups_cli.print_sets(sets, f"no backups on {where}", line_safe(sys.stdout))
    return EXIT_OK


def _restored(args: argparse.Namespace, results: list[dict[str, Any]]) -> int:
    if args.file is not None and not results:
        raise UsageError(f"backup set {args.backup_id} holds no file {args.file}")
    if args.json:
        backups_cli.write_json({"restored": results}, sys.stdout)
    else:
        backups_cli.print_restored(results, line_safe(sys.stdout))
    return EXIT_OK if all(r.get("ok") for r in results) else EXIT_FAILED


def _cmd_demo(args: argparse.Namespace) -> int:
    from session_sync.demo import run_demo

    return run_demo(Path(args.keep) if args.keep else None, json_output=args.json, out=sys.stdout)


COMMANDS = {
    "sync": _cmd_sync,
    "status": _cmd_status,
    "backups": _cmd_backups,
    "demo": _cmd_demo,
    **handoff_cli.COMMANDS,
    **resume_cli.COMMANDS,
    "checkpoint": checkpoints_cli.cmd_checkpoint,
    "checkpoints": checkpoints_cli.cmd_checkpoints,
    "learnings": learnings_cli.cmd_learnings,
    "skill": learnings_cli.cmd_skill,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    log_to_stderr(PROG)
    set_verbosity(args.verbose)
    return exit_status(f"{PROG} {args.command}", lambda: COMMANDS[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
