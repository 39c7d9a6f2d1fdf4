"""What the command lines share: exit codes, one-line errors, number flags, the
transfer progress bar, and the one place our exceptions become exit statuses.
Error and warning lines may carry the other machine's words: they are printed
``printable`` (``session_sync.terminal``).

Exit codes: 0 all went well (skips included), 1 a file, gh or the connection
failed, 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NoReturn

from session_sync.errors import SessionSyncError, UsageError
from session_sync.terminal import printable
from session_sync.transports.watchdog import DEFAULT_IO_TIMEOUT

if TYPE_CHECKING:
    from session_sync.engine import ProgressCallback

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "OneLineErrorParser",
    "add_io_timeout",
    "exit_status",
    "log_to_stderr",
    "positive_integer",
    "positive_number",
    "transfer_progress",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def positive_number(unit: str = "") -> Callable[[str], float]:
    """An argparse ``type``: a finite number above zero (``unit``: e.g. " of seconds")."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"takes a positive number{unit}, not {text!r}")
        return value

    return parse


def add_io_timeout(
    parser: argparse.ArgumentParser, default: float | None = DEFAULT_IO_TIMEOUT
) -> None:
    """``--io-timeout SECONDS``, the same for ``session-sync`` and the bin/ commands
    (``default`` None: the config file's, filled in after parsing)."""
    parser.add_argument(
        "--io-timeout",
        type=positive_number(" of seconds"),
        default=default,
        metavar="SECONDS",
        help=(
            "give up on the other machine when, once its agent is running, it sends (or"
            " takes) no whole message or full 1 MiB of file data for this long (default: 60,"
            " or io_timeout = in the config file)"
        ),
    )


def positive_integer(text: str) -> int:
    """An argparse ``type``: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number above 0, not {text!r}")
    return value


@contextlib.contextmanager
def transfer_progress(show: bool) -> Iterator[ProgressCallback | None]:
    """A rich progress bar on stderr while the block runs, when ``show`` and stderr is
    a terminal; yields the engine's progress callback (None: no bar)."""
    if not show or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
        console=Console(file=sys.stderr),
    )
    with bar:
        task = bar.add_task("scanning both sides", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, description="transferring", completed=done, total=total)

        yield progress


class _StderrHandler(logging.Handler):
    """Our warnings (connection retries, route fallbacks) as ``PROG: ...`` lines."""

    def __init__(self, prog: str, level: int) -> None:
        super().__init__(level)
        self.prog = prog

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"{self.prog}: {printable(record.getMessage())}\n")
        sys.stderr.flush()


def log_to_stderr(prog: str) -> None:
    """Show the library's warnings on stderr as one ``PROG: message`` line each."""
    log = logging.getLogger("session_sync")
    for handler in [h for h in log.handlers if isinstance(h, _StderrHandler)]:
        log.removeHandler(handler)
    log.addHandler(_StderrHandler(prog, logging.WARNING))
    log.setLevel(logging.WARNING)
    log.propagate = False
    # paramiko logs every failed handshake with a traceback; our message says it in one line.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)


def exit_status(label: str, call: Callable[[], int]) -> int:
    """``call()``'s exit status, with our errors as one ``label: message`` line each:
    2 for bad usage, 1 for anything else that stopped it, 130 for Ctrl-C."""
    try:
        return call()
    except BrokenPipeError:
        raise  # the reader of stdout left (`| head`): entry.main ends quietly
    except UsageError as exc:
        sys.stderr.write(f"{label}: {printable(str(exc))}\n")
        return EXIT_USAGE
    except SessionSyncError as exc:
        sys.stderr.write(f"{label}: {printable(str(exc))}\n")
        return EXIT_FAILED
    except OSError as exc:  # this machine's own files: a log dir, a lock, a config dir
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"{label}: {printable(f'{exc.strerror or exc}{where}')}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        sys.stderr.write(f"{label}: interrupted; files not yet replaced are unchanged\n")
        return EXIT_INTERRUPTED
