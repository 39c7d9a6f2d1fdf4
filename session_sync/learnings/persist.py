"""Writing the learnings into the checkout and committing them.

``.claude/learnings.md`` gets the new bullets under ``## YYYY-MM-DD (machine)``;
``.claude/CLAUDE.md`` gets the plan's "Accumulated Learnings" directive once.
Each file is written atomically (a temp file beside it, fsync, rename) after a
re-read shows it unchanged since it was read. The commit holds those two files
and nothing else: other staged work stays staged (``git commit --only``). The
push is retried (tenacity, exponential backoff); a push that still fails keeps
the commit.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import attrs

from session_sync.errors import SessionSyncError

__all__ = [
    "CLAUDE_MD",
    "DIRECTIVE",
    "DIRECTIVE_HEADING",
    "LEARNINGS_MD",
    "PUSH_ATTEMPTS",
    "PUSH_BACKOFF_ENV",
    "GitError",
    "PlannedWrite",
    "PushError",
    "check_committable",
    "commit_files",
    "new_bullets",
    "plan_writes",
    "push",
    "push_target",
    "write_planned",
]

LEARNINGS_MD = ".claude/learnings.md"
CLAUDE_MD = ".claude/CLAUDE.md"
DIRECTIVE_HEADING = "## Accumulated Learnings"
DIRECTIVE = f"""{DIRECTIVE_HEADING}

Always read `.claude/learnings.md` at the start of each session for
context from previous work on this project.
"""
PUSH_ATTEMPTS = 4
"""The first push and 3 retries."""
PUSH_BACKOFF_ENV = "SESSION_SYNC_PUSH_BACKOFF"
"""Seconds of the first wait between pushes (doubling each time; default 2)."""


class GitError(SessionSyncError):
    """A git command failed."""


class PushError(GitError):
    """The push still failed after the retries (the commit is kept)."""


class _BehindRemote(GitError):
    """The remote has commits this checkout lacks: waiting does not change that."""


_GIT_TIMEOUT = 300.0


def _git(checkout: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=checkout,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=_GIT_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not finish in {_GIT_TIMEOUT:g} s") from None
    if done.returncode != 0:
        if "[rejected]" in done.stderr and (
            "non-fast-forward" in done.stderr or "fetch first" in done.stderr
        ):
            raise _BehindRemote(
                f"git {args[0]} was refused: the remote has commits this checkout has not"
                " (git pull --rebase, then git push)"
            )
        lines = [
            ln
            for ln in (done.stderr or done.stdout).splitlines()
            if ln.strip() and not ln.startswith("hint:")
        ]
        raise GitError(f"git {args[0]} failed: {lines[-1].strip() if lines else done.returncode}")
    return done.stdout


def _normal(bullet: str) -> str:
    return " ".join(bullet.lstrip("-*\u2022 ").split()).casefold()


def new_bullets(existing: str, bullets: Sequence[str]) -> list[str]:
    """``bullets`` that ``existing`` (a learnings.md) does not already hold (nor an
    earlier one of ``bullets``), compared without case and spacing."""
    seen = {_normal(ln) for ln in existing.splitlines() if ln.lstrip().startswith(("-", "*"))}
    out = []
    for bullet in bullets:
        key = _normal(bullet)
        if key and key not in seen:
            seen.add(key)
            out.append(bullet)
    return out


@attrs.frozen
class PlannedWrite:
    """One file of the checkout as it is to be written."""

    rel: str
    """Its path in the checkout."""
    before: bytes | None
    """Its bytes when read (None: missing)."""
    after: bytes
    """Its new bytes."""


def _read(path: Path) -> bytes | None:
    for link in (path.parent, path):
        if link.is_symlink():
            raise GitError(f"{link} is a symbolic link: not followed, nothing written")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def plan_writes(checkout: Path, bullets: Sequence[str], heading: str) -> list[PlannedWrite]:
    """The writes that add ``bullets`` (already new) under ``heading`` and make sure of
    the directive; empty when there is nothing to write."""
    writes = []
    learnings = _read(checkout / LEARNINGS_MD)
    if bullets:
        text = (learnings or b"").decode("utf-8", "replace")
        headings = re.findall(r"^## .*$", text, flags=re.MULTILINE)
        block = "".join(f"- {b}\n" for b in bullets)
        if headings and headings[-1] == heading:
            addition = ("" if text.endswith("\n") or not text else "\n") + block
        else:
            sep = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
            addition = f"{sep}{heading}\n\n{block}"
        writes.append(PlannedWrite(LEARNINGS_MD, learnings, (text + addition).encode("utf-8")))
    claude_md = _read(checkout / CLAUDE_MD)
    text = (claude_md or b"").decode("utf-8", "replace")
    if writes and not re.search(rf"^{re.escape(DIRECTIVE_HEADING)}\s*$", text, re.MULTILINE | re.I):
        sep = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
        writes.append(PlannedWrite(CLAUDE_MD, claude_md, (text + sep + DIRECTIVE).encode("utf-8")))
    return writes


def write_planned(checkout: Path, writes: Sequence[PlannedWrite]) -> None:
    """Write each planned file atomically, each re-checked unchanged right before."""
    for write in writes:
        path = checkout / write.rel
        path.parent.mkdir(exist_ok=True)
        mode = 0o644
        if write.before is not None:
            mode = path.stat().st_mode & 0o777
        tmp = path.with_name(f".{path.name}.session-sync-{os.getpid()}.tmp")
        try:
            with open(tmp, "xb") as fh:
                fh.write(write.after)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            if _read(path) != write.before:
                raise GitError(f"{write.rel} changed while the learnings were written: run again")
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()


def commit_files(checkout: Path, rels: Sequence[str], message: str) -> str:
    """Commit ``rels`` and nothing else (other staged changes stay staged); the sha."""
    _git(checkout, "add", "--", *rels)
    _git(checkout, "commit", "--quiet", "--only", "-m", message, "--", *rels)
    return _git(checkout, "rev-parse", "HEAD").strip()


def check_committable(checkout: Path) -> None:
    """Raise ``GitError`` when git would not take the two files (ignored by a
    ``.gitignore``), is behind a link, or a merge, cherry-pick or revert is under way
    (git takes no partial commit then): said before anything is asked or written."""
    for state in ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD"):
        if Path(checkout, _git(checkout, "rev-parse", "--git-path", state).strip()).exists():
            what = state.split("_HEAD")[0].lower().replace("_", "-")
            raise GitError(f"a {what} is under way here: finish it (or abort it) first")
    for rel in (LEARNINGS_MD, CLAUDE_MD):
        _read(checkout / rel)  # a linked .claude (or file) is never written through
        done = subprocess.run(
            ["git", "check-ignore", "-q", "--", rel],
            cwd=checkout,
            capture_output=True,
            check=False,
            timeout=60,
        )
        if done.returncode == 0:
            raise GitError(f"{rel} is ignored by git here (a .gitignore): it cannot be committed")


def _config(checkout: Path, key: str) -> str | None:
    try:
        return _git(checkout, "config", "--get", key).strip() or None
    except GitError:
        return None


def push_target(checkout: Path) -> list[str]:
    """The ``git push`` arguments: the upstream (remote and branch named) when one is
    set, else the branch to ``origin`` (or the one remote). Raises ``GitError`` when
    there is nowhere to push."""
    branch = _git(checkout, "rev-parse", "--abbrev-ref", "HEAD").strip()
    if branch == "HEAD":
        raise GitError("HEAD is detached: check out a branch, or pass --no-push")
    # The upstream, named: push.default (nothing, matching...) never decides what goes.
    remote = _config(checkout, f"branch.{branch}.remote")
    merge = _config(checkout, f"branch.{branch}.merge")
    if remote and remote != "." and merge and merge.startswith("refs/heads/"):
        return [remote, f"HEAD:{merge}"]
    remotes = _git(checkout, "remote").split()
    if not remotes:
        raise GitError("this checkout has no git remote to push to: pass --no-push")
    remote = "origin" if "origin" in remotes else remotes[0]
    return [remote, f"HEAD:refs/heads/{branch}"]


def _backoff() -> float:
    try:
        value = float(os.environ.get(PUSH_BACKOFF_ENV, "2"))
    except ValueError:
        value = 2.0
    return value if 0 <= value < 3600 else 2.0


def push(checkout: Path, target: Sequence[str], *, backoff: float | None = None) -> int:
    """``git push TARGET``, retried; the number of attempts it took. Raises
    ``PushError`` when the last attempt failed too."""
    import tenacity  # here: its import costs 40 ms that every other command would pay

    first = _backoff() if backoff is None else backoff
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(PUSH_ATTEMPTS),
        wait=tenacity.wait_exponential(multiplier=first, min=first, max=first * 8),
        # A refusal because the remote moved on stays a refusal: not retried.
        retry=tenacity.retry_if_exception(
            lambda exc: isinstance(exc, GitError) and not isinstance(exc, _BehindRemote)
        ),
        reraise=True,
    )
    attempts = 0
    try:
        for attempt in retrying:
            with attempt:
                attempts += 1
                _git(checkout, "push", "--quiet", *target)
    except GitError as exc:
        noun = "attempt" if attempts == 1 else "attempts"
        raise PushError(f"{exc} (after {attempts} {noun})") from None
    return attempts
