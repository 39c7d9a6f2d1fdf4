"""The pure memory and history plans: the named cases and the invariants
(every entry of both sides kept, nothing doubled, a second sync plans nothing,
both sides end the same)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from session_sync.agent.history import MAX_HISTORY_BYTES
from session_sync.model.history import HistorySide, Prompt, plan_history, prompts_from_scan
from session_sync.model.memory import (
    CASES,
    INDEX,
    MemoryFile,
    MemorySide,
    memory_from_scan,
    merge_lines,
    plan_memory,
)


def _file(name: str, text: str, mtime: int = 1) -> MemoryFile:
    return MemoryFile(name, text, hashlib.sha256(text.encode()).hexdigest(), mtime, 0o644)


def _side(*files: MemoryFile, refused: tuple[tuple[str, str], ...] = ()) -> MemorySide:
    return MemorySide("-p", {f.name: f for f in files}, refused)


def _after(plan_side: MemorySide, other: MemorySide, which: str) -> MemorySide:
    """``plan_side`` once the plan's writes for it have landed."""
    files = dict(plan_side.files)
    for w in plan_memory(*((plan_side, other) if which == "local" else (other, plan_side))).writes:
        if w.side == which:
            files[w.name] = MemoryFile(w.name, w.content, w.sha256, w.mtime_ns, w.mode)
    return MemorySide(plan_side.dir, files)


def _synced(local: MemorySide, remote: MemorySide) -> tuple[MemorySide, MemorySide]:
    return _after(local, remote, "local"), _after(remote, local, "remote")


def _shas(side: MemorySide) -> dict[str, str]:
    return {name: f.sha256 for name, f in side.files.items()}


def _keys(text: str) -> set[str]:
    return {line.strip() for line in text.split("\n") if line.strip()}


# ------------------------------------------------------------------ cases


def test_a_file_only_on_one_side_is_copied_to_the_other() -> None:
    plan = plan_memory(_side(_file("a.md", "A\n")), _side())
    assert [(w.side, w.name, w.case, w.expect) for w in plan.writes] == [
        ("remote", "a.md", "memory-only-local", None)
    ]


def test_the_same_files_plan_nothing() -> None:
    both = _side(_file(INDEX, "- x\n"), _file("a.md", "A\n"))
    assert plan_memory(both, both).writes == ()


def test_index_changed_on_both_sides_is_merged_and_goes_to_both() -> None:
    ours = _file(INDEX, "# Memory\n- [a](a.md) one\n- [b](b.md) two\n")
    theirs = _file(INDEX, "# Memory\n- [a](a.md) one\n- [c](c.md) three\n")
    plan = plan_memory(_side(ours), _side(theirs))
    assert {w.side for w in plan.writes} == {"local", "remote"}
    merged = {w.content for w in plan.writes}
    assert merged == {"# Memory\n- [a](a.md) one\n- [c](c.md) three\n- [b](b.md) two\n"}
    came_in = next(w for w in plan.writes if w.side == "local")
    assert came_in.added == ("- [c](c.md) three",)
    assert came_in.case == "memory-index-merged"


def test_a_topic_changed_on_both_sides_keeps_both_and_links_the_other() -> None:
    old, new = _file("t.md", "old\n", mtime=1), _file("t.md", "new\n", mtime=2)
    local, remote = _synced(_side(_file(INDEX, "- x\n"), old), _side(new))
    assert _shas(local) == _shas(remote)
    assert local.files["t.md"].content == "new\n"
    beside = f"t.{old.sha256[:8]}.md"
    assert local.files[beside].content == "old\n"
    assert f"]({beside})" in local.files[INDEX].content
    assert plan_memory(local, remote).writes == ()
    # The older copy kept beside it here is this side's own text: nothing came in.
    plan = plan_memory(_side(_file(INDEX, "- x\n"), old), _side(new))
    kept = next(w for w in plan.writes if w.side == "local" and w.name == beside)
    assert kept.added == ()


def test_with_a_base_a_one_sided_edit_simply_wins() -> None:
    before = _file("t.md", "v1\n")
    edited = _file("t.md", "v2\n", mtime=2)
    plan = plan_memory(_side(before), _side(edited), {"t.md": before.sha256})
    assert [(w.side, w.content, w.case) for w in plan.writes] == [
        ("local", "v2\n", "memory-one-sided")
    ]


def test_a_one_sided_copy_older_than_the_other_is_kept_beside_not_taken() -> None:
    # What a ring of three machines brings back round (or an edit on a machine
    # whose clock is behind): taken, it would undo the newer copy; both are kept.
    newer = _file("t.md", "v1\n", mtime=2)
    older = _file("t.md", "v2\n", mtime=0)
    plan = plan_memory(_side(newer), _side(older), {"t.md": newer.sha256})
    assert {(w.side, w.name, w.case) for w in plan.writes} == {
        ("local", f"t.{older.sha256[:8]}.md", "memory-topic-kept-beside"),
        ("local", INDEX, "memory-index-merged"),
        ("remote", f"t.{older.sha256[:8]}.md", "memory-topic-kept-beside"),
        ("remote", "t.md", "memory-topic-newer"),
        ("remote", INDEX, "memory-index-merged"),
    }


def test_a_file_refused_on_one_side_is_left_alone_on_both() -> None:
    plan = plan_memory(_side(_file("big.md", "x\n")), _side(refused=(("big.md", "too large"),)))
    assert plan.writes == ()


def test_every_case_has_a_reason() -> None:
    assert all(CASES.values())


def test_far_files_with_bad_names_or_lying_hashes_are_refused() -> None:
    good = _file("ok.md", "fine\n")
    raw = {
        "dir": "-p",
        "files": [
            {
                "name": n,
                "size": 5,
                "mtime_ns": 1,
                "mode": 0o644,
                "sha256": good.sha256,
                "content": "fine\n",
            }
            for n in ("../evil.md", "sub/x.md", ".hidden.md", "x.txt", "ok.md")
        ]
        + [
            {
                "name": "lie.md",
                "size": 5,
                "mtime_ns": 1,
                "mode": 0o644,
                "sha256": "0" * 64,
                "content": "fine\n",
            }
        ],
    }
    side = memory_from_scan(raw)
    assert side is not None
    assert list(side.files) == ["ok.md"]
    assert {name for name, _ in side.refused} == {
        "../evil.md",
        "sub/x.md",
        ".hidden.md",
        "x.txt",
        "lie.md",
    }


# ------------------------------------------------------------- properties

_lines = st.lists(
    st.sampled_from(["# Memory", "", "- a", "- b", "- c", "- d", "  - e", "- f", "## Topic"]),
    max_size=12,
)
_texts = _lines.map(lambda ls: "\n".join(ls) + ("\n" if ls else ""))


@settings(max_examples=300, deadline=None)
@given(_texts, _texts)
def test_merge_keeps_every_entry_of_both_and_doubles_none(a: str, b: str) -> None:
    merged = merge_lines(a, b)
    assert _keys(merged) == _keys(a) | _keys(b)
    ours = [line.strip() for line in a.split("\n") if line.strip()]
    got = [line.strip() for line in merged.split("\n") if line.strip()]
    for key in _keys(merged):
        assert got.count(key) == max(1, ours.count(key))  # only our own repeats stay
    # idempotent: merging either side in again changes nothing
    assert merge_lines(merged, a) == merged
    assert merge_lines(merged, b) == merged


_names = st.sampled_from([INDEX, "a.md", "b.md", "c.md"])
_files = st.dictionaries(_names, st.tuples(_texts, st.integers(0, 3)), max_size=4)


@settings(max_examples=300, deadline=None)
@given(_files, _files)
def test_one_sync_makes_both_sides_the_same_and_a_second_plans_nothing(
    a: dict[str, tuple[str, int]], b: dict[str, tuple[str, int]]
) -> None:
    local = _side(*(_file(n, t, m) for n, (t, m) in a.items()))
    remote = _side(*(_file(n, t, m) for n, (t, m) in b.items()))
    after_local, after_remote = _synced(local, remote)
    assert _shas(after_local) == _shas(after_remote)
    assert plan_memory(after_local, after_remote).writes == ()
    # Nothing lost: every file's text of either side is still there under some name,
    # and every index entry survives.
    texts = {f.content for f in after_local.files.values()}
    for side in (local, remote):
        for name, f in side.files.items():
            if name == INDEX:
                assert _keys(f.content) <= _keys(after_local.files[INDEX].content)
            else:
                assert f.content in texts


# ---------------------------------------------------------------- history


def _prompt(t: int, text: str) -> Prompt:
    return Prompt(text, t, "{}", None)


def test_history_adds_each_sides_missing_prompts_oldest_first_once() -> None:
    local = [_prompt(1, "a"), _prompt(3, "c")]
    remote = [_prompt(4, "d"), _prompt(2, "b"), _prompt(3, "c"), _prompt(2, "b")]
    plan = plan_history(local, remote)
    assert [p.display for p in plan.to_local] == ["b", "d"]
    assert [p.display for p in plan.to_remote] == ["a"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.sampled_from("xyz")), max_size=8),
    st.lists(st.tuples(st.integers(0, 5), st.sampled_from("xyz")), max_size=8),
)
def test_history_after_one_sync_both_have_every_prompt_and_a_second_adds_none(
    a: list[tuple[int, str]], b: list[tuple[int, str]]
) -> None:
    local = [_prompt(t, d) for t, d in a]
    remote = [_prompt(t, d) for t, d in b]
    plan = plan_history(local, remote)
    local2, remote2 = local + list(plan.to_local), remote + list(plan.to_remote)
    assert {p.key for p in local2} == {p.key for p in remote2}
    again = plan_history(local2, remote2)
    assert again.to_local == again.to_remote == ()


def test_history_older_than_a_cut_short_scan_is_not_offered_to_it() -> None:
    # Here: only the newest prompts were sent (from t=10 on); older ones may be here.
    here = HistorySide((_prompt(10, "j"), _prompt(11, "k")), truncated=True)
    there = HistorySide((_prompt(3, "c"), _prompt(12, "l")))
    plan = plan_history(here, there)
    assert [p.display for p in plan.to_local] == ["l"]
    assert [p.display for p in plan.to_remote] == ["j", "k"]


@pytest.mark.parametrize(
    "entry",
    [
        {"display": 1, "timestamp": 1},
        {"display": "x", "timestamp": True},
        {"display": "x", "timestamp": -1},
        {"display": "x" * 70000, "timestamp": 1},
        {"display": "lone \ud800 surrogate", "timestamp": 1},  # not UTF-8: fails an append
        {"display": "x", "timestamp": 1, "pastedContents": {"1": {"content": "\udfff"}}},
        "not an object",
    ],
)
def test_far_history_lines_of_the_wrong_shape_are_left_out(entry: object) -> None:
    side = prompts_from_scan({"entries": [entry], "truncated": False})
    assert side is not None
    assert side.prompts == ()


def test_far_history_is_bounded_in_bytes_as_the_agent_bounds_its_own() -> None:
    # 2000 lines of 60 KB each would be 120 MB appended to our history.jsonl.
    entries = [{"display": f"{t}" + "x" * 60_000, "timestamp": t} for t in range(2000)]
    side = prompts_from_scan({"entries": entries, "truncated": False})
    assert side is not None
    assert side.truncated
    assert sum(len(p.display) for p in side.prompts) <= MAX_HISTORY_BYTES
    assert side.prompts[-1].timestamp == 1999  # the newest are the ones kept
    assert [p.timestamp for p in side.prompts] == sorted(p.timestamp for p in side.prompts)


def test_a_far_session_id_that_is_no_id_is_not_kept() -> None:
    entry = {"display": "x", "timestamp": 1, "sessionId": "s" * 10_000}
    side = prompts_from_scan({"entries": [entry], "truncated": False})
    assert side is not None
    assert [p.session_id for p in side.prompts] == [None]


def test_a_topic_whose_beside_name_would_be_too_long_is_left_alone_on_both() -> None:
    # Kept beside, it would be named <stem>.<sha8>.md, past the longest memory name:
    # the writing agent would refuse that copy after the newer one replaced it.
    name = "t" * 190 + ".md"
    local = _side(_file(INDEX, "- a\n"), _file(name, "mine\n", mtime=1))
    remote = _side(_file(INDEX, "- a\n"), _file(name, "theirs\n", mtime=2))
    plan = plan_memory(local, remote)
    assert plan.writes == ()
    assert name not in plan.final


def _merge_by_search(ours: str, theirs: str, extra: tuple[str, ...] = ()) -> str:
    """The merge as first written (a search per line): the oracle of the linked one."""

    def lines(text: str) -> list[str]:
        got = text.split("\n")
        return got[:-1] if got and got[-1] == "" else got

    out = lines(ours)
    present = {line.strip() for line in out if line.strip()}
    for source in (lines(theirs), list(extra)):
        anchor: int | None = None
        for line in source:
            key = line.strip()
            if not key:
                continue
            if key in present:
                anchor = next(i for i, o in enumerate(out) if o.strip() == key)
                continue
            if anchor is None:
                out.append(line)
                anchor = len(out) - 1
            else:
                anchor += 1
                out.insert(anchor, line)
            present.add(key)
    return "\n".join(out) + "\n" if out else ""


_LINES = st.lists(st.sampled_from(["a", "b", " b", "c", "", "d ", "e", "f"]), max_size=10)


@settings(max_examples=400, deadline=None)
@given(_LINES, _LINES, st.lists(st.sampled_from(["a", "x", "y"]), max_size=3))
def test_the_linked_merge_places_every_line_where_the_search_did(
    ours: list[str], theirs: list[str], extra: list[str]
) -> None:
    a, b = "\n".join(ours), "\n".join(theirs)
    assert merge_lines(a, b, extra) == _merge_by_search(a, b, tuple(extra))


def test_the_merge_of_a_largest_index_of_short_lines_is_linear() -> None:
    # 60 000 lines fill a 256 KB MEMORY.md; a search per line made this hours of
    # work (a far side's way to hang every sync). Linear, it is one pass.
    ours = "".join(f"{i:x}\n" for i in range(60_000))
    theirs = "".join(f"{i:x}\n" for i in reversed(range(60_000))) + "new\n"
    merged = merge_lines(ours, theirs)
    assert merged == "0\nnew\n" + ours[len("0\n") :]  # after the line it follows there


_EDIT = st.tuples(
    st.integers(0, 2),  # the machine whose Claude edits
    st.sampled_from([INDEX, "a.md", "b.md"]),
    st.integers(0, 5),  # the line it adds
    st.booleans(),  # whether it drops its first line too
    st.lists(st.sampled_from([(0, 1), (1, 2), (2, 0), (1, 0)]), max_size=2),  # syncs after
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_EDIT, max_size=12))
def test_three_machines_syncing_in_a_ring_end_the_same_with_each_link_once(
    edits: list[tuple[int, str, int, bool, list[tuple[int, int]]]],
) -> None:
    machines: list[dict[str, MemoryFile]] = [{}, {}, {}]
    bases: dict[tuple[int, int], dict[str, str]] = {}

    def sync(x: int, y: int) -> int:
        pair = (min(x, y), max(x, y))
        local, remote = MemorySide("-p", machines[x]), MemorySide("-p", machines[y])
        plan = plan_memory(local, remote, bases.get(pair))
        for w in plan.writes:
            side = machines[x] if w.side == "local" else machines[y]
            side[w.name] = MemoryFile(w.name, w.content, w.sha256, w.mtime_ns, w.mode)
        bases[pair] = dict(plan.final)
        return len(plan.writes)

    for moment, (who, name, added, drop, syncs) in enumerate(edits, 1):
        old = machines[who].get(name)
        lines = old.content.splitlines() if old else []
        if drop and lines:
            lines.pop(0)
        machines[who][name] = _file(name, "\n".join([*lines, f"l{added}"]) + "\n", moment)
        for x, y in syncs:
            sync(x, y)
    for _ in range(4):
        writes = sum(sync(x, y) for x, y in [(0, 1), (1, 2), (2, 0)])
    assert writes == 0
    texts = [{n: f.content for n, f in m.items()} for m in machines]
    assert texts[0] == texts[1] == texts[2]
    links = [line for line in texts[0].get(INDEX, "").splitlines() if "(other copy)" in line]
    assert len(links) == len(set(links))


def test_far_prompts_stamped_in_the_future_are_left_out() -> None:
    # 2000 of them would hold our window of the newest prompts for good.
    entries = [{"display": f"future {i}", "timestamp": 10**13 + i} for i in range(2000)]
    entries.append({"display": "real", "timestamp": 5})
    side = prompts_from_scan({"entries": entries, "truncated": False}, latest=1000)
    assert side is not None
    assert [p.display for p in side.prompts] == ["real"]
