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

from .fsutil import make_private_dirs, write_atomic
from .protocol import CHUNK_SIZE, JSON

__all__ = [
    "DEFAULT_BACKUP_RETENTION_DAYS",
    "BackupSet",
    "list_backups",
    "open_backup_set",
    "prune_backups",
]


DEFAULT_BACKUP_RETENTION_DAYS = 90


class BackupSet:
    """One folder of backups made by one apply run on this machine."""

    def __init__(self, config: str, label: str) -> None:
        self.config = config
        self.label = label
        self.root: Optional[str] = None
        self.entries: List[JSON] = []
        self.created = time.time()

    def keep(
        self,
        source: str,
        dir_name: str,
        rel: str,
        sha256: str,
        reason: str,
        folder: Optional[str] = None,
    ) -> str:
        """Copy ``source`` (bytes, mode, mtime) into the set; returns the backup path.

        ``dir_name``: the project dir (one path component) the file belongs to;
        for a file of a synced folder, ``folder`` is that folder's path.
        """
        if self.root is None:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            base = os.path.join(self.config, "session-sync", "backups")
            make_private_dirs(base)
            self.root = os.path.join(base, "%s-%s" % (stamp, os.urandom(3).hex()))
            os.makedirs(self.root, mode=0o700)
        dest = os.path.join(self.root, dir_name, *rel.split("/"))
        make_private_dirs(os.path.dirname(dest))
        # RACE: the source can change while it is copied; the backup then holds
        # what was read (its sha256 is of those bytes, recorded in the index).
        st = os.stat(source)
        digest = hashlib.sha256()
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IMODE(st.st_mode) | 0o600)
        with open(source, "rb") as src, os.fdopen(fd, "wb") as out:
            while True:
                chunk = src.read(CHUNK_SIZE)
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(dest, stat.S_IMODE(st.st_mode))
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
        entry = {
            "dir": dir_name,
            "rel": rel,
            "sha256": digest.hexdigest(),
            "size": st.st_size,
            "mode": stat.S_IMODE(st.st_mode),
            "mtime_ns": st.st_mtime_ns,
            "replaced_by": sha256,
            "reason": reason,
        }
        if folder is not None:
            entry["folder"] = folder
        self.entries.append(entry)
        self._write_index()
        return dest

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
        index = os.path.join(base, name, "backup.json")
        try:
            with open(index, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
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
