"""The other branch of a diverged session, kept as a session of its own (a fork)
beside the transcript about to be replaced, from the very inode it replaces.

The fork's name is planned (``model.forks``); this is where it is made, staged,
verified and linked like any new file, never over an existing one.
"""

from __future__ import annotations

import hashlib
import os
import time

from .fsutil import fsync_dir, temp_path
from .landing import holds, link_new
from .paths import fork_session_id
from .protocol import Refusal
from .swap import Destination

__all__ = ["keep_branch"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

_FORK_CHAIN = 8
"""Forks of forks looked at for a branch's name before its keeping is refused."""


def keep_branch(dest: Destination, counted: int, sha256: str, fork_target: str) -> str:
    """Keep the destination's ``counted`` bytes as the new file ``fork_target``
    (the other branch of a diverged session), read from the inode about to be
    replaced; fine if that file already starts with them. Returns the file's name.

    A fork that was itself rewritten since it was made (resumed and rewound on
    some machine) holds another branch under the planned name; the bytes are
    then kept as that fork's own fork for them, the name a sync of the fork
    gives them on every machine (``fork_session_id``), and so on down the chain."""
    directory = os.path.dirname(fork_target)
    name = os.path.basename(fork_target)
    for _ in range(_FORK_CHAIN):
        if not os.path.lexists(os.path.join(directory, name)):
            break
        if holds(os.path.join(directory, name), counted, sha256):
            return name
        name = fork_session_id(name[: -len(".jsonl")], sha256) + ".jsonl"
    else:
        raise Refusal("%s exists with other lines; nothing changed" % os.path.basename(fork_target))
    # At this point we know no fork on the chain holds the branch, and ``name``
    # is free.
    fork_target = os.path.join(directory, name)
    tmp = temp_path(directory)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as fh:
            dest.read_into(counted, fh, digest)
            fh.flush()
            os.fsync(fh.fileno())
        if digest.hexdigest() != sha256:
            raise Refusal("destination changed since the scan; run the sync again")
        os.chmod(tmp, dest.mode)
        os.utime(tmp, ns=(time.time_ns(), dest.mtime_ns))
        try:
            link_new(tmp, fork_target)
        except Refusal:
            if not holds(fork_target, counted, sha256):
                raise
        fsync_dir(directory)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return name
