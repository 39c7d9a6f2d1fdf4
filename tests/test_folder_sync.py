"""Plain-folder sync (``SyncRequest(folder_sync=True)``): the dev env folder's engine.

The other machine is a real agent process (``LocalProcessTransport``) against
its own config dir; each side has its own folder. Every file of the folder
takes part at any age; a file missing on one side is copied; of two differing
copies the newer (mtime) wins and the other is backed up; nothing is deleted.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import Entry, changed_but_the_hash_cache, snapshot_tree, write_old
from hypothesis import given, settings
from hypothesis import strategies as st

from session_sync.agent.apply import apply_file
from session_sync.agent.backups import list_backups, open_backup_set
from session_sync.agent.gitinfo import git_committed_files
from session_sync.agent.messages import ApplyOp
from session_sync.agent.paths import encode_project_path, op_target
from session_sync.agent.protocol import Refusal
from session_sync.agent.restore import restore_backup
from session_sync.agent.scan import FOLDER_SESSION_ID
from session_sync.engine import SyncRequest, run_sync, run_syncs
from session_sync.errors import AgentError, SessionSyncError
from session_sync.model.reconcile import Direction, SyncPolicy
from session_sync.model.report import SyncReport
from session_sync.testing.sessions import make_session, session_bytes
from session_sync.transports.base import AgentStream
from session_sync.transports.local import LocalProcessTransport

HOUR_NS = 3600 * 10**9
BASE_NS = 1_700_000_000 * 10**9 + 123_456_789
"""A fixed past moment (with a ns part) that file mtimes are set from."""


class Sides(NamedTuple):
    """Two machines (config dirs) with one folder each."""

    a: Path
    """This machine's config dir."""
    b: Path
    """The other machine's config dir (its agent runs as a subprocess)."""
    here: Path
    """The folder on this machine (realpath)."""
    there: Path
    """The folder on the other machine (realpath)."""
    root: Path
    """Everything lives under here."""


def make_sides(root: Path) -> Sides:
    root = Path(os.path.realpath(root))
    a, b = root / "a", root / "b"
    here = root / "laptop" / "app" / ".coding-agent"
    there = root / "codespace" / "app" / ".coding-agent"
    for path in (a, b, here, there):
        path.mkdir(parents=True)
    return Sides(a, b, here, there, root)


@pytest.fixture
def sides(tmp_path: Path) -> Sides:
    return make_sides(tmp_path)


def put(root: Path, rel: str, data: bytes, *, mode: int = 0o644, mtime_ns: int = BASE_NS) -> Path:
    """Write ``root/rel`` with exactly this mode and mtime."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


class FileState(NamedTuple):
    data: bytes
    mode: int
    mtime_ns: int


def files_of(root: Path) -> dict[str, FileState]:
    """Every regular file under ``root``: bytes, mode and mtime."""
    return {
        rel: FileState(entry.data, entry.mode, entry.mtime_ns)
        for rel, entry in snapshot_tree(root).items()
        if entry.kind == "file" and entry.data is not None
    }


def folders(tree: dict[str, Entry]) -> dict[str, Entry]:
    """A snapshot of ``Sides.root`` without the config dirs ``a`` and ``b``."""
    return {rel: e for rel, e in tree.items() if rel.split("/")[0] not in ("a", "b")}


def folder_request(
    s: Sides, *, policy: SyncPolicy | None = None, dry_run: bool = False
) -> SyncRequest:
    """Sync ``s.here`` (this machine) with ``s.there`` (the other one)."""
    return SyncRequest(
        local_config=s.a,
        local_path=str(s.here),
        remote_path=str(s.there),
        policy=policy or SyncPolicy(),
        dry_run=dry_run,
        folder_sync=True,
    )


def sync(s: Sides, *, policy: SyncPolicy | None = None, dry_run: bool = False) -> SyncReport:
    """One folder sync over a new connection to the other machine's agent."""
    return run_sync(folder_request(s, policy=policy, dry_run=dry_run), LocalProcessTransport(s.b))


def folder_backups(config: Path, folder: Path) -> dict[str, list[bytes]]:
    """``{rel: [backed-up bytes, oldest first]}`` of ``folder``'s files kept in ``config``."""
    out: dict[str, list[bytes]] = {}
    for backup in list_backups(str(config)):
        for entry in backup["entries"]:
            if entry.get("folder") == str(folder):
                kept = Path(backup["path"], entry["dir"], *entry["rel"].split("/"))
                out.setdefault(entry["rel"], []).append(kept.read_bytes())
    return out


def outcomes(report: SyncReport) -> dict[str, tuple[str, str, str]]:
    """``{file: (action, direction, outcome)}``."""
    return {i.file: (i.action, i.direction, i.outcome) for i in report.items}


# --- copying -------------------------------------------------------------------------------


def test_files_only_on_one_side_are_copied_both_ways_with_bytes_mode_and_mtime(
    sides: Sides,
) -> None:
    put(sides.here, "plan.md", b"# plan\n- step 1\n", mode=0o644, mtime_ns=BASE_NS)
    put(sides.here, "notes/deep/secret.env", b"TOKEN=x\n", mode=0o600, mtime_ns=BASE_NS + 7)
    put(sides.there, "notes/from-codespace.md", b"\x00\xffbinary\r\n", mode=0o600)
    put(sides.there, "tools/run.sh", b"#!/bin/sh\necho hi\n", mode=0o755, mtime_ns=BASE_NS - 99)
    put(sides.there, "empty", b"", mode=0o644, mtime_ns=BASE_NS + HOUR_NS)
    before_here, before_there = files_of(sides.here), files_of(sides.there)

    report = sync(sides)

    assert outcomes(report) == {
        "empty": ("copy", "pull", "done"),
        "notes/deep/secret.env": ("copy", "push", "done"),
        "notes/from-codespace.md": ("copy", "pull", "done"),
        "plan.md": ("copy", "push", "done"),
        "tools/run.sh": ("copy", "pull", "done"),
    }
    assert (report.pushed, report.pulled, report.failed, report.conflicts) == (2, 3, 0, 0)
    assert report.round_trips == 2  # one scan, one exchange
    expected = {**before_here, **before_there}
    assert files_of(sides.here) == expected
    assert files_of(sides.there) == expected
    assert report.bytes_sent == sum(len(f.data) for f in before_here.values())
    assert report.bytes_received == sum(len(f.data) for f in before_there.values())
    # Sessions are not involved: nothing under projects/, no backups.
    for config in (sides.a, sides.b):
        assert not (config / "projects").exists()
        assert list_backups(str(config)) == []


def test_a_missing_destination_folder_is_made_when_its_parent_exists(sides: Sides) -> None:
    put(sides.here, "a/b.md", b"b\n")
    sides.there.rmdir()

    report = sync(sides)

    assert report.failed == 0
    assert (sides.there / "a" / "b.md").read_bytes() == b"b\n"


def test_the_newer_copy_wins_and_the_other_is_backed_up(sides: Sides) -> None:
    # plan.md is newer here, todo.md newer there.
    put(sides.here, "plan.md", b"plan v2 (laptop)\n", mode=0o600, mtime_ns=BASE_NS + HOUR_NS)
    put(sides.there, "plan.md", b"plan v1\n", mode=0o644, mtime_ns=BASE_NS)
    put(sides.here, "sub/todo.md", b"todo, old and longer\n", mtime_ns=BASE_NS)
    put(sides.there, "sub/todo.md", b"todo new\n", mode=0o600, mtime_ns=BASE_NS + 1)
    newer = {
        "plan.md": files_of(sides.here)["plan.md"],
        "sub/todo.md": files_of(sides.there)["sub/todo.md"],
    }

    report = sync(sides)

    assert outcomes(report) == {
        "plan.md": ("replace", "push", "done"),
        "sub/todo.md": ("replace", "pull", "done"),
    }
    assert {i.case for i in report.items} == {"differs"}
    assert report.failed == 0
    for side in (sides.here, sides.there):
        assert files_of(side) == newer
    # Each loser is kept on its own machine, labelled with its folder.
    assert folder_backups(sides.b, sides.there) == {"plan.md": [b"plan v1\n"]}
    assert folder_backups(sides.a, sides.here) == {"sub/todo.md": [b"todo, old and longer\n"]}
    [set_b] = list_backups(str(sides.b))
    [entry] = set_b["entries"]
    assert entry["folder"] == str(sides.there)
    assert (entry["rel"], entry["mode"], entry["mtime_ns"]) == ("plan.md", 0o644, BASE_NS)
    pushed = next(i for i in report.items if i.file == "plan.md")
    assert pushed.backup is not None
    assert Path(pushed.backup).read_bytes() == b"plan v1\n"
    assert Path(pushed.backup).is_relative_to(sides.b / "session-sync" / "backups")


def test_a_backed_up_folder_file_is_restored_into_the_folder(sides: Sides) -> None:
    put(sides.here, "plan.md", b"my laptop plan\n", mode=0o600, mtime_ns=BASE_NS)
    put(sides.there, "plan.md", b"codespace plan\n", mode=0o644, mtime_ns=BASE_NS + HOUR_NS)
    assert sync(sides).pulled == 1
    assert (sides.here / "plan.md").read_bytes() == b"codespace plan\n"
    [backup] = list_backups(str(sides.a))
    [entry] = backup["entries"]
    assert entry["folder"] == str(sides.here)

    results = restore_backup(str(sides.a), backup["id"])

    assert [(r["rel"], r["ok"]) for r in results] == [("plan.md", True)]
    assert files_of(sides.here) == {"plan.md": FileState(b"my laptop plan\n", 0o600, BASE_NS)}
    # Into the folder, not under projects/; the copy it replaced is kept in turn.
    assert not (sides.a / "projects").exists()
    assert folder_backups(sides.a, sides.here) == {
        "plan.md": [b"my laptop plan\n", b"codespace plan\n"]
    }
    # The other machine is untouched by a restore here.
    assert files_of(sides.there) == {
        "plan.md": FileState(b"codespace plan\n", 0o644, BASE_NS + HOUR_NS)
    }


def test_a_second_sync_plans_nothing(sides: Sides) -> None:
    put(sides.here, "a.md", b"a\n")
    put(sides.here, "x/shared.md", b"same\n", mtime_ns=BASE_NS)
    put(sides.there, "x/shared.md", b"same\n", mtime_ns=BASE_NS + HOUR_NS)
    put(sides.there, "b/c/d.md", b"d\n", mode=0o600)
    put(sides.here, "diff.md", b"older\n", mtime_ns=BASE_NS)
    put(sides.there, "diff.md", b"newer\n", mtime_ns=BASE_NS + 5)
    first = sync(sides)
    assert (first.pushed, first.pulled, first.failed) == (1, 2, 0)
    after_first = snapshot_tree(sides.root)

    second = sync(sides)

    assert second.items == ()
    assert second.round_trips == 1  # a scan, and nothing to exchange
    assert second.bytes_hashed == 0  # both hash caches knew every file
    # Identical files keep their own mtimes: only content decides.
    assert (sides.here / "x/shared.md").stat().st_mtime_ns == BASE_NS
    assert snapshot_tree(sides.root) == after_first


def test_nothing_is_deleted_a_file_removed_on_one_side_comes_back(sides: Sides) -> None:
    put(sides.here, "keep/me.md", b"precious\n", mode=0o600, mtime_ns=BASE_NS + 3)
    assert sync(sides).pushed == 1
    (sides.here / "keep" / "me.md").unlink()
    (sides.here / "keep").rmdir()

    report = sync(sides)

    assert outcomes(report) == {"keep/me.md": ("copy", "pull", "done")}
    assert files_of(sides.here) == {"keep/me.md": FileState(b"precious\n", 0o600, BASE_NS + 3)}
    assert files_of(sides.there) == files_of(sides.here)


def test_push_only_pushes(sides: Sides) -> None:
    put(sides.here, "mine.md", b"mine\n")
    put(sides.there, "theirs.md", b"theirs\n")
    put(sides.here, "newer-here.md", b"new\n", mtime_ns=BASE_NS + HOUR_NS)
    put(sides.there, "newer-here.md", b"old\n", mtime_ns=BASE_NS)
    put(sides.here, "newer-there.md", b"old\n", mtime_ns=BASE_NS)
    put(sides.there, "newer-there.md", b"new!\n", mtime_ns=BASE_NS + HOUR_NS)
    here_before = files_of(sides.here)

    report = sync(sides, policy=SyncPolicy(direction=Direction.PUSH))

    assert outcomes(report) == {
        "mine.md": ("copy", "push", "done"),
        "newer-here.md": ("replace", "push", "done"),
        "newer-there.md": ("skip", "pull", "skipped"),
        "theirs.md": ("skip", "pull", "skipped"),
    }
    assert (report.pushed, report.pulled, report.skipped) == (2, 0, 2)
    assert files_of(sides.here) == here_before  # nothing came here
    there = files_of(sides.there)
    assert there["mine.md"] == here_before["mine.md"]
    assert there["newer-here.md"] == here_before["newer-here.md"]
    assert there["newer-there.md"].data == b"new!\n"
    assert there["theirs.md"].data == b"theirs\n"
    assert folder_backups(sides.b, sides.there) == {"newer-here.md": [b"old\n"]}
    assert list_backups(str(sides.a)) == []


def test_dry_run_changes_nothing_on_either_side(sides: Sides) -> None:
    put(sides.here, "synced.md", b"synced\n")
    assert sync(sides).pushed == 1
    put(sides.here, "new-here/a.md", b"a\n")
    put(sides.there, "new-there.md", b"b\n")
    put(sides.here, "synced.md", b"changed here\n", mtime_ns=BASE_NS + HOUR_NS)
    before = snapshot_tree(sides.root)

    report = sync(sides, dry_run=True)

    assert report.dry_run
    assert outcomes(report) == {
        "new-here/a.md": ("copy", "push", "planned"),
        "new-there.md": ("copy", "pull", "planned"),
        "synced.md": ("replace", "push", "planned"),
    }
    assert (report.pushed, report.pulled, report.failed) == (0, 0, 0)
    assert report.bytes_sent == report.bytes_received == 0
    # Neither folder nor config dir changed, but for the hash caches.
    assert changed_but_the_hash_cache(before, snapshot_tree(sides.root)) == []


def test_symlinks_and_our_temp_files_are_not_synced(sides: Sides) -> None:
    outside = sides.root / "outside"
    outside.mkdir()
    (outside / "target.md").write_bytes(b"not part of the folder\n")
    put(sides.here, "real.md", b"real\n")
    (sides.here / "link.md").symlink_to(outside / "target.md")
    (sides.here / "linked-dir").symlink_to(outside)
    put(sides.here, ".session-sync-notes", b"looks like ours\n")
    put(sides.there, f".session-sync-{'ab' * 6}.tmp", b"a staging file\n")

    report = sync(sides)

    assert outcomes(report) == {"real.md": ("copy", "push", "done")}
    assert set(files_of(sides.there)) <= {"real.md", f".session-sync-{'ab' * 6}.tmp"}
    assert not (sides.there / "link.md").exists()
    assert not (sides.there / "linked-dir").exists()
    assert not (sides.here / f".session-sync-{'ab' * 6}.tmp").exists()
    assert (sides.here / ".session-sync-notes").read_bytes() == b"looks like ours\n"
    assert os.readlink(sides.here / "link.md") == str(outside / "target.md")
    assert sorted(p.name for p in outside.iterdir()) == ["target.md"]


def test_file_against_a_dir_of_the_same_name_fails_and_loses_nothing(sides: Sides) -> None:
    put(sides.here, "notes", b"a file called notes\n")
    put(sides.there, "notes/today.md", b"a dir called notes\n")
    before = files_of(sides.here), files_of(sides.there)

    report = sync(sides)

    assert {i.file: i.outcome for i in report.items} == {
        "notes": "failed",
        "notes/today.md": "failed",
    }
    assert all(i.error for i in report.items)
    assert (files_of(sides.here), files_of(sides.there)) == before


# --- refusing what is unsafe ----------------------------------------------------------------


def _copy_op(folder: str, rel: str, data: bytes) -> ApplyOp:
    return {
        "action": "copy",
        "dir": folder,
        "in_folder": True,
        "rel": rel,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "mode": 0o644,
        "mtime_ns": BASE_NS,
        "reason": "test",
        "expect": None,
    }


@pytest.mark.parametrize(
    "rel",
    ["../x", "sub/../../x", "../../codespace/app/x", "/x", "a//x", "./x", ".session-sync-1.tmp"],
)
def test_an_op_with_an_unsafe_rel_is_refused(sides: Sides, rel: str) -> None:
    before = snapshot_tree(sides.root)
    data = b"must not land anywhere\n"
    chunks = iter([data])

    result = apply_file(
        str(sides.a),
        _copy_op(str(sides.here), rel, data),
        chunks,
        open_backup_set(str(sides.a), "t"),
    )

    assert result["ok"] is False
    assert "unsafe file path" in result["error"]
    assert list(chunks) == []  # the data was drained, the stream stays in step
    assert snapshot_tree(sides.root) == before


@pytest.mark.parametrize("folder", ["relative/.coding-agent", ".coding-agent", "", "/", "//"])
def test_a_folder_op_whose_dir_is_not_absolute_is_refused(
    sides: Sides, folder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(sides.root)  # where a relative dir would land
    before = snapshot_tree(sides.root)
    data = b"x\n"

    result = apply_file(
        str(sides.a),
        _copy_op(folder, "x.md", data),
        iter([data]),
        open_backup_set(str(sides.a), "t"),
    )

    assert result["ok"] is False
    assert "unsafe folder" in result["error"]
    assert snapshot_tree(sides.root) == before
    with pytest.raises(Refusal):
        op_target(str(sides.a), _copy_op(folder, "x.md", data))


def test_a_folder_op_names_a_file_inside_the_folder(sides: Sides) -> None:
    op = _copy_op(str(sides.here), "sub/x.md", b"")
    assert op_target(str(sides.a), op) == str(sides.here / "sub" / "x.md")


def test_a_destination_whose_parent_is_missing_fails_per_file_and_creates_nothing(
    sides: Sides,
) -> None:
    put(sides.here, "plan.md", b"plan\n")
    put(sides.here, "deep/er/notes.md", b"notes\n")
    missing = sides.root / "codespace" / "wrong-workspace" / ".coding-agent"
    before = snapshot_tree(sides.root)

    report = run_sync(
        SyncRequest(
            local_config=sides.a,
            local_path=str(sides.here),
            remote_path=str(missing),
            folder_sync=True,
        ),
        LocalProcessTransport(sides.b),
    )

    assert {i.file: i.outcome for i in report.items} == {
        "deep/er/notes.md": "failed",
        "plan.md": "failed",
    }
    for item in report.items:
        assert item.error is not None
        assert "does not exist here" in item.error
    assert not missing.parent.exists()
    # Only the config dirs (hash caches, locks) may change; no folder does.
    assert folders(snapshot_tree(sides.root)) == folders(before)


@pytest.mark.parametrize(
    "which",
    ["remote", "local"],
)
def test_a_relative_folder_path_stops_the_sync_with_a_session_sync_error(
    sides: Sides, which: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(sides.here, "plan.md", b"plan\n")
    local, remote = str(sides.here), str(sides.there)
    if which == "local":
        local = "laptop/app/.coding-agent"
    else:
        remote = "codespace/app/.coding-agent"
    monkeypatch.chdir(sides.root)  # where a relative path would land
    before = snapshot_tree(sides.root)

    with pytest.raises(SessionSyncError, match="absolute path") as raised:
        run_sync(
            SyncRequest(
                local_config=sides.a, local_path=local, remote_path=remote, folder_sync=True
            ),
            LocalProcessTransport(sides.b),
        )
    if which == "remote":
        assert isinstance(raised.value, AgentError)  # the agent over there refused
    assert folders(snapshot_tree(sides.root)) == folders(before)


# --- several syncs, one connection -----------------------------------------------------------


class CountingTransport:
    """A real transport (the agent as a subprocess) that counts the agents it starts."""

    def __init__(self, inner: LocalProcessTransport) -> None:
        self.inner = inner
        self.opened = 0

    @property
    def description(self) -> str:
        return self.inner.description

    def open(self, nonce: str) -> AgentStream:
        self.opened += 1
        return self.inner.open(nonce)


def test_a_folder_and_the_sessions_go_over_one_connection(sides: Sides) -> None:
    project = sides.root / "laptop" / "app"
    rng = random.Random(5)
    mine = make_session(rng, str(project), turns=2)
    theirs = make_session(rng, str(project), turns=2)
    write_old(sides.a, mine)
    write_old(sides.b, theirs)
    put(sides.here, "plan.md", b"plan\n")
    put(sides.there, "notes/n.md", b"notes\n")
    sessions = SyncRequest(local_config=sides.a, local_path=str(project), remote_path=str(project))
    transport = CountingTransport(LocalProcessTransport(sides.b))

    folder_report, session_report = run_syncs([folder_request(sides), sessions], transport)

    assert transport.opened == 1
    assert (folder_report.pushed, folder_report.pulled, folder_report.failed) == (1, 1, 0)
    assert (session_report.pushed, session_report.pulled, session_report.failed) == (1, 1, 0)
    assert {i.session for i in folder_report.items} == {FOLDER_SESSION_ID}
    assert {i.session for i in session_report.items} == {mine.session_id, theirs.session_id}
    # Each report counts only its own requests: a scan and an exchange for the folder,
    # a scan (maybe two) and an exchange for the sessions.
    assert folder_report.round_trips == 2
    assert session_report.round_trips in (2, 3)
    assert folder_report.bytes_sent == len(b"plan\n")
    assert session_report.bytes_sent == len(session_bytes(mine))
    assert set(files_of(sides.here)) == set(files_of(sides.there)) == {"plan.md", "notes/n.md"}
    dir_name = encode_project_path(str(project))
    for config in (sides.a, sides.b):
        got = {p.name for p in (config / "projects" / dir_name).glob("*.jsonl")}
        assert got == {f"{mine.session_id}.jsonl", f"{theirs.session_id}.jsonl"}

    again = CountingTransport(LocalProcessTransport(sides.b))
    quiet = run_syncs([folder_request(sides), sessions], again)
    assert again.opened == 1
    assert [r.items for r in quiet] == [(), ()]
    assert [r.round_trips for r in quiet] == [1, 1]


# --- no content is ever lost (property) ----------------------------------------------------

_FILE_NAMES = st.sampled_from(["a", "b.md", "c.txt", "plan.md"])
_DIR_NAMES = st.sampled_from(["d", "e"])  # never a file's name: no file/dir clashes
_REL = st.builds(
    lambda dirs, name: "/".join([*dirs, name]), st.lists(_DIR_NAMES, max_size=2), _FILE_NAMES
)
_FILE = st.builds(
    FileState,
    st.binary(max_size=40) | st.sampled_from([b"", b"same\n", b"other\n"]),
    st.sampled_from([0o600, 0o644, 0o755]),
    st.integers(0, 3).map(lambda s: BASE_NS + s * 10**9),  # ties happen
)
_PAIR = st.one_of(
    st.tuples(_FILE, st.none()),
    st.tuples(st.none(), _FILE),
    st.tuples(_FILE, _FILE),  # on both sides, most often differing
    _FILE.map(lambda f: (f, f)),  # identical on both sides
)
_TREES = st.dictionaries(_REL, _PAIR, max_size=6)


def _rank(f: FileState) -> tuple[int, int, str]:
    return (f.mtime_ns, len(f.data), hashlib.sha256(f.data).hexdigest())


@settings(max_examples=25, deadline=None)
@given(_TREES)
def test_one_bidirectional_sync_loses_no_content(
    trees: dict[str, tuple[FileState | None, FileState | None]],
) -> None:
    here = {rel: f for rel, (f, _) in trees.items() if f is not None}
    there = {rel: f for rel, (_, f) in trees.items() if f is not None}
    with tempfile.TemporaryDirectory() as tmp:
        s = make_sides(Path(tmp))
        for root, tree in ((s.here, here), (s.there, there)):
            for rel, f in tree.items():
                put(root, rel, f.data, mode=f.mode, mtime_ns=f.mtime_ns)

        report = sync(s)

        assert report.failed == 0, report.items
        after_here, after_there = files_of(s.here), files_of(s.there)
        assert set(after_here) == set(after_there) == set(here) | set(there)
        kept = {s.here: folder_backups(s.a, s.here), s.there: folder_backups(s.b, s.there)}
        for rel in set(here) | set(there):
            assert after_here[rel].data == after_there[rel].data, rel
            mine, theirs = here.get(rel), there.get(rel)
            if mine is None or theirs is None:
                source = mine or theirs
                assert after_here[rel] == after_there[rel] == source
                continue
            if mine.data == theirs.data:
                assert (after_here[rel], after_there[rel]) == (mine, theirs)  # untouched
                continue
            winner, (loser, loser_root) = (
                (mine, (theirs, s.there))
                if _rank(mine) > _rank(theirs)
                else (theirs, (mine, s.here))
            )
            assert after_here[rel] == after_there[rel] == winner
            # The losing copy's bytes are in a backup on its own machine.
            assert kept[loser_root].get(rel) == [loser.data]
        changed = [i for i in report.items if i.action == "replace"]
        assert sum(len(v) for v in kept.values()) == len(changed)


# --- what the folder sync gets wrong ---------------------------------------------------------


def test_a_jsonl_file_of_the_folder_is_copied_whole(sides: Sides) -> None:
    put(sides.here, "log.jsonl", b'{"step": 1}\n{"step": 2}')
    put(sides.here, "one-line.jsonl", b'{"no newline": true}')

    report = sync(sides)

    assert report.failed == 0
    assert files_of(sides.there) == files_of(sides.here)


def test_a_symlinked_dir_on_the_receiving_side_is_not_written_through(sides: Sides) -> None:
    outside = sides.root / "outside"
    outside.mkdir()
    (sides.here / "shared").symlink_to(outside)
    put(sides.there, "shared/notes.md", b"from the codespace\n")

    for _ in range(2):
        report = sync(sides)
        # Said, every time, and nothing lands outside the folder.
        (item,) = [i for i in report.items if i.file == "shared/notes.md"]
        assert item.outcome == "failed"
        assert item.error is not None
        assert "symbolic link" in item.error
        assert list(outside.iterdir()) == []


def test_a_file_modified_just_now_is_synced(sides: Sides) -> None:
    """Folder files are never 'open in Claude': even one modified this second is synced."""
    put(sides.here, "now.md", b"just written\n", mtime_ns=time.time_ns())
    report = sync(sides)
    assert outcomes(report) == {"now.md": ("copy", "push", "done")}
    assert stat.S_IMODE((sides.there / "now.md").stat().st_mode) == 0o644


# --- in git checkouts: a copy as committed can be had again from git -----------------------

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None and not os.environ.get("CI"), reason="no git here")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
def checkouts(tmp_path: Path) -> Sides:
    """The laptop's checkout with ``.coding-agent/plan.md`` committed, and the
    codespace's fresh clone of it (every file's mtime: the time of the clone)."""
    sides = make_sides(tmp_path)
    laptop, codespace = sides.here.parent, sides.there.parent
    put(sides.here, "plan.md", b"v1\n", mtime_ns=BASE_NS)
    git(laptop, "init", "-q")
    git(laptop, "add", ".")
    git(laptop, "commit", "-q", "-m", "plan")
    sides.there.rmdir()
    codespace.rmdir()
    git(tmp_path, "clone", "-q", str(laptop), str(codespace))
    return sides


@needs_git
def test_an_uncommitted_edit_beats_the_newer_looking_copy_of_a_fresh_clone(
    checkouts: Sides,
) -> None:
    s = checkouts
    put(s.here, "plan.md", b"v1\nmy edit, not committed\n", mtime_ns=BASE_NS + HOUR_NS)
    assert (s.there / "plan.md").stat().st_mtime_ns > BASE_NS + HOUR_NS  # the clone looks newer

    report = sync(s)

    (item,) = report.items
    assert (item.file, item.action, item.direction, item.case, item.outcome) == (
        "plan.md",
        "replace",
        "push",
        "uncommitted",
        "done",
    )
    assert (s.there / "plan.md").read_bytes() == b"v1\nmy edit, not committed\n"
    assert folder_backups(s.b, s.there) == {"plan.md": [b"v1\n"]}
    assert sync(s).items == ()


@needs_git
def test_copies_committed_at_different_commits_are_left_to_git(checkouts: Sides) -> None:
    s = checkouts
    put(s.there, "plan.md", b"v2, committed in the codespace\n", mtime_ns=BASE_NS)
    git(s.there.parent, "commit", "-q", "-am", "v2")
    before = folders(snapshot_tree(s.root))

    report = sync(s)

    (item,) = report.items
    assert (item.action, item.case, item.outcome) == ("skip", "committed", "skipped")
    assert folders(snapshot_tree(s.root)) == before


@needs_git
def test_a_staged_edit_counts_as_uncommitted(checkouts: Sides) -> None:
    s = checkouts
    put(s.here, "plan.md", b"v1\nstaged, not committed\n", mtime_ns=BASE_NS)
    git(s.here.parent, "add", ".coding-agent/plan.md")

    (item,) = sync(s).items

    assert (item.direction, item.case, item.outcome) == ("push", "uncommitted", "done")


@needs_git
def test_an_ignored_folder_goes_by_mtime(checkouts: Sides) -> None:
    s = checkouts
    for side in (s.here.parent, s.there.parent):
        (side / ".gitignore").write_text("scratch/\n")
    put(s.here, "scratch/n.md", b"older\n", mtime_ns=BASE_NS)
    put(s.there, "scratch/n.md", b"newer\n", mtime_ns=BASE_NS + HOUR_NS)

    (item,) = sync(s).items

    assert (item.file, item.direction, item.case) == ("scratch/n.md", "pull", "differs")
    assert git_committed_files(str(s.here)) == ["plan.md"]
