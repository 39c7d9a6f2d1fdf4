"""Text from the other machine, made safe to print on a terminal.

Session ids, file names, error messages, host names and paths in a report or
an error line may come from a far side that runs other people's code. Printed
as they are, an escape sequence could clear or retitle the terminal, a
carriage return or newline could forge a report line ("  ok  pull copy ...")
and a bidi override could make one name read as another. ``printable``
escapes every such character the way Python writes it in a string literal
(``\\x1b``, ``\\n``, ``\\u202e``), so what is shown is what is there.
``LineWriter`` is the boundary for reports: each ``write`` is one line.
"""

from __future__ import annotations

import re
from typing import TextIO, cast

__all__ = ["LineWriter", "line_safe", "printable"]

_UNSAFE = re.compile(
    "["
    "\x00-\x1f\x7f-\x9f"  # C0 and C1 controls (ESC, CR, LF, the one-byte CSI 0x9b...)
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides
    "\u2028\u2029"  # line and paragraph separators
    "\ud800-\udfff"  # lone surrogates: JSON allows them, stdout cannot encode them
    "]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with control, bidi and separator characters escaped (``\\x1b``...)."""
    return _UNSAFE.sub(_escape, text)


class LineWriter:
    """A text stream for reports: every ``write`` is one line, its text made
    ``printable`` and only its own final newline kept, so nothing in it can
    start another line."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, text: str) -> int:
        body, newline = (text[:-1], "\n") if text.endswith("\n") else (text, "")
        return self.out.write(printable(body) + newline)

    def flush(self) -> None:
        self.out.flush()


def line_safe(out: TextIO) -> TextIO:
    """``out`` behind a ``LineWriter``, for functions that write one line per call
    (``model.report_text.print_report``)."""
    return cast(TextIO, LineWriter(out))  # write() and flush() are all they use
