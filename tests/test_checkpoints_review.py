"""Checkpoints against a hostile far side, and the looks that must not write.

Each test here failed before the fix it came with: a bundle whose one ref is
named like an option or a refspec reached ``git fetch``; a dry run of an
unchanged far checkout said it would store one; a far side's words made the
hourly job's warning more than one log line; ``resume`` let ``git status``
rewrite the index it only looks at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_checkpoints import FakeConnection, far_answer, git, pair  # noqa: F401

from session_sync.checkpoints.remote import fetch_checkpoint
from session_sync.checkpoints.store import list_checkpoints
from session_sync.errors import CheckpointError, ProtocolError

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
