"""The fake gh's entry point: ``main`` and ``Gh``, which dispatches to the subcommands.

The ``gh`` wrapper that ``install_fake_gh`` writes runs ``main`` under
``python -I -S`` (no site-packages, so quick to start), with this package
imported under its bare name ``fake_gh``: nothing of ``session_sync`` is
imported. Standard library only, Python 3.8+.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .args import GhExit
from .codespace_cmds import CodespaceCommands
from .ssh_cmd import SshCommand
from .state import STATE_ENV, append_log

__all__ = ["AUTH_HELP", "EXIT_AUTH", "Gh", "main"]

# What `gh` prints when no one is logged in (cli/cli cmd/gh: authHelp), exit status 4.
AUTH_HELP = (
    "To get started with GitHub CLI, please run:  gh auth login\n"
    "Alternatively, populate the GH_TOKEN environment variable with a GitHub API"
    " authentication token.\n"
)
EXIT_AUTH = 4
"""The exit status of a gh call made while no one is logged in."""


class Gh(CodespaceCommands, SshCommand):
    """One invocation of the fake gh."""

    # -- dispatch

    def run(self, argv: list[str]) -> int:
        if argv[:1] in (["--version"], ["version"]):
            self.out("gh version 2.63.0 (fake session-sync sandbox)\n")
            return 0
        if not self.state.get("logged_in", True):
            if self.state.get("hang_when_logged_out"):
                while True:  # like a gh stuck waiting for credentials: until killed
                    time.sleep(3600)
            if argv[:1] == ["auth"]:
                raise GhExit(
                    1, "You are not logged into any GitHub hosts. To log in, run: gh auth login"
                )
            sys.stderr.write(AUTH_HELP)
            return EXIT_AUTH
        if not argv:
            raise GhExit(1, "usage: gh <command> <subcommand> [flags] (fake gh)")
        command, rest = argv[0], argv[1:]
        if command == "auth" and rest[:1] == ["status"]:
            return self.auth_status()
        if command in ("codespace", "cs"):
            if not rest:
                raise GhExit(1, 'usage: gh codespace <command> (fake gh: no "help")')
            sub, args = rest[0], rest[1:]
            handler = {
                "list": self.cs_list,
                "ls": self.cs_list,
                "ssh": self.cs_ssh,
                "create": self.cs_create,
                "delete": self.cs_delete,
                "stop": self.cs_stop,
            }.get(sub)
            if handler is None:
                raise GhExit(1, f'unknown command "{sub}" for "gh codespace"')
            return handler(args)
        raise GhExit(1, f'unknown command "{command}" for "gh"')

    # -- gh auth status

    def auth_status(self) -> int:
        user = self.state.get("ssh_user") or "sandbox"
        self.out(
            "github.com\n"
            f"  \u2713 Logged in to github.com account {user} (GH_TOKEN)\n"
            "  - Active account: true\n"
            "  - Git operations protocol: https\n"
            "  - Token: gho_************************************\n"
            "  - Token scopes: 'codespace', 'gist', 'read:org', 'repo'\n"
        )
        return 0


def main(argv: list[str] | None = None) -> int:
    """Run the fake gh on ``argv`` (default: the command line); returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    state_path = os.environ.get(STATE_ENV)
    if not state_path:
        sys.stderr.write(f"fake gh: {STATE_ENV} is not set\n")
        return 1
    try:
        gh = Gh(Path(state_path))
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"fake gh: cannot read the state {state_path}: {exc}\n")
        return 1
    append_log(gh.state["log"], {"argv": args, "time": time.time(), "pid": os.getpid()})
    delay = float(gh.state.get("delay") or 0.0)
    if delay > 0:
        time.sleep(delay)
    try:
        return gh.run(args)
    except GhExit as exc:
        if exc.message:
            sys.stderr.write(exc.message.rstrip("\n") + "\n")
        return exc.code
