"""``session-sync resume``: the project's page and the command that continues it.

Real git checkouts (a bare upstream, a laptop clone, a "codespace" clone whose
checkpoints are fetched into the laptop's repository as a sync would bring
them), real sessions in a temp config dir, and one live look over the
sandbox's real sshd.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from conftest import Remote, RunCli
from handoff_work import worked_session
from hypothesis import given
from hypothesis import strategies as st
from test_checkpoints import clone_with_work, git, make_upstream

from session_sync.checkpoints.store import Checkpoint, list_checkpoints, restore_line
from session_sync.checkpoints.take import take_local
from session_sync.handoff.summary import SessionSummary
from session_sync.resume import (
    FarSession,
    checkpoint_work_is_here,
    git_state,
    newest_per_machine,
    next_step,
)
from session_sync.testing.sessions import encode_dir_name, make_session, write_session

HOUR = 3600.0
T0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)


def _summary(sid: str, when: dt.datetime | None, *, open_here: bool = False) -> SessionSummary:
    return SessionSummary(
        id=sid,
        path=f"/c/projects/-p/{sid}.jsonl",
        project_dir="-p",
        size=10,
        mtime_ns=int(T0.timestamp() * 1e9),
        cwd="/p",
        last_message_at=when.isoformat() if when else None,
        last_message_epoch=when.timestamp() if when else None,
        first_prompt="hi",
        last_prompt="bye",
        edited=(),
        todos=None,
        last_assistant_text=None,
        machine="here",
        open_here=open_here,
    )


def _checkpoint(machine: str, when: dt.datetime) -> Checkpoint:
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    return Checkpoint(
        id=f"{machine}/{stamp}",
        machine=machine,
        time=when,
        branch="main",
        commit="c" * 40,
        head="h" * 40,
        files=3,
        bytes=120,
        upstream="origin/main",
    )


SID_OLD = "11111111-1111-4111-8111-111111111111"
SID_NEW = "22222222-2222-4222-8222-222222222222"


def test_the_newest_session_is_resumed_from_the_project() -> None:
    sessions = [_summary(SID_NEW, T0), _summary(SID_OLD, T0 - dt.timedelta(hours=3))]
    step = next_step("/src/my app", sessions, [], {}, this_machine="laptop")
    assert step.kind == "resume"
    assert step.command == f"cd '/src/my app' && claude --resume {SID_NEW}"


def test_a_newer_checkpoint_of_another_machine_whose_work_is_not_here_is_restored() -> None:
    cp = _checkpoint("cs-one", T0 + dt.timedelta(minutes=5))
    step = next_step("/p", [_summary(SID_NEW, T0)], [cp], {cp.id: False}, this_machine="laptop")
    assert step.kind == "restore"
    assert step.command == f"cd /p && {restore_line(cp)}"
    # The same work already here, an older checkpoint, or this machine's own: resume.
    assert next_step("/p", [_summary(SID_NEW, T0)], [cp], {cp.id: True}, this_machine="x").kind == (
        "resume"
    )
    older = _checkpoint("cs-one", T0 - dt.timedelta(minutes=5))
    assert next_step("/p", [_summary(SID_NEW, T0)], [older], {}, this_machine="x").kind == "resume"
    mine = _checkpoint("laptop", T0 + dt.timedelta(minutes=5))
    assert next_step("/p", [_summary(SID_NEW, T0)], [mine], {}, this_machine="laptop").kind == (
        "resume"
    )
    # No session at all: the checkpoint is the work.
    assert next_step("/p", [], [cp], {cp.id: False}, this_machine="laptop").kind == "restore"


def test_a_newer_session_seen_only_there_is_synced_first() -> None:
    far = FarSession(SID_OLD, T0 + dt.timedelta(minutes=1), open_there=False, here=True)
    step = next_step(
        "/p",
        [_summary(SID_NEW, T0)],
        [],
        {},
        this_machine="laptop",
        far_machine="box",
        far_sessions=[far],
        sync_command="session-sync sync --host box --pull",
    )
    assert step.kind == "sync"
    assert step.command == "cd /p && session-sync sync --host box --pull"
    assert SID_OLD in step.reason


def test_an_open_session_is_not_resumed_twice_and_nothing_is_nothing() -> None:
    step = next_step("/p", [_summary(SID_NEW, T0, open_here=True)], [], {}, this_machine="l")
    assert step.kind == "open"
    assert step.command is None
    assert next_step("/p", [], [], {}, this_machine="l").kind == "none"


@given(
    st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=8, unique=True),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=5),
)
def test_without_checkpoints_of_others_the_newest_session_is_the_one(
    minutes: list[int], own_checkpoints: list[int]
) -> None:
    sessions = sorted(
        (
            _summary(f"{m:08d}-0000-4000-8000-000000000000", T0 + dt.timedelta(minutes=m))
            for m in minutes
        ),
        key=lambda s: -(s.last_message_epoch or 0.0),
    )
    own = [_checkpoint("laptop", T0 + dt.timedelta(minutes=m)) for m in own_checkpoints]
    step = next_step("/p", sessions, own, {}, this_machine="laptop")
    assert step.kind == "resume"
    assert step.command is not None
    assert step.command.endswith(sessions[0].id)


def test_newest_per_machine_keeps_one_each_newest_first() -> None:
    cps = [
        _checkpoint("a", T0),
        _checkpoint("b", T0 + dt.timedelta(hours=1)),
        _checkpoint("a", T0 + dt.timedelta(hours=2)),
    ]
    assert [c.id for c in newest_per_machine(cps)] == [cps[2].id, cps[1].id]


def test_git_state_counts_what_git_sees(tmp_path: Path) -> None:
    upstream = make_upstream(tmp_path)
    top = clone_with_work(upstream, tmp_path / "laptop")
    (top / "lib.py").rename(top / "lib2.py")
    git(top, "add", "-A", "lib.py", "lib2.py")
    state = git_state(str(top))
    assert state is not None
    assert (state.branch, state.upstream, state.ahead, state.behind) == (
        "main",
        "origin/main",
        1,
        0,
    )
    # README.md (staged + unstaged), app.py and the rename of lib.py (one record, its
    # original path after it); notes/plan.md and data.bin untracked, debug.log ignored.
    assert "R" in git(top, "status", "--porcelain")
    assert (state.changed, state.untracked) == (3, 2)
    assert git_state(str(tmp_path / "nowhere")) is None


@pytest.fixture
def checkouts(tmp_path: Path) -> tuple[Path, Path]:
    """(laptop checkout, codespace checkout) of one upstream, the codespace's with work."""
    upstream = make_upstream(tmp_path)
    laptop = tmp_path / "src" / "app"
    laptop.parent.mkdir(parents=True)
    git(tmp_path, "clone", "-q", str(upstream), str(laptop))
    codespace = clone_with_work(upstream, tmp_path / "workspaces" / "app")
    return laptop, codespace


def _bring_home(laptop: Path, codespace: Path) -> None:
    git(laptop, "fetch", "-q", str(codespace), "refs/session-sync/*:refs/session-sync/*")


def test_resume_page_names_sessions_checkpoints_and_the_next_command(
    config_a: Path, checkouts: tuple[Path, Path], run_cli: RunCli
) -> None:
    laptop, codespace = checkouts
    rng = random.Random(7)
    mine = worked_session(rng, str(laptop), last_prompt="add the parser")
    theirs = worked_session(rng, "/workspaces/app", last_prompt="fix the flaky test")
    dir_name = encode_dir_name(str(laptop))
    write_session(config_a, mine, project_dir_name=dir_name, mtime=T0.timestamp() - 2 * HOUR)
    write_session(config_a, theirs, project_dir_name=dir_name, mtime=T0.timestamp() - HOUR)
    write_session(config_a, make_session(rng, "/elsewhere/other"), mtime=T0.timestamp())

    page = run_cli("resume", "--local-path", str(laptop), "--json").json()
    ids = [s["id"] for s in page["sessions"]]
    assert set(ids) == {mine.session_id, theirs.session_id}
    newest = ids[0]
    assert page["next"]["kind"] == "resume"
    assert page["next"]["command"] == f"cd {laptop} && claude --resume {newest}"
    assert page["git"]["branch"] == "main"
    assert page["checkpoints"] == []

    # The codespace checkpoints its work after every session here, and it comes home.
    latest = max(s["last_message_at"] for s in page["sessions"])
    after = dt.datetime.fromisoformat(latest.replace("Z", "+00:00")) + dt.timedelta(minutes=10)
    taken = take_local(codespace, machine="cs-one", now=after)
    assert taken.checkpoint is not None
    _bring_home(laptop, codespace)

    page = run_cli("resume", "--local-path", str(laptop), "--json").json()
    assert [c["id"] for c in page["checkpoints"]] == [taken.checkpoint.id]
    assert page["next"]["kind"] == "restore"
    assert page["next"]["command"] == f"cd {laptop} && {restore_line(taken.checkpoint)}"

    text = run_cli("resume", "--local-path", str(laptop))
    assert text.code == 0
    assert taken.checkpoint.id in text.out
    assert restore_line(taken.checkpoint) in text.out
    assert "fix the flaky test" in text.out or "add the parser" in text.out

    # Run the line it printed: the work is here now (as a branch), so the next
    # step is the newest session again once that branch is checked out.
    cp = list_checkpoints(laptop)[0]
    restored = run_cli(
        "checkpoints", "restore", cp.id, "--branch", "cs-work", "--local-path", str(laptop)
    )
    assert restored.code == 0, restored.err
    git(laptop, "checkout", "-q", "cs-work")
    assert checkpoint_work_is_here(str(laptop), cp)
    page = run_cli("resume", "--local-path", str(laptop), "--json").json()
    assert page["next"]["kind"] == "resume"


def test_prompts_from_another_machine_are_escaped_on_the_page(
    config_a: Path, checkouts: tuple[Path, Path], run_cli: RunCli
) -> None:
    laptop, _ = checkouts
    rng = random.Random(8)
    hostile = worked_session(rng, "/workspaces/app", last_prompt="\x1b]0;owned\x07 look\nhere")
    write_session(
        config_a, hostile, project_dir_name=encode_dir_name(str(laptop)), mtime=T0.timestamp()
    )
    out = run_cli("resume", "--local-path", str(laptop)).out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "look here" in out


def test_a_live_look_lists_the_far_sessions_and_says_to_sync_first(remote: Remote) -> None:
    rng = random.Random(9)
    here = make_session(rng, str(remote.project), start=T0 - dt.timedelta(hours=5))
    write_session(remote.config, here, mtime=T0.timestamp() - 5 * HOUR)
    there = make_session(rng, remote.remote_project, start=T0)
    write_session(remote.remote_config, there, mtime=T0.timestamp())

    done = remote.run("resume", "--host", "box", "--json")
    assert done.code == 0, done.err
    page = done.json()
    assert "box" in page["far_machine"]
    far = {f["id"]: f for f in page["far_sessions"]}
    assert set(far) == {there.session_id}
    assert far[there.session_id]["here"] is False
    assert [s["id"] for s in page["sessions"]] == [here.session_id]
    assert page["next"]["kind"] == "sync"
    assert page["next"]["command"] == f"cd {remote.project} && session-sync sync --host box --pull"
    assert there.session_id in page["next"]["reason"]

    # Once synced, the far session is the one to resume here.
    assert remote.run("sync", "--host", "box", "--pull", "--days", "36500").code == 0
    page = remote.run("resume", "--json").json()
    assert page["next"]["kind"] == "resume"
    assert page["next"]["command"].endswith(f"claude --resume {there.session_id}")
