"""``session-sync learnings`` and ``session-sync skill install``: their flags and
the functions ``cli.app`` runs for them."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from session_sync.agent.paths import claude_config_dir
from session_sync.cli.common import EXIT_FAILED, EXIT_OK, positive_integer, positive_number
from session_sync.cli.vocabulary import add_flag
from session_sync.errors import UsageError
from session_sync.learnings.llm import (
    DEFAULT_CALL_CHARS,
    DEFAULT_LLM,
    DEFAULT_LLM_TIMEOUT,
    DEFAULT_MAX_CALLS,
)
from session_sync.terminal import line_safe, printable

# The learnings' own modules are imported by the commands, not by --help.
if TYPE_CHECKING:
    from session_sync.learnings.run import LearningsOptions, LearningsResult

__all__ = ["SKILL_UNCHANGED", "SKILL_WROTE", "add_parsers", "cmd_learnings", "cmd_skill"]

SKILL_WROTE = "wrote"
"""First word of ``skill install``'s line when it wrote the file (the role looks for it)."""
SKILL_UNCHANGED = "unchanged"


def add_parsers(sub: Any) -> None:
    """Add ``learnings`` and ``skill`` to the subcommands ``sub``."""
    learn = sub.add_parser(
        "learnings",
        help="extract learnings from this project's recent sessions into .claude/learnings.md",
        description=(
            "Read the turns of this project's sessions on this machine that no run has read"
            " (the first run: sessions of the last --days; sessions open in Claude are"
            " skipped), ask an LLM for the learnings, scan its answer for secrets, append the"
            " new ones to .claude/learnings.md under today's date and this machine, make sure"
            " .claude/CLAUDE.md tells Claude to read it, commit those two files only, and push."
        ),
        epilog=(
            "Exit status: 0 done (also: no new learnings), 1 the LLM, a secret, git or the push"
            " stopped it (a failed push keeps the commit), 2 bad usage."
        ),
    )
    add_flag(learn, "--days", default=7.0)
    add_flag(learn, "--dry-run")
    learn.add_argument("--no-push", action="store_true", help="commit, but do not push")
    learn.add_argument(
        "--llm",
        metavar="CMD",
        default=None,
        help=(
            "the LLM command: prompt on stdin, answer on stdout (default: [learnings] command"
            f" in the config, else {DEFAULT_LLM})"
        ),
    )
    learn.add_argument(
        "--llm-timeout",
        type=positive_number(" of seconds"),
        default=DEFAULT_LLM_TIMEOUT,
        metavar="SECONDS",
        help=f"give up on an LLM call after this long (default: {DEFAULT_LLM_TIMEOUT:g})",
    )
    learn.add_argument(
        "-m",
        "--machine",
        metavar="NAME",
        help="this machine's name in the heading (default: the codespace's name, or the host name)",
    )
    learn.add_argument(
        "--call-chars",
        type=positive_integer,
        default=DEFAULT_CALL_CHARS,
        metavar="N",
        help=f"characters of conversation per LLM call (default: {DEFAULT_CALL_CHARS})",
    )
    learn.add_argument(
        "--max-calls",
        type=positive_integer,
        default=DEFAULT_MAX_CALLS,
        metavar="N",
        help=(
            f"LLM calls per run at most (default: {DEFAULT_MAX_CALLS}); older turns beyond them"
            " are not sent, by this run or a later one (they count as read)"
        ),
    )
    add_flag(learn, "--json")

    skill = sub.add_parser(
        "skill",
        help="install Claude Code's /context-sync skill (it runs session-sync learnings)",
        description="Manage the /context-sync skill in <config>/skills/context-sync/SKILL.md.",
    )
    ssub = skill.add_subparsers(dest="skill_command", metavar="ACTION", required=True)
    install = ssub.add_parser(
        "install",
        help="write the skill (unchanged when it is already there; an edited one is backed up)",
        description=(
            "Write <config>/skills/context-sync/SKILL.md. Prints 'wrote PATH' or"
            " 'unchanged PATH'. A different copy already there is kept beside it as"
            " SKILL.md.<time>.bak."
        ),
    )
    add_flag(install, "--config-dir")
    add_flag(install, "--dry-run")


def _progress(message: str) -> None:
    sys.stderr.write(f"session-sync learnings: {printable(message)}\n")
    sys.stderr.flush()


def cmd_learnings(args: argparse.Namespace) -> int:
    """Run ``session-sync learnings``."""
    from session_sync.learnings.run import (
        LearningsOptions,
        default_machine,
        run_learnings,
        valid_machine,
    )
    from session_sync.projects import git_toplevel

    checkout = git_toplevel(".")
    if checkout is None:
        raise UsageError("not inside a git checkout: run it in the project's checkout")
    options = LearningsOptions(
        config=Path(claude_config_dir()),
        checkout=Path(checkout),
        today=datetime.date.today().isoformat(),
        now=time.time(),
        machine=valid_machine(args.machine) if args.machine else default_machine(),
        days=args.days,
        dry_run=args.dry_run,
        push=not args.no_push,
        llm=args.llm,
        llm_timeout=args.llm_timeout,
        call_chars=args.call_chars,
        max_calls=args.max_calls,
    )
    result = run_learnings(options, _progress)
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_result(result, options)
    if result.secrets:
        sys.stderr.write(
            "session-sync learnings: the LLM's answer holds what looks like a secret (the"
            f" {len(result.secrets)} line(s) "
            + ('in "secrets"' if args.json else "above")
            + ", masked); nothing was written and no session"
            " was marked read. Run again (the answer differs each time) or with --dry-run to"
            " review; to keep a learning, write it into .claude/learnings.md yourself without"
            " the value\n"
        )
        return EXIT_FAILED
    if result.push_error:
        sys.stderr.write(
            f"session-sync learnings: {printable(result.push_error)}; the commit"
            f" {result.commit} is kept"
            + ("" if "git pull" in result.push_error else ": push it with git push")
            + "\n"
        )
        return EXIT_FAILED
    return EXIT_OK


def _print_result(result: LearningsResult, options: LearningsOptions) -> None:
    from session_sync.learnings.persist import LEARNINGS_MD
    from session_sync.learnings.prompt import NO_LEARNINGS

    out = line_safe(sys.stdout)
    for hit in result.secrets:
        sys.stderr.write(f"  line {hit.line_number} ({hit.rule}): {printable(hit.masked_line)}\n")
    if result.secrets:
        return
    if result.skipped_open:
        out.write(f"skipped {len(result.skipped_open)} session(s) open in Claude\n")
    if result.dropped_turns:
        out.write(
            f"{result.dropped_turns} older turn(s) over the budget were not sent"
            " (nor will be: they count as read)\n"
        )
    if not result.turns:
        out.write("No new turns to read since the last run: nothing to do.\n")
        return
    if not result.new:
        already = (
            f" (all {len(result.learnings)} already in {LEARNINGS_MD})" if result.learnings else ""
        )
        out.write(f"{NO_LEARNINGS}{already} Nothing written.\n")
        return
    title = "would add" if options.dry_run else "added"
    out.write(f"{title} {len(result.new)} learning(s) to {LEARNINGS_MD}:\n")
    for bullet in result.new:
        out.write(f"- {bullet}\n")
    if options.dry_run:
        out.write("dry run: nothing written, committed or marked read\n")
        return
    if result.commit:
        pushed = " and pushed" if result.pushed else ""
        out.write(f"committed {result.commit[:12]}{pushed}\n")


def cmd_skill(args: argparse.Namespace) -> int:
    """Run ``session-sync skill install``."""
    from session_sync.learnings.skill import install_skill

    config = Path(args.config_dir).expanduser() if args.config_dir else Path(claude_config_dir())
    done = install_skill(config, dry_run=args.dry_run)
    word = SKILL_WROTE if done.changed else SKILL_UNCHANGED
    if args.dry_run and done.changed:
        word = "would write"
    kept = f" (the earlier copy kept as {done.backup})" if done.backup else ""
    sys.stdout.write(f"{word} {printable(str(done.path))}{printable(kept)}\n")
    return EXIT_OK
