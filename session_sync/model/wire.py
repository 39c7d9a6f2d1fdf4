"""The far side's answers checked against the shapes the protocol allows, as they arrive.

The other machine may run other people's code (a codespace), so nothing it
says is used before it is known to have the right shape: every key the
controller reads is there and of its type, sizes are whole numbers from 0 to
``MAX_SIZE`` (never a bool, a float or a negative), modes are permission
bits. Anything else is one ``ProtocolError`` naming the other machine and the
first key that is wrong (``sessions[2].files[0].complete_size: -1 is not a
size``), never a ``KeyError``/``TypeError`` traceback from deeper down. Keys
the controller does not read are not checked (a newer agent may add some).

The shapes are ``agent.messages``' ``Hello``, ``ScanAnswer`` and
``ExchangeAnswer``; a ``FileFacts`` is either ``{rel, error}`` (unreadable) or
the file's facts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from session_sync.errors import ProtocolError

__all__ = [
    "MAX_SIZE",
    "check_exchange_answer",
    "check_hello",
    "check_project_list",
    "check_scan_answer",
    "check_scan_many",
]

MAX_SIZE = (1 << 63) - 1
"""The largest size, count or time a far side may state (what a signed 64-bit
``off_t`` or ``st_mtime_ns`` holds)."""

_Check = Callable[[Any], None]
"""Raises ``_Malformed`` when the value is not of the shape."""


class _Malformed(Exception):
    """A value is wrong (turned into a ``ProtocolError`` at the top). Its path is
    told as the error passes up through each object and list (``within``), so
    a well-formed answer, the usual one, builds no path at all."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.steps: list[str] = []
        """The path's steps, innermost first (``.key`` or ``[i]``)."""

    def within(self, step: str) -> _Malformed:
        self.steps.append(step)
        return self

    def __str__(self) -> str:
        path = "".join(reversed(self.steps)).lstrip(".")
        return f"{path}: {self.problem}" if path else self.problem


def _describe(value: Any) -> str:
    """A short, safe description of a wrong value (never the whole thing)."""
    if isinstance(value, (bool, int, float)) or value is None:
        text = repr(value)
        return text if len(text) <= 24 else text[:21] + "..."
    return f"a {type(value).__name__}"


def _string(value: Any) -> None:
    if not isinstance(value, str):
        raise _Malformed(f"{_describe(value)} is not a string")


def _boolean(value: Any) -> None:
    if not isinstance(value, bool):
        raise _Malformed(f"{_describe(value)} is not true or false")


def _size(value: Any) -> None:
    if type(value) is not int or not 0 <= value <= MAX_SIZE:
        raise _Malformed(f"{_describe(value)} is not a size")


def _time_ns(value: Any) -> None:
    if type(value) is not int or not -MAX_SIZE <= value <= MAX_SIZE:
        raise _Malformed(f"{_describe(value)} is not a time in nanoseconds")


def _mode(value: Any) -> None:
    if type(value) is not int or not 0 <= value <= 0o7777:
        raise _Malformed(f"{_describe(value)} is not a file mode")


def _number(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise _Malformed(f"{_describe(value)} is not a number")


def _optional(check: _Check) -> _Check:
    def optional(value: Any) -> None:
        if value is not None:
            check(value)

    return optional


def _list_of(check: _Check) -> _Check:
    def list_of(value: Any) -> None:
        if not isinstance(value, list):
            raise _Malformed(f"{_describe(value)} is not a list")
        for i, element in enumerate(value):
            try:
                check(element)
            except _Malformed as exc:
                raise exc.within(f"[{i}]") from None

    return list_of


def _object(required: Mapping[str, _Check], optional: Mapping[str, _Check] = {}) -> _Check:
    """A JSON object with ``required`` keys and, when present, ``optional`` ones."""
    required_items = tuple(required.items())
    optional_items = tuple(optional.items())

    def obj(value: Any) -> None:
        if not isinstance(value, dict):
            raise _Malformed(f"{_describe(value)} is not an object")
        for key, check in required_items:
            if key not in value:
                raise _Malformed(f"no {key!r}")
            try:
                check(value[key])
            except _Malformed as exc:
                raise exc.within(f".{key}") from None
        for key, check in optional_items:
            if key in value:
                try:
                    check(value[key])
                except _Malformed as exc:
                    raise exc.within(f".{key}") from None

    return obj


_HELLO = _object(
    {"protocol": _size, "config_dir": _string, "hostname": _string, "home": _string},
    {"python": _string, "agent_sha256": _optional(_string), "compression": _list_of(_string)},
)

_UNREADABLE_FILE = _object({"rel": _string, "error": _string})

_FILE = _object(
    {
        "rel": _string,
        "complete_size": _size,
        "file_size": _size,
        "mtime_ns": _time_ns,
        "mode": _mode,
        "sha256": _string,
    },
    {
        "timestamps": _list_of(_string),
        "malformed": _size,
        "prefix_size": _optional(_size),
        "prefix_sha256": _optional(_string),
        "suffix_sha256": _optional(_string),
        "plain": _boolean,
        "committed": _optional(_boolean),
    },
)


def _file(value: Any) -> None:
    if isinstance(value, dict) and "error" in value:
        _UNREADABLE_FILE(value)
    else:
        _FILE(value)


_SESSION = _object(
    {
        "id": _string,
        "dir": _string,
        "recent": _boolean,
        "active": _boolean,
        "files": _list_of(_file),
    },
    {"live": _boolean},
)

_MEMORY_FILE = _object(
    {
        "name": _string,
        "size": _size,
        "mtime_ns": _time_ns,
        "mode": _mode,
        "sha256": _string,
        "content": _string,
    }
)


def _memory_file(value: Any) -> None:
    if isinstance(value, dict) and "error" in value:
        _object({"name": _string, "error": _string})(value)
    else:
        _MEMORY_FILE(value)


_MEMORY = _object({"dir": _string, "files": _list_of(_memory_file)}, {"error": _string})

_HISTORY = _object({"entries": _list_of(_object({})), "truncated": _boolean})

_SCAN_ANSWER = _object(
    {
        "config_dir": _string,
        "project_dirs": _list_of(_object({"name": _string}, {"cwd": _optional(_string)})),
        "sessions": _list_of(_SESSION),
    },
    {
        "hostname": _string,
        "new_session_dir": _optional(_string),
        "project_path": _optional(_string),
        "files_hashed": _size,
        "bytes_hashed": _size,
        "now": _number,
        "older_sessions": _size,
        "oldest_older_mtime": _optional(_number),
        "memory": _MEMORY,
        "history": _HISTORY,
    },
)

MAX_PATH = 4096
"""The longest project path a far side may list."""


def _project_path(value: Any) -> None:
    if not isinstance(value, str) or not value.startswith("/"):
        raise _Malformed(f"{_describe(value)} is not an absolute path")
    if len(value) > MAX_PATH or "\x00" in value:
        raise _Malformed("not a path (too long, or a NUL in it)")


_PROJECT_LIST = _object(
    {
        "projects": _list_of(
            _object(
                {
                    "cwd": _optional(_project_path),
                    "dirs": _list_of(_string),
                    "sessions": _size,
                    "newest_mtime": _number,
                },
                {"repo": _optional(_string), "recorded": _project_path},
            )
        )
    },
    {"more": _size},
)

_RESULT = _object(
    {"ok": _boolean},
    {"error": _optional(_string), "bytes": _size, "backup": _optional(_string), "note": _string},
)

_EXCHANGE_ANSWER = _object(
    {"results": _list_of(_RESULT)},
    {
        "backup_set": _optional(_string),
        "pruned_backups": _list_of(_string),
        "memory_results": _list_of(_RESULT),
        "history_result": _object(
            {"ok": _boolean}, {"added": _size, "error": _optional(_string), "note": _string}
        ),
    },
)


def _check(shape: _Check, what: str, value: Any, where: str) -> None:
    try:
        shape(value)
    except _Malformed as exc:
        raise ProtocolError(f"malformed {what} from {where}: {exc}", where=where) from None


def check_hello(hello: Any, where: str) -> None:
    """Raise ``ProtocolError`` unless ``hello`` is an agent's hello."""
    _check(_HELLO, "hello", hello, where)


def check_scan_answer(answer: Any, where: str) -> None:
    """Raise ``ProtocolError`` unless ``answer`` is a scan answer (``ScanAnswer``)."""
    _check(_SCAN_ANSWER, "scan answer", answer, where)


def check_project_list(answer: Any, where: str, limit: int) -> None:
    """Raise ``ProtocolError`` unless ``answer`` lists at most ``limit`` projects
    (``ListProjectsAnswer``), each with an absolute path or none."""
    _check(_PROJECT_LIST, "project list", answer, where)
    if len(answer["projects"]) > limit:
        raise ProtocolError(
            f"malformed project list from {where}: {len(answer['projects'])} projects"
            f" (at most {limit})",
            where=where,
        )


def check_scan_many(answer: Any, where: str, scans: int) -> None:
    """Raise ``ProtocolError`` unless ``answer`` has ``scans`` entries, each a scan
    answer or ``{"error": ...}`` (``ScanManyAnswer``)."""

    def entry(value: Any) -> None:
        if isinstance(value, dict) and "error" in value:
            _object({"error": _string})(value)
        else:
            _SCAN_ANSWER(value)

    _check(_object({"answers": _list_of(entry)}), "scan answers", answer, where)
    if len(answer["answers"]) != scans:
        raise ProtocolError(
            f"malformed scan answers from {where}: {len(answer['answers'])} answers"
            f" for {scans} scans",
            where=where,
        )


def check_exchange_answer(answer: Any, where: str, results: int) -> None:
    """Raise ``ProtocolError`` unless ``answer`` is an exchange answer with
    ``results`` results (one per file pushed)."""
    _check(_EXCHANGE_ANSWER, "exchange answer", answer, where)
    if len(answer["results"]) != results:
        raise ProtocolError(
            f"malformed exchange answer from {where}: {len(answer['results'])} results"
            f" for {results} files pushed",
            where=where,
        )
