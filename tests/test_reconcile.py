"""Tests for the pure planner ``reconcile.plan_sync``: its table of cases and invariants."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterable
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from session_sync.agent.transcript import complete_size, tail_timestamps
from session_sync.model.manifest import FileEntry, ProjectDir, SessionEntry, SessionManifest
from session_sync.model.reconcile import (
    Action,
    Direction,
    PlannedItem,
    SyncPlan,
    SyncPolicy,
    plan_sync,
)
from session_sync.timestamps import latest_timestamp

UTC = dt.timezone.utc
LOCAL_DIR = "-Users-me-src-app"
REMOTE_DIR = "-workspaces-app"
LOCAL_HOME = "-Users-me-src-app-home"
REMOTE_HOME = "-workspaces-app-home"
SID = "0b6f2c1e-1111-4222-8333-444455556666"
TRANSCRIPT = f"{SID}.jsonl"
T0 = dt.datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
_UNSET: Any = object()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def line(n: int, when: dt.datetime | None = None, text: str = "") -> bytes:
    obj: dict[str, Any] = {"type": "user" if when else "cost-state", "uuid": f"u{n}", "t": text}
    if when is not None:
        obj["timestamp"] = when.isoformat().replace("+00:00", "Z")
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def describe(
    rel: str,
    data: bytes,
    peer_size: int | None = None,
    *,
    mtime_ns: int = 1_700_000_000_000_000_000,
    mode: int = 0o600,
    when: dt.datetime | None = _UNSET,
) -> FileEntry:
    """The FileEntry a scan of ``data`` gives, computed from the real bytes."""
    fh = io.BytesIO(data)
    is_jsonl = rel.endswith(".jsonl")
    size = complete_size(fh, len(data)) if is_jsonl else len(data)
    if when is _UNSET:
        when = latest_timestamp(tail_timestamps(fh, size)[0]) if is_jsonl else None
    has_prefix = peer_size is not None and 0 < peer_size < size
    return FileEntry(
        rel=rel,
        complete_size=size,
        file_size=len(data),
        mtime_ns=mtime_ns,
        mode=mode,
        sha256=sha(data[:size]),
        last_message_time=when,
        prefix_size=peer_size if has_prefix else None,
        prefix_sha256=sha(data[:peer_size]) if has_prefix and peer_size is not None else None,
    )


def pair(
    rel: str,
    local: bytes,
    remote: bytes,
    *,
    local_kw: dict[str, Any] | None = None,
    remote_kw: dict[str, Any] | None = None,
) -> tuple[FileEntry, FileEntry]:
    """Both sides' entries, each scanned knowing the other's size (as the engine does)."""
    lk, rk = local_kw or {}, remote_kw or {}
    r = describe(rel, remote, **rk)
    lo = describe(rel, local, r.complete_size, **lk)
    r = describe(rel, remote, lo.complete_size, **rk)
    return lo, r


def session(
    files: Iterable[FileEntry], *, sid: str = SID, dir: str = LOCAL_DIR, active: bool = False
) -> SessionEntry:
    return SessionEntry(id=sid, dir=dir, recent=True, active=active, files=tuple(files))


def manifest(
    sessions: Iterable[SessionEntry], *, home: str | None = LOCAL_HOME, host: str = "laptop"
) -> SessionManifest:
    sessions = tuple(sessions)
    return SessionManifest(
        config_dir=f"/{host}/.claude",
        hostname=host,
        new_session_dir=home,
        project_path=f"/{host}/app",
        project_dirs=tuple(ProjectDir(name=d, cwd=None) for d in sorted({s.dir for s in sessions})),
        sessions=sessions,
    )


def local_m(*sessions: SessionEntry, home: str | None = LOCAL_HOME) -> SessionManifest:
    return manifest(sessions, home=home, host="laptop")


def remote_m(*sessions: SessionEntry, home: str | None = REMOTE_HOME) -> SessionManifest:
    return manifest(sessions, home=home, host="codespace")


def plan_of(
    local: SessionManifest, remote: SessionManifest, direction: Direction = Direction.BOTH
) -> SyncPlan:
    return plan_sync(local, remote, SyncPolicy(direction=direction))


def only(plan: SyncPlan) -> PlannedItem:
    """The one decision of ``plan`` (a diverged transcript's replace comes with
    the copy of the fork that keeps the other branch: checked here, not returned)."""
    main = [i for i in plan.items if i.case != "forked"]
    assert len(main) == 1, plan.items
    item = main[0]
    forked = [i for i in plan.items if i.case == "forked"]
    if item.fork_file is not None:
        assert len(forked) == 1, plan.items
        assert forked[0].file == item.fork_file
        assert forked[0].source == item.expect
    else:
        assert forked == [], plan.items
    return item


P = b"".join(line(i, T0 + dt.timedelta(minutes=i)) for i in range(3))
A = line(10, T0 + dt.timedelta(hours=1)) + line(11)
B = line(20, T0 + dt.timedelta(hours=2), "other") + line(21)


# --------------------------------------------------------------------------
# missing


def test_missing_on_remote_is_a_push_copy_into_remote_home() -> None:
    f = describe(TRANSCRIPT, P)
    item = only(plan_of(local_m(session([f])), remote_m()))
    assert (item.action, item.direction, item.case) == (Action.COPY, Direction.PUSH, "missing")
    assert item.source == f
    assert item.expect is None
    assert item.source_dir == LOCAL_DIR
    assert item.dest_dir == REMOTE_HOME
    assert (item.offset, item.length) == (0, len(P))
    assert not item.conflict


def test_missing_on_local_is_a_pull_copy_into_local_home() -> None:
    f = describe(TRANSCRIPT, P)
    item = only(plan_of(local_m(), remote_m(session([f], dir=REMOTE_DIR))))
    assert (item.action, item.direction, item.case) == (Action.COPY, Direction.PULL, "missing")
    assert item.source_dir == REMOTE_DIR
    assert item.dest_dir == LOCAL_HOME
    assert (item.offset, item.length) == (0, len(P))


def test_copy_length_counts_complete_lines_only() -> None:
    f = describe(TRANSCRIPT, P + b'{"type":"user","timest')
    item = only(plan_of(local_m(session([f])), remote_m()))
    assert item.length == len(P)


def test_missing_file_of_a_shared_session_goes_into_that_sessions_dir() -> None:
    t = describe(TRANSCRIPT, P)
    sub = describe(f"{SID}/subagents/agent-a1.jsonl", A)
    meta = describe(f"{SID}/subagents/agent-a1.meta.json", b'{"agentType":"x"}')
    plan = plan_of(local_m(session([t])), remote_m(session([t, sub, meta], dir=REMOTE_DIR)))
    assert [i.file for i in plan.items] == [sub.rel, meta.rel]
    for item in plan.items:
        assert (item.action, item.direction, item.case) == (Action.COPY, Direction.PULL, "missing")
        assert item.dest_dir == LOCAL_DIR
        assert item.source_dir == REMOTE_DIR


def test_missing_session_files_all_go_to_the_home_dir() -> None:
    t = describe(TRANSCRIPT, P)
    tool = describe(f"{SID}/tool-results/t1.txt", b"output\n", mode=0o644)
    plan = plan_of(local_m(session([t, tool])), remote_m())
    assert [i.file for i in plan.items] == [TRANSCRIPT, tool.rel]
    assert {i.dest_dir for i in plan.items} == {REMOTE_HOME}


def test_no_home_dir_on_the_other_side_skips() -> None:
    f = describe(TRANSCRIPT, P)
    item = only(plan_of(local_m(session([f])), remote_m(home=None)))
    assert item.action is Action.SKIP
    assert item.direction is Direction.PUSH
    assert item.case == "missing"
    assert item.length == 0
    assert plan_of(local_m(session([f])), remote_m(home=None)).transfers == ()


# --------------------------------------------------------------------------
# identical


def test_identical_files_have_no_items() -> None:
    t = describe(TRANSCRIPT, P)
    meta = describe(f"{SID}/x.meta.json", b"{}", mode=0o644)
    plan = plan_of(local_m(session([t, meta])), remote_m(session([t, meta], dir=REMOTE_DIR)))
    assert plan.items == ()


def test_identical_content_with_different_mtime_and_mode_has_no_items() -> None:
    lo = describe(TRANSCRIPT, P, mtime_ns=1, mode=0o600)
    r = describe(TRANSCRIPT, P, mtime_ns=999_999_999_999, mode=0o644)
    assert plan_of(local_m(session([lo])), remote_m(session([r]))).items == ()


def test_identical_complete_lines_with_a_partial_tail_have_no_items() -> None:
    lo, r = pair(TRANSCRIPT, P + b'{"type":"ass', P)
    assert lo.has_partial_tail
    assert plan_of(local_m(session([lo])), remote_m(session([r]))).items == ()


def test_empty_sessions_everywhere_is_an_empty_plan() -> None:
    plan = plan_of(local_m(), remote_m())
    assert plan.items == ()
    assert plan.transfers == ()
    assert plan.pushes == ()
    assert plan.pulls == ()


# --------------------------------------------------------------------------
# prefix / unterminated


def test_remote_prefix_is_an_append_push() -> None:
    lo, r = pair(TRANSCRIPT, P + A, P)
    item = only(plan_of(local_m(session([lo])), remote_m(session([r], dir=REMOTE_DIR))))
    assert (item.action, item.direction, item.case) == (Action.APPEND, Direction.PUSH, "prefix")
    assert item.offset == len(P)
    assert item.length == len(A)
    assert item.expect == r
    assert item.source == lo
    assert item.dest_dir == REMOTE_DIR
    assert item.source_dir == LOCAL_DIR
    assert not item.conflict


def test_local_prefix_is_an_append_pull() -> None:
    lo, r = pair(TRANSCRIPT, P, P + B)
    item = only(plan_of(local_m(session([lo])), remote_m(session([r], dir=REMOTE_DIR))))
    assert (item.action, item.direction, item.case) == (Action.APPEND, Direction.PULL, "prefix")
    assert (item.offset, item.length) == (len(P), len(B))
    assert item.dest_dir == LOCAL_DIR


def test_empty_destination_is_a_prefix() -> None:
    lo, r = pair(TRANSCRIPT, P, b"")
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert (item.action, item.case) == (Action.APPEND, "prefix")
    assert (item.offset, item.length) == (0, len(P))


def test_prefix_of_a_subagent_transcript_is_an_append() -> None:
    rel = f"{SID}/subagents/agent-a1.jsonl"
    t = describe(TRANSCRIPT, P)
    lo, r = pair(rel, A, A + B)
    plan = plan_of(local_m(session([t, lo])), remote_m(session([t, r])))
    item = only(plan)
    assert (item.file, item.action, item.direction) == (rel, Action.APPEND, Direction.PULL)


def test_source_partial_tail_is_not_sent() -> None:
    lo, r = pair(TRANSCRIPT, P + A + b'{"type":"user","ti', P)
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert (item.action, item.case) == (Action.APPEND, "prefix")
    assert (item.offset, item.length) == (len(P), len(A))


def test_prefix_with_unterminated_destination_is_a_replace() -> None:
    lo, r = pair(TRANSCRIPT, P + A, P + b'{"type":"user","timestamp":"2030-01-01T')
    assert r.complete_size == len(P)
    assert r.file_size != r.complete_size
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert (item.action, item.direction, item.case) == (
        Action.REPLACE,
        Direction.PUSH,
        "unterminated",
    )
    assert item.expect == r
    assert item.length == len(P + A)
    assert item.offset == 0


def test_prefix_with_unterminated_local_is_a_pull_replace() -> None:
    lo, r = pair(TRANSCRIPT, P + b"{", P + B)
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert (item.action, item.direction, item.case) == (
        Action.REPLACE,
        Direction.PULL,
        "unterminated",
    )


def test_prefix_claim_needs_the_prefix_hash() -> None:
    # The shorter copy IS a byte prefix, but the scan did not hash our prefix:
    # never assume append-only.
    r = describe(TRANSCRIPT, P)
    lo = describe(TRANSCRIPT, P + A)  # no peer size: no prefix_sha256
    assert lo.prefix_sha256 is None
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert item.action is Action.REPLACE
    assert item.case == "diverged"


def test_prefix_hash_of_another_size_is_not_a_prefix() -> None:
    r = describe(TRANSCRIPT, P)
    lo = describe(TRANSCRIPT, P + A, len(P) - 1)
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert item.action is Action.REPLACE


def test_non_transcript_prefix_is_never_appended() -> None:
    rel = f"{SID}/tool-results/t1.txt"
    lo, r = pair(
        rel,
        b"abcdef",
        b"abc",
        local_kw={"mtime_ns": 2_000_000_000},
        remote_kw={"mtime_ns": 1_000_000_000},
    )
    assert lo.prefix_sha256 == r.sha256
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert (item.action, item.case, item.direction) == (Action.REPLACE, "differs", Direction.PUSH)


# --------------------------------------------------------------------------
# diverged


def test_diverged_newer_last_message_wins() -> None:
    lo, r = pair(TRANSCRIPT, P + A, P + B)
    assert lo.last_message_time is not None
    assert r.last_message_time is not None
    assert r.last_message_time > lo.last_message_time
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert (item.action, item.direction, item.case) == (
        Action.REPLACE,
        Direction.PULL,
        "diverged",
    )
    assert item.conflict
    assert item.source == r
    assert item.expect == lo
    assert (item.offset, item.length) == (0, r.complete_size)


def test_diverged_newer_wins_even_when_smaller() -> None:
    big_old = P + line(30, T0 + dt.timedelta(minutes=30), "x" * 500)
    small_new = line(0, T0) + line(31, T0 + dt.timedelta(minutes=31))
    lo, r = pair(TRANSCRIPT, big_old, small_new)
    assert lo.complete_size > r.complete_size
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert (item.action, item.direction, item.case) == (
        Action.REPLACE,
        Direction.PULL,
        "diverged",
    )


def test_diverged_when_the_shorter_side_was_rewritten() -> None:
    # Claude truncated and rewrote the remote's tail: shorter, not a prefix.
    lo, r = pair(TRANSCRIPT, P + A + B, P[:-5] + b"xxxx\n")
    assert r.complete_size < lo.complete_size
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert item.case == "diverged"


def test_diverged_time_tie_larger_size_wins() -> None:
    when = T0 + dt.timedelta(hours=5)
    lo, r = pair(
        TRANSCRIPT, P + A + line(40), P + B, local_kw={"when": when}, remote_kw={"when": when}
    )
    assert lo.complete_size != r.complete_size
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    expected = Direction.PUSH if lo.complete_size > r.complete_size else Direction.PULL
    assert (item.action, item.direction, item.case) == (Action.REPLACE, expected, "diverged")
    assert item.source.complete_size == max(lo.complete_size, r.complete_size)


def test_diverged_time_and_size_tie_larger_sha256_wins() -> None:
    when = T0 + dt.timedelta(hours=5)
    x, y = P + line(50, None, "aaaa"), P + line(50, None, "bbbb")
    assert len(x) == len(y)
    lo, r = pair(TRANSCRIPT, x, y, local_kw={"when": when}, remote_kw={"when": when})
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert item.case == "diverged"
    assert item.source.sha256 == max(lo.sha256, r.sha256)
    swapped = only(plan_of(local_m(session([r])), remote_m(session([lo]))))
    assert swapped.source.sha256 == item.source.sha256


def test_diverged_same_instant_in_other_offsets_is_a_tie() -> None:
    a = dt.datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    b = dt.datetime(2026, 1, 1, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert a == b
    lo, r = pair(TRANSCRIPT, P + A + line(40), P + B, local_kw={"when": a}, remote_kw={"when": b})
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert item.source.complete_size == max(lo.complete_size, r.complete_size)


def test_diverged_offsets_compare_as_instants() -> None:
    # 10:00+02:00 (08:00Z) is older than 09:00Z.
    lo_t = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    r_t = dt.datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    lo, r = pair(
        TRANSCRIPT, P + A + line(40), P + B, local_kw={"when": lo_t}, remote_kw={"when": r_t}
    )
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert item.direction is Direction.PULL


def test_diverged_missing_time_is_the_oldest() -> None:
    lo, r = pair(
        TRANSCRIPT,
        P + A + line(40, None, "x" * 1000),
        P + B,
        local_kw={"when": None},
        remote_kw={"when": dt.datetime(1971, 1, 1, tzinfo=UTC)},
    )
    assert lo.complete_size > r.complete_size
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert (item.direction, item.case) == (Direction.PULL, "diverged")


def test_diverged_both_times_missing_larger_wins() -> None:
    lo, r = pair(
        TRANSCRIPT,
        line(1) + line(2),
        line(3),
        local_kw={"when": None},
        remote_kw={"when": None},
    )
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert (item.direction, item.case) == (Direction.PUSH, "diverged")


# --------------------------------------------------------------------------
# differs (non-transcript files)


def test_non_transcript_newer_mtime_wins() -> None:
    rel = f"{SID}/subagents/agent-a1.meta.json"
    lo, r = pair(
        rel,
        b'{"v":"a much longer old value"}',
        b'{"v":2}',
        local_kw={"mtime_ns": 1_700_000_000_000_000_000, "mode": 0o644},
        remote_kw={"mtime_ns": 1_700_000_001_000_000_000, "mode": 0o644},
    )
    t = describe(TRANSCRIPT, P)
    item = only(plan_of(local_m(session([t, lo])), remote_m(session([t, r], dir=REMOTE_DIR))))
    assert (item.file, item.action, item.direction, item.case) == (
        rel,
        Action.REPLACE,
        Direction.PULL,
        "differs",
    )
    assert not item.conflict
    assert item.dest_dir == LOCAL_DIR
    assert item.length == r.complete_size


def test_non_transcript_mtime_tie_larger_size_then_sha() -> None:
    rel = f"{SID}/tool-results/t.json"
    kw = {"mtime_ns": 1_700_000_000_000_000_000}
    lo, r = pair(rel, b"[1,2,3]", b"[1]", local_kw=kw, remote_kw=kw)
    assert only(plan_of(local_m(session([lo])), remote_m(session([r])))).direction is Direction.PUSH
    lo, r = pair(rel, b"[1]", b"[2]", local_kw=kw, remote_kw=kw)
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert item.source.sha256 == max(lo.sha256, r.sha256)


def test_non_transcript_ignores_last_message_time() -> None:
    rel = f"{SID}/tool-results/t.txt"
    lo, r = pair(
        rel,
        b"old",
        b"new!",
        local_kw={"mtime_ns": 1_000_000_000, "when": T0 + dt.timedelta(days=9)},
        remote_kw={"mtime_ns": 2_000_000_000, "when": None},
    )
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert item.direction is Direction.PULL


# --------------------------------------------------------------------------
# uncommitted / committed (files of a synced folder in a git checkout)

OLDER, NEWER = 1_700_000_000_000_000_000, 1_800_000_000_000_000_000


def folder_pair(
    local_committed: bool | None, remote_committed: bool | None, *, local_newer: bool = False
) -> tuple[FileEntry, FileEntry]:
    lo, r = pair(
        "plans/p.md",
        b"my uncommitted edit\n",
        b"as committed\n",
        local_kw={"mtime_ns": NEWER if local_newer else OLDER},
        remote_kw={"mtime_ns": OLDER if local_newer else NEWER},
    )
    return (
        attrs.evolve(lo, plain=True, committed=local_committed),
        attrs.evolve(r, plain=True, committed=remote_committed),
    )


@pytest.mark.parametrize("local_newer", [False, True])
def test_changes_on_top_of_a_commit_win_over_a_copy_as_committed(local_newer: bool) -> None:
    # A fresh clone in the codespace makes its committed copy look newer than the
    # laptop's edit: the edit wins anyway, and the committed copy is backed up.
    lo, r = folder_pair(False, True, local_newer=local_newer)
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert (item.action, item.direction, item.case) == (
        Action.REPLACE,
        Direction.PUSH,
        "uncommitted",
    )
    assert item.source is lo
    assert "local copy has uncommitted changes" in item.reason


def test_a_copy_as_committed_never_beats_changes_on_the_other_side() -> None:
    lo, r = folder_pair(True, False, local_newer=True)
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert (item.direction, item.case) == (Direction.PULL, "uncommitted")


def test_committed_on_both_sides_at_different_commits_is_left_to_git() -> None:
    lo, r = folder_pair(True, True, local_newer=True)
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert (item.action, item.case) == (Action.SKIP, "committed")
    assert item.length == 0


@pytest.mark.parametrize(
    ("local_committed", "remote_committed"), [(False, False), (None, True), (True, None)]
)
def test_without_a_committed_copy_on_one_side_the_newer_wins(
    local_committed: bool | None, remote_committed: bool | None
) -> None:
    lo, r = folder_pair(local_committed, remote_committed, local_newer=True)
    item = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    assert (item.direction, item.case) == (Direction.PUSH, "differs")


@given(
    st.sampled_from([None, False, True]),
    st.sampled_from([None, False, True]),
    st.booleans(),
)
def test_property_committed_rules_are_symmetric(
    local_committed: bool | None, remote_committed: bool | None, local_newer: bool
) -> None:
    lo, r = folder_pair(local_committed, remote_committed, local_newer=local_newer)
    forward = only(plan_of(local_m(session([lo])), remote_m(session([r]))))
    backward = only(plan_of(local_m(session([r])), remote_m(session([lo]))))
    flipped = {Direction.PUSH: Direction.PULL, Direction.PULL: Direction.PUSH}
    assert (backward.action, backward.case) == (forward.action, forward.case)
    assert backward.direction is flipped[forward.direction]
    assert backward.source is forward.source


# --------------------------------------------------------------------------
# filters: open sessions, direction


@pytest.mark.parametrize("side", ["local", "remote"])
def test_a_session_open_on_the_receiving_side_is_never_written(side: str) -> None:
    # local has more: a push. Open on the receiving side (remote): skipped.
    # Open on the sending side (local): its complete lines still go, as an append.
    lo, r = pair(TRANSCRIPT, P + A, P)
    plan = plan_of(
        local_m(session([lo], active=side == "local")),
        remote_m(session([r], active=side == "remote")),
    )
    item = only(plan)
    assert item.direction is Direction.PUSH
    if side == "remote":
        assert (item.action, item.case) == (Action.SKIP, "open")
        assert item.reason.startswith("open in Claude on remote: not written there")
        assert plan.transfers == ()
    else:
        assert (item.action, item.case) == (Action.APPEND, "prefix")
        assert item.length == len(A)


@pytest.mark.parametrize("side", ["local", "remote"])
def test_an_open_session_missing_on_the_other_side_is_copied(side: str) -> None:
    f = describe(TRANSCRIPT, P)
    if side == "local":
        plan = plan_of(local_m(session([f], active=True)), remote_m())
    else:
        plan = plan_of(local_m(), remote_m(session([f], active=True)))
    item = only(plan)
    assert (item.action, item.case) == (Action.COPY, "missing")


@pytest.mark.parametrize("side", ["local", "remote"])
def test_a_divergence_waits_while_the_winner_is_open(side: str) -> None:
    newer = describe(TRANSCRIPT, P + B)
    older = describe(TRANSCRIPT, P + A)
    lo, r = (newer, older) if side == "local" else (older, newer)
    plan = plan_of(
        local_m(session([lo], active=side == "local")),
        remote_m(session([r], active=side == "remote")),
    )
    item = only(plan)
    assert (item.action, item.case) == (Action.SKIP, "open")
    assert "only its complete lines are sent while it is open" in item.reason


def test_an_open_receiver_skips_every_file_of_the_session_but_not_other_sessions() -> None:
    other = "9e9e9e9e-0000-4000-8000-000000000000"
    t = describe(TRANSCRIPT, P)
    meta = describe(f"{SID}/x.meta.json", b"{}")
    t2 = describe(f"{other}.jsonl", A)
    here = describe(TRANSCRIPT, b"")  # the receiver has the session, empty
    plan = plan_of(
        local_m(session([t, meta]), session([t2], sid=other)),
        remote_m(session([here], dir=REMOTE_DIR, active=True)),
    )
    by_file = {i.file: i for i in plan.items}
    assert by_file[TRANSCRIPT].action is Action.SKIP
    assert by_file[meta.rel].action is Action.SKIP
    assert by_file[t2.rel].action is Action.COPY
    assert [i.file for i in plan.transfers] == [t2.rel]


@pytest.mark.parametrize(
    ("direction", "pushed", "pulled"),
    [
        (Direction.BOTH, True, True),
        (Direction.PUSH, True, False),
        (Direction.PULL, False, True),
    ],
)
def test_direction_filter(direction: Direction, pushed: bool, pulled: bool) -> None:
    s_push = "1" * 8 + "-0000-4000-8000-000000000001"
    s_pull = "2" * 8 + "-0000-4000-8000-000000000002"
    lo_push, r_push = pair(f"{s_push}.jsonl", P + A, P)
    r_pull = describe(f"{s_pull}.jsonl", B)
    plan = plan_of(
        local_m(session([lo_push], sid=s_push)),
        remote_m(session([r_push], sid=s_push), session([r_pull], sid=s_pull)),
        direction,
    )
    push_item, pull_item = plan.items
    assert push_item.direction is Direction.PUSH
    assert pull_item.direction is Direction.PULL
    assert push_item.case == "prefix"
    assert pull_item.case == "missing"
    assert (push_item.action is Action.APPEND) is pushed
    assert (push_item.action is Action.SKIP) is not pushed
    assert (pull_item.action is Action.COPY) is pulled
    assert (pull_item.action is Action.SKIP) is not pulled
    assert len(plan.pushes) == int(pushed)
    assert len(plan.pulls) == int(pulled)


def test_plan_order_sessions_then_transcript_first() -> None:
    ids = ["c-session", "a-session", "b-session"]
    sessions = [
        session(
            [
                describe(f"{s}.jsonl", P),
                describe(f"{s}/tool-results/z.txt", b"z"),
                describe(f"{s}/subagents/agent-1.jsonl", A),
            ],
            sid=s,
        )
        for s in ids
    ]
    plan = plan_of(local_m(*sessions), remote_m())
    assert [(i.session, i.file) for i in plan.items] == [
        (s, f)
        for s in sorted(ids)
        for f in (f"{s}.jsonl", f"{s}/subagents/agent-1.jsonl", f"{s}/tool-results/z.txt")
    ]


def test_plan_is_pure_and_records_now() -> None:
    lo, r = pair(TRANSCRIPT, P + A, P + B)
    local, remote = local_m(session([lo])), remote_m(session([r]))
    now = dt.datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    first = plan_sync(local, remote, SyncPolicy(), now)
    second = plan_sync(local, remote, SyncPolicy(), now)
    assert first == second
    assert first.now == now
    assert first.policy == SyncPolicy()


# --------------------------------------------------------------------------
# Property helpers: sides as bytes


SESSION_IDS = ("s-one", "s-two", "s-three")
SUB_RELS = ("subagents/agent-a.jsonl", "subagents/agent-a.meta.json")
TIMES = [T0 + dt.timedelta(minutes=m) for m in (0, 1, 1, 2, 30, 60)]


@st.composite
def jsonl_lines(draw: st.DrawFn) -> bytes:
    n = draw(st.integers(0, 10_000))
    when = draw(st.one_of(st.none(), st.sampled_from(TIMES)))
    text = draw(st.sampled_from(["", "a", "bb", "\u2028", "é😀", "x" * 40]))
    return line(n, when, text)


partials = st.one_of(
    st.just(b""),
    st.just(b""),
    st.sampled_from([b"{", b'{"type":"user","timestamp":"2030-01-01T', b"{\xe2\x80"]),
)


@st.composite
def transcript_pair(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """Two copies of one transcript: a common prefix, then independent tails."""
    common = b"".join(draw(st.lists(jsonl_lines(), max_size=4)))
    lt = b"".join(draw(st.lists(jsonl_lines(), max_size=3)))
    rt = b"".join(draw(st.lists(jsonl_lines(), max_size=3)))
    if draw(st.booleans()):
        rt = lt + rt  # the remote went on from the local's state
    return common + lt + draw(partials), common + rt + draw(partials)


blobs = st.sampled_from([b"", b"{}", b'{"a":1}', b'{"a":1,"b":2}', b"tool output\n"])
mtimes = st.sampled_from([1_700_000_000_000_000_000 + k * 1_000_000_000 for k in range(4)])


@attrs.define
class Side:
    """One machine in the in-memory model: files as bytes, per session."""

    home: str | None
    dirs: dict[str, str] = attrs.field(factory=dict)  # session -> project dir
    files: dict[tuple[str, str], bytes] = attrs.field(factory=dict)  # (session, rel) -> data
    meta: dict[tuple[str, str], tuple[int, int]] = attrs.field(factory=dict)  # mtime_ns, mode
    active: set[str] = attrs.field(factory=set)


@st.composite
def sides(draw: st.DrawFn, allow_active: bool = False) -> tuple[Side, Side]:
    local = Side(home=draw(st.sampled_from([LOCAL_HOME, LOCAL_HOME, None])))
    remote = Side(home=draw(st.sampled_from([REMOTE_HOME, REMOTE_HOME, None])))
    for sid in draw(st.lists(st.sampled_from(SESSION_IDS), unique=True, max_size=3)):
        where = draw(st.sampled_from(["both", "both", "both", "local", "remote"]))
        present = [
            s for s, name in ((local, "local"), (remote, "remote")) if where in (name, "both")
        ]
        for side in present:
            side.dirs[sid] = LOCAL_DIR if side is local else REMOTE_DIR
            if allow_active and draw(st.integers(0, 5)) == 0:
                side.active.add(sid)
        data = draw(transcript_pair())
        rels = [f"{sid}.jsonl"] + [f"{sid}/{r}" for r in SUB_RELS if draw(st.integers(0, 2)) == 0]
        for rel in rels:
            if rel.endswith(".jsonl"):
                lb, rb = data if rel == f"{sid}.jsonl" else draw(transcript_pair())
            else:
                lb, rb = draw(blobs), draw(blobs)
            for side, content in ((local, lb), (remote, rb)):
                if side not in present:
                    continue
                if rel != f"{sid}.jsonl" and draw(st.integers(0, 4)) == 0:
                    continue  # a sub-file only one side has
                side.files[(sid, rel)] = content
                side.meta[(sid, rel)] = (draw(mtimes), 0o600 if rel.endswith(".jsonl") else 0o644)
    return local, remote


def scan(side: Side, peer: Side, host: str) -> SessionManifest:
    """The manifest of ``side``, as a scan that knows the peer's sizes would give."""
    peer_sizes = {key: describe(key[1], data).complete_size for key, data in peer.files.items()}
    sessions = []
    for sid in sorted(side.dirs):
        files = []
        for (s, rel), data in sorted(side.files.items()):
            if s != sid:
                continue
            mtime_ns, mode = side.meta[(s, rel)]
            files.append(
                describe(rel, data, peer_sizes.get((s, rel)), mtime_ns=mtime_ns, mode=mode)
            )
        files.sort(key=lambda f: (f.rel != f"{sid}.jsonl", f.rel))
        sessions.append(
            SessionEntry(
                id=sid,
                dir=side.dirs[sid],
                recent=True,
                active=sid in side.active,
                files=tuple(files),
            )
        )
    return manifest(sessions, home=side.home, host=host)


def pieces(data: bytes) -> set[bytes]:
    """The lines of ``data``, a partial last line included as its own piece."""
    return {p for p in data.split(b"\n") if p}


def _read(src: Side, item: PlannedItem) -> bytes:
    """The bytes the sending agent streams for ``item``."""
    rel = item.source_file or item.file
    session = rel.split("/")[0].removesuffix(".jsonl")
    source = src.files[(session, rel)]
    assert sha(source[: item.source.complete_size]) == item.source.sha256
    assert src.dirs[session] == item.source_dir
    sent = source[item.offset : item.offset + item.length]
    assert len(sent) == item.length
    return sent


def _write(dst: Side, item: PlannedItem, sent: bytes, backups: list[bytes]) -> None:
    """Apply ``item`` on the receiving side as its agent would."""
    key = (item.session, item.file)
    if item.session in dst.dirs:
        assert dst.dirs[item.session] == item.dest_dir
    else:
        dst.dirs[item.session] = item.dest_dir
    mtime_ns, mode = item.source.mtime_ns, item.source.mode
    if item.action is Action.COPY:
        assert key not in dst.files
        dst.files[key] = sent
        dst.meta[key] = (mtime_ns, mode)
    else:
        assert item.expect is not None
        old = dst.files[key]
        # The agent re-checks the destination against the scan.
        assert len(old) == item.expect.file_size
        assert sha(old[: item.expect.complete_size]) == item.expect.sha256
        if item.action is Action.APPEND:
            new = old + sent
            dst.meta[key] = (mtime_ns, dst.meta[key][1])
        else:
            assert item.action is Action.REPLACE
            if item.fork_file is not None:
                fork_id = item.fork_file.removesuffix(".jsonl")
                assert (fork_id, item.fork_file) not in dst.files
                dst.dirs[fork_id] = item.dest_dir
                dst.files[(fork_id, item.fork_file)] = old[: item.expect.complete_size]
                dst.meta[(fork_id, item.fork_file)] = dst.meta[key]
            backups.append(old)
            new = sent
            dst.meta[key] = (mtime_ns, mode)
        dst.files[key] = new
    # The agent verifies the result against the source's sha256.
    assert sha(dst.files[key]) == item.source.sha256


def apply_plan(plan: SyncPlan, local: Side, remote: Side) -> list[bytes]:
    """Apply the plan to the model in the engine's order; returns the backups.

    Pushes are read here before anything is applied; the other agent applies
    them, then reads what it sends; this side applies those last.
    """
    backups: list[bytes] = []
    pushes = [(i, _read(local, i)) for i in plan.transfers if i.direction is Direction.PUSH]
    for item, sent in pushes:
        _write(remote, item, sent, backups)
    pulls = [(i, _read(remote, i)) for i in plan.transfers if i.direction is Direction.PULL]
    for item, sent in pulls:
        _write(local, item, sent, backups)
    return backups


@st.composite
def manifests(draw: st.DrawFn) -> SessionManifest:
    local, remote = draw(sides(allow_active=True))
    return scan(local, remote, "m")


def _swap(direction: Direction) -> Direction:
    return {Direction.PUSH: Direction.PULL, Direction.PULL: Direction.PUSH}.get(
        direction, direction
    )


raw_entries = st.builds(
    FileEntry,
    rel=st.sampled_from([f"{SID}.jsonl", f"{SID}/a.jsonl", f"{SID}/b.json"]),
    complete_size=st.integers(0, 50),
    file_size=st.integers(0, 60),
    mtime_ns=st.integers(0, 2**62),
    mode=st.sampled_from([0o600, 0o644]),
    sha256=st.sampled_from([sha(b""), sha(b"a"), sha(b"b")]),
    last_message_time=st.one_of(st.none(), st.sampled_from(TIMES)),
    prefix_size=st.one_of(st.none(), st.integers(0, 50)),
    prefix_sha256=st.one_of(st.none(), st.sampled_from([sha(b""), sha(b"a"), sha(b"b")])),
)


@st.composite
def raw_manifests(draw: st.DrawFn) -> SessionManifest:
    """Arbitrary (not necessarily consistent) manifests."""
    sessions = []
    for sid in draw(st.lists(st.sampled_from(SESSION_IDS), unique=True, max_size=3)):
        files = draw(st.lists(raw_entries, max_size=3, unique_by=lambda f: f.rel))
        files = [attrs.evolve(f, rel=f.rel.replace(SID, sid)) for f in files]
        sessions.append(session(files, sid=sid, active=draw(st.booleans())))
    return manifest(sessions, home=draw(st.sampled_from([None, "h"])))


# --------------------------------------------------------------------------
# Properties


@settings(max_examples=150, deadline=None)
@given(st.one_of(manifests(), raw_manifests()), st.sampled_from(list(Direction)))
def test_property_plan_with_itself_is_empty(m: SessionManifest, direction: Direction) -> None:
    assert plan_sync(m, m, SyncPolicy(direction)).items == ()


@settings(max_examples=200, deadline=None)
@given(sides(allow_active=True), st.sampled_from(list(Direction)))
def test_property_swapping_sides_swaps_push_and_pull(
    pair_: tuple[Side, Side], direction: Direction
) -> None:
    local_side, remote_side = pair_
    local = scan(local_side, remote_side, "laptop")
    remote = scan(remote_side, local_side, "codespace")
    forward = plan_sync(local, remote, SyncPolicy(direction))
    backward = plan_sync(remote, local, SyncPolicy(_swap(direction)))
    assert len(forward.items) == len(backward.items)
    for f, b in zip(forward.items, backward.items, strict=True):
        assert (b.session, b.file, b.action, b.case, b.conflict) == (
            f.session,
            f.file,
            f.action,
            f.case,
            f.conflict,
        )
        assert b.direction is _swap(f.direction)
        assert (b.source, b.expect) == (f.source, f.expect)
        assert (b.source_dir, b.dest_dir) == (f.source_dir, f.dest_dir)
        assert (b.offset, b.length) == (f.offset, f.length)
    assert len(forward.pushes) == len(backward.pulls)
    assert len(forward.pulls) == len(backward.pushes)


@settings(max_examples=200, deadline=None)
@given(sides(), st.sampled_from(list(Direction)))
def test_property_no_line_is_lost(pair_: tuple[Side, Side], direction: Direction) -> None:
    local_side, remote_side = pair_
    before = set().union(
        *(pieces(d) for d in local_side.files.values()),
        *(pieces(d) for d in remote_side.files.values()),
    )
    local = scan(local_side, remote_side, "laptop")
    remote = scan(remote_side, local_side, "codespace")
    plan = plan_sync(local, remote, SyncPolicy(direction))
    for item in plan.items:
        if item.action is Action.APPEND:
            assert item.expect is not None
            assert item.expect.file_size == item.expect.complete_size  # never after a partial line
            assert item.offset == item.expect.complete_size
        if item.action in (Action.APPEND, Action.COPY):
            assert not item.conflict
    backups = apply_plan(plan, local_side, remote_side)
    after = set().union(
        *(pieces(d) for d in local_side.files.values()),
        *(pieces(d) for d in remote_side.files.values()),
        *(pieces(d) for d in backups),
    )
    assert before <= after


def _complete_lines(data: bytes) -> set[bytes]:
    return {line for line in data.split(b"\n")[:-1] if line}


@settings(max_examples=200, deadline=None)
@given(sides())
def test_property_every_complete_line_of_a_session_stays_in_a_transcript(
    pair_: tuple[Side, Side],
) -> None:
    """Not only in a backup: a two-way sync keeps each complete line of every
    session's transcript in some transcript (the fork of a losing branch)."""
    local_side, remote_side = pair_
    before = set().union(
        *(
            _complete_lines(data)
            for side in (local_side, remote_side)
            for (sid, rel), data in side.files.items()
            if rel == f"{sid}.jsonl"
        )
    )
    plan = plan_sync(
        scan(local_side, remote_side, "laptop"), scan(remote_side, local_side, "codespace")
    )
    apply_plan(plan, local_side, remote_side)
    after = set().union(
        *(pieces(d) for side in (local_side, remote_side) for d in side.files.values())
    )
    assert before <= after


@settings(max_examples=200, deadline=None)
@given(sides())
def test_property_sync_then_rescan_is_settled(pair_: tuple[Side, Side]) -> None:
    local_side, remote_side = pair_
    plan = plan_sync(
        scan(local_side, remote_side, "laptop"), scan(remote_side, local_side, "codespace")
    )
    apply_plan(plan, local_side, remote_side)
    again = plan_sync(
        scan(local_side, remote_side, "laptop"), scan(remote_side, local_side, "codespace")
    )
    if local_side.home is not None and remote_side.home is not None:
        assert again.items == ()
    else:
        # Only what had no place to go is still planned, as a skip.
        assert again.transfers == ()
        assert {(i.session, i.file) for i in again.items} == {
            (i.session, i.file) for i in plan.items if i.action is Action.SKIP
        }
    # Every file both sides hold now has the same counted bytes.
    for key in local_side.files.keys() & remote_side.files.keys():
        lo = describe(key[1], local_side.files[key])
        r = describe(key[1], remote_side.files[key])
        assert (lo.complete_size, lo.sha256) == (r.complete_size, r.sha256)
