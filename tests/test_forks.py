"""A divergence loses no branch: the losing copy is kept as a forked session
of its own on both machines, once, under an id both machines agree on."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Machines, RunCli, session_files, write_old
from test_cli_e2e import diverged_pair, item_of, jsonl, sync

from session_sync.model.forks import fork_session_id
from session_sync.testing.sessions import session_bytes


def lines_of(config: Path) -> set[bytes]:
    """Every line of every transcript under ``projects/`` (backups not counted)."""
    found: set[bytes] = set()
    for path in (config / "projects").rglob("*.jsonl"):
        found.update(path.read_bytes().splitlines(keepends=True))
    return found


@pytest.mark.parametrize("winner", ["a", "b"])
def test_the_losing_branch_becomes_a_fork_on_both_machines(
    machines: Machines, run_cli: RunCli, winner: str
) -> None:
    m = machines
    win_cfg, lose_cfg = (m.a, m.b) if winner == "a" else (m.b, m.a)
    _, older, newer = diverged_pair(m, 10)
    write_old(win_cfg, newer, hours=4)
    loser_path = write_old(lose_cfg, older, hours=2)
    loser_mtime = loser_path.stat().st_mtime_ns
    every_line = lines_of(m.a) | lines_of(m.b)
    fork_id = fork_session_id(older.session_id, _sha(session_bytes(older)))

    report = sync(run_cli, m)

    replaced = item_of(report, jsonl(newer))
    assert (replaced["action"], replaced["outcome"]) == ("replace", "done")
    assert fork_id in replaced["reason"]
    forked = item_of(report, f"{fork_id}.jsonl")
    assert (forked["action"], forked["outcome"], forked["case"]) == ("copy", "done", "forked")
    for cfg in (m.a, m.b):
        assert m.transcript(cfg, newer.session_id).read_bytes() == session_bytes(newer)
        fork = m.transcript(cfg, fork_id)
        assert fork.read_bytes() == session_bytes(older)
        assert fork.stat().st_mtime_ns == loser_mtime
        # No line of either branch is out of reach: each is in a transcript.
        assert every_line <= lines_of(cfg)
    # The loser is backed up too, as before.
    assert Path(replaced["backup"]).read_bytes() == session_bytes(older)

    # The two machines agree now: the next sync has nothing to do.
    again = sync(run_cli, m)
    assert again["items"] == [] or all(i["action"] == "skip" for i in again["items"])
    assert session_files(m.a) == session_files(m.b)


def test_a_fork_already_made_is_not_made_twice(machines: Machines, run_cli: RunCli) -> None:
    m = machines
    _, older, newer = diverged_pair(m, 11)
    write_old(m.a, newer, hours=4)
    write_old(m.b, older, hours=2)
    sync(run_cli, m)
    # The loser's machine restores the old branch by hand (as a user might from
    # the backup) and meets the winner again: the same fork, not a new one.
    write_old(m.b, older, hours=2)

    report = sync(run_cli, m)

    fork_id = fork_session_id(older.session_id, _sha(session_bytes(older)))
    assert item_of(report, jsonl(newer))["outcome"] == "done"
    forks = [p.stem for p in (m.b / "projects" / m.dir_name).glob("*.jsonl")]
    assert sorted(forks) == sorted([newer.session_id, fork_id])


def test_push_only_keeps_the_fork_where_the_loser_was(machines: Machines, run_cli: RunCli) -> None:
    m = machines
    _, older, newer = diverged_pair(m, 12)
    write_old(m.a, newer, hours=4)
    write_old(m.b, older, hours=2)
    fork_id = fork_session_id(older.session_id, _sha(session_bytes(older)))

    report = sync(run_cli, m, "--push")

    assert item_of(report, f"{fork_id}.jsonl")["action"] == "skip"
    assert m.transcript(m.b, fork_id).read_bytes() == session_bytes(older)
    assert not m.transcript(m.a, fork_id).exists()
    # A two-way sync later brings it over.
    sync(run_cli, m)
    assert m.transcript(m.a, fork_id).read_bytes() == session_bytes(older)


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
