"""Checkpoints against a hostile far side, and the looks that must not write.

Each test here failed before the fix it came with: a bundle whose one ref is
named like an option or a refspec reached ``git fetch``; a dry run of an
unchanged far checkout said it would store one; a far side's words made the
hourly job's warning more than one log line; ``resume`` let ``git status``
rewrite the index it only looks at; ``resume`` advised a restore that had been
run already (and that then fails: its branch exists), and a restore line without
the ``cd`` into the checkout that ``--local-path`` named.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import RunCli
from test_checkpoints import (  # noqa: F401
    FakeConnection,
    clone_with_work,
    far_answer,
    git,
    make_upstream,
    pair,
)

from session_sync.checkpoints.codespaces import checkpoint_after
from session_sync.checkpoints.remote import fetch_checkpoint
from session_sync.checkpoints.store import default_branch, list_checkpoints
from session_sync.checkpoints.take import take_local
from session_sync.cli.resume import sync_command
from session_sync.errors import CheckpointError, ProtocolError
from session_sync.github.gh import Codespace
from session_sync.resume import FarSession, git_state, next_step

_AGENT_REF = b"refs/session-sync/bundle"


def _repo_state(top: Path) -> tuple[str, str]:
    """Every ref and every config entry of ``top``'s repository."""
    return git(top, "for-each-ref"), git(top, "config", "--local", "--list")


@pytest.mark.parametrize(
    "name",
    [
        "--set-upstream",
        "--upload-pack=touch${IFS}pwned",
        "refs/x:refs/heads/main",
        "+refs/session-sync/bundle:refs/heads/main",
        "refs/*",
        "refs/a/../../heads/main",
        "HEAD",
        "refs/x\x1b]0;owned\x07",
    ],
)
def test_a_bundle_ref_named_like_an_option_or_refspec_is_refused(
    pair: tuple[Path, Path],  # noqa: F811
    name: str,
) -> None:
    here, far = pair
    answer, bundle = far_answer(far)
    header, sep, pack = bundle.partition(b"\n\n")
    assert header.count(_AGENT_REF) == 1
    bundle = header.replace(_AGENT_REF, name.encode()) + sep + pack
    answer["bundle_bytes"] = len(bundle)
    before = _repo_state(here)

    with pytest.raises(CheckpointError, match="not a plain ref") as caught:
        fetch_checkpoint(FakeConnection(answer, bundle), here, "cs", str(far))  # type: ignore[arg-type]

    assert "\x1b" not in str(caught.value)
    assert _repo_state(here) == before
    assert not (here / "pwned").exists()


def test_a_dry_run_of_unchanged_far_work_says_it_is_unchanged(
    pair: tuple[Path, Path],  # noqa: F811
) -> None:
    here, far = pair
    answer, bundle = far_answer(far)
    first = fetch_checkpoint(FakeConnection(answer, bundle), here, "cs", str(far))  # type: ignore[arg-type]
    assert first.checkpoint is not None
    # What the real agent answers to a dry run of the same work: unchanged, no bundle.
    again, none = far_answer(
        far, last={"tree": answer["work"]["tree"], "head": answer["work"]["head"]}, dry_run=True
    )
    assert again.get("unchanged") is True
    assert none == b""

    taken = fetch_checkpoint(
        FakeConnection(again),  # type: ignore[arg-type]
        here,
        "cs",
        str(far),
        dry_run=True,
    )

    assert taken.dry_run
    assert taken.unchanged_since == first.checkpoint
    assert len(list_checkpoints(here)) == 1


def test_a_dry_run_stores_nothing_whatever_the_far_side_sends(
    pair: tuple[Path, Path],  # noqa: F811
) -> None:
    here, far = pair
    answer, bundle = far_answer(far)  # a real bundle, though a dry run was asked for
    before = _repo_state(here)

    taken = fetch_checkpoint(
        FakeConnection(answer, bundle),  # type: ignore[arg-type]
        here,
        "cs",
        str(far),
        dry_run=True,
    )

    assert taken.dry_run
    assert taken.checkpoint is None
    assert _repo_state(here) == before


def test_a_far_side_cannot_answer_unchanged_or_dry_run_unasked(
    pair: tuple[Path, Path],  # noqa: F811
) -> None:
    here, far = pair
    answer, _ = far_answer(far)
    for claim in ("unchanged", "dry_run"):
        lie: dict[str, Any] = {**answer, claim: True}
        with pytest.raises(ProtocolError, match=r"unchanged|not asked for"):
            fetch_checkpoint(FakeConnection(lie), here, "cs", str(far))  # type: ignore[arg-type]
    assert list_checkpoints(here) == []


def test_the_warning_of_a_failed_checkpoint_is_one_line(
    pair: tuple[Path, Path],  # noqa: F811
) -> None:
    here, far = pair
    answer, bundle = far_answer(far)
    answer["top"] = "/w\n2026-12-01 10:00:00 INFO cs: checkpoint ok\x1b[2J"
    answer["origin"] = "git@github.com:someone/else.git"
    said: list[str] = []
    after = checkpoint_after(
        Codespace("cs", "octo-org/app", "Available"), here, str(far), said.append
    )

    after(FakeConnection(answer, bundle))  # type: ignore[arg-type]

    [line] = said
    assert line.startswith("warning: no checkpoint of cs:")
    assert "\n" not in line
    assert "\x1b" not in line


def test_resume_looks_at_git_without_rewriting_the_index(tmp_path: Path) -> None:
    top = tmp_path / "app"
    git(tmp_path, "init", "-q", "-b", "main", str(top))
    (top / "a.txt").write_text("a\n")
    git(top, "add", "a.txt")
    git(top, "commit", "-q", "-m", "a")
    # Same content, new mtime: a `git status` that may write would refresh the index.
    later = time.time() + 5
    os.utime(top / "a.txt", (later, later))
    index = top / ".git" / "index"
    before = (index.read_bytes(), index.stat().st_mtime_ns)

    state = git_state(str(top))

    assert state is not None
    assert state.changed == 0
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before


def test_resume_says_to_switch_to_a_checkpoint_restored_already(
    config_a: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    upstream = make_upstream(tmp_path)
    laptop = tmp_path / "laptop"
    git(tmp_path, "clone", "-q", str(upstream), str(laptop))
    far = clone_with_work(upstream, tmp_path / "far")
    taken = take_local(far, machine="cs-one")
    assert taken.checkpoint is not None
    git(laptop, "fetch", "-q", str(far), "refs/session-sync/*:refs/session-sync/*")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # resume --local-path: its commands must not run here
    resume = ("resume", "--local-path", str(laptop), "--json")

    step = run_cli(*resume).json()["next"]
    assert step["kind"] == "restore"
    assert step["command"].startswith(f"cd {laptop} && session-sync checkpoints restore ")
    # Run what it says (in the checkout, as its `cd` does).
    monkeypatch.chdir(laptop)
    assert run_cli(*step["command"].split(" && ")[1].split()[1:]).code == 0
    monkeypatch.chdir(elsewhere)

    # The restore, run again, would fail (the branch exists): the advice is to switch.
    step = run_cli(*resume).json()["next"]
    branch = default_branch(taken.checkpoint)
    assert step["kind"] == "switch"
    assert step["command"] == f"cd {laptop} && git switch {branch}"
    git(laptop, "switch", "-q", branch)
    assert run_cli(*resume).json()["next"]["kind"] == "none"  # no session: nothing to resume

    # Restored into a worktree instead: continue in that worktree.
    git(laptop, "switch", "-q", "main")
    git(laptop, "branch", "-q", "-D", branch)
    worktree = tmp_path / "wt"
    git(laptop, "worktree", "add", "-q", "-b", "cs-work", str(worktree), taken.checkpoint.commit)
    step = run_cli(*resume).json()["next"]
    assert step["kind"] == "switch"
    assert step["command"] == f"cd {worktree}"
    # Work goes on there: still the place to continue.
    git(worktree, "commit", "-q", "--allow-empty", "-m", "more")
    assert run_cli(*resume).json()["next"]["command"] == f"cd {worktree}"


def _forged(far: Path, answer: dict[str, Any], real: bytes, raw: str) -> bytes:
    """A bundle of the commit object ``raw`` (announced in ``answer``) and all it needs."""
    scratch = far.parent / "scratch.git"
    git(far.parent, "init", "-q", "--bare", str(scratch))
    (scratch / "real.bundle").write_bytes(real)
    git(scratch, "fetch", "-q", str(scratch / "real.bundle"), "refs/session-sync/bundle:refs/w")
    forged = git(
        scratch, "hash-object", "-t", "commit", "-w", "--literally", "--stdin", data=raw.encode()
    ).strip()
    git(scratch, "update-ref", "refs/session-sync/bundle", forged)
    git(scratch, "bundle", "create", "-q", "forged.bundle", "refs/session-sync/bundle")
    bundle = (scratch / "forged.bundle").read_bytes()
    answer["work"]["commit"] = forged
    answer["bundle_bytes"] = len(bundle)
    return bundle


@pytest.mark.parametrize(
    ("who", "message", "said"),
    [
        # git 2.39 does not apply fetch.fsckObjects to a fetch from a bundle: the
        # objects must be checked as they come in all the same.
        ("nobody", "x\n", "could not be taken in"),
        # Every `checkpoints list` and `resume` reads each checkpoint's message.
        ("A <a@b> 1 +0000", "x" * 200_000 + "\n", "message of"),
    ],
)
def test_a_forged_checkpoint_commit_is_refused(
    pair: tuple[Path, Path],  # noqa: F811
    who: str,
    message: str,
    said: str,
) -> None:
    here, far = pair
    answer, real = far_answer(far)
    work = answer["work"]
    # The announced tree on the announced parent.
    raw = f"tree {work['tree']}\nparent {work['head']}\nauthor {who}\ncommitter {who}\n\n{message}"
    bundle = _forged(far, answer, real, raw)
    before = _repo_state(here)

    with pytest.raises(CheckpointError, match=said):
        fetch_checkpoint(FakeConnection(answer, bundle), here, "cs", str(far))  # type: ignore[arg-type]

    assert _repo_state(here) == before
    assert list_checkpoints(here) == []


def _objects(top: Path) -> set[str]:
    root = top / ".git" / "objects"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_a_local_dry_run_writes_no_object_into_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    top = clone_with_work(make_upstream(tmp_path), tmp_path / "app")
    monkeypatch.chdir(top)
    before = _objects(top)

    result = run_cli("checkpoint", "--dry-run", "--json")

    assert result.code == 0, result
    assert result.json()["files"] == 4  # README.md, app.py, notes/plan.md, data.bin
    assert _objects(top) == before


def test_a_worktree_named_like_an_option_is_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    top = clone_with_work(make_upstream(tmp_path), tmp_path / "app")
    monkeypatch.chdir(top)
    taken = take_local(top, machine="cs")
    assert taken.checkpoint is not None
    monkeypatch.chdir(tmp_path)

    result = run_cli(
        "checkpoints", "--local-path", str(top), "restore", taken.checkpoint.id, "--worktree=-f"
    )

    assert result.code == 0, result
    assert (tmp_path / "-f" / "notes" / "plan.md").read_text() == "the plan\n"


def test_the_advised_sync_reaches_back_to_the_far_newest_session() -> None:
    now = dt.datetime(2026, 12, 2, 12, tzinfo=dt.timezone.utc)
    old = now - dt.timedelta(days=20, hours=3)
    assert sync_command("--host", "box", None, old, now) == (
        "session-sync sync --host box --pull --days 22"
    )
    assert sync_command("--codespace", "cs 1", "~/w/app", now, now) == (
        "session-sync sync --codespace 'cs 1' --pull --remote-path '~/w/app'"
    )
    step = next_step(
        "/src/my app",
        [],
        [],
        {},
        this_machine="laptop",
        far_machine="box",
        far_sessions=[FarSession("s", old, open_there=False, here=False)],
        sync_command=sync_command("--host", "box", None, old, now),
    )
    # Run in the project: a sync picks its project by its directory.
    assert step.command == "cd '/src/my app' && session-sync sync --host box --pull --days 22"
