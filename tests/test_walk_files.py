"""``fsutil.walk_files`` (one ``scandir`` per dir) finds and refuses what a walk
by ``os.walk`` does, in the same order, and gives each found file's lstat."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from session_sync.agent.fsutil import walk_files
from session_sync.agent.paths import TEMP_PREFIX

KINDS = ["file", "dir", "link-file", "link-dir", "link-broken", "fifo", "temp"]


def _by_os_walk(root: str, sub: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The walk as ``os.walk`` does it: the reference."""
    found: list[str] = []
    refused: list[tuple[str, str]] = []
    base = os.path.join(root, sub) if sub else root

    def refuse(path: str, reason: str) -> None:
        refused.append((os.path.relpath(path, root), reason))

    if sub and os.path.islink(base):
        refuse(base, "a symbolic link: not followed")
        return found, refused
    for dirpath, dirnames, filenames in os.walk(base):
        kept = []
        for d in sorted(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                refuse(os.path.join(dirpath, d), "a symbolic link: not followed")
            else:
                kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            if name.startswith(TEMP_PREFIX):
                continue
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                refuse(full, "a symbolic link: not followed")
            elif not os.path.isfile(full):
                refuse(full, "not a regular file")
            else:
                found.append(os.path.relpath(full, root))
    return found, refused


trees = st.lists(
    st.tuples(
        st.lists(st.sampled_from("ab"), max_size=3), st.sampled_from("xyz"), st.sampled_from(KINDS)
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(trees, st.booleans())
def test_walk_files_finds_and_refuses_what_os_walk_does(
    entries: list[tuple[list[str], str, str]], session_is_link: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        session = root / "s"
        if session_is_link:
            (Path(tmp) / "away").mkdir()
            root.mkdir()
            session.symlink_to(Path(tmp) / "away")
        else:
            session.mkdir(parents=True)
        for dirs, name, kind in entries:
            parent = (Path(tmp) / "away" if session_is_link else session).joinpath(*dirs)
            if any(
                p.is_symlink() or (p.exists() and not p.is_dir()) for p in [parent, *parent.parents]
            ):
                continue
            parent.mkdir(parents=True, exist_ok=True)
            path = parent / (TEMP_PREFIX + name if kind == "temp" else name)
            if path.exists() or path.is_symlink():
                continue
            if kind in ("file", "temp"):
                path.write_bytes(b"x")
            elif kind == "dir":
                path.mkdir()
            elif kind == "link-file":
                path.symlink_to("/etc/hostname")
            elif kind == "link-dir":
                path.symlink_to(tmp)
            elif kind == "link-broken":
                path.symlink_to(Path(tmp) / "nowhere")
            else:
                os.mkfifo(path)
        refused: list[tuple[str, str]] = []
        stats: dict[str, os.stat_result] = {}
        found = walk_files(str(root), "s", refused, stats)
        assert (found, refused) == _by_os_walk(str(root), "s")
        assert sorted(stats) == sorted(str(root / rel) for rel in found)
        for walked, st_ in stats.items():
            assert (st_.st_ino, st_.st_size) == (os.lstat(walked).st_ino, os.lstat(walked).st_size)
