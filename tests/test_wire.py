"""A far side's malformed answer is one ``ProtocolError`` naming the first wrong key
by its whole path (built only when something is wrong)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from session_sync.errors import ProtocolError
from session_sync.model.wire import check_scan_answer, check_scan_many

FILE = {
    "rel": "a.jsonl",
    "complete_size": 1,
    "file_size": 1,
    "mtime_ns": 1,
    "mode": 0o600,
    "sha256": "x",
}
SESSION = {"id": "s", "dir": "d", "recent": True, "active": False, "files": [FILE]}
ANSWER = {"config_dir": "/c", "project_dirs": [], "sessions": [SESSION, copy.deepcopy(SESSION)]}


def _lie(path: list[Any], value: Any) -> dict[str, Any]:
    answer = copy.deepcopy(ANSWER)
    here: Any = answer
    for step in path[:-1]:
        here = here[step]
    if value is KeyError:
        del here[path[-1]]
    else:
        here[path[-1]] = value
    return answer


@pytest.mark.parametrize(
    ("path", "value", "said"),
    [
        (
            ["sessions", 1, "files", 0, "complete_size"],
            -1,
            "sessions[1].files[0].complete_size: -1 is not a size",
        ),
        (["sessions", 0, "dir"], KeyError, "sessions[0]: no 'dir'"),
        (
            ["sessions", 1, "files", 0, "timestamps"],
            [1],
            "sessions[1].files[0].timestamps[0]: 1 is not a string",
        ),
        (["sessions", 0, "live"], "yes", "sessions[0].live: a str is not true or false"),
        (["sessions"], {}, "sessions: a dict is not a list"),
        (["config_dir"], KeyError, "no 'config_dir'"),
    ],
)
def test_a_malformed_scan_answer_names_the_first_wrong_key(
    path: list[Any], value: Any, said: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        check_scan_answer(_lie(path, value), "box")
    assert str(caught.value) == f"malformed scan answer from box: {said}"


def test_a_well_formed_answer_passes_and_scan_many_names_its_entry() -> None:
    check_scan_answer(copy.deepcopy(ANSWER), "box")
    with pytest.raises(ProtocolError) as caught:
        check_scan_many({"answers": [ANSWER, _lie(["sessions", 0, "recent"], 1)]}, "box", 2)
    assert str(caught.value).endswith("answers[1].sessions[0].recent: 1 is not true or false")
