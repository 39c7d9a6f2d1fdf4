"""Checkpoints of this machine's checkout: real git repositories and a bare remote,
the ``session-sync checkpoint`` / ``checkpoints`` commands run in-process.

Also the far side's answer taken apart by a hostile stand-in connection (the
real far side, over sshd, is in ``test_checkpoints_remote.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import RunCli, snapshot_tree
from hypothesis import given
from hypothesis import strategies as st

from session_sync.agent.checkpoint import REF_PREFIX, GitFailed, bundle_request, safe_machine
from session_sync.checkpoints.remote import fetch_checkpoint
from session_sync.checkpoints.store import list_checkpoints, parse_id, restore_line
from session_sync.checkpoints.take import KEEP_NEWEST, prune, store_commit, take_local
from session_sync.errors import CheckpointError, ProtocolError

ORIGIN_URL = "git@github.com:octo-org/app.git"
IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def git(cwd: Path, *args: str, data: bytes | None = None) -> str:
    """``git ARGS`` in ``cwd``; its stdout (raises when it fails)."""
    done = subprocess.run(
        ["git", *IDENTITY, *args],
        cwd=cwd,
        input=data,
        capture_output=True,
        check=True,
        # No optional locks: a `git status` here must not refresh the index it checks.
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
            "GIT_OPTIONAL_LOCKS": "0",
        },
    )
    return done.stdout.decode()


def make_upstream(root: Path) -> Path:
    """A bare repository with one commit on ``main`` (README, app.py, .gitignore)."""
    bare = root / "upstream.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = root / "seed"
    git(root, "init", "-q", "-b", "main", str(seed))
    (seed / "README.md").write_text("# app\n")
    (seed / "app.py").write_text("print('v1')\n")
    (seed / ".gitignore").write_text("*.log\n")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "first")
    git(seed, "push", "-q", str(bare), "main")
    return bare


def clone_with_work(upstream: Path, dest: Path) -> Path:
    """A clone of ``upstream`` at ``dest`` (origin: the GitHub URL, upstream tracked)
    with work of every kind: an unpushed commit, a staged and an unstaged edit, a new
    untracked file, an ignored file, and a 3000-byte untracked file."""
    git(upstream.parent, "clone", "-q", str(upstream), str(dest))
    git(dest, "remote", "set-url", "origin", ORIGIN_URL)
    (dest / "lib.py").write_text("x = 1\n")
    git(dest, "add", "lib.py")
    git(dest, "commit", "-q", "-m", "unpushed")
    (dest / "README.md").write_text("# app\nstaged line\n")
    git(dest, "add", "README.md")
    (dest / "README.md").write_text("# app\nstaged line\nunstaged line\n")
    (dest / "app.py").write_text("print('v2')\n")
    (dest / "notes").mkdir()
    (dest / "notes" / "plan.md").write_text("the plan\n")
    (dest / "debug.log").write_text("ignored\n")
    (dest / "data.bin").write_bytes(b"\x00" * 3000)
    return dest


def checkout_state(top: Path) -> dict[str, Any]:
    """What a checkpoint must leave as it is: every file's bytes, mode and mtime
    (``.git`` included, but for new objects), ``HEAD``, the index and every ref."""
    tree = snapshot_tree(top)
    kept = {
        rel: entry
        for rel, entry in tree.items()
        # Ours: new objects and refs/session-sync/ (so the mtime of the dirs holding them).
        if not rel.startswith((".git/objects", ".git/refs/session-sync"))
        and rel not in (".git", ".git/refs")
    }
    refs = git(top, "for-each-ref", "--format=%(refname) %(objectname)")
    return {
        "files": kept,
        "index": (top / ".git" / "index").read_bytes(),
        "head": (top / ".git" / "HEAD").read_bytes(),
        "refs": [line for line in refs.splitlines() if not line.startswith(REF_PREFIX)],
        "status": git(top, "status", "--porcelain=v2", "--branch"),
    }


def worktree_files(top: Path) -> dict[str, Any]:
    """The checkout's own files (``.git`` left out): bytes, mode, mtime."""
    return {
        r: e for r, e in snapshot_tree(top).items() if r != ".git" and not r.startswith(".git/")
    }


def files_at(top: Path, rev: str) -> dict[str, bytes]:
    """Every file of ``rev``'s tree: path -> bytes."""
    names = git(top, "ls-tree", "-r", "-z", "--name-only", rev).split("\0")
    return {n: git_bytes(top, "show", f"{rev}:{n}") for n in names if n}


def git_bytes(cwd: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True).stdout


EXPECTED = {
    ".gitignore": b"*.log\n",
    "README.md": b"# app\nstaged line\nunstaged line\n",
    "app.py": b"print('v2')\n",
    "lib.py": b"x = 1\n",
    "notes/plan.md": b"the plan\n",
}
"""The work of ``clone_with_work`` as a checkpoint holds it (no ignored, no big file)."""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with work of every kind; the current directory."""
    top = clone_with_work(make_upstream(tmp_path), tmp_path / "app")
    monkeypatch.chdir(top)
    return top


def test_a_checkpoint_holds_all_the_work_and_changes_nothing(work: Path, run_cli: RunCli) -> None:
    before = checkout_state(work)
    head = git(work, "rev-parse", "HEAD").strip()

    result = run_cli("checkpoint", "--max-file-size", "1k", "--json")

    assert result.code == 0, result
    report = json.loads(result.out)
    assert report["left_out"] == [{"path": "data.bin", "size": 3000}]
    assert report["files"] == 3  # README.md, app.py, notes/plan.md differ from HEAD
    assert report["bytes"] == len(
        EXPECTED["README.md"] + EXPECTED["app.py"] + EXPECTED["notes/plan.md"]
    )
    [cp] = list_checkpoints(work)
    assert cp.id == report["checkpoint"]
    assert cp.ref == report["ref"]
    assert files_at(work, cp.commit) == EXPECTED
    assert cp.head == head
    assert cp.branch == "main"
    assert cp.upstream == "origin/main"
    # The unpushed commit is the checkpoint's parent: it comes along.
    assert git(work, "log", "--format=%s", cp.commit).split("\n")[1] == "unpushed"
    assert checkout_state(work) == before


def test_unchanged_work_makes_no_second_checkpoint(work: Path, run_cli: RunCli) -> None:
    first = run_cli("checkpoint", "--max-file-size", "1k")
    again = run_cli("checkpoint", "--max-file-size", "1k")
    assert first.code == again.code == 0, (first, again)
    assert "no new checkpoint" in again.out
    assert len(list_checkpoints(work)) == 1
    (work / "app.py").write_text("print('v3')\n")
    third = run_cli("checkpoint", "--json")
    later = [c.id for c in list_checkpoints(work)]
    assert len(later) == 2
    assert json.loads(third.out)["checkpoint"] in later


def test_a_new_commit_with_the_same_tree_is_new_work(work: Path) -> None:
    take_local(work, now=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "everything")  # same files, other HEAD
    taken = take_local(work, now=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc))
    assert taken.checkpoint is not None
    assert taken.checkpoint.files == 0


def test_dry_run_stores_nothing(work: Path, run_cli: RunCli) -> None:
    result = run_cli("checkpoint", "--dry-run")
    assert result.code == 0, result
    assert "would checkpoint" in result.out, result
    assert list_checkpoints(work) == []


def test_restore_makes_a_branch_with_the_checkpoints_tree(work: Path, run_cli: RunCli) -> None:
    run_cli("checkpoint", "--max-file-size", "1k")
    [cp] = list_checkpoints(work)
    worktree_files_before = worktree_files(work)

    result = run_cli("checkpoints", "restore", cp.id, "--branch", "rescued")

    assert result.code == 0, result
    assert files_at(work, "rescued") == EXPECTED
    assert worktree_files(work) == worktree_files_before  # the checkout was not touched
    again = run_cli("checkpoints", "restore", cp.id, "--branch", "rescued")
    assert again.code == 2, again
    assert "exists already" in again.err, again


def test_restore_into_a_new_worktree(work: Path, run_cli: RunCli, tmp_path: Path) -> None:
    run_cli("checkpoint", "--max-file-size", "1k")
    [cp] = list_checkpoints(work)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    refused = run_cli("checkpoints", "restore", cp.id, "--worktree", str(tmp_path / "full"))
    assert refused.code == 2, refused
    assert "not an empty directory" in refused.err, refused

    result = run_cli("checkpoints", "restore", cp.id, "--worktree", str(tmp_path / "wt"), "--json")

    assert result.code == 0, result
    made = json.loads(result.out)
    assert made["branch"] == restore_line(cp).rsplit(" ", 1)[-1]
    on_disk = {
        p.relative_to(tmp_path / "wt").as_posix(): p.read_bytes()
        for p in (tmp_path / "wt").rglob("*")
        if p.is_file() and ".git" not in p.parts and p.name != ".git"
    }
    assert on_disk == EXPECTED


def test_list_and_show(work: Path, run_cli: RunCli) -> None:
    run_cli("checkpoint", "--max-file-size", "1k")
    [cp] = list_checkpoints(work)
    listed = run_cli("checkpoints", "list")
    assert cp.id in listed.out, listed
    assert "main" in listed.out, listed
    as_json = json.loads(run_cli("checkpoints", "--json").out)
    assert [c["id"] for c in as_json["checkpoints"]] == [cp.id]
    shown = run_cli("checkpoints", "show", cp.id)
    assert "notes/plan.md" in shown.out, shown
    assert "3 files changed" in shown.out, shown
    files = json.loads(run_cli("checkpoints", "show", cp.id, "--json").out)["files"]
    assert {f["path"] for f in files} == {"README.md", "app.py", "notes/plan.md"}
    missing = run_cli("checkpoints", "show", "vm/20200101T000000Z")
    assert missing.code == 1, missing
    assert len(missing.err.splitlines()) == 1, missing
    bad = run_cli("checkpoints", "show", "../etc")
    assert bad.code == 1, bad
    assert "not a checkpoint id" in bad.err, bad


def test_an_unborn_branch_and_outside_a_checkout(tmp_path: Path, run_cli: RunCli) -> None:
    fresh = tmp_path / "fresh"
    git(tmp_path, "init", "-q", "-b", "main", str(fresh))
    (fresh / "a.txt").write_text("first words\n")
    taken = take_local(fresh)
    assert taken.checkpoint is not None
    assert taken.checkpoint.head is None
    assert files_at(fresh, taken.checkpoint.commit) == {"a.txt": b"first words\n"}
    assert git(fresh, "status", "--porcelain") == "?? a.txt\n"
    outside = run_cli("checkpoint", "--local-path", str(tmp_path))
    assert outside.code == 1, outside
    assert "not in a git checkout" in outside.err, outside


def test_pruning_keeps_the_newest_20_and_the_last_30_days(work: Path) -> None:
    commit = take_local(work).checkpoint
    assert commit is not None
    now = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
    for days in [*range(1, 4), *range(40, 62)]:  # 3 recent, 22 older than 30 days
        store_commit(work, "old-box", now - dt.timedelta(days=days), commit.commit)
    gone = prune(work, "old-box", now)
    kept = list_checkpoints(work, "old-box")
    assert len(kept) == KEEP_NEWEST
    assert len(gone) == 5
    assert all(parse_id(g)[1] < min(c.time for c in kept) for g in gone)
    assert len(list_checkpoints(work)) == KEEP_NEWEST + 1  # the other machine's untouched


@given(st.text(max_size=100))
def test_a_machine_name_is_always_a_safe_ref_component(name: str) -> None:
    safe = safe_machine(name)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", safe), safe
    assert ".." not in safe
    assert not safe.endswith((".", ".lock"))


# --- a hostile far side -------------------------------------------------------------


class _Transport:
    description = "codespace evil"


class FakeConnection:
    """Answers a ``checkpoint`` request with ``answer`` and then ``bundle``'s bytes."""

    transport = _Transport()

    def __init__(self, answer: dict[str, Any], bundle: bytes = b"") -> None:
        self.answer = answer
        self.bundle = bundle
        self.asked: list[dict[str, Any]] = []

    def request(self, request: dict[str, Any]) -> dict[str, Any]:
        self.asked.append(request)
        return self.answer

    def file_data(self, limit: int | None = None) -> Any:
        if limit is not None and len(self.bundle) > limit:
            raise ProtocolError("more file data than asked for")
        yield self.bundle


def far_state(top: Path) -> dict[str, Any]:
    """Everything under ``top``, ``.git`` included; of a file under ``.git/objects``
    only its bytes (git freshens the mtime of an object it would write again)."""
    return {
        rel: entry._replace(mtime_ns=0) if rel.startswith(".git/objects/") else entry
        for rel, entry in snapshot_tree(top).items()
    }


def far_answer(far: Path, **request: Any) -> tuple[dict[str, Any], bytes]:
    """What the real agent answers for the checkout ``far``."""
    asked = {
        "path": str(far),
        "machine": "cs",
        "time": "2026-12-01T10:00:00Z",
        "max_file_size": 1000,
    }
    asked.update(request)
    answer, bundle = bundle_request(asked)
    data = b""
    if bundle:
        data = Path(bundle).read_bytes()
        shutil.rmtree(Path(bundle).parent)
    return answer, data


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """(the laptop's clean checkout, a far checkout of the same repository with work)."""
    upstream = make_upstream(tmp_path)
    here = tmp_path / "laptop"
    git(tmp_path, "clone", "-q", str(upstream), str(here))
    git(here, "remote", "set-url", "origin", ORIGIN_URL)
    return here, clone_with_work(upstream, tmp_path / "far")


def test_a_far_checkpoint_comes_home_and_leaves_the_far_repo_as_it_was(
    pair: tuple[Path, Path],
) -> None:
    here, far = pair
    before = far_state(far)
    answer, bundle = far_answer(far)
    assert far_state(far) == before  # not even an object written there

    taken = fetch_checkpoint(FakeConnection(answer, bundle), here, "cs", str(far))  # type: ignore[arg-type]

    assert taken.checkpoint is not None
    assert taken.checkpoint.id.startswith("cs/")
    assert files_at(here, taken.checkpoint.commit) == EXPECTED


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        ("garbage", "could not be taken in"),
        ("other_commit", "does not hold just the announced commit"),
        ("oversized", "over the limit"),
        ("bad_commit_id", "is not a commit id"),
        ("other_repository", "is not of the repository"),
        ("short", "short checkpoint bundle"),
    ],
)
def test_a_hostile_far_answer_stores_nothing(
    pair: tuple[Path, Path], tmp_path: Path, spoil: str, said: str
) -> None:
    here, far = pair
    answer, bundle = far_answer(far)
    if spoil == "garbage":
        bundle = b"# v2 git bundle\n" + os.urandom(len(bundle))
    elif spoil == "other_commit":
        # A real bundle, of another commit than the one announced.
        (far / "app.py").write_text("print('other')\n")
        bundle = far_answer(far)[1]
    elif spoil == "oversized":
        answer["bundle_bytes"] = 1 << 40
    elif spoil == "bad_commit_id":
        answer["work"]["commit"] = "../../HEAD"
    elif spoil == "other_repository":
        answer["origin"] = "git@github.com:someone/else.git"
    elif spoil == "short":
        bundle = bundle[: len(bundle) // 2]
    answer["bundle_bytes"] = answer["bundle_bytes"] if spoil == "oversized" else len(bundle)
    if spoil == "short":
        answer["bundle_bytes"] = len(bundle) * 2
    refs_before = git(here, "for-each-ref")

    with pytest.raises((CheckpointError, ProtocolError), match=said):
        fetch_checkpoint(FakeConnection(answer, bundle), here, "cs", str(far))  # type: ignore[arg-type]

    assert git(here, "for-each-ref") == refs_before


def test_a_weird_far_machine_name_is_confined(pair: tuple[Path, Path]) -> None:
    here, far = pair
    answer, bundle = far_answer(far)
    taken = fetch_checkpoint(
        FakeConnection(answer, bundle),  # type: ignore[arg-type]
        here,
        "../../heads/main\x1b[2J",
        str(far),
    )
    assert taken.checkpoint is not None
    assert taken.checkpoint.ref.startswith(f"{REF_PREFIX}heads_main_2J/")
    assert git(here, "rev-parse", "main") == git(here, "rev-parse", "origin/main")


def test_the_far_side_takes_only_a_checkouts_top_level_of_the_same_repository(
    pair: tuple[Path, Path],
) -> None:
    _, far = pair
    with pytest.raises(GitFailed, match="not a checkout's top level"):
        far_answer(far / "notes")
    with pytest.raises(GitFailed, match="is not of the repository"):
        far_answer(far, origin="git@github.com:someone/else.git")
    assert far_answer(far, origin="https://github.com/octo-org/app")[1]
