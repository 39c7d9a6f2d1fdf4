"""A divergence loses no branch: the copy a diverged transcript replaces is kept
as a session of its own on both machines (a fork), which Claude lists and
resumes like any other.

For a diverged transcript ``<sid>.jsonl`` the winner (the later last message)
replaces the loser as before, backed up first. Before that swap the receiving
agent keeps the loser's complete lines as ``<fork>.jsonl`` beside it, from the
very inode it replaces; a second item copies the same bytes to the winner's
machine under the same name. The fork's id is derived from the session id and
the loser's sha256, so every machine, and every later sync, names the same
branch the same way: a fork is made once, however often the two copies meet.
"""

from __future__ import annotations

import attrs

from session_sync.agent.paths import FORK_NAMESPACE, fork_session_id
from session_sync.model.plan import Action, Direction, PlannedItem, not_this_way

__all__ = ["FORK_NAMESPACE", "before_their_forks", "fork_session_id", "keep_other_branch"]

_OTHER = {Direction.PUSH: Direction.PULL, Direction.PULL: Direction.PUSH}
_SIDE = {Direction.PUSH: ("local", "remote"), Direction.PULL: ("remote", "local")}


def keep_other_branch(
    item: PlannedItem, known: set[str], direction: Direction
) -> list[PlannedItem]:
    """``item``, and for the replace of a diverged transcript, the same replace
    told to keep the loser as a fork, followed by the fork's copy to the
    winner's machine (unless some machine already has the fork: then it syncs
    as a session of its own)."""
    loser = item.expect
    if (
        item.action is not Action.REPLACE
        or item.case != "diverged"
        or item.file != f"{item.session}.jsonl"
        or loser is None
        or loser.complete_size == 0
    ):
        return [item]
    # At this point we know the item replaces, on the receiving side, a copy of
    # the transcript whose complete lines are not all in the winner.
    fork_id = fork_session_id(item.session, loser.sha256)
    fork_file = f"{fork_id}.jsonl"
    loser_side = _SIDE[item.direction][1]
    kept = attrs.evolve(
        item,
        fork_file=fork_file,
        reason=f"{item.reason}; its branch is kept as session {fork_id}",
    )
    if fork_id in known:
        return [kept]
    way = _OTHER[item.direction]
    reason = f"the {loser_side} branch of diverged session {item.session}, kept as a session"
    action = Action.COPY
    if not direction.allows(way):
        action = Action.SKIP
        reason = not_this_way(reason, way, direction)
    copy = PlannedItem(
        session=fork_id,
        file=fork_file,
        action=action,
        direction=way,
        case="forked",
        reason=reason,
        source_dir=item.dest_dir,
        dest_dir=item.source_dir,
        source=loser,
        # A local loser is read before this machine applies anything; a remote
        # one is the fork its agent has just made (it applies before it sends).
        source_file=item.file if way is Direction.PUSH else None,
    )
    return [kept, copy]


def before_their_forks(items: list[PlannedItem]) -> list[PlannedItem]:
    """``items`` in plan order, except that a fork's own transfer to a machine comes
    before the replace there that keeps that fork (the replace then finds the fork
    in place, begun with its branch, instead of making it first and failing the
    copy). Both are applied by the same agent, in this order."""
    own = {(i.file, i.direction): i for i in items if i.action is not Action.SKIP}
    placed: set[int] = set()
    ordered: list[PlannedItem] = []
    for item in items:
        if id(item) in placed:
            continue
        if item.fork_file is not None:
            first = own.get((item.fork_file, item.direction))
            if first is not None and id(first) not in placed:
                ordered.append(first)
                placed.add(id(first))
        ordered.append(item)
        placed.add(id(item))
    return ordered
