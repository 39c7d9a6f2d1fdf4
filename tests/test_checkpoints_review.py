"""Checkpoints against a hostile far side, and the looks that must not write.

Each test here failed before the fix it came with: a bundle whose one ref is
named like an option or a refspec reached ``git fetch``; a dry run of an
unchanged far checkout said it would store one; a far side's words made the
hourly job's warning more than one log line; ``resume`` let ``git status``
rewrite the index it only looks at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_checkpoints import FakeConnection, far_answer, git, pair  # noqa: F401

from session_sync.checkpoints.remote import fetch_checkpoint
from session_sync.errors import CheckpointError

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
