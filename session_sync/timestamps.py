"""Last-message times of transcripts.

The scan back from the end lives in the agent (it runs on every machine); this
module parses what it finds with python-dateutil, into timezone-aware times.
Times are never compared as strings.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable

from dateutil import parser as date_parser

from session_sync.agent.transcript import complete_size, tail_timestamps

__all__ = ["last_message_time", "latest_timestamp", "parse_timestamp"]


def parse_timestamp(value: str) -> dt.datetime | None:
    """An aware datetime for an ISO-8601 timestamp; naive times count as UTC.

    None for text that is not a time (a malformed line is skipped, never fatal).
    """
    try:
        parsed = date_parser.isoparse(value)
    except (ValueError, OverflowError, TypeError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed


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
