"""Tests for last-message times: ``tail_timestamps`` and ``timestamps``."""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from session_sync.agent.transcript import TAIL_BLOCK, complete_size, tail_timestamps
from session_sync.timestamps import last_message_time, latest_timestamp, parse_timestamp

UTC = dt.timezone.utc


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _user(ts: str, text: str = "hello") -> bytes:
    return _line({"type": "user", "uuid": "u", "timestamp": ts, "message": {"content": text}})


def _snapshot(ts: str) -> bytes:
    return _line({"type": "file-history-snapshot", "snapshot": {"timestamp": ts, "files": {}}})


LAST_PROMPT = _line({"type": "last-prompt", "lastPrompt": "continue"})
COST_STATE = _line({"type": "cost-state", "costUSD": 0.12})


def _write(tmp_path: Path, data: bytes, name: str = "s.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _at(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value.tzinfo is not None
    return value


def _tail(data: bytes) -> tuple[list[str], int]:
    fh = io.BytesIO(data)
    return tail_timestamps(fh, complete_size(fh, len(data)))


# --------------------------------------------------------------------------
# parse_timestamp / latest_timestamp


def test_parse_timestamp_is_aware() -> None:
    parsed = parse_timestamp("2026-11-22T03:27:26.866Z")
    assert parsed == dt.datetime(2026, 11, 22, 3, 27, 26, 866000, tzinfo=UTC)
    assert parsed is not None
    assert parsed.tzinfo is not None


def test_parse_timestamp_naive_counts_as_utc() -> None:
    assert parse_timestamp("2026-01-01T00:00:00") == dt.datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-45T99:00:00Z", "{}"])
def test_parse_timestamp_rejects_non_times(text: str) -> None:
    assert parse_timestamp(text) is None


def test_latest_timestamp_compares_instants_not_strings() -> None:
    values = ["2026-01-01T10:00:00+02:00", "2026-01-01T09:00:00Z", "garbage"]
    assert latest_timestamp(values) == _at("2026-01-01T09:00:00Z")
    assert latest_timestamp([]) is None
    assert latest_timestamp(["garbage"]) is None


# --------------------------------------------------------------------------
# last_message_time on files


def test_returns_an_aware_datetime(tmp_path: Path) -> None:
    path = _write(tmp_path, _user("2026-11-22T03:27:26.866Z"))
    result = last_message_time(path)
    assert result is not None
    assert result.tzinfo is not None
    assert result == dt.datetime(2026, 11, 22, 3, 27, 26, 866000, tzinfo=UTC)


def test_accepts_str_path(tmp_path: Path) -> None:
    path = _write(tmp_path, _user("2026-11-22T03:27:26.866Z"))
    assert last_message_time(str(path)) == _at("2026-11-22T03:27:26.866Z")


def test_last_lines_without_timestamp_are_skipped(tmp_path: Path) -> None:
    data = (
        _user("2026-11-22T03:00:00.000Z")
        + _user("2026-11-22T03:27:26.866Z")
        + LAST_PROMPT
        + COST_STATE
    )
    assert last_message_time(_write(tmp_path, data)) == _at("2026-11-22T03:27:26.866Z")


def test_no_timestamp_at_all_is_none(tmp_path: Path) -> None:
    assert last_message_time(_write(tmp_path, LAST_PROMPT + COST_STATE)) is None
    assert last_message_time(_write(tmp_path, b"", "empty.jsonl")) is None


def test_snapshot_timestamp_after_the_last_message_counts(tmp_path: Path) -> None:
    data = (
        _user("2026-11-22T03:00:00.000Z")
        + _snapshot("2026-11-22T03:05:00.000Z")
        + LAST_PROMPT
        + COST_STATE
    )
    assert last_message_time(_write(tmp_path, data)) == _at("2026-11-22T03:05:00.000Z")


def test_only_snapshot_timestamps(tmp_path: Path) -> None:
    data = _snapshot("2026-11-22T01:00:00.000Z") + _snapshot("2026-11-22T02:00:00.000Z")
    assert last_message_time(_write(tmp_path, data)) == _at("2026-11-22T02:00:00.000Z")


def test_nested_timestamp_is_not_a_message_time(tmp_path: Path) -> None:
    data = _user("2026-11-22T03:00:00.000Z") + _line(
        {"type": "tools-used", "detail": {"timestamp": "2030-01-01T00:00:00Z"}}
    )
    assert last_message_time(_write(tmp_path, data)) == _at("2026-11-22T03:00:00.000Z")


def test_non_string_timestamp_is_not_a_message_time(tmp_path: Path) -> None:
    data = _user("2026-11-22T03:00:00.000Z") + _line({"type": "odd", "timestamp": 1795318261171})
    assert last_message_time(_write(tmp_path, data)) == _at("2026-11-22T03:00:00.000Z")


def test_partial_last_line_is_ignored_even_when_later(tmp_path: Path) -> None:
    complete = _user("2026-11-22T03:00:00.000Z") + COST_STATE
    partial = _user("2030-01-01T00:00:00.000Z").rstrip(b"\n")
    assert last_message_time(_write(tmp_path, complete + partial)) == _at(
        "2026-11-22T03:00:00.000Z"
    )
    cut = partial[: len(partial) // 2]
    assert last_message_time(_write(tmp_path, complete + cut, "cut.jsonl")) == _at(
        "2026-11-22T03:00:00.000Z"
    )


def test_single_partial_line_only_is_none(tmp_path: Path) -> None:
    data = _user("2030-01-01T00:00:00.000Z").rstrip(b"\n")
    assert last_message_time(_write(tmp_path, data)) is None


def test_malformed_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    data = (
        _user("2026-11-22T03:00:00.000Z")
        + b'{"type":"assistant","timestamp":"2030-01-01T00:00:00Z","mess\n'
        + b"not json at all\n"
        + b'["timestamp", "2030-01-01T00:00:00Z"]\n'
        + COST_STATE
    )
    assert last_message_time(_write(tmp_path, data)) == _at("2026-11-22T03:00:00.000Z")
    stamps, malformed = _tail(data)
    assert stamps == ["2026-11-22T03:00:00.000Z"]
    assert malformed == 3


def test_malformed_lines_before_the_last_message_are_not_counted() -> None:
    data = b"garbage\n" + _user("2026-11-22T03:00:00.000Z") + COST_STATE
    assert _tail(data) == (["2026-11-22T03:00:00.000Z"], 0)


def test_brace_delimited_non_json_line_is_counted_as_malformed() -> None:
    # Two objects glued on one line (e.g. two writers racing) are not JSON; the
    # agent's docstring says "a line that is not JSON must be counted as malformed".
    data = _user("2026-11-22T03:00:00.000Z") + b'{"type":"a"}{"type":"b"}\n' + COST_STATE
    stamps, malformed = _tail(data)
    assert stamps == ["2026-11-22T03:00:00.000Z"]
    assert malformed == 1


def test_unparseable_top_level_timestamp_is_skipped_like_a_malformed_line(
    tmp_path: Path,
) -> None:
    # parse_timestamp: "None for text that is not a time (a malformed line is
    # skipped, never fatal)". The earlier valid message time must still be found.
    data = (
        _user("2026-11-22T03:00:00.000Z")
        + _line({"type": "user", "timestamp": "not a time"})
        + COST_STATE
    )
    assert last_message_time(_write(tmp_path, data)) == _at("2026-11-22T03:00:00.000Z")


@pytest.mark.parametrize(
    ("top", "snap", "expected"),
    [
        # 10:00+02:00 is 08:00Z: EARLIER than 09:00Z although its string is larger.
        ("2026-01-01T09:00:00Z", "2026-01-01T10:00:00+02:00", "2026-01-01T09:00:00Z"),
        ("2026-01-01T10:00:00+02:00", "2026-01-01T09:00:00Z", "2026-01-01T09:00:00Z"),
        # 08:30-01:00 is 09:30Z: LATER than 09:00Z although its string is smaller.
        ("2026-01-01T09:00:00Z", "2026-01-01T08:30:00-01:00", "2026-01-01T09:30:00Z"),
        ("2026-01-01T09:00:00.999Z", "2026-01-01T09:00:00.5Z", "2026-01-01T09:00:00.999Z"),
    ],
)
def test_offsets_compare_as_instants(tmp_path: Path, top: str, snap: str, expected: str) -> None:
    data = _user(top) + _snapshot(snap) + COST_STATE
    result = last_message_time(_write(tmp_path, data))
    assert result == _at(expected)


def test_raw_line_separators_inside_strings_do_not_split_lines(tmp_path: Path) -> None:
    tricky = "a\u2028b\u2029c\u0085d\x0be\x0cf\x1cg\x1dh\x1ei"
    data = (
        _user("2026-11-22T03:00:00.000Z")
        + _line({"type": "assistant", "timestamp": "2026-11-22T04:00:00.000Z", "text": tricky})
        + _line({"type": "last-prompt", "lastPrompt": tricky})
        + COST_STATE
    )
    assert "\u2028".encode() in data
    assert last_message_time(_write(tmp_path, data)) == _at("2026-11-22T04:00:00.000Z")
    assert _tail(data) == (["2026-11-22T04:00:00.000Z"], 0)


def _exact_line(kind: str, length: int) -> bytes:
    """A no-timestamp line of exactly ``length`` bytes (newline included)."""
    skeleton = _line({"type": kind, "pad": ""})
    line = _line({"type": kind, "pad": "p" * (length - len(skeleton))})
    assert len(line) == length
    return line


def _straddling(shift: int, stamped_pad: int) -> tuple[bytes, int]:
    """A file with a timestamped line near the first 64 KiB block boundary.

    The boundary (at ``len(data) - TAIL_BLOCK``) falls ``shift`` bytes before the
    end of the timestamped line: ``shift > 0`` cuts the line, ``0`` is exactly at
    its end, negative values are inside the following line.
    """
    tail = LAST_PROMPT + COST_STATE
    head = _user("2026-11-22T01:00:00.000Z") + _exact_line("x", 100_000)
    stamped = _line(
        {"type": "assistant", "timestamp": "2026-11-22T05:00:00.000Z", "pad": "z" * stamped_pad}
    )
    padding = _exact_line("tools-used", TAIL_BLOCK - shift - len(tail))
    return head + stamped + padding + tail, len(head) + len(stamped)


@pytest.mark.parametrize(
    ("shift", "stamped_pad"),
    [
        (-3, 200),
        (-1, 200),
        (0, 200),
        (1, 200),
        (2, 200),
        (100, 200),
        (200, 200),
        (268, 200),
        (269, 200),  # the line's first byte
        (270, 200),
        (-1, TAIL_BLOCK + 5000),
        (0, TAIL_BLOCK + 5000),
        (1, TAIL_BLOCK + 5000),
        (5000, TAIL_BLOCK + 5000),
        (60000, TAIL_BLOCK + 5000),
    ],
)
def test_timestamped_line_straddling_a_block_boundary(
    tmp_path: Path, shift: int, stamped_pad: int
) -> None:
    data, end_of_stamped = _straddling(shift, stamped_pad)
    assert len(data) > TAIL_BLOCK
    assert len(data) - TAIL_BLOCK == end_of_stamped - shift
    assert last_message_time(_write(tmp_path, data)) == _at("2026-11-22T05:00:00.000Z")
    assert _tail(data) == (["2026-11-22T05:00:00.000Z"], 0)


def test_boundary_at_each_offset_of_a_short_stamped_line(tmp_path: Path) -> None:
    stamped_len = len(
        _line({"type": "assistant", "timestamp": "2026-11-22T05:00:00.000Z", "pad": "z" * 50})
    )
    for shift in range(-2, stamped_len + 3):
        data, _ = _straddling(shift, 50)
        assert _tail(data) == (["2026-11-22T05:00:00.000Z"], 0), shift


@pytest.mark.parametrize("size", [TAIL_BLOCK - 1, TAIL_BLOCK, TAIL_BLOCK + 1])
def test_long_last_line_without_timestamp(tmp_path: Path, size: int) -> None:
    # The last line alone is about one block: the scan must carry it over.
    start = _user("2026-11-22T02:00:00.000Z")
    skeleton = _line({"type": "last-prompt", "lastPrompt": ""})
    last = _line({"type": "last-prompt", "lastPrompt": "w" * (size - len(skeleton))})
    assert len(last) == size
    data = start + last
    assert last_message_time(_write(tmp_path, data)) == _at("2026-11-22T02:00:00.000Z")
    data3 = start + last + last + last
    assert _tail(data3) == (["2026-11-22T02:00:00.000Z"], 0)


def test_huge_partial_last_line(tmp_path: Path) -> None:
    complete = _user("2026-11-22T02:00:00.000Z")
    partial = b'{"type":"user","timestamp":"2030-01-01T00:00:00Z","t":"' + b"q" * 300_000
    assert last_message_time(_write(tmp_path, complete + partial)) == _at(
        "2026-11-22T02:00:00.000Z"
    )


def test_complete_size_counts_only_complete_lines() -> None:
    data = b'{"a":1}\n{"b":2}\n{"c":'
    assert complete_size(io.BytesIO(data), len(data)) == len(b'{"a":1}\n{"b":2}\n')
    assert complete_size(io.BytesIO(b"no newline"), 10) == 0
    big = b"x" * (TAIL_BLOCK * 2 + 7) + b"\n" + b"y" * (TAIL_BLOCK + 3)
    assert complete_size(io.BytesIO(big), len(big)) == TAIL_BLOCK * 2 + 8


# --------------------------------------------------------------------------
# Property: the block scan agrees with a whole-file reference


@attrs.frozen
class Line:
    """One generated line and what the reference must know about it."""

    data: bytes  # without the trailing newline
    top: dt.datetime | None = None
    snap: dt.datetime | None = None
    malformed: bool = False
    top_text: str | None = None
    snap_text: str | None = None


offsets = st.sampled_from([0, 60, 120, 330, -60, -300, -480, 840])
moments = st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 12, 31)).map(
    lambda d: d.replace(microsecond=(d.microsecond // 1000) * 1000)
)


@st.composite
def stamps(draw: st.DrawFn) -> tuple[dt.datetime, str]:
    naive = draw(moments)
    minutes = draw(offsets)
    tz = dt.timezone(dt.timedelta(minutes=minutes))
    local = naive.replace(tzinfo=UTC).astimezone(tz)
    style = draw(st.sampled_from(["z-ms", "offset", "offset-ms", "z"]))
    if style == "z-ms" or (style == "z" and minutes != 0):
        text = naive.strftime("%Y-%m-%dT%H:%M:%S.") + f"{naive.microsecond // 1000:03d}Z"
        return naive.replace(tzinfo=UTC), text
    if style == "z":
        return naive.replace(tzinfo=UTC, microsecond=0), naive.strftime("%Y-%m-%dT%H:%M:%SZ")
    spec = "milliseconds" if style == "offset-ms" else "seconds"
    if spec == "seconds":
        local = local.replace(microsecond=0)
    return local, local.isoformat(timespec=spec)


pad_len = st.one_of(
    st.integers(0, 200),
    st.integers(0, 3000),
    st.integers(TAIL_BLOCK - 300, TAIL_BLOCK + 300),
)
text_bits = st.sampled_from(["", "\u2028", "\u2029", "\u0085", "é", "😀", "\\n", '"', "\r"])


@st.composite
def lines(draw: st.DrawFn) -> Line:
    kind = draw(
        st.sampled_from(
            [
                "message",
                "message",
                "snapshot",
                "both",
                "plain",
                "plain",
                "nested",
                "numeric",
                "not-a-time",
                "bad-snapshot",
                "blank",
                "garbage",
                "cut",
                "array",
                "string",
            ]
        )
    )
    pad = draw(text_bits) + "x" * draw(pad_len) + draw(text_bits)
    obj: dict[str, Any]
    if kind == "message":
        when, text = draw(stamps())
        obj = {"type": "user", "timestamp": text, "pad": pad}
        return Line(_line(obj)[:-1], top=when, top_text=text)
    if kind == "snapshot":
        when, text = draw(stamps())
        obj = {"type": "file-history-snapshot", "snapshot": {"timestamp": text}, "pad": pad}
        return Line(_line(obj)[:-1], snap=when, snap_text=text)
    if kind == "both":
        (t1, s1), (t2, s2) = draw(stamps()), draw(stamps())
        obj = {"type": "odd", "timestamp": s1, "snapshot": {"timestamp": s2}, "pad": pad}
        return Line(_line(obj)[:-1], top=t1, snap=t2, top_text=s1, snap_text=s2)
    if kind == "plain":
        return Line(_line({"type": "cost-state", "pad": pad})[:-1])
    if kind == "nested":
        _, text = draw(stamps())
        obj = {"type": "x", "message": {"timestamp": text}, "snapshot": [text], "pad": pad}
        return Line(_line(obj)[:-1])
    if kind == "numeric":
        # A top-level timestamp that is not a time makes the line malformed.
        obj = {"type": "x", "timestamp": 1795318261171, "snapshot": {"timestamp": None}}
        return Line(_line(obj)[:-1], malformed=True)
    if kind == "not-a-time":
        obj = {"type": "user", "timestamp": "not a time " + pad}
        return Line(_line(obj)[:-1], malformed=True)
    if kind == "bad-snapshot":
        # A snapshot time that is not a time is ignored; the line is fine.
        return Line(_line({"type": "file-history-snapshot", "snapshot": {"timestamp": "?"}})[:-1])
    if kind == "blank":
        return Line(draw(st.sampled_from([b"", b" ", b"\t", b"  \r"])))
    if kind == "garbage":
        return Line(b"garbage " + pad.encode("utf-8"), malformed=True)
    if kind == "cut":
        _, text = draw(stamps())
        full = _line({"type": "user", "timestamp": text, "pad": pad})[:-1]
        return Line(full[: draw(st.integers(1, len(full) - 1))], malformed=True)
    if kind == "array":
        _, text = draw(stamps())
        return Line(json.dumps(["timestamp", text]).encode(), malformed=True)
    _, text = draw(stamps())
    return Line(json.dumps("timestamp " + text).encode(), malformed=True)


@st.composite
def partial_tails(draw: st.DrawFn) -> bytes:
    choice = draw(st.sampled_from(["none", "line", "cut", "bytes"]))
    if choice == "none":
        return b""
    if choice == "line":
        return draw(lines()).data.replace(b"\n", b"")
    if choice == "cut":
        data = draw(lines()).data.replace(b"\n", b"")
        return data[: draw(st.integers(0, len(data)))]
    return draw(st.binary(max_size=200)).replace(b"\n", b"")


def _reference(body: list[Line]) -> tuple[dt.datetime | None, list[str], int]:
    """Latest time, the raw strings (newest line first) and malformed count."""
    last_top = max((i for i, line in enumerate(body) if line.top is not None), default=-1)
    after = body[last_top + 1 :] if last_top >= 0 else body
    times: list[dt.datetime] = []
    texts: list[str] = []
    for line in reversed(after):
        if line.snap is not None:
            assert line.snap_text is not None
            times.append(line.snap)
            texts.append(line.snap_text)
    if last_top >= 0:
        line = body[last_top]
        assert line.top is not None
        assert line.top_text is not None
        if line.snap is not None:
            assert line.snap_text is not None
            times.append(line.snap)
            texts.append(line.snap_text)
        times.append(line.top)
        texts.append(line.top_text)
    malformed = sum(1 for line in after if line.malformed)
    return max(times, default=None), texts, malformed


def _assemble(body: list[Line], partial: bytes, lead: int) -> tuple[bytes, list[int]]:
    """The file bytes, and the offset just after each line of ``body``."""
    out = bytearray()
    ends: list[int] = []
    if lead:
        out += _line({"type": "lead", "pad": "L" * lead})
    for line in body:
        out += line.data + b"\n"
        ends.append(len(out))
    out += partial
    return bytes(out), ends


@settings(max_examples=200, deadline=None)
@given(
    st.lists(lines(), max_size=14),
    partial_tails(),
    st.one_of(st.just(0), st.integers(0, 3 * TAIL_BLOCK)),
)
def test_property_tail_scan_matches_reference(body: list[Line], partial: bytes, lead: int) -> None:
    data, ends = _assemble(body, partial, lead)
    expected_time, expected_texts, expected_malformed = _reference(body)

    fh = io.BytesIO(data)
    end = complete_size(fh, len(data))
    assert end == (ends[-1] if ends else (len(data) - len(partial)))
    found, malformed = tail_timestamps(fh, end)
    assert found == expected_texts
    assert malformed == expected_malformed
    assert latest_timestamp(found) == expected_time

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.jsonl"
        path.write_bytes(data)
        assert last_message_time(path) == expected_time


@settings(max_examples=100, deadline=None)
@given(st.lists(lines(), min_size=1, max_size=10), st.integers(0, 2 * TAIL_BLOCK))
def test_property_every_line_end_is_a_valid_scan_end(body: list[Line], lead: int) -> None:
    # Bytes after ``end`` (later lines) must never leak into the result.
    data, ends = _assemble(body, b"", lead)
    fh = io.BytesIO(data)
    for k, end in enumerate(ends):
        expected_time, expected_texts, expected_malformed = _reference(body[: k + 1])
        found, malformed = tail_timestamps(fh, end)
        assert found == expected_texts
        assert malformed == expected_malformed
        assert latest_timestamp(found) == expected_time


# The ISO forms a transcript holds: fractions of 0-6 digits, Z, an offset or none.
_iso_times = st.builds(
    lambda moment, digits, zone: (
        moment.strftime("%Y-%m-%dT%H:%M:%S")
        + (f".{moment.microsecond:06d}"[: digits + 1] if digits else "")
        + zone
    ),
    st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(9998, 12, 31)),
    st.integers(min_value=0, max_value=6),
    st.sampled_from(["Z", "", "+00:00", "+05:30", "-08:00"]),
)


@settings(max_examples=300, deadline=None)
@given(_iso_times)
def test_the_fast_parse_agrees_with_dateutil(text: str) -> None:
    """``fromisoformat`` serves the common forms: the same instant and zone as dateutil."""
    from dateutil import parser as date_parser

    expected = date_parser.isoparse(text)
    if expected.tzinfo is None:
        expected = expected.replace(tzinfo=UTC)
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed is not None
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text", ["2026-02-30T00:00:00Z", "2026-01-01T25:00:00Z", "2026-01-01T00:00:00.1234567Z"]
)
def test_text_outside_the_fast_form_goes_to_dateutil(text: str) -> None:
    """An impossible date is None as before; a 7-digit fraction is dateutil's to read."""
    from dateutil import parser as date_parser

    try:
        expected: dt.datetime | None = date_parser.isoparse(text)
    except ValueError:
        expected = None
    parsed = parse_timestamp(text)
    if expected is None:
        assert parsed is None
    else:
        assert parsed == expected.replace(tzinfo=expected.tzinfo or UTC)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([LAST_PROMPT, COST_STATE, b"{not json\n", b"\n"]),
            st.builds(_user, _iso_times, st.text(max_size=300)),
            st.builds(_snapshot, _iso_times),
        ),
        max_size=12,
    ),
    st.integers(min_value=1, max_value=9),
)
def test_the_tail_scan_does_not_depend_on_the_block_size(lines: list[bytes], block: int) -> None:
    """Lines cut anywhere by block boundaries read as with one block holding all."""
    import session_sync.agent.transcript as transcript

    data = b"".join(lines)
    whole = _tail(data)
    saved = transcript.TAIL_BLOCK
    transcript.TAIL_BLOCK = block
    try:
        assert _tail(data) == whole
    finally:
        transcript.TAIL_BLOCK = saved
