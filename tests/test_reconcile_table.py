"""The table of cases in ``session_sync.model.reconcile``'s docstring, as a test.

Each row of the docstring's table must have an example here that ``decide``
resolves to that case and action, and every example must be a row: the
documentation and the code cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest

from session_sync.model import reconcile
from session_sync.model.manifest import FileEntry
from session_sync.model.reconcile import Action, Direction, decide

T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)
LINES = b'{"n":1}\n{"n":2}\n'
MORE = LINES + b'{"n":3}\n'
OTHER = b'{"n":1}\n{"x":9}\n'


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry(
    data: bytes,
    *,
    rel: str = "s.jsonl",
    when: dt.datetime | None = T0,
    partial: int = 0,
    mtime_ns: int = 1,
    peer: bytes | None = None,
    committed: bool | None = None,
    plain: bool = False,
) -> FileEntry:
    """A file as a scan describes it (``peer``: the other copy, for the prefix hash)."""
    prefix = peer is not None and len(peer) < len(data)
    return FileEntry(
        rel=rel,
        complete_size=len(data),
        file_size=len(data) + partial,
        mtime_ns=mtime_ns,
        mode=0o600,
        sha256=_sha(data),
        last_message_time=when,
        prefix_size=len(peer) if prefix and peer is not None else None,
        prefix_sha256=_sha(data[: len(peer)]) if prefix and peer is not None else None,
        plain=plain,
        committed=committed,
    )


# case -> (local, remote, action expected; None: no item at all)
EXAMPLES: dict[str, tuple[FileEntry | None, FileEntry | None, Action | None]] = {
    "missing": (_entry(LINES), None, Action.COPY),
    "identical": (_entry(LINES), _entry(LINES), None),
    "prefix": (_entry(MORE, peer=LINES), _entry(LINES), Action.APPEND),
    "unterminated": (_entry(MORE, peer=LINES), _entry(LINES, partial=5), Action.REPLACE),
    "diverged": (
        _entry(LINES, when=T0),
        _entry(OTHER, when=T0 + dt.timedelta(hours=1)),
        Action.REPLACE,
    ),
    "uncommitted": (
        _entry(b"mine", rel="f.md", plain=True, committed=False, mtime_ns=1),
        _entry(b"theirs", rel="f.md", plain=True, committed=True, mtime_ns=2),
        Action.REPLACE,
    ),
    "committed": (
        _entry(b"one", rel="f.md", plain=True, committed=True),
        _entry(b"two", rel="f.md", plain=True, committed=True),
        Action.SKIP,
    ),
    "differs": (
        _entry(b"old", rel="f.md", mtime_ns=1),
        _entry(b"new", rel="f.md", mtime_ns=2),
        Action.REPLACE,
    ),
}


def documented_cases() -> dict[str, str]:
    """``{case: action}`` from the docstring's table (``(no item)`` for none)."""
    doc = reconcile.__doc__ or ""
    rows = re.findall(r"^``(\w+)``\s{2,}.*?\s{2,}(\S[^\n]*?)\s*$", doc, flags=re.M)
    return {case: action.strip() for case, action in rows}


def test_the_docstring_has_a_table_of_cases() -> None:
    cases = documented_cases()
    assert len(cases) >= 8, cases


def test_every_documented_case_has_an_example_and_every_example_is_documented() -> None:
    assert set(documented_cases()) == set(EXAMPLES)


@pytest.mark.parametrize("case", sorted(EXAMPLES))
def test_each_case_decides_as_documented(case: str) -> None:
    local, remote, action = EXAMPLES[case]
    documented = documented_cases()[case]
    decision = decide(local, remote)
    if action is None:
        assert decision is None
        assert documented == "(no item)"
        return
    assert decision is not None
    assert (decision.case, decision.action) == (case, action)
    assert decision.action.value == documented
    assert decision.reason


@pytest.mark.parametrize("case", sorted(EXAMPLES))
def test_each_case_mirrors_when_the_sides_swap(case: str) -> None:
    """Swapped sides: the same case and action, the other direction."""
    local, remote, _ = EXAMPLES[case]
    here, there = decide(local, remote), decide(remote, local)
    if here is None:
        assert there is None
        return
    assert there is not None
    assert (there.case, there.action) == (here.case, here.action)
    flipped = {Direction.PUSH: Direction.PULL, Direction.PULL: Direction.PUSH}
    assert there.direction is flipped[here.direction]


def test_only_a_divergence_is_a_conflict() -> None:
    for case, (local, remote, _) in EXAMPLES.items():
        decision = decide(local, remote)
        assert (decision is not None and decision.conflict) == (case == "diverged"), case
