"""The in-process transport (``session_sync.testing.transports``) is a faithful
stand-in: the same sync through it and through a real agent process gives the
same plan, the same bytes and the same files."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from session_sync import bundle
from session_sync.agent.paths import encode_project_path
from session_sync.engine import SyncRequest, run_sync
from session_sync.errors import TransportError
from session_sync.testing.sessions import (
    continue_session,
    make_session,
    session_bytes,
    write_session,
)
from session_sync.testing.transports import InProcessTransport
from session_sync.transports.base import Transport
from session_sync.transports.connection import AgentConnection
from session_sync.transports.local import LocalProcessTransport


def _two_machines(root: Path) -> tuple[Path, Path, str, list[Path]]:
    """Config dirs ``a`` and ``b`` of one project: one session only on each side,
    one grown on ``b``; returns the files the sync must bring to ``a``."""
    a, b, project = root / "a", root / "b", root / "project"
    for path in (a, b, project):
        path.mkdir(parents=True)
    rng = random.Random(5)
    hour_ago = time.time() - 3600
    write_session(a, make_session(rng, str(project), turns=2), mtime=hour_ago)
    only_b = make_session(rng, str(project), turns=2)
    write_session(b, only_b, project_dir_name=encode_project_path(str(project)), mtime=hour_ago)
    shared = make_session(rng, str(project), turns=2)
    write_session(a, shared, mtime=hour_ago)
    grown = continue_session(rng, shared, turns=1)
    write_session(b, grown, project_dir_name=encode_project_path(str(project)), mtime=hour_ago)
    encoded = a / "projects" / encode_project_path(str(project))
    return (
        a,
        b,
        str(project),
        [encoded / f"{only_b.session_id}.jsonl", encoded / f"{shared.session_id}.jsonl"],
    )


def _summary(root: Path, transport_for: type) -> tuple[object, ...]:
    a, b, project, expected = _two_machines(root)
    transport: Transport = transport_for(b)
    report = run_sync(
        SyncRequest(local_config=a, local_path=project, remote_path=project), transport
    )
    assert report.ok, report
    for path in expected:
        assert path.is_file()
    items = tuple(
        (i.session, i.file, i.action, i.direction, i.case, i.outcome) for i in report.items
    )
    return items, report.bytes_sent, report.bytes_received, report.round_trips


def test_in_process_sync_equals_a_real_agent_process(tmp_path: Path) -> None:
    """Same seeds, two roots: the report of the in-process sync matches item for item."""
    in_process = _summary(tmp_path / "m1", InProcessTransport)  # same length: same bytes
    real = _summary(tmp_path / "m2", LocalProcessTransport)
    assert in_process == real
    assert in_process[0], "the scenario must move something"


def test_in_process_agent_says_the_payload_digest(tmp_path: Path) -> None:
    connection = AgentConnection(InProcessTransport(tmp_path))
    try:
        assert connection.hello["agent_sha256"] == bundle.payload_sha256()
        assert connection.hello["config_dir"] == str(tmp_path)
    finally:
        connection.close()


def test_a_grown_transcript_arrives_whole(tmp_path: Path) -> None:
    a, b, project = tmp_path / "a", tmp_path / "b", tmp_path / "p"
    for path in (a, b, project):
        path.mkdir()
    rng = random.Random(9)
    spec = make_session(rng, str(project), turns=2)
    grown = continue_session(rng, spec, turns=3)
    target = write_session(a, spec, mtime=time.time() - 3600)
    write_session(
        b, grown, project_dir_name=encode_project_path(str(project)), mtime=time.time() - 3600
    )
    report = run_sync(
        SyncRequest(local_config=a, local_path=str(project), remote_path=str(project)),
        InProcessTransport(b),
    )
    assert target.read_bytes() == session_bytes(grown)
    assert report.bytes_received == len(session_bytes(grown)) - len(session_bytes(spec))


def test_an_aborted_in_process_stream_is_a_transport_error(tmp_path: Path) -> None:
    connection = AgentConnection(InProcessTransport(tmp_path))
    connection.stream.abort()
    with pytest.raises(TransportError) as caught:
        connection.request({"op": "scan", "project_path": str(tmp_path), "days": 7})
    assert caught.value.where == f"in-process {tmp_path}"
