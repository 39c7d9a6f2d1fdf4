"""Last-message times of transcripts.

The scan back from the end lives in the agent (it runs on every machine); this
module parses what it finds into timezone-aware times: the ISO forms Claude
writes (``2026-01-01T00:00:00.123Z``) with ``datetime.fromisoformat`` (about
1 µs), anything else with python-dateutil (about 47 µs, imported only then).
Times are never compared as strings.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Iterable

from session_sync.agent.transcript import complete_size, tail_timestamps

__all__ = ["last_message_time", "latest_timestamp", "parse_timestamp"]


def parse_timestamp(value: str) -> dt.datetime | None:
    """An aware datetime for an ISO-8601 timestamp; naive times count as UTC.

    None for text that is not a time (a malformed line is skipped, never fatal).
    """
    parsed = _fast_parse(value) if isinstance(value, str) else None
    if parsed is None:
        from dateutil import parser as date_parser

        try:
            parsed = date_parser.isoparse(value)
        except (ValueError, OverflowError, TypeError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed


# Date, "T", time to the second, a fraction, then Z or an offset: what Claude writes.
_COMMON_ISO = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})?",
    re.ASCII,
)


_READS_COMMON_ISO = sys.version_info >= (3, 11)
"""Python 3.11's ``fromisoformat`` reads the common form as written."""


def _fast_parse(value: str) -> dt.datetime | None:
    """``value`` in the common form, by ``fromisoformat`` (None: not that form, so
    dateutil decides). The fraction is padded to 6 digits and ``Z`` spelled
    ``+00:00``: Python 3.10's ``fromisoformat`` takes neither as written."""
    match = _COMMON_ISO.fullmatch(value)
    if match is None:
        return None
    if _READS_COMMON_ISO:
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    seconds, fraction, zone = match.groups()
    text = seconds + ("." + fraction.ljust(6, "0") if fraction else "")
    text += "+00:00" if zone in (None, "Z") else zone
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:  # 2026-02-30, 25:00: dateutil says no in its own words
        return None


def latest_timestamp(values: Iterable[str]) -> dt.datetime | None:
    """The latest of the timestamps that parse, or None."""
    parsed = [t for t in (parse_timestamp(v) for v in values) if t is not None]
    return max(parsed, default=None)


def last_message_time(path: str | os.PathLike[str]) -> dt.datetime | None:
    """The time of the last message of a transcript.

    The latest ``timestamp`` (top level, or ``snapshot.timestamp``) scanning
    back from the end over complete lines only; a partly written last line is
    ignored. Reads blocks from the end, never the whole file.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        end = complete_size(fh, size)
        stamps, _malformed = tail_timestamps(fh, end)
    return latest_timestamp(stamps)
