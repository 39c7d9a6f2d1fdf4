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


def _world(root: Path, seed: int) -> tuple[Path, str, list[str]]:
    """A config with a project's sessions (one old, one with a folder holding a
    link), a copy of one in another project's dir, and that other project's own;
    returns the config, the project path and every session id."""
    config = root / "c"
    rng = random.Random(seed)
    project = str(root / "app")
    ids = []
    for i in range(4):
        spec = make_session(rng, project, turns=2, with_subagent=i == 1, with_tool_result=i == 2)
        old = time.time() - 40 * 86400 if i == 3 else None
        write_session(config, spec, mtime=old)
        ids.append(spec.session_id)
    elsewhere = make_session(rng, str(root / "other"), turns=1)
    write_session(config, elsewhere)
    ids.append(elsewhere.session_id)
    # The same session filed in the other project's dir too (brought from elsewhere).
    dup = next((config / "projects").glob(f"*/{ids[0]}.jsonl"))
    other_dir = next(p for p in (config / "projects").iterdir() if p != dup.parent)
    (other_dir / dup.name).write_bytes(dup.read_bytes() + b'{"type":"x"}\n')
    folder = dup.parent / ids[1]
    (folder / "planted").symlink_to("/etc/hostname")
    return config, project, ids


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 3),
    st.lists(st.integers(0, 4), max_size=5),
    st.lists(st.tuples(st.integers(0, 4), st.integers(-2, 3000)), max_size=6),
)
def test_a_second_scan_of_one_sync_answers_as_a_scan_alone(
    seed: int, wanted: list[int], sized: list[tuple[int, int]]
) -> None:
    """The session facts one sync's first scan described are reused by its second
    (``session_files``): whatever ids and peer sizes the second asks for, its answer
    is the one a scan of its own gives (only what it hashed may differ)."""
    with tempfile.TemporaryDirectory() as tmp:
        config, project, ids = _world(Path(tmp), seed)
        first = {"op": "scan", "project_path": project, "days": 7, "read_only": True}
        # Sizes of real rels (the transcript's), some shorter than ours: prefix hashes.
        peer = {f"{ids[i]}.jsonl": max(0, size) if size >= 0 else 10**9 for i, size in sized}
        second = dict(first, want=[ids[i] for i in wanted], peer_sizes=peer)
        now = time.time() + 60
        alone = scan(str(config), dict(second), now=now)  # type: ignore[arg-type]
        with shared_listings():
            scan(str(config), dict(first), now=now)  # type: ignore[arg-type]
            together = scan(str(config), dict(second), now=now)  # type: ignore[arg-type]
    hashed = ("files_hashed", "bytes_hashed")
    assert {k: v for k, v in together.items() if k not in hashed} == {
        k: v for k, v in alone.items() if k not in hashed
    }
