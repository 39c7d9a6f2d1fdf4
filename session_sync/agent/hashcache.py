"""File facts (sizes, sha256, prefix hashes, tail timestamps), computed once
and kept in a per-machine cache keyed by (device, inode, size, mtime).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from typing import BinaryIO, Dict, Iterable, List, Optional, Set, Tuple

from .fsutil import write_atomic
from .messages import FileFacts
from .protocol import CHUNK_SIZE, JSON, Refusal
from .reading import open_below, open_leaf
from .transcript import complete_size, tail_timestamps

__all__ = [
    "HashCache",
    "describe_file",
]


class HashCache:
    """sha256 (and line facts) of files, keyed by (device, inode, size, mtime).

    Stored per machine in ``<config>/session-sync/hash-cache.json`` so a sync
    with nothing new reads almost nothing.
    """

    def __init__(self, config: str) -> None:
        self.path = os.path.join(config, "session-sync", "hash-cache.json")
        self.entries: Dict[str, JSON] = {}
        self.dirty = False
        self.scanned: Set[str] = set()
        """The dirs the scans using this cache listed (``finish`` prunes under them)."""
        self.seen: Set[str] = set()
        """The paths looked up or stored since it was loaded: there, so not pruned."""
        self.bytes_hashed = 0
        self.files_hashed = 0
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
            if isinstance(data, dict) and data.get("version") == 1:
                self.entries = dict(data.get("entries", {}))
        except (OSError, ValueError):
            self.entries = {}

    @staticmethod
    def key(st: os.stat_result) -> str:
        return "%d:%d:%d:%d" % (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def get(self, path: str, st: os.stat_result) -> Optional[JSON]:
        self.seen.add(path)
        entry = self.entries.get(path)
        if entry is not None and entry.get("key") == self.key(st):
            return entry
        return None

    def put(self, path: str, st: os.stat_result, facts: JSON) -> None:
        self.seen.add(path)
        facts = dict(facts)
        facts["key"] = self.key(st)
        # Not in the key (a scan needs not care), but no one can set it back:
        # what ``vouches`` also asks of a file.
        facts["ctime_ns"] = st.st_ctime_ns
        if self.entries.get(path) != facts:
            self.entries[path] = facts
            self.dirty = True

    def finish(self) -> None:
        """Prune under every dir the scans listed (``scanned``), then save."""
        self.prune(self.scanned)
        self.scanned.clear()
        self.save()

    def prune(self, scanned: Iterable[str]) -> None:
        """Forget the files gone from under the dirs ``scanned`` (listed by this
        scan); entries elsewhere (other projects, folders) are left alone."""
        roots = {os.path.normpath(d) for d in scanned}
        if not roots:
            return
        for path in list(self.entries):
            # A path a scan looked up was there (RACE: unless removed since, then
            # it goes at the next prune): only the others are looked at.
            if path not in self.seen and _below(path, roots) and not os.path.lexists(path):
                del self.entries[path]
                self.dirty = True

    def vouches(self, path: str, st: os.stat_result, size: int, sha256: str) -> bool:
        """Whether a scan here hashed the file ``st`` describes (same device, inode,
        size, mtime and ctime) whole, ``size`` bytes, to ``sha256``: an append then
        needs not read those bytes again.

        RACE: a rewrite of the same size within the clock tick of that hash leaves
        all of these as they were; ``--paranoid`` reads the file whole instead.
        """
        entry = self.get(path, st)
        return (
            entry is not None
            and entry.get("ctime_ns") == st.st_ctime_ns
            and entry.get("size") == size == st.st_size
            and entry.get("sha256") == sha256
        )

    def record_written(self, path: str, size: int, sha256: str) -> None:
        """Remember a file this agent has just written and verified.

        The sha256 is known already, so only the tail is read (for the last
        message time): the next scan then needs to read nothing of it.
        """
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    return
                complete = complete_size(fh, st.st_size) if path.endswith(".jsonl") else st.st_size
                if complete != size:
                    return
                stamps, malformed = (
                    tail_timestamps(fh, size) if path.endswith(".jsonl") else ([], 0)
                )
        except OSError:
            return
        self.put(
            path,
            st,
            {
                "size": size,
                "sha256": sha256,
                "timestamps": stamps,
                "malformed": malformed,
                "prefixes": {},
            },
        )

    def save(self) -> None:
        """Write the cache, when anything in it changed since it was read."""
        if not self.dirty:
            return
        data = json.dumps({"version": 1, "entries": self.entries}).encode()
        try:
            # No fsync: after a crash a cache that does not parse is read as
            # empty, and that only costs time.
            write_atomic(self.path, data, 0o600, durable=False)
            self.dirty = False
        except OSError:
            pass  # a cache that cannot be saved only costs time next run


def _below(path: str, roots: Set[str]) -> bool:
    """Whether ``path`` is inside one of ``roots`` (a lookup per parent dir)."""
    here = os.path.dirname(path)
    while True:
        if here in roots:
            return True
        parent = os.path.dirname(here)
        if parent == here:
            return False
        here = parent


def _hash_range(
    fh: BinaryIO, length: int, mark: Optional[int] = None
) -> Tuple[str, Dict[int, str], Dict[int, str]]:
    """sha256 of the first ``length`` bytes, plus the sha256 of the bytes before
    ``mark`` < length and of those from it to ``length`` (what an append sends)."""
    digest = hashlib.sha256()
    suffix: Optional["hashlib._Hash"] = None
    at: Dict[int, str] = {}
    fh.seek(0)
    done = 0
    for stop in ([mark] if mark is not None and 0 <= mark < length else []) + [length]:
        while done < stop:
            chunk = fh.read(min(CHUNK_SIZE, stop - done))
            if not chunk:
                raise Refusal("file shrank while being read")
            digest.update(chunk)
            if suffix is not None:
                suffix.update(chunk)
            done += len(chunk)
        if stop != length:
            at[stop] = digest.copy().hexdigest()
            suffix = hashlib.sha256()
    after = {mark: suffix.hexdigest()} if suffix is not None and mark is not None else {}
    return digest.hexdigest(), at, after


def _cached(
    path: str, st: os.stat_result, cache: HashCache, peer_size: Optional[int], plain: bool
) -> Optional[JSON]:
    """The cached facts of the file ``st`` describes, if they serve (None: read it)."""
    facts = cache.get(path, st)
    if facts is None or (plain and facts.get("size") != st.st_size):
        return None  # not cached, or cached as a transcript (complete lines only)
    if (
        peer_size is not None
        and 0 < peer_size < facts["size"]
        and str(peer_size) not in facts.get("prefixes", {})
    ):
        return None  # the prefix hash at the other side's size is missing
    return facts


def _read_facts(
    fh: BinaryIO,
    path: str,
    st: os.stat_result,
    cache: HashCache,
    peer_size: Optional[int],
    is_jsonl: bool,
) -> JSON:
    """Read the open file ``fh`` (``path``) for its facts, and cache them."""
    old = cache.get(path, st)
    need_prefix = peer_size is not None and peer_size > 0
    size = complete_size(fh, st.st_size) if is_jsonl else st.st_size
    sha, prefixes, suffixes = _hash_range(fh, size, peer_size if need_prefix else None)
    stamps: List[str] = []
    malformed = 0
    if is_jsonl:
        stamps, malformed = tail_timestamps(fh, size)
    cache.bytes_hashed += size
    cache.files_hashed += 1
    old_prefixes = dict(old.get("prefixes", {})) if old and old.get("size") == size else {}
    old_prefixes.update({str(k): v for k, v in prefixes.items()})
    old_suffixes = dict(old.get("suffixes", {})) if old and old.get("size") == size else {}
    old_suffixes.update({str(k): v for k, v in suffixes.items()})
    facts = {
        "size": size,
        "sha256": sha,
        "timestamps": stamps,
        "malformed": malformed,
        "prefixes": old_prefixes,
        "suffixes": old_suffixes,
    }
    cache.put(path, st, facts)
    return facts


def describe_file(
    root: str,
    rel: str,
    cache: HashCache,
    peer_size: Optional[int] = None,
    plain: bool = False,
    st: Optional[os.stat_result] = None,
) -> Optional[FileFacts]:
    """Facts about one file: sizes, mtime, mode, sha256, and for ``.jsonl`` the
    tail timestamps. ``peer_size``: the other side's size of the same file; when
    ours is larger the sha256 of our first ``peer_size`` bytes is included, so
    the controller can tell whether the other copy is a prefix of ours.
    ``plain``: not a transcript whatever its name (a synced folder's file):
    every byte counts and there are no timestamps. ``st``: the file's ``lstat``
    (a regular file), when the caller has it: a cache hit then opens nothing."""
    path = os.path.join(root, rel)
    is_jsonl = rel.endswith(".jsonl") and not plain
    need_prefix = peer_size is not None and peer_size > 0
    try:
        if st is not None and stat.S_ISREG(st.st_mode):
            # The identity the lstat saw is what ``open_leaf`` would see: the
            # last name not followed. A miss reads through ``open_below``.
            facts = _cached(path, st, cache, peer_size, plain)
        else:
            fd = open_leaf(root, rel)
            try:
                st = os.fstat(fd)
                facts = _cached(path, st, cache, peer_size, plain)
            finally:
                os.close(fd)
        if facts is None:
            # Read: through ``open_below``, so no link on the way is followed.
            with os.fdopen(open_below(root, rel), "rb") as fh:
                st = os.fstat(fh.fileno())
                facts = _cached(path, st, cache, peer_size, plain) or _read_facts(
                    fh, path, st, cache, peer_size, is_jsonl
                )
    except Refusal as exc:
        return {"rel": rel, "error": str(exc)}
    except FileNotFoundError:
        return None  # gone since the dir was listed
    except OSError as exc:
        return {"rel": rel, "error": "cannot read: %s" % (exc.strerror or exc)}
    out: FileFacts = {
        "rel": rel,
        "complete_size": facts["size"],
        "file_size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "mode": stat.S_IMODE(st.st_mode),
        "sha256": facts["sha256"],
        "timestamps": list(facts.get("timestamps", [])) if is_jsonl else [],
    }
    # What is usually nothing is left out (a scan of 10,000 sessions is 15%
    # smaller): the controller reads an absent ``malformed`` as 0 and an
    # absent prefix as none.
    if facts.get("malformed"):
        out["malformed"] = facts["malformed"]
    if plain:
        out["plain"] = True
    if need_prefix and peer_size is not None and peer_size < facts["size"]:
        out["prefix_size"] = peer_size
        out["prefix_sha256"] = facts.get("prefixes", {}).get(str(peer_size))
        # Missing in a cache entry made before it was kept: the append then
        # re-reads the destination whole, as with --paranoid.
        out["suffix_sha256"] = facts.get("suffixes", {}).get(str(peer_size))
    return out
