"""``session-sync status``'s table, as wide as the terminal (80 columns off one).

The session id is never cut: it is what ``claude --resume`` takes. Times are
shown to the minute in UTC; the sizes are left out of a terminal too narrow for
them (``--json`` has everything).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from session_sync.model.report import human_bytes
from session_sync.terminal import printable
from session_sync.timestamps import parse_timestamp

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["minute", "plain_table", "print_status_table"]

# Wide enough for the sizes too. Without them a row takes 79 columns: the id 36, the
# state 15, two times of 11, and the gaps.
_WIDTH_FOR_SIZES = 100


def minute(stamp: str | None) -> str:
    """An ISO time as ``12-02 04:24`` (UTC, to the minute), or ``-``."""
    moment = parse_timestamp(stamp) if stamp else None
    if moment is None:
        return stamp or "-"
    return moment.astimezone(dt.timezone.utc).strftime("%m-%d %H:%M")


def _size(size: int | None) -> str:
    return human_bytes(size) if size is not None else "-"


def plain_table(title: str) -> Table:
    """A table with ``title`` (escaped) and no box: its separators would cost a
    column each; 2 spaces part the columns."""
    from rich.table import Table
    from rich.text import Text

    return Table(
        title=Text(printable(title)),
        box=None,
        padding=(0, 1),
        pad_edge=False,
        header_style="bold underline",
    )


def print_status_table(title: str, rows: Sequence[dict[str, Any]], out: TextIO) -> None:
    """The rows of ``status`` (``StatusRow.to_json()``) as a table on ``out``."""
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out)  # COLUMNS, the terminal's width, else 80
    sizes = console.width >= _WIDTH_FOR_SIZES
    table = plain_table(f"{title} (times in UTC)")
    table.add_column("session", no_wrap=True)
    table.add_column("state", no_wrap=True)  # 15 at most
    table.add_column("last here", no_wrap=True)
    table.add_column("last there", no_wrap=True)
    if sizes:
        table.add_column("size here", no_wrap=True, justify="right")
        table.add_column("size there", no_wrap=True, justify="right")
    for row in rows:
        cells = [
            row["session"],
            row["state"],
            minute(row["local_last_message"]),
            minute(row["remote_last_message"]),
        ]
        if sizes:
            cells += [_size(row["local_size"]), _size(row["remote_size"])]
        # Text, not markup: a far side's "[red]..." in a session id stays as it is.
        table.add_row(*(Text(printable(cell)) for cell in cells))
    console.print(table)
