"""Bringing a far checkout's checkpoint home over the agent connection.

The agent makes the commit in a scratch object store there (the far
repository is not changed at all) and sends a git bundle of it, leaving out
the commits this repository already has. The far side may be hostile: its
answer is checked field by field, the bundle is bounded, ``git bundle
verify``-ed and its pack taken in by ``index-pack --strict``, the commit must be the
one announced (its tree and parent too), and the ref it goes under is built
here from our own machine name and our own clock.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from session_sync.agent.checkpoint import (
    DEFAULT_MAX_FILE_SIZE,
    MAX_BUNDLE_BYTES,
    GitFailed,
    git,
    safe_machine,
)
from session_sync.agent.gitinfo import git_origin_url
from session_sync.agent.paths import repositories_match
from session_sync.checkpoints.store import list_checkpoints
from session_sync.checkpoints.take import Taken, iso_time, prune, same_work, store_commit
from session_sync.errors import CheckpointError, ProtocolError
from session_sync.transports.connection import AgentConnection

__all__ = [
    "MAX_COMMIT_BYTES",
    "MAX_HAVES",
    "FarWork",
    "check_answer",
    "fetch_checkpoint",
    "same_repository",
]

MAX_HAVES = 2000
"""Commit ids of ours sent along, so the bundle can leave out what we have."""

MAX_COMMIT_BYTES = 64 * 1024
"""The largest checkpoint commit object taken in (ours are a few hundred bytes)."""

_HEX = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_LEFT_OUT_LIMIT = 1000
_HEADER_LIMIT = 1 << 20
# The bundle's one ref, as the far side names it: a plain ref under refs/ (never an
# option, a refspec with a destination, a glob or a `..`), should it ever be handed
# to git.
_BUNDLE_REF_NAME = re.compile(r"^refs(/[A-Za-z0-9_][A-Za-z0-9._-]*)+$")


@attrs.frozen
class FarWork:
    """The agent's answer, checked."""

    top: str
    """The far checkout's top level."""
    origin: str | None
    """Its ``origin`` URL."""
    commit: str
    """The checkpoint commit made there."""
    tree: str
    """Its tree."""
    head: str | None
    """Its parent (HEAD there)."""
    files: int
    """Files that differ from HEAD."""
    bytes: int
    """Their bytes."""
    left_out: tuple[tuple[str, int], ...]
    """Untracked files over the limit."""
    unchanged: bool
    """The far side found the work the same as our newest checkpoint of it."""
    dry_run: bool
    """The far side made the commit for a dry run only: no bundle follows."""
    bundle_bytes: int
    """Bytes of the bundle that follows (0: none follows)."""


def same_repository(a: str | None, b: str | None) -> bool:
    """Whether two origin URLs name the same repository."""
    return repositories_match(a, b) or (bool(a) and bool(b) and str(a).strip() == str(b).strip())


def _text(value: Any, what: str, *, limit: int = 4096) -> str:
    if not isinstance(value, str) or len(value) > limit or "\0" in value:
        raise ProtocolError(f"the checkpoint answer's {what} is not a short string")
    return value


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 62:
        raise ProtocolError(f"the checkpoint answer's {what} is not a count")
    return value


def _oid(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _HEX.match(value):
        raise ProtocolError(f"the checkpoint answer's {what} is not a commit id")
    return value


def check_answer(answer: dict[str, Any]) -> FarWork:
    """The agent's answer as a ``FarWork``; a ``ProtocolError`` for anything amiss."""
    work = answer.get("work")
    if not isinstance(work, dict):
        raise ProtocolError("the checkpoint answer has no work")
    left = work.get("left_out")
    if not isinstance(left, list) or len(left) > _LEFT_OUT_LIMIT:
        raise ProtocolError("the checkpoint answer's left_out is not a short list")
    left_out = []
    for entry in left:
        if not isinstance(entry, dict):
            raise ProtocolError("the checkpoint answer's left_out holds a non-object")
        path = _text(entry.get("path"), "left-out path")
        left_out.append((path, _count(entry.get("size"), "size")))
    unchanged = answer.get("unchanged", False) is True
    dry_run = answer.get("dry_run", False) is True
    origin = answer.get("origin")
    return FarWork(
        top=_text(answer.get("top"), "checkout"),
        origin=None if origin is None else _text(origin, "origin"),
        commit=_oid(work.get("commit"), "commit"),
        tree=_oid(work.get("tree"), "tree"),
        head=None if work.get("head") is None else _oid(work.get("head"), "head"),
        files=_count(work.get("files"), "files"),
        bytes=_count(work.get("bytes"), "bytes"),
        left_out=tuple(left_out),
        unchanged=unchanged,
        dry_run=dry_run and not unchanged,
        bundle_bytes=0
        if unchanged or dry_run
        else _count(answer.get("bundle_bytes"), "bundle size"),
    )


def _haves(top: Path) -> list[str]:
    """Our refs' commit ids (checkpoints and branches first)."""
    out = git(str(top), "for-each-ref", "--format=%(objecttype) %(objectname)")[1].decode()
    seen: dict[str, None] = {}
    for line in out.splitlines():
        kind, _, oid = line.partition(" ")
        if kind == "commit" and _HEX.match(oid):
            seen.setdefault(oid, None)
    return list(seen)[:MAX_HAVES]


def fetch_checkpoint(
    connection: AgentConnection,
    local_top: Path,
    machine: str,
    remote_path: str,
    *,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    max_bundle: int = MAX_BUNDLE_BYTES,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> Taken:
    """Checkpoint the far checkout at ``remote_path`` into ``local_top``'s repository
    under ``machine``'s name."""
    try:
        return _fetch(
            connection,
            local_top,
            safe_machine(machine),
            remote_path,
            max_file_size,
            max_bundle,
            (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0),
            dry_run,
        )
    except GitFailed as exc:
        raise CheckpointError(f"{local_top}: {exc}") from None


def _fetch(
    connection: AgentConnection,
    local_top: Path,
    name: str,
    remote_path: str,
    max_file_size: int,
    max_bundle: int,
    when: dt.datetime,
    dry_run: bool,
) -> Taken:
    newest = next(iter(list_checkpoints(local_top, name)), None)
    last = None
    if newest is not None:
        tree = git(str(local_top), "rev-parse", f"{newest.commit}^{{tree}}")[1].decode().strip()
        last = {"tree": tree, "head": newest.head}
    request = {
        "op": "checkpoint",
        "path": remote_path,
        "machine": name,
        "time": iso_time(when),
        "max_file_size": max_file_size,
        "max_bundle": max_bundle,
        "have": _haves(local_top),
        "last": last,
        "dry_run": dry_run,
        # The far side refuses a checkout of another repository before any work.
        "origin": git_origin_url(str(local_top)),
    }
    far = check_answer(connection.request(request))
    where = connection.transport.description
    scratch = Path(tempfile.mkdtemp(prefix="session-sync-bundle-"))
    try:
        bundle = scratch / "checkpoint.bundle"
        if far.bundle_bytes:
            if far.bundle_bytes > max_bundle:
                raise ProtocolError(
                    f"{where} announced a {far.bundle_bytes}-byte checkpoint, over the"
                    f" limit of {max_bundle}",
                    where=where,
                )
            with bundle.open("wb") as fh:
                for chunk in connection.file_data(limit=far.bundle_bytes):
                    fh.write(chunk)
            if bundle.stat().st_size != far.bundle_bytes:
                raise ProtocolError(f"{where} sent a short checkpoint bundle", where=where)
        local_origin = git_origin_url(str(local_top))
        if not same_repository(far.origin, local_origin):
            raise CheckpointError(
                f"the checkout {far.top} on {where} (origin {far.origin or 'none'}) is not of"
                f" the repository of {local_top} (origin {local_origin or 'none'})"
            )
        base = Taken(name, far.top, str(local_top), None, None, far.files, far.bytes, far.left_out)
        if far.unchanged:
            if newest is None:
                raise ProtocolError(
                    f"{where} calls the work unchanged, but there is no checkpoint of it yet",
                    where=where,
                )
            # As a dry run here says too: nothing new would be stored.
            return attrs.evolve(base, unchanged_since=newest, dry_run=dry_run)
        if far.dry_run and not dry_run:
            raise ProtocolError(f"{where} answered a dry run that was not asked for", where=where)
        if dry_run:
            if newest is not None and same_work(local_top, newest, far.tree, far.head):
                return attrs.evolve(base, unchanged_since=newest, dry_run=True)
            return attrs.evolve(base, dry_run=True)
        if newest is not None and same_work(local_top, newest, far.tree, far.head):
            return attrs.evolve(base, unchanged_since=newest)
        _fetch_bundle(local_top, bundle, far, where)
        ref = store_commit(local_top, name, when, far.commit)
        stored = next(c for c in list_checkpoints(local_top, name) if c.ref == ref)
        return attrs.evolve(base, checkpoint=stored, pruned=tuple(prune(local_top, name, when)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _pack_offset(fh: BinaryIO, where: str) -> int:
    """Where the pack starts in a bundle: after the header's first empty line (as git
    reads it)."""
    head = fh.read(_HEADER_LIMIT)
    end = head.find(b"\n\n")
    if end < 0:
        raise CheckpointError(f"the checkpoint bundle from {where} has no end to its header")
    return end + 2


def _fetch_bundle(top: Path, bundle: Path, far: FarWork, where: str) -> None:
    """Verify ``bundle``, take its objects into ``top``'s repository, check the commit."""
    try:
        git(str(top), "bundle", "verify", "-q", str(bundle))
        heads = git(str(top), "bundle", "list-heads", str(bundle))[1].decode("ascii", "replace")
        listed = [line.split() for line in heads.splitlines() if line.strip()]
        if len(listed) != 1 or len(listed[0]) != 2 or listed[0][0] != far.commit:
            raise CheckpointError(
                f"the checkpoint bundle from {where} does not hold just the announced commit"
            )
        name = listed[0][1]
        if not _BUNDLE_REF_NAME.match(name) or ".." in name or name.endswith(".lock"):
            raise CheckpointError(
                f"the checkpoint bundle from {where} names its ref {name!r}, not a plain ref"
            )
        # Not `git fetch`: git (2.39 at least) does not fsck what it fetches from a
        # bundle, whatever fetch.fsckObjects says. index-pack --strict checks every
        # object and that all it points to is here; no ref and no config is written.
        with bundle.open("rb") as fh:
            fh.seek(_pack_offset(fh, where))
            git(str(top), "index-pack", "--strict", "--fix-thin", "--stdin", stdin=fh)
        kind = git(str(top), "cat-file", "-t", far.commit)[1].decode().strip()
        size = int(git(str(top), "cat-file", "-s", far.commit)[1].decode().strip() or 0)
        shown = git(str(top), "rev-list", "--parents", "-n", "1", far.commit)[1].decode().split()
        tree = git(str(top), "rev-parse", f"{far.commit}^{{tree}}")[1].decode().strip()
    except GitFailed as exc:
        raise CheckpointError(f"the checkpoint from {where} could not be taken in: {exc}") from None
    if size > MAX_COMMIT_BYTES:
        # Every `checkpoints list` and `resume` reads each checkpoint's whole message.
        raise CheckpointError(
            f"the checkpoint from {where} has a message of {size} bytes, over {MAX_COMMIT_BYTES}"
        )
    parents = shown[1:]
    if kind != "commit" or tree != far.tree or parents != ([far.head] if far.head else []):
        raise CheckpointError(f"the checkpoint from {where} is not the commit it announced")
