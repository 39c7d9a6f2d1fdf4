"""``session-sync handoff``, ``session-sync hook session-start`` and
``session-sync hooks install|uninstall``: their flags and their commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from session_sync.agent.paths import claude_config_dir
from session_sync.cli.common import EXIT_OK, positive_integer
from session_sync.cli.vocabulary import add_flag
from session_sync.errors import UsageError
from session_sync.terminal import line_safe

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add ``handoff``, ``hook`` and ``hooks`` to the ``session-sync`` subcommands."""
    handoff = sub.add_parser(
        "handoff",
        help="what recent sessions on every machine did, for a new session to start from",
        description=(
            "Print the project's handoff: a stable prefix (repository, default branch, the"
            " project's path on each machine, learnings, CLAUDE.md) and a delta of recent"
            " work from this machine's sessions, synced ones included (machine, last message,"
            " first and last prompt, open todos, last reply, the files edited with their"
            " state here). Saved under <config>/session-sync/handoff/<project dir>/ with"
            " its hashes, and one line added to handoff.metrics.log (its last 500 kept)."
        ),
    )
    handoff.add_argument(
        "--budget",
        type=positive_integer,
        default=None,
        metavar="BYTES",
        help="at most this many bytes of text, whole lines only (default: 4096)",
    )
    handoff.add_argument(
        "--detail",
        metavar="FILE",
        help="instead: every session on every machine that edited FILE, when, and its diff here",
    )
    handoff.add_argument(
        "--no-save", action="store_true", help="write nothing (no handoff files, no metrics line)"
    )
    add_flag(handoff, "--local-path")
    add_flag(handoff, "--repo")
    add_flag(handoff, "--json")

    hook = sub.add_parser(
        "hook",
        help="run as a Claude Code hook (see `hooks install`)",
        description=(
            "Run as a Claude Code hook, reading its JSON input on stdin. session-start prints"
            " the project's compact handoff, or nothing when it printed the same one last time"
            " for that project here. It never fails a session: on any error it prints nothing,"
            " one line on stderr, and exits 0."
        ),
    )
    hook.add_argument("event", choices=["session-start"], help="the hook event")

    hooks = sub.add_parser(
        "hooks",
        help="add or remove the session-start hook in Claude Code's settings.json",
        description=(
            "Add (install) or remove (uninstall) `session-sync hook session-start` as a"
            " SessionStart hook (new and cleared sessions) in <config>/settings.json, leaving"
            " every other setting and hook as it is. Idempotent; the old file is backed up"
            " under <config>/session-sync/settings-backups/ first; a malformed settings.json"
            " is refused, never overwritten."
        ),
    )
    hooks.add_argument("action", choices=["install", "uninstall"])
    add_flag(hooks, "--config-dir")
    add_flag(hooks, "--dry-run")
    add_flag(hooks, "--json")


def _project(args: argparse.Namespace, config: str) -> tuple[str, str | None]:
    from session_sync.agent.paths import normalize_github_repo
    from session_sync.projects import resolve_local_project

    found = resolve_local_project(Path(config), args.local_path, args.repo)
    return found.path, normalize_github_repo(found.repo) or found.repo


def _cmd_handoff(args: argparse.Namespace) -> int:
    from session_sync.handoff.handoff import canonical
    from session_sync.handoff.render import DEFAULT_BUDGET
    from session_sync.handoff.service import build

    config = claude_config_dir()
    project, repo = _project(args, config)
    if args.detail is not None:
        return _detail(args, config, project, repo)
    built = build(
        config, project, repo, budget=args.budget or DEFAULT_BUDGET, save=not args.no_save
    )
    if args.json:
        h = built.handoff
        out = {
            "prefix_hash": h.prefix_hash,
            "delta_hash": h.delta_hash,
            "combined_hash": h.combined_hash,
            "prefix": json.loads(canonical(h.prefix)),
            "delta": json.loads(canonical(h.delta)),
            "text": built.text,
            "saved": None if args.no_save else built.store.dir,
            "metrics": json.loads(canonical(built.metrics)),
        }
        json.dump(out, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        out_stream = line_safe(sys.stdout)
        for line in built.text.splitlines():
            out_stream.write(line + "\n")
    return EXIT_OK


def _detail(args: argparse.Namespace, config: str, project: str, repo: str | None) -> int:
    from session_sync.handoff.detail import file_detail, render_detail
    from session_sync.handoff.handoff import canonical

    detail = file_detail(config, project, repo, args.detail)
    if args.json:
        json.dump(json.loads(canonical(detail)), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        out_stream = line_safe(sys.stdout)
        for line in render_detail(detail):
            out_stream.write(line + "\n")
    return EXIT_OK


def _cmd_hook(args: argparse.Namespace) -> int:
    from session_sync.handoff.hook import run_session_start

    return run_session_start()


def _cmd_hooks(args: argparse.Namespace) -> int:
    from session_sync.handoff.settings import install_hook, uninstall_hook

    config = os.path.abspath(os.path.expanduser(args.config_dir or claude_config_dir()))
    if args.config_dir and not os.path.isdir(config):
        raise UsageError(f"--config-dir {args.config_dir}: no such directory")
    if args.action == "install":
        result = install_hook(config, dry_run=args.dry_run)
    else:
        result = uninstall_hook(config, dry_run=args.dry_run)
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return EXIT_OK
    would = "would be " if result.dry_run else ""
    if args.action == "install":
        what = f"hook {would}installed" if result.changed else "hook already installed"
    else:
        what = f"hook {would}removed" if result.changed else "no session-sync hook there"
    line = f"{what}: {result.settings}"
    if result.command:
        line += f" (runs {result.command})"
    if result.backup:
        line += f"; old file backed up to {result.backup}"
    line_safe(sys.stdout).write(line + "\n")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "handoff": _cmd_handoff,
    "hook": _cmd_hook,
    "hooks": _cmd_hooks,
}
