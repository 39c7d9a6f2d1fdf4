"""What a plan must not do, and the report must tell instead.

Applied to ``reconcile.plan_sync``'s plan (which reads only the files it
could read) before anything is sent:

* a file that could not be read on one side (permissions, an I/O error, a
  symbolic link, which is never followed) takes no part: its plan items are
  dropped and it is one failed item of its own, so the sync says so and exits 1
  instead of "copying" the other side's copy over a file it never saw;
* a transcript without one complete line yet is not copied as 0 bytes: it is
  skipped, "waiting for a complete line".
"""

from __future__ import annotations

import attrs

from session_sync.model.manifest import SessionManifest
from session_sync.model.reconcile import Action, Direction, PlannedItem, SyncPlan
from session_sync.model.report import UNREADABLE_CASE, WAITING_CASE, ItemReport

__all__ = [
    "UNREADABLE_CASE",
    "WAITING_CASE",
    "unreadable_reports",
    "withhold",
]


def _unreadable(manifest: SessionManifest) -> dict[str, set[str]]:
    """``{session id: {rel, ...}}`` of the files a side could not read."""
    return {s.id: {rel for rel, _ in s.unreadable} for s in manifest.sessions if s.unreadable}


def _covered(rel: str, bad: set[str]) -> bool:
    """Whether ``rel`` is an unreadable path or lies under one (a refused dir)."""
    return any(rel == b or rel.startswith(b.rstrip("/") + "/") for b in bad)


def _waiting(item: PlannedItem) -> PlannedItem:
    side = "local" if item.direction is Direction.PUSH else "remote"
    return attrs.evolve(
        item,
        action=Action.SKIP,
        case=WAITING_CASE,
        reason=f"waiting for a complete line on {side} (only a partly written line so far)",
    )


def withhold(plan: SyncPlan, local: SessionManifest, remote: SessionManifest) -> SyncPlan:
    """``plan`` without the items of unreadable files, and with transcripts that
    have no complete line yet skipped as waiting."""
    bad_local, bad_remote = _unreadable(local), _unreadable(remote)
    items: list[PlannedItem] = []
    for item in plan.items:
        bad = bad_local.get(item.session, set()) | bad_remote.get(item.session, set())
        if _covered(item.file, bad):
            continue  # told by ``unreadable_reports``
        source = item.source
        if (
            item.action is not Action.SKIP
            and source.is_transcript
            and source.complete_size == 0
            and source.file_size > 0
        ):
            item = _waiting(item)
        items.append(item)
    return attrs.evolve(plan, items=tuple(items))


def unreadable_reports(local: SessionManifest, remote: SessionManifest) -> list[ItemReport]:
    """One failed item per file that a side could not read, sorted by session and file."""
    out: list[ItemReport] = []
    for side, manifest, way in (
        ("local", local, Direction.PUSH),
        ("remote", remote, Direction.PULL),
    ):
        for session in manifest.sessions:
            for rel, why in session.unreadable:
                out.append(
                    ItemReport(
                        session=session.id,
                        file=rel,
                        action=Action.SKIP.value,
                        direction=way.value,
                        reason=f"cannot read it on {side}; not synced",
                        case=UNREADABLE_CASE,
                        outcome="failed",
                        bytes=0,
                        error=why,
                    )
                )
    return sorted(out, key=lambda r: (r.session, r.file, r.direction))
