"""What one sync's scans share (``agent.shared``) gives the answers the scans give alone."""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from session_sync.agent import history
from session_sync.agent.scan import scan
from session_sync.agent.shared import shared_listings
from session_sync.testing.sessions import make_session, write_session

PROJECTS = ["/w/app", "/w/ä pp", '/w/q"uote', "/w/back\\slash", "/w/app2"]

entries = st.fixed_dictionaries(
    {
        "display": st.sampled_from(["hi", '"project":"/w/app"', 'x\\"project\\":"/w/app2"', "é"]),
        "timestamp": st.integers(0, 10),
        "project": st.sampled_from(PROJECTS),
    },
    optional={"pastedContents": st.just({"1": {"project": "/w/app"}})},
)
lines = st.one_of(
    entries.map(lambda e: json.dumps(e, ensure_ascii=False).encode()),
    entries.map(lambda e: json.dumps(e, ensure_ascii=True).encode()),
    st.sampled_from([b"", b"not json", b'{"project": 5}', b"[1]"]),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(lines, max_size=12),
    st.booleans(),
    st.lists(st.sets(st.sampled_from(PROJECTS), min_size=1), min_size=1, max_size=3),
)
def test_the_shared_history_index_gives_each_projects_lines_as_reading_alone(
    raw_lines: list[bytes], cut_tail: bool, asked: list[set[str]]
) -> None:
    data = b"\n".join(raw_lines) + (b"" if cut_tail else b"\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "history.jsonl")
        Path(path).write_bytes(data)
        alone = [history._lines_of(path, projects) for projects in asked]
        with shared_listings():
            together = [history._lines_of(path, projects) for projects in asked]
    assert together == alone
    assert alone == [history._project_lines(data, projects) for projects in asked]


def test_scans_inside_shared_listings_answer_as_scans_alone(tmp_path: Path) -> None:
    config = tmp_path / "c"
    rng = random.Random(3)
    paths = [str(tmp_path / f"p{i}") for i in range(4)]
    for path in paths:
        Path(path).mkdir()
        for _ in range(3):
            write_session(config, make_session(rng, path, turns=2))
    # A session of p0 filed in p1's dir (brought from another machine).
    write_session(config, make_session(rng, paths[0], turns=2), project_dir_name="-elsewhere")
    requests = [
        {"op": "scan", "project_path": p, "days": 30, "read_only": True, "history": True}
        for p in paths
    ]
    now = time.time() + 60
    alone = [scan(str(config), dict(r), now=now) for r in requests]  # type: ignore[arg-type]
    with shared_listings():
        together = [scan(str(config), dict(r), now=now) for r in requests]  # type: ignore[arg-type]
    # The first scans' hashes are kept (read-only scans save the cache): no more to hash.
    hashed = ("files_hashed", "bytes_hashed")
    assert [{k: v for k, v in a.items() if k not in hashed} for a in together] == [
        {k: v for k, v in a.items() if k not in hashed} for a in alone
    ]
    assert [a["files_hashed"] for a in together] == [0, 0, 0, 0]
    assert len(alone[0]["sessions"]) == 4
