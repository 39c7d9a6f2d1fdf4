"""A session's files as a scan describes them: the transcript and everything
under its ``<uuid>/`` folder, links refused.

One sync's scans (``shared_listings``) describe a session once: a later scan of
the same sync reuses those facts, and describes again only a file whose prefix
hash it now needs at the other side's size. Cost then grows with what changed
between the scans' requests, not with the sessions scanned twice.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

from .fsutil import LINK_REFUSED, walk_files
from .hashcache import HashCache, describe_file
from .messages import FileFacts
from .shared import remembered

__all__ = ["listed_stat", "session_files"]


def listed_stat(path: str) -> os.stat_result:
    """``os.lstat``, once per path while ``shared_listings`` holds: one sync's second
    scan sees the files as its first did (the apply re-checks each it writes)."""
    return remembered("lstat", path, lambda: os.lstat(path))


def session_files(
    root: str,
    session_id: str,
    transcript: Optional[os.stat_result],
    has_folder: bool,
    cache: HashCache,
    peer_sizes: Dict[str, int],
) -> List[FileFacts]:
    """The facts of session ``session_id``'s files in project dir ``root``: the
    transcript (``transcript``: its lstat; None: it is a link, refused) and, when
    ``has_folder``, every file under ``<uuid>/``; each link met is an unreadable
    file (never walked or read). ``peer_sizes``: the other side's sizes, for
    prefix hashes (``describe_file``). The list is the caller's own."""
    key = root + "/" + session_id
    earlier = remembered(
        "session",
        key,
        lambda: _described(root, session_id, transcript, has_folder, cache, peer_sizes),
    )
    stats = earlier[1]
    out: List[FileFacts] = []
    for facts in earlier[0]:
        rel = str(facts["rel"])
        if "error" not in facts and _prefix_size(facts, peer_sizes.get(rel)) != facts.get(
            "prefix_size"
        ):
            # At this point we know this request asks for a prefix hash the
            # earlier one did not: only this file is described again.
            again = describe_file(root, rel, cache, peer_sizes.get(rel), st=stats.get(rel))
            if again is not None:
                out.append(again)
            continue
        out.append(facts.copy())  # the caller marks its own (``mark_restored``)
    return out


def _prefix_size(facts: FileFacts, peer_size: Optional[int]) -> Optional[int]:
    """The ``prefix_size`` ``describe_file`` gives a file of these facts, for that
    peer size: the peer's, when it is shorter than ours (and not empty)."""
    if peer_size is not None and 0 < peer_size < int(facts["complete_size"]):
        return peer_size
    return None


def _described(
    root: str,
    session_id: str,
    transcript: Optional[os.stat_result],
    has_folder: bool,
    cache: HashCache,
    peer_sizes: Dict[str, int],
) -> Tuple[List[FileFacts], Dict[str, os.stat_result]]:
    """The session's file facts, and each described file's lstat by its rel."""
    refused: List[Tuple[str, str]] = []
    rels: List[str] = []
    by_path: Dict[str, os.stat_result] = {}
    if transcript is None:
        refused.append((session_id + ".jsonl", LINK_REFUSED))
    else:
        rels.append(session_id + ".jsonl")
        by_path[root + "/" + session_id + ".jsonl"] = transcript
    if has_folder:
        rels += walk_files(root, session_id, refused, by_path)
    stats = {rel: by_path[root + "/" + rel] for rel in rels if root + "/" + rel in by_path}
    files: List[FileFacts] = []
    for rel in rels:
        described = describe_file(root, rel, cache, peer_sizes.get(rel), st=stats.get(rel))
        if described is not None:
            files.append(described)
    # A link is refused where it is met, never walked or read: it is reported
    # as a file that cannot be read, so the sync says so.
    files += [{"rel": rel, "error": why} for rel, why in refused]
    return files, stats
