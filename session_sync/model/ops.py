"""From a plan to the wire: the ops an agent applies and the reads it sends.

The receiving agent re-checks every op against its own disk before it writes
(``agent.apply``); these are the planner's word on what it expects to find.
"""

from __future__ import annotations

from session_sync.agent.messages import ApplyOp, SendOp
from session_sync.model.reconcile import Action, PlannedItem

__all__ = ["apply_op", "send_op"]


def apply_op(item: PlannedItem, in_folder: bool) -> ApplyOp:
    """The wire form of one transfer, as the receiving agent applies it."""
    expect = item.expect
    op: ApplyOp = {
        "action": item.action.value,
        "dir": item.dest_dir,
        "in_folder": in_folder,
        "rel": item.file,
        "sha256": item.source.sha256,
        "size": item.source.complete_size,
        "mode": item.source.mode,
        "mtime_ns": item.source.mtime_ns,
        "reason": item.reason,
        "expect": (
            {
                "complete_size": expect.complete_size,
                "file_size": expect.file_size,
                "sha256": expect.sha256,
            }
            if expect is not None and item.action is not Action.COPY
            else None
        ),
    }
    source = item.source
    if (
        item.action is Action.APPEND
        and source.suffix_sha256 is not None
        and source.prefix_size == item.offset
    ):
        op["append_sha256"] = source.suffix_sha256
    if item.fork_file is not None:
        op["fork_rel"] = item.fork_file
    return op


def send_op(item: PlannedItem, in_folder: bool) -> SendOp:
    """What the sending agent must read: the source's bytes from the offset."""
    return {
        "dir": item.source_dir,
        "in_folder": in_folder,
        "rel": item.source_file or item.file,
        "offset": item.offset,
        "length": item.length,
    }
