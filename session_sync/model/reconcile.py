"""Reconcile: two manifests in, a plan out. A pure function.

``plan_sync`` reads no file, clock or network: everything it knows is in the
two ``SessionManifest`` values and the ``SyncPolicy``. Every planned item
carries the name of the case that decided it and a reason in words.

The cases, for one file present on side A and/or side B:

==================  ==========================================  =========
case                when                                        action
==================  ==========================================  =========
``missing``         only one side has the file                  copy
``identical``       same size and sha256                        (no item)
``prefix``          the other copy is a byte prefix of this one  append
``unterminated``    ...but it ends with a half-written line      replace
``diverged``        neither is a prefix of the other            replace
``uncommitted``     a folder file: one copy is as committed to   replace
                    git, the other has changes on top: those win
``committed``       a folder file committed on both sides, at    skip
                    different commits: git's business
``differs``         a non-transcript file differs               replace
==================  ==========================================  =========

Then filters turn a transfer into ``skip`` (with the would-be direction),
case ``open``: the session is open in Claude on the receiving side (nothing is
ever written into an open session), or it is open on the sending side and the
transfer is not a ``copy`` or an ``append`` (an open session still sends its
complete lines, never a replace). Last, the direction must be allowed.
"Open" is the agent's word (``SessionEntry.active``): a live Claude process
has it, by the machine's registry, or — where there is no registry — it was
written in the last minute.

Why no remembered state is needed. Mutagen and Syncthing keep the last synced
state (an ancestor) to tell an edit from an old copy and a deletion from an
absence. Two facts about what is synced here make a stateless two-way
reconcile safe:

* a transcript only grows (Claude appends lines), so when one copy is a byte
  prefix of the other, the longer one is the newer: the prefix is evidence of
  age, and an append cannot lose a line;
* nothing is ever deleted, so an absence is never a deletion to replay: a file
  missing on one side is copied there.

When neither copy is a prefix of the other, both changed since they were last
equal and no ancestor would avoid a choice; the choice is made by a total
order both sides agree on, and the loser is always backed up before it is
replaced, so the choice buries a copy in the backups and never loses it.

Invariants (tested by property tests):

* ``plan_sync(m, m)`` has no items.
* Swapping the two manifests swaps push and pull and changes nothing else.
* No item loses a line: appends only add; a replace is planned only when the
  winner is not a prefix extension of the loser, and the loser is backed up.
* A copy that ``backups restore`` put back, unchanged since, wins a divergence
  (or a difference): the user chose it, and a restore must stick.
* Otherwise the winner of a divergence is the copy with the later last message time
  (a missing time is the oldest), then the larger size, then the larger
  sha256 — a total order, so both sides agree on it.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import attrs

from session_sync.model import forks
from session_sync.model.manifest import FileEntry, SessionEntry, SessionManifest
from session_sync.model.plan import (
    Action,
    Direction,
    PlannedItem,
    SyncPlan,
    SyncPolicy,
    not_this_way,
)

__all__ = [
    "Action",
    "Decision",
    "Direction",
    "PlannedItem",
    "SyncPlan",
    "SyncPolicy",
    "decide",
    "plan_sync",
]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@attrs.frozen
class Decision:
    """The natural decision for one file, before the filters (active, direction)."""

    action: Action
    """What to do to the losing (or missing) copy."""
    direction: Direction
    """Which way the bytes go."""
    case: str
    """The case of the table above that decided it."""
    reason: str
    """Why, in words, for the report."""
    conflict: bool = False
    """Both copies had changed (a divergence): the loser is backed up."""


_SIDE = {Direction.PUSH: ("local", "remote"), Direction.PULL: ("remote", "local")}
_MIN_TIME = dt.datetime.min.replace(tzinfo=dt.timezone.utc)


def _is_prefix_of(short: FileEntry, long: FileEntry) -> bool:
    """Whether ``short``'s counted bytes are a byte prefix of ``long``'s."""
    if short.complete_size >= long.complete_size:
        return False
    if short.complete_size == 0:
        return short.sha256 == EMPTY_SHA256
    return long.prefix_size == short.complete_size and long.prefix_sha256 == short.sha256


def _rank(entry: FileEntry) -> tuple[dt.datetime, int, str]:
    """Transcripts: by last message time (none is oldest), then size, then sha256."""
    return (entry.last_message_time or _MIN_TIME, entry.complete_size, entry.sha256)


def _rank_by_mtime(entry: FileEntry) -> tuple[int, int, str]:
    """Other files: by mtime (whole nanoseconds), then size, then sha256."""
    return (entry.mtime_ns, entry.complete_size, entry.sha256)


def _fmt(moment: dt.datetime | None) -> str:
    return moment.isoformat().replace("+00:00", "Z") if moment else "none"


def decide(local: FileEntry | None, remote: FileEntry | None) -> Decision | None:
    """The natural decision for one file, before filters; None when identical."""
    if local is None and remote is None:
        return None
    if remote is None:
        return Decision(Action.COPY, Direction.PUSH, "missing", "not on remote")
    if local is None:
        return Decision(Action.COPY, Direction.PULL, "missing", "not on local")
    if local.complete_size == remote.complete_size and local.sha256 == remote.sha256:
        return None
    for way, (mine, theirs) in (
        (Direction.PUSH, (local, remote)),
        (Direction.PULL, (remote, local)),
    ):
        dst_name = _SIDE[way][1]
        if mine.is_transcript and _is_prefix_of(theirs, mine):
            if theirs.has_partial_tail:
                return Decision(
                    Action.REPLACE,
                    way,
                    "unterminated",
                    f"{dst_name} copy is a prefix but ends with an unterminated line"
                    f" (backed up, then replaced)",
                )
            extra = mine.complete_size - theirs.complete_size
            return Decision(
                Action.APPEND,
                way,
                "prefix",
                f"{dst_name} copy is a prefix: append {extra} bytes",
            )
    if local.restored != remote.restored:
        # The user put this copy back with `backups restore`: a restore sticks.
        winner = Direction.PUSH if local.restored else Direction.PULL
        src, dst = _SIDE[winner]
        case = "diverged" if local.is_transcript else "differs"
        reason = f"{case}: {src} copy was restored by `backups restore`; {dst} copy backed up"
        return Decision(Action.REPLACE, winner, case, reason, conflict=local.is_transcript)
    if local.is_transcript:
        winner = Direction.PUSH if _rank(local) > _rank(remote) else Direction.PULL
        src, dst = _SIDE[winner]
        w, lo = (local, remote) if winner is Direction.PUSH else (remote, local)
        if w.last_message_time != lo.last_message_time:
            why = (
                f"{src} has the newer last message ({_fmt(w.last_message_time)}"
                f" > {_fmt(lo.last_message_time)})"
            )
        elif w.complete_size != lo.complete_size:
            sizes = f"{w.complete_size} > {lo.complete_size} bytes"
            why = f"same last message time; {src} is larger ({sizes})"
        else:
            why = "same last message time and size; tie broken by content hash"
        reason = f"diverged: {why}; {dst} copy backed up"
        return Decision(Action.REPLACE, winner, "diverged", reason, conflict=True)
    winner = Direction.PUSH if _rank_by_mtime(local) > _rank_by_mtime(remote) else Direction.PULL
    if local.committed is not None and remote.committed is not None:
        # A copy as committed can be had again from git; changes on top of one cannot.
        # (mtimes say nothing here: a fresh clone makes every file look new.)
        if local.committed and remote.committed:
            return Decision(
                Action.SKIP,
                winner,
                "committed",
                "both copies are committed to git, at different commits: left to git",
            )
        if local.committed != remote.committed:
            winner = Direction.PUSH if remote.committed else Direction.PULL
            src, dst = _SIDE[winner]
            return Decision(
                Action.REPLACE,
                winner,
                "uncommitted",
                f"{src} copy has uncommitted changes; {dst} copy is as committed (backed up)",
            )
    src, dst = _SIDE[winner]
    return Decision(
        Action.REPLACE,
        winner,
        "differs",
        f"differs: {src} copy is newer; {dst} copy backed up",
    )


def _session_items(
    session_id: str,
    local: SessionEntry | None,
    remote: SessionEntry | None,
    local_new_session_dir: str | None,
    remote_new_session_dir: str | None,
    policy: SyncPolicy,
) -> list[PlannedItem]:
    # A dict keeps first-seen order and makes the membership check O(1).
    rels = list(dict.fromkeys(f.rel for side in (local, remote) if side for f in side.files))
    transcript = f"{session_id}.jsonl"
    rels.sort(key=lambda r: (r != transcript, r))

    items: list[PlannedItem] = []
    for rel in rels:
        lf = local.file(rel) if local else None
        rf = remote.file(rel) if remote else None
        decision = decide(lf, rf)
        if decision is None:
            continue  # identical: nothing to plan
        action, way, case, reason = (
            decision.action,
            decision.direction,
            decision.case,
            decision.reason,
        )
        if way is Direction.PUSH:
            src_file, dst_file = lf, rf
            src_dir = local.dir if local else ""
            dst_dir = remote.dir if remote else remote_new_session_dir
        else:
            src_file, dst_file = rf, lf
            src_dir = remote.dir if remote else ""
            dst_dir = local.dir if local else local_new_session_dir
        assert src_file is not None
        src_name, dst_name = _SIDE[way]
        sender, receiver = (local, remote) if way is Direction.PUSH else (remote, local)
        if receiver is not None and receiver.active:
            action, case = Action.SKIP, "open"
            reason = f"open in Claude on {dst_name}: not written there; {reason}"
        elif sender is not None and sender.active and action is Action.REPLACE:
            action, case = Action.SKIP, "open"
            reason = (
                f"open in Claude on {src_name}: only its complete lines are sent while it is"
                f" open; {reason}"
            )
        elif not policy.direction.allows(way):
            action, reason = Action.SKIP, not_this_way(reason, way, policy.direction)
        elif dst_dir is None:
            action, reason = Action.SKIP, f"{reason}; no project dir for it on the other side"
        items.append(
            PlannedItem(
                session=session_id,
                file=rel,
                action=action,
                direction=way,
                case=case,
                reason=reason,
                source_dir=src_dir,
                dest_dir=dst_dir or "",
                source=src_file,
                expect=dst_file,
                conflict=decision.conflict,
            )
        )
    return items


def plan_sync(
    local: SessionManifest,
    remote: SessionManifest,
    policy: SyncPolicy | None = None,
    now: dt.datetime | None = None,
) -> SyncPlan:
    """Decide, for every file of every session on either side, what to do.

    Pure: same inputs, same plan. ``now`` is only recorded in the plan.
    """
    policy = policy or SyncPolicy()
    moment = now or dt.datetime.fromtimestamp(0, tz=dt.timezone.utc)
    local_by_id = {s.id: s for s in local.sessions}
    remote_by_id = {s.id: s for s in remote.sessions}
    items: list[PlannedItem] = []
    known = set(local_by_id) | set(remote_by_id)
    for session_id in sorted(known):
        for item in _session_items(
            session_id,
            local_by_id.get(session_id),
            remote_by_id.get(session_id),
            local.new_session_dir,
            remote.new_session_dir,
            policy,
        ):
            items += forks.keep_other_branch(item, known, policy.direction)
    return SyncPlan(items=tuple(forks.before_their_forks(items)), policy=policy, now=moment)
