"""``session-sync resume``: the one-page truth about a project, and the command
that continues its newest work here.

Everything comes from this machine: its sessions of the project (sessions
pulled from other machines live beside its own, ``handoff.sessions``), the
checkpoints its checkout holds (``checkpoints.store``) and the checkout's git
state. A live look at another machine (``--codespace``/``--host``) adds that
machine's sessions as its scan sees them, which may not be synced yet.

What to do next is decided by ``next_step``, a pure function of those facts.
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Mapping, Sequence

import attrs

from session_sync.checkpoints.store import Checkpoint, restore_line
from session_sync.gitlook import git_look
from session_sync.handoff.summary import MACHINE_HERE, SessionSummary

__all__ = [
    "FarSession",
    "GitState",
    "NextStep",
    "ResumePage",
    "checkpoint_work_is_here",
    "git_state",
    "newest_per_machine",
    "next_step",
    "restored_branch",
]


@attrs.frozen
class GitState:
    """The checkout here, as git sees it."""

    branch: str | None
    """The checked-out branch (None: a detached HEAD)."""
    head: str | None
    """The commit HEAD names (None: an unborn branch)."""
    upstream: str | None
    """The branch's upstream (``origin/main``), when it has one."""
    ahead: int
    """Commits here that the upstream lacks."""
    behind: int
    """Commits of the upstream not here."""
    changed: int
    """Tracked files with changes, staged or not."""
    untracked: int
    """Untracked files that are not ignored."""


@attrs.frozen
class FarSession:
    """A session of the project on the machine a live look reached."""

    id: str
    """Its uuid."""
    last_message_time: dt.datetime | None
    """The latest timestamp near the end of its transcript there."""
    open_there: bool
    """Open in a running Claude there (its registry; without one, written in the last minute)."""
    here: bool
    """This machine has the session too (maybe an older copy)."""


@attrs.frozen
class NextStep:
    """The command that continues the newest work here, and why that one."""

    kind: str
    """``resume`` (a session here), ``restore`` (work only in a checkpoint), ``switch``
    (that checkpoint was restored already, as a branch not checked out here), ``sync``
    (the newest session is only on the machine looked at), ``open`` (the newest
    session is open in a Claude here already) or ``none``."""
    command: str | None
    """The exact command line to run (None for ``open`` and ``none``)."""
    reason: str
    """Why, in words."""


@attrs.frozen
class ResumePage:
    """All that ``resume`` shows."""

    project: str
    """The project's path here."""
    repo: str | None
    """Its GitHub repository, when known."""
    git: GitState | None
    """The checkout's state (None: not a git checkout)."""
    sessions: tuple[SessionSummary, ...]
    """The project's sessions here, newest last message first."""
    checkpoints: tuple[Checkpoint, ...]
    """The newest checkpoint of each machine, newest first."""
    far_machine: str | None = None
    """The machine a live look reached (None: no live look)."""
    far_sessions: tuple[FarSession, ...] = ()
    """Its sessions of the project, newest first."""
    next: NextStep = NextStep("none", None, "no session and no checkpoint of this project here")
    """What to run now."""


def _git(project: str, *args: str) -> str | None:
    out = git_look(project, *args)
    return None if out is None else out.decode("utf-8", "replace")


def git_state(project: str) -> GitState | None:
    """The checkout at ``project`` (None: not a git checkout). One ``git status``
    reads branch, upstream, ahead/behind and the changed files together."""
    out = _git(project, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all")
    if out is None:
        return None
    branch = head = upstream = None
    ahead = behind = changed = untracked = 0
    records = iter(out.split("\0"))
    for record in records:
        if record.startswith("# branch.oid "):
            oid = record.split(" ", 2)[2]
            head = None if oid == "(initial)" else oid
        elif record.startswith("# branch.head "):
            name = record.split(" ", 2)[2]
            branch = None if name == "(detached)" else name
        elif record.startswith("# branch.upstream "):
            upstream = record.split(" ", 2)[2]
        elif record.startswith("# branch.ab "):
            a, b = record.split(" ")[2:4]
            ahead, behind = int(a.lstrip("+")), int(b.lstrip("-"))
        elif record.startswith(("1 ", "u ")):
            changed += 1
        elif record.startswith("2 "):
            changed += 1
            next(records, None)  # a rename's original path follows
        elif record.startswith("? "):
            untracked += 1
    return GitState(branch, head, upstream, ahead, behind, changed, untracked)


def checkpoint_work_is_here(project: str, checkpoint: Checkpoint) -> bool:
    """Whether this checkout already has the checkpoint's work: its tree is the
    tree of HEAD here, or its commit is an ancestor of HEAD."""
    ours = _git(project, "rev-parse", "--verify", "--quiet", "HEAD^{tree}")
    theirs = _git(project, "rev-parse", "--verify", "--quiet", f"{checkpoint.commit}^{{tree}}")
    if ours is not None and theirs is not None and ours.strip() == theirs.strip():
        return True
    return git_look(project, "merge-base", "--is-ancestor", checkpoint.commit, "HEAD") is not None


def restored_branch(project: str, checkpoint: Checkpoint) -> tuple[str, str | None] | None:
    """A branch here that holds the checkpoint's commit (a restore made it; work may
    have gone on on it), and the worktree it is checked out in (None: none); None
    when there is no such branch."""
    out = _git(
        project,
        "for-each-ref",
        f"--contains={checkpoint.commit}",
        "--format=%(refname:short)%00%(worktreepath)",
        "refs/heads/",
    )
    for line in (out or "").splitlines():
        branch, _, worktree = line.partition("\0")
        if branch:
            return branch, worktree or None
    return None


def newest_per_machine(checkpoints: Sequence[Checkpoint]) -> tuple[Checkpoint, ...]:
    """The newest checkpoint of each machine, newest first."""
    seen: dict[str, Checkpoint] = {}
    for cp in sorted(checkpoints, key=lambda c: (c.time, c.id), reverse=True):
        seen.setdefault(cp.machine, cp)
    return tuple(seen.values())


def _session_time(summary: SessionSummary) -> float:
    if summary.last_message_epoch is not None:
        return summary.last_message_epoch
    return summary.mtime_ns / 1e9


def next_step(
    project: str,
    sessions: Sequence[SessionSummary],
    checkpoints: Sequence[Checkpoint],
    work_is_here: dict[str, bool],
    *,
    this_machine: str,
    far_machine: str | None = None,
    far_sessions: Sequence[FarSession] = (),
    sync_command: str | None = None,
    restored: Mapping[str, tuple[str, str | None]] | None = None,
) -> NextStep:
    """What continues the newest work here. Pure: every fact comes in.

    Cases, in order:
    - ``restore``: another machine's newest checkpoint is newer than every session
      here and its work is not in this checkout (``work_is_here[id]`` is False);
      ``switch`` when it was restored already (``restored[id]``: its branch, and the
      worktree that has it checked out), as running the restore again would fail;
    - ``sync``: the live look found a session there newer than every one here (or
      grown there), so it must come over first;
    - ``open``: the newest session here is open in a Claude here already;
    - ``resume``: the newest session here;
    - ``none``: nothing to continue.
    """
    newest = sessions[0] if sessions else None
    newest_time = _session_time(newest) if newest is not None else None
    foreign = [c for c in checkpoints if c.machine != this_machine]
    if foreign:
        cp = max(foreign, key=lambda c: (c.time, c.id))
        newer = newest_time is None or cp.time.timestamp() > newest_time
        if newer and not work_is_here.get(cp.id, False):
            made = (restored or {}).get(cp.id)
            if made is not None:
                branch, worktree = made
                if worktree is not None:
                    return NextStep(
                        "switch",
                        f"cd {shlex.quote(worktree)}",
                        f"the newest work is checkpoint {cp.id}, restored already as branch"
                        f" {branch}, checked out in {worktree}: continue there",
                    )
                return NextStep(
                    "switch",
                    f"cd {shlex.quote(project)} && git switch {shlex.quote(branch)}",
                    f"the newest work is checkpoint {cp.id}, restored already as branch"
                    f" {branch}: switch to it (git refuses over conflicting local changes)",
                )
            return NextStep(
                "restore",
                f"cd {shlex.quote(project)} && {restore_line(cp)}",
                f"the newest work is checkpoint {cp.id} ({cp.files} changed file(s) on branch"
                f" {cp.branch}), newer than every session here, and this checkout lacks it",
            )
    far_newest = max(
        (f for f in far_sessions if f.last_message_time is not None),
        key=lambda f: f.last_message_time or dt.datetime.min,
        default=None,
    )
    if (
        far_newest is not None
        and far_newest.last_message_time is not None
        and (newest_time is None or far_newest.last_message_time.timestamp() > newest_time)
    ):
        where = far_machine or "the other machine"
        return NextStep(
            "sync",
            # In the checkout: a sync picks its project by the directory it runs in.
            f"cd {shlex.quote(project)} && {sync_command}" if sync_command else None,
            f"the newest session, {far_newest.id}, is on {where} and newer than every session"
            " here: sync first, then resume it here",
        )
    if newest is None:
        return NextStep("none", None, "no session and no checkpoint of this project here")
    if newest.open_here:
        return NextStep(
            "open",
            None,
            f"the newest session, {newest.id}, is open in a running Claude here: continue there",
        )
    machine = "this machine" if newest.machine == MACHINE_HERE else f"a {newest.machine} machine"
    return NextStep(
        "resume",
        f"cd {shlex.quote(project)} && claude --resume {newest.id}",
        f"the newest session, {newest.id}, was written on {machine}",
    )
