"""The ``session-sync`` executable's first step: ``hook session-start`` goes
straight to the hook, everything else to the full command line.

Claude Code runs the hook at the start of every session, so its path stays
light: this module imports nothing of the sync (the engine, cattrs models,
paramiko, rich) before it knows which it is. Any other command, ``--help``
included, is ``session_sync.cli.app.main``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``session-sync``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["hook", "session-start"]:
        try:
            from session_sync.handoff.hook import run_session_start
        except BaseException as exc:  # a broken install must not fail every session start
            message = " ".join(str(exc).split())[:300] or type(exc).__name__
            sys.stderr.write(f"session-sync hook session-start: {message!a}\n")
            return 0
        return run_session_start()
    from session_sync.cli.app import main as full_main
    from session_sync.cli.everyday import quiet_on_closed_pipe

    return quiet_on_closed_pipe(lambda: full_main(args))


if __name__ == "__main__":
    sys.exit(main())
