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
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from session_sync.agent.paths import claude_config_dir
from session_sync.cli import backups as backups_cli
from session_sync.cli import checkpoints as checkpoints_cli
from session_sync.cli import completion as completion_cli
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
from session_sync.cli.settings import cmd_config
from session_sync.cli.vocabulary import remote_path as remote_path_flag
from session_sync.errors import UsageError
from session_sync.model.pairing import TargetKind, mapped_path
from session_sync.terminal import line_safe

# The sync's own modules are imported by the commands that use them, not here:
# --help, and a command that needs none of them, start without paying for them.
if TYPE_CHECKING:
    from session_sync.engine import SyncRequest
    from session_sync.transports.base import Transport

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
        from session_sync.projects import same_place_under_remote_home
        from session_sync.transports.ssh import SshTransport

        if not args.host.strip() or args.host.startswith("-"):
            raise UsageError(f"--host {args.host!r} is not a host name")
        return _Target(
            SshTransport(args.host, python=args.remote_python), same_place_under_remote_home
        )
    if args.codespace is not None:
        from session_sync.github.gh import GhCli
        from session_sync.github.ssh_cache import SshConfigCache, default_cache_dir
        from session_sync.transports.codespace import CodespaceTransport

        gh = GhCli(timeout=getattr(args, "gh_timeout", 60.0))
        codespace = gh.find(args.codespace)
        # The transport reads the state again right before it connects (this list
        # stands in for the first read, being fresh), and starts a shut-down
        # codespace only for a sync that named it.
        transport = CodespaceTransport(
            codespace.name,
            gh=gh,
            python=args.remote_python,
            route=getattr(args, "codespace_route", "auto"),
            wake=wake is None,
            notify=_notify,
            not_woken=wake or "",
            ssh_config_cache=SshConfigCache(default_cache_dir()),
            listed=codespace,
            listed_at=time.monotonic(),
        )
        workspace = codespace.workspace_path
        return _Target(transport, lambda _: workspace, codespace.repository or None)
    return _Target(_dir_transport(args, local_config), None)


def _dir_transport(args: argparse.Namespace, local_config: Path) -> Transport:
    from session_sync.transports.local import LocalProcessTransport

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
    from session_sync.projects import resolve_local_project

    project = resolve_local_project(local_config, args.local_path, args.repo or target.repo)
    mapped = mapped_path(project.path, getattr(args, "path_maps", {})) if project.path else None
    if args.remote_path:
        remote_path = remote_path_flag(args.remote_path, target.repo or project.repo)
    elif mapped is not None:
        remote_path = mapped  # the config file's path map for this host beats the rule
    elif target.remote_path_for is not None:
        remote_path = target.remote_path_for(project.path)
    else:
        remote_path = project.path
    return attrs.evolve(
        _request_options(args, local_config, dry_run=dry_run),
        local_path=project.path,
        remote_path=remote_path,
        repo=project.repo,
    )


def _request_options(args: argparse.Namespace, local_config: Path, *, dry_run: bool) -> SyncRequest:
    """A request with the flags' options and no project yet."""
    from session_sync.engine import SyncRequest
    from session_sync.model.reconcile import Direction, SyncPolicy

    direction = Direction.BOTH
    if getattr(args, "push", False):
        direction = Direction.PUSH
    elif getattr(args, "pull", False):
        direction = Direction.PULL
    return SyncRequest(
        local_config=local_config,
        local_path=None,
        remote_path=None,
        days=args.days,
        policy=SyncPolicy(direction=direction),
        dry_run=dry_run,
        paranoid=getattr(args, "paranoid", False),
        memory=not getattr(args, "no_memory", False),
        history=not getattr(args, "no_history", False),
    )


def _kind(args: argparse.Namespace) -> TargetKind:
    if args.host is not None:
        return TargetKind.HOST
    return TargetKind.CODESPACE if args.codespace is not None else TargetKind.DIR


def _every_project(args: argparse.Namespace, *, apply: bool, not_woken: str | None) -> int:
    """``sync --all`` / ``status --all``: every project, over one connection."""
    from session_sync.all_projects import all_projects
    from session_sync.cli import all_output

    given = [f for f in ("local_path", "repo", "remote_path") if getattr(args, f, None)]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise UsageError(f"--all takes every project; {flag} names one (drop one of them)")
    local_config = _local_config()
    target = _target(args, local_config, wake=not_woken)
    template = attrs.evolve(
        _request_options(args, local_config, dry_run=not apply or args.dry_run),
        local_path=None,
        remote_path=None,
    )
    with transfer_progress(apply and not args.json) as progress:
        found = all_projects(
            template,
            target.transport,
            kind=_kind(args),
            apply=apply,
            path_maps=getattr(args, "path_maps", None),
            compress=getattr(args, "compress", "auto"),
            codespace_repo=target.repo,
            progress=progress,
            io_timeout=args.io_timeout,
        )
    if args.json:
        json.dump(all_output.all_json(found), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif apply:
        all_output.print_all_synced(found, line_safe(sys.stdout))
    else:
        all_output.print_all_status(found, sys.stdout)  # each cell escaped
    return EXIT_FAILED if found.failed else EXIT_OK


def _cmd_sync(args: argparse.Namespace) -> int:
    from session_sync.engine import run_sync
    from session_sync.model.report_text import print_report

    local_config = _local_config()
    not_woken = (
        "a dry run never starts one; the sync without --dry-run does" if args.dry_run else None
    )
    if args.all:
        return _every_project(args, apply=True, not_woken=not_woken)
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
    from session_sync.cli.status_table import print_status_table
    from session_sync.engine import survey
    from session_sync.model.report import status_rows

    local_config = _local_config()
    not_woken = f"status never starts one; `{PROG} sync --codespace {args.codespace}` does"
    if args.all:
        return _every_project(args, apply=False, not_woken=not_woken)
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
    from session_sync.agent.backups import list_backups
    from session_sync.agent.protocol import Refusal
    from session_sync.agent.restore import restore_backup

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
    "config": cmd_config,
    **completion_cli.COMMANDS,
    "checkpoint": checkpoints_cli.cmd_checkpoint,
    "checkpoints": checkpoints_cli.cmd_checkpoints,
    "learnings": learnings_cli.cmd_learnings,
    "skill": learnings_cli.cmd_skill,
}


def _with_settings(args: argparse.Namespace) -> int:
    """Read the config file (not for the demo: it never touches your own setup; nor
    for completion: a broken file must not break every new shell), fill in the flags
    not given, run the command."""
    if args.command not in ("demo", "completion"):
        from session_sync.cli.settings import apply_settings
        from session_sync.config import load_settings

        apply_settings(args, load_settings())
    return COMMANDS[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    log_to_stderr(PROG)
    set_verbosity(args.verbose)
    return exit_status(f"{PROG} {args.command}", lambda: _with_settings(args))


if __name__ == "__main__":
    sys.exit(main())
