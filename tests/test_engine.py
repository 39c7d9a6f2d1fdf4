"""The engine between two config dirs, through the library API."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from session_sync.agent.paths import encode_project_path
from session_sync.engine import SyncRequest, run_sync
from session_sync.testing.sessions import (
    continue_session,
    make_session,
    session_bytes,
    write_session,
)
from session_sync.transports.local import LocalProcessTransport


def _machines(tmp_path: Path) -> tuple[Path, Path, str]:
    a, b, project = tmp_path / "a", tmp_path / "b", tmp_path / "project"
    for p in (a, b, project):
        p.mkdir()
    return a, b, str(project)


def test_old_here_grown_there_is_an_append(tmp_path: Path) -> None:
    """A session too old to be recent here, resumed on the other side, comes back
    as an append of its new lines (not a divergence), in at most 3 round trips."""
    a, b, project = _machines(tmp_path)
    rng = random.Random(7)
    spec = make_session(rng, project, turns=3)
    grown = continue_session(rng, spec, turns=2)
    month_ago = time.time() - 30 * 86400
    local_file = write_session(a, spec, mtime=month_ago)
    write_session(b, grown, project_dir_name=encode_project_path(project), mtime=time.time() - 3600)
    request = SyncRequest(local_config=a, local_path=project, remote_path=project)
    report = run_sync(request, LocalProcessTransport(b))
    [item] = [i for i in report.items if i.file.endswith(".jsonl") and "/" not in i.file]
    assert (item.action, item.direction, item.outcome) == ("append", "pull", "done")
    assert report.round_trips == 3
    assert report.bytes_received == len(session_bytes(grown)) - len(session_bytes(spec))
    assert local_file.read_bytes() == session_bytes(grown)
    assert not list((a / "session-sync").glob("backups/*"))


def test_old_on_both_sides_is_left_alone(tmp_path: Path) -> None:
    a, b, project = _machines(tmp_path)
    spec = make_session(random.Random(3), project, turns=2)
    month_ago = time.time() - 30 * 86400
    write_session(a, spec, mtime=month_ago)
    report = run_sync(
        SyncRequest(local_config=a, local_path=project, remote_path=project),
        LocalProcessTransport(b),
    )
    assert report.items == ()
    assert report.round_trips == 1
    assert not (b / "projects").exists() or not any((b / "projects").rglob("*.jsonl"))


def test_noop_sync_reads_nothing_with_a_warm_cache(tmp_path: Path) -> None:
    a, b, project = _machines(tmp_path)
    rng = random.Random(11)
    for _ in range(20):
        write_session(a, make_session(rng, project, turns=3), mtime=time.time() - 3600)
    request = SyncRequest(local_config=a, local_path=project, remote_path=project)
    first = run_sync(request, LocalProcessTransport(b))
    assert first.pushed == 20
    second = run_sync(request, LocalProcessTransport(b))
    assert second.items == ()
    assert second.bytes_hashed == 0  # both sides answered from their hash caches
    for cache in (a, b):
        os.unlink(cache / "session-sync" / "hash-cache.json")
    cold = run_sync(request, LocalProcessTransport(b))
    assert cold.items == ()
    assert cold.bytes_hashed > 0
