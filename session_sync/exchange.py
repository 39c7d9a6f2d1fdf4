"""The exchange: one request that pushes our files to the other machine's agent
and streams its files back, applied here as they arrive.

Split from ``engine`` (which plans what moves); the lock in here is the one
every scan and apply of this process takes on this machine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import attrs

from session_sync.agent.apply import apply_batch
from session_sync.agent.faults import fault_point
from session_sync.agent.paths import op_base, op_target
from session_sync.agent.protocol import Refusal
from session_sync.agent.reading import send_below
from session_sync.model.ops import apply_op, send_op
from session_sync.model.reconcile import SyncPlan
from session_sync.model.report import ItemReport
from session_sync.model.wire import check_exchange_answer
from session_sync.transports.connection import AgentConnection

__all__ = [
    "LOCAL_APPLY",
    "ExchangeRequest",
    "Progress",
    "ProgressCallback",
    "exchange_files",
    "forks_follow_their_replace",
]

LOCAL_APPLY = threading.Lock()
"""Held while this process scans or applies on this machine."""

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes done, bytes total) while file data moves."""


class ExchangeRequest(Protocol):
    """What the exchange needs of a sync's request (``engine.SyncRequest`` is one)."""

    @property
    def local_config(self) -> Any: ...
    @property
    def folder_sync(self) -> bool: ...
    @property
    def backup_retention_days(self) -> float: ...
    @property
    def paranoid(self) -> bool: ...


class Progress:
    """Bytes of file data moved so far, told to a callback."""

    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self.done = 0
        self.callback = callback

    def add(self, n: int) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(self.done, self.total)

    def counted(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.add(len(chunk))
            yield chunk


def exchange_files(
    request: ExchangeRequest,
    plan: SyncPlan,
    connection: AgentConnection,
    reports: list[ItemReport],
    progress: ProgressCallback | None,
    parts: dict[str, Any],
) -> dict[str, Any]:
    """Push and pull the plan's files (and send ``parts``, the far side's memory
    and history writes); return the far agent's answer."""
    index_of = {id(item): i for i, item in enumerate(plan.items)}
    pushes, pulls = plan.pushes, plan.pulls
    meter = Progress(sum(i.length for i in plan.transfers), progress)
    label = f"sync with {connection.transport.description} at {plan.now.isoformat()}"
    connection.send(
        {
            "op": "exchange",
            "label": label,
            "apply": [apply_op(i, request.folder_sync) for i in pushes],
            "send": [send_op(i, request.folder_sync) for i in pulls],
            "backup_retention_days": request.backup_retention_days,
            "paranoid": request.paranoid,
            **parts,
        }
    )
    config = str(request.local_config)

    def sent(count: int) -> None:
        meter.add(count)
        fault_point("send.chunk", config)

    for item in pushes:
        op = send_op(item, request.folder_sync)
        try:
            op_target(config, op)
            base = op_base(config, op)
        except Refusal as exc:
            with connection.stream_errors():
                connection.writer.json(b"E", {"ok": False, "error": str(exc)})
            continue
        # Reading our own file fails into its E frame (a link on the way is not
        # followed); only the stream can raise.
        with connection.stream_errors():
            send_below(connection.writer, base, str(op["rel"]), item.offset, item.length, sent)
    connection.flush()
    answer = connection.receive()
    check_exchange_answer(answer, connection.transport.description, len(pushes))
    for item, result in zip(pushes, answer["results"], strict=True):
        reports[index_of[id(item)]] = reports[index_of[id(item)]].with_result(result)

    # Pulls: the agent is now streaming their data; apply each as it arrives.
    ops = [apply_op(i, request.folder_sync) for i in pulls]
    # apply_batch asks for each op's data once, in order: each is held to its length.
    lengths = iter([i.length for i in pulls])

    def next_file() -> Iterator[bytes]:
        return meter.counted(connection.file_data(next(lengths)))

    # Syncs in parallel threads of this process (one per codespace) take turns
    # here, so none of them spends the machine's bounded lock wait on a sibling.
    with LOCAL_APPLY:
        outcome = apply_batch(
            config, ops, next_file, label, request.backup_retention_days, request.paranoid
        )
    for item, result in zip(pulls, outcome["results"], strict=True):
        reports[index_of[id(item)]] = reports[index_of[id(item)]].with_result(result)
    forks_follow_their_replace(plan, reports, index_of)
    return dict(answer)


def forks_follow_their_replace(
    plan: SyncPlan, reports: list[ItemReport], index_of: dict[int, int]
) -> None:
    """A fork's copy whose replace failed was never needed (the branch is still
    in place where it was): a skip that says why, not a second failure."""
    failed_forks = {
        item.fork_file
        for item in plan.transfers
        if item.fork_file is not None and reports[index_of[id(item)]].outcome == "failed"
    }
    for item in plan.transfers:
        at = index_of[id(item)]
        if item.case == "forked" and item.file in failed_forks and reports[at].outcome == "failed":
            reports[at] = attrs.evolve(
                reports[at],
                outcome="skipped",
                error=None,
                reason=f"{item.reason}; not needed: the replace of its session failed",
            )
