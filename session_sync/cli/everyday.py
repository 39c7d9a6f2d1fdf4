"""What people expect of any command line: ``--version``, ``-v/--verbose``, and a
quiet end when the reader of stdout has gone (``session-sync status ... | head -1``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from session_sync.cli.vocabulary import add_flag

__all__ = [
    "VersionAction",
    "add_everyday_flags",
    "add_verbose_to_subcommands",
    "quiet_on_closed_pipe",
    "set_verbosity",
]


class VersionAction(argparse.Action):
    """``--version``: prints the installed package's version; looked up only when asked
    (importlib.metadata costs 20-50 ms that ``--help`` should not pay)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        import session_sync

        sys.stdout.write(f"{parser.prog} {session_sync.__version__}\n")
        parser.exit()


def add_everyday_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--version`` and ``-v/--verbose`` to a command's top-level parser."""
    parser.add_argument("--version", action=VersionAction, help="print the version and exit")
    add_flag(parser, "--verbose")


def add_verbose_to_subcommands(parser: argparse.ArgumentParser) -> None:
    """Accept ``-v/--verbose`` after any subcommand too (``session-sync sync -v``), as
    people type it. Absent unless given there (``SUPPRESS``), so it never undoes a ``-v``
    given before the subcommand."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for subparser in dict.fromkeys(action.choices.values()):
            taken = subparser._option_string_actions
            if "-v" not in taken and "--verbose" not in taken:
                add_flag(subparser, "--verbose", default=argparse.SUPPRESS)
            add_verbose_to_subcommands(subparser)


def set_verbosity(verbose: bool) -> None:
    """With ``--verbose``, let the library's debug lines through to the stderr handler."""
    if verbose:
        log = logging.getLogger("session_sync")
        log.setLevel(logging.DEBUG)
        for handler in log.handlers:
            handler.setLevel(logging.DEBUG)


def quiet_on_closed_pipe(call: Callable[[], int]) -> int:
    """``call()``'s status; when stdout's reader has closed the pipe, exit 0 quietly.

    The reader (``| head``) asked for no more, which is not a failure of ours: no
    traceback, no "Broken pipe" line. stdout is pointed at /dev/null so that the
    interpreter's final flush does not raise again.
    """
    try:
        status = call()
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    return status
