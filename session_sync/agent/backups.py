"""Backup sets: every file a sync replaces is copied here first, and sets
are pruned by age (a file's newest backup is kept forever).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from typing import Dict, List, Optional, Tuple

from .faults import fault_point
from .fsutil import make_private_dirs, read_range, temp_path, write_atomic
from .messages import BackupEntry
from .protocol import JSON

__all__ = [
    "DEFAULT_BACKUP_RETENTION_DAYS",
    "BackupSet",
    "list_backups",
    "open_backup_set",
    "prune_backups",
]


DEFAULT_BACKUP_RETENTION_DAYS = 90

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class BackupSet:
    """One folder of backups made by one apply run on this machine."""

    def __init__(self, config: str, label: str) -> None:
        self.config = config
        self.label = label
        self.root: Optional[str] = None
        self.entries: List[BackupEntry] = []
        self.created = time.time()

    def _open_root(self) -> str:
        """Make the set's folder with its index at once, so that a set a kill
        interrupts is still indexed (and pruned in time)."""
        if self.root is None:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            base = os.path.join(self.config, "session-sync", "backups")
            make_private_dirs(base)
            root = os.path.join(base, "%s-%s" % (stamp, os.urandom(3).hex()))
            os.mkdir(root, 0o700)
            self.root = root
            self._write_index()
        return self.root

    def keep(
        self,
        source_fd: int,
        dir_name: str,
        rel: str,
        sha256: str,
        reason: str,
        folder: Optional[str] = None,
    ) -> str:
        """Copy the open file ``source_fd`` (bytes, mode, mtime) into the set; returns
        the backup path. The copy is read from the descriptor, so it is of the very
        inode that is about to be replaced.

        ``dir_name``: the project dir (one path component) the file belongs to;
        for a file of a synced folder, ``folder`` is that folder's path.
        """
        root = self._open_root()
        dest = os.path.join(root, dir_name, *rel.split("/"))
        make_private_dirs(os.path.dirname(dest))
        entry: BackupEntry = {
            "dir": dir_name,
            "rel": rel,
            "replaced_by": sha256,
            "reason": reason,
        }
        if folder is not None:
            entry["folder"] = folder
        self._copy(source_fd, dest, entry, os.O_EXCL)
        self.entries.append(entry)
        self._write_index()
        return dest

    def refresh(self, backup_path: str, source_fd: int) -> None:
        """Copy ``source_fd`` again over its backup at ``backup_path`` (lines were
        added to the original after the first copy) and update its entry."""
        assert self.root is not None
        for entry in self.entries:
            if os.path.join(self.root, entry["dir"], *entry["rel"].split("/")) == backup_path:
                # A new copy beside it, then renamed over it: a kill now leaves the
                # first copy whole, never a cut one.
                fresh = temp_path(os.path.dirname(backup_path))
                try:
                    self._copy(source_fd, fresh, entry, os.O_EXCL)
                    os.replace(fresh, backup_path)
                finally:
                    if os.path.lexists(fresh):
                        os.unlink(fresh)
                self._write_index()
                return

    def _copy(self, source_fd: int, dest: str, entry: BackupEntry, how: int) -> None:
        st = os.fstat(source_fd)
        digest = hashlib.sha256()
        mode = stat.S_IMODE(st.st_mode)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | how | _NOFOLLOW, mode | 0o600)
        size = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in read_range(source_fd, 0):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(dest, mode)
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
        fault_point("backup.copied", self.config)
        entry["sha256"] = digest.hexdigest()
        entry["size"] = size
        entry["mode"] = mode
        entry["mtime_ns"] = st.st_mtime_ns

    def _write_index(self) -> None:
        assert self.root is not None
        index = {"label": self.label, "created": self.created, "entries": self.entries}
        write_atomic(
            os.path.join(self.root, "backup.json"),
            json.dumps(index, indent=1).encode(),
            0o600,
        )


def open_backup_set(config: str, label: str) -> BackupSet:
    return BackupSet(config, label)


def _backups_dir(config: str) -> str:
    return os.path.join(config, "session-sync", "backups")


def list_backups(config: str) -> List[JSON]:
    """Every backup set on this machine, oldest first, with its entries."""
    base = _backups_dir(config)
    out: List[JSON] = []
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return out
    for name in names:
        root = os.path.join(base, name)
        index = os.path.join(root, "backup.json")
        try:
            with open(index, encoding="utf-8") as fh:
                data = json.load(fh)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except (OSError, ValueError):
            if not os.path.isdir(root) or os.path.islink(root):
                continue
            # A set whose index a kill cut short: listed, with nothing to restore,
            # so that it is pruned in time like any other.
            try:
                created = os.lstat(root).st_mtime
            except OSError:
                continue
            data = {"label": "(incomplete)", "created": created, "entries": [], "incomplete": True}
        data["id"] = name
        data["path"] = os.path.join(base, name)
        out.append(data)
    # By creation time: names only have whole seconds and a random part.
    out.sort(key=lambda b: (float(b.get("created") or 0.0), b["id"]))
    return out


def prune_backups(config: str, retention_days: float, now: Optional[float] = None) -> List[str]:
    """Remove backup sets older than ``retention_days``, except any set that
    holds the newest backup of some file (a file's last backup is kept forever)."""
    now = time.time() if now is None else now
    sets = list_backups(config)
    newest_of: Dict[Tuple[str, str], str] = {}
    for backup in sets:  # oldest first: later sets overwrite
        for entry in backup.get("entries", []):
            newest_of[(entry.get("dir"), entry.get("rel"))] = backup["id"]
    keep = set(newest_of.values())
    removed = []
    for backup in sets:
        if backup["id"] in keep or now - float(backup.get("created", now)) < retention_days * 86400:
            continue
        _remove_tree(backup["path"])
        removed.append(backup["id"])
    return removed


def _remove_tree(path: str) -> None:
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for name in filenames:
            os.unlink(os.path.join(dirpath, name))
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                os.unlink(full)
            else:
                os.rmdir(full)
    os.rmdir(path)
