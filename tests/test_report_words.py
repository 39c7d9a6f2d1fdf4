"""The text report in words a person reads: sessions counted with their files,
singular and plural, a dry run in the future tense, and what ``--push`` or
``--pull`` kept back said once, not file by file."""

from __future__ import annotations

import random

import pytest
from conftest import Machines, RunCli, write_old

from session_sync.testing.sessions import SessionSpec, make_session


def _session(m: Machines, seed: int, **kw: object) -> SessionSpec:
    return make_session(random.Random(seed), str(m.project), **kw)  # type: ignore[arg-type]


def _text(run_cli: RunCli, m: Machines, *extra: str) -> str:
    result = run_cli(*[a for a in m.sync_args(*extra) if a != "--json"])
    assert result.code == 0, result
    return result.out


def test_sessions_are_counted_with_their_files(machines: Machines, run_cli: RunCli) -> None:
    m = machines
    here = _session(m, 301, with_tool_result=True)
    write_old(m.a, here)
    write_old(m.b, _session(m, 302))

    first = _text(run_cli, m).splitlines()[0]

    assert "1 session pushed (2 files), 1 session pulled (1 file), 0 files skipped" in first
    assert "0 diverged" in first
    assert "round trips)" in first
    second = _text(run_cli, m)
    assert "0 sessions pushed, 0 sessions pulled, 0 files skipped, 0 failed" in second


def test_a_dry_run_speaks_in_the_future_tense(machines: Machines, run_cli: RunCli) -> None:
    m = machines
    write_old(m.a, _session(m, 303))
    write_old(m.b, _session(m, 304))

    out = _text(run_cli, m, "--dry-run")

    assert "would sync" in out
    assert "1 session to push (1 file), 1 session to pull (1 file)" in out
    assert "dry run: 2 changes planned, nothing written" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("  ") and ".jsonl" in ln]
    assert len(lines) == 2
    assert all(ln.startswith("  would ") for ln in lines), lines
    assert " pushed" not in out
    assert " pulled" not in out


def test_pull_says_once_what_it_did_not_push(machines: Machines, run_cli: RunCli) -> None:
    m = machines
    for seed in (305, 306):
        write_old(m.a, _session(m, seed, with_tool_result=True))
    theirs = _session(m, 307)
    write_old(m.b, theirs)

    out = _text(run_cli, m, "--pull")

    assert "1 session pulled (1 file)" in out
    assert "push " not in out  # no line per file kept back
    assert "  2 sessions newer here not pushed (--pull)" in out.splitlines()


def test_the_status_table_fits_the_terminal(
    machines: Machines, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """80 columns hold every session id whole; a wide terminal gets the sizes too."""
    m = machines
    specs = [_session(m, seed) for seed in (308, 309, 310)]
    for spec in specs:
        write_old(m.a, spec)
    args = ["status", "--dir", str(m.b), "--local-path", str(m.project)]
    for width, sizes in ((80, False), (140, True)):
        monkeypatch.setenv("COLUMNS", str(width))
        result = run_cli(*args)
        assert result.code == 0, result
        lines = result.out.splitlines()
        assert max(len(line) for line in lines) <= width, result.out
        for spec in specs:
            assert any(spec.session_id in line for line in lines), result.out
        assert ("size here" in result.out) is sizes


def test_sessions_left_out_by_days_are_counted_with_a_hint(
    machines: Machines, run_cli: RunCli
) -> None:
    m = machines
    write_old(m.a, _session(m, 311), hours=24 * 20)
    write_old(m.a, _session(m, 312), hours=24 * 9)
    write_old(m.b, _session(m, 313), hours=24 * 12)
    # Old here but recent there: it takes part (the other side asks for it), not counted.
    shared = _session(m, 314)
    write_old(m.a, shared, hours=24 * 30)
    write_old(m.b, shared, hours=1)

    report = run_cli(*m.sync_args("--dry-run")).json()
    assert (report["older_sessions_local"], report["older_sessions_remote"]) == (2, 1)
    assert report["days_for_older"] in (21, 22)
    out = _text(run_cli, m, "--dry-run")
    hint = f"  2 older sessions here and 1 there not considered; --days {report['days_for_older']}"
    assert hint + " takes them in" in out.splitlines()

    wider = run_cli(*m.sync_args("--days", str(report["days_for_older"]))).json()
    assert (wider["older_sessions_local"], wider["older_sessions_remote"]) == (0, 0)
    assert wider["days_for_older"] is None
    assert wider["pushed"] == 2
    assert wider["pulled"] == 1
    assert "not considered" not in _text(run_cli, m, "--days", str(report["days_for_older"]))


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_a_far_sides_older_count_is_checked(bad: object) -> None:
    from session_sync.errors import ProtocolError
    from session_sync.model.wire import check_scan_answer

    answer = {"config_dir": "/c", "project_dirs": [], "sessions": [], "older_sessions": bad}
    with pytest.raises(ProtocolError):
        check_scan_answer(answer, "host x")
