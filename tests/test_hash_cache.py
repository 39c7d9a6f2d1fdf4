"""The hash cache a scan keeps in ``<config>/session-sync/hash-cache.json``: it
forgets the files gone from the dirs a scan listed (and only those), and it is
written only when something in it changed."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from conftest import Machines, write_old

from session_sync.agent.messages import ScanRequest
from session_sync.agent.paths import TEMP_PREFIX, TEMP_SUFFIX
from session_sync.agent.scan import scan
from session_sync.testing.sessions import make_session


def cache_of(config: Path) -> dict[str, Any]:
    path = config / "session-sync" / "hash-cache.json"
    entries: dict[str, Any] = json.loads(path.read_text())["entries"]
    return entries


def scan_here(m: Machines, project: Path, days: float = 7) -> None:
    scan(str(m.a), {"project_path": str(project), "days": days})


def test_a_scan_forgets_the_files_gone_from_the_dirs_it_listed(
    machines: Machines, tmp_path: Path
) -> None:
    m = machines
    rng = random.Random(11)
    kept, gone, old = (make_session(rng, str(m.project)) for _ in range(3))
    write_old(m.a, kept)
    write_old(m.a, gone)
    write_old(m.a, old, hours=24 * 30)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = make_session(rng, str(elsewhere))
    write_old(m.a, other)
    scan_here(m, m.project, days=365)
    scan_here(m, elsewhere)
    paths = {
        name: str(m.transcript(m.a, spec.session_id))
        for name, spec in [("kept", kept), ("gone", gone), ("old", old)]
    }
    other_path = next(p for p in cache_of(m.a) if other.session_id in p)
    assert set(paths.values()) <= set(cache_of(m.a))
    Path(paths["gone"]).unlink()
    Path(other_path).unlink()
    scan_here(m, m.project)  # --days 7: the old session is listed, not read

    entries = cache_of(m.a)
    assert paths["kept"] in entries
    assert paths["old"] in entries, "a file still there is kept, read or not"
    assert paths["gone"] not in entries
    assert other_path in entries, "a dir this scan did not list is left alone"


def test_a_scan_that_learns_nothing_does_not_write_the_cache(machines: Machines) -> None:
    m = machines
    write_old(m.a, make_session(random.Random(12), str(m.project)))
    scan_here(m, m.project)
    path = m.a / "session-sync" / "hash-cache.json"
    before = path.stat()
    scan_here(m, m.project)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_read_only_scan_keeps_its_hashes_and_removes_no_temp_file(machines: Machines) -> None:
    """status and --dry-run: what they hashed is kept (the next scan reads none of
    it), and a temp file a killed sync left stays for a scan that may write."""
    m = machines
    spec = make_session(random.Random(13), str(m.project))
    write_old(m.a, spec)
    left = m.project_dir(m.a) / f"{TEMP_PREFIX}killed{TEMP_SUFFIX}"
    left.write_bytes(b"half")
    request: ScanRequest = {"project_path": str(m.project), "days": 7, "read_only": True}

    first = scan(str(m.a), request)
    again = scan(str(m.a), request)

    assert first["bytes_hashed"] > 0
    assert again["bytes_hashed"] == 0
    assert str(m.transcript(m.a, spec.session_id)) in cache_of(m.a)
    assert left.exists()
    scan_here(m, m.project)
    assert not left.exists()
