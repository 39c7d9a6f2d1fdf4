"""Manifests built with shared parts (``Parsed``) and without are the same values,
and a file's session is told as ``session_of_rel`` tells it."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from session_sync.agent.paths import session_of_rel
from session_sync.model.manifest import Parsed, _belongs, manifest_from_scan

IDS = [str(uuid.UUID(int=i)) for i in (1, 2, 3)]


@given(
    st.sampled_from(IDS),
    st.one_of(
        st.sampled_from(IDS).flatmap(
            lambda i: st.sampled_from(
                [i, i + ".jsonl", i + "/", i + "/a/b", i + ".json", i + "x/a"]
            )
        ),
        st.text(alphabet="ab/.-0123456789", max_size=12),
    ),
    st.booleans(),
)
def test_belongs_says_what_session_of_rel_says(session_id: str, rel: str, unreadable: bool) -> None:
    fact: dict[str, Any] = {"rel": rel, **({"error": "x"} if unreadable else {})}
    assert _belongs(fact, session_id) == (
        session_of_rel(rel) == session_id or (unreadable and rel == session_id)
    )


def _file(rel: str, size: int, mtime: int) -> dict[str, Any]:
    return {
        "rel": rel,
        "complete_size": size,
        "file_size": size,
        "mtime_ns": mtime,
        "mode": 0o600,
        "sha256": f"h{size}",
        "timestamps": ["2026-11-17T17:03:03.577Z"],
    }


def _answer(sessions: list[tuple[str, str, list[tuple[int, int]]]]) -> dict[str, Any]:
    return {
        "config_dir": "/c",
        "project_dirs": [],
        "sessions": [
            {
                "id": sid,
                "dir": d,
                "recent": True,
                "active": False,
                "files": [
                    _file(sid + (f"/f{k}" if k else ".jsonl"), size, m)
                    for k, (size, m) in enumerate(files)
                ],
            }
            for sid, d, files in sessions
        ],
    }


answers = st.lists(
    st.tuples(
        st.sampled_from(IDS),
        st.sampled_from(["d1", "d2"]),
        st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=3),
    ),
    max_size=4,
    unique_by=lambda t: t[0],
).map(_answer)


@settings(max_examples=200, deadline=None)
@given(st.lists(answers, min_size=1, max_size=4))
def test_manifests_sharing_parts_equal_manifests_parsed_alone(raws: list[dict[str, Any]]) -> None:
    parsed = Parsed()
    shared = [manifest_from_scan(copy.deepcopy(raw), parsed=parsed) for raw in raws]
    alone = [manifest_from_scan(raw) for raw in raws]
    assert shared == alone
    for manifest in shared:
        for session in manifest.sessions:
            assert all(session.file(f.rel) is f for f in session.files)
