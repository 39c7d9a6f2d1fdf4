"""A sync's first scans here run while it connects (``local_scan.FirstScans``):
what they found is the survey's, and whatever happens to the connection, the
shared listings are let go and the garbage collector runs again."""

from __future__ import annotations

import gc
import random
from pathlib import Path

import attrs
import pytest

from session_sync import local_scan
from session_sync.agent.shared import shared
from session_sync.engine import SyncRequest, run_sync, survey
from session_sync.errors import AgentError, SessionSyncError, TransportError
from session_sync.local_scan import FirstScans
from session_sync.testing.sessions import make_session, write_session
from session_sync.testing.transports import InProcessTransport
from session_sync.transports.base import AgentStream


class _Unreachable:
    """A machine that cannot be reached."""

    description = "unreachable"

    def open(self, nonce: str) -> AgentStream:
        raise TransportError("no route to unreachable", where=self.description)


def _request(root: Path) -> SyncRequest:
    project = root / "app"
    project.mkdir(parents=True, exist_ok=True)
    write_session(root / "here", make_session(random.Random(1), str(project), turns=2))
    return SyncRequest(
        local_config=root / "here", local_path=str(project), remote_path=str(project)
    )


@pytest.mark.parametrize("call", [run_sync, survey])
def test_a_connection_that_fails_leaves_no_shared_listings_and_the_collector_on(
    tmp_path: Path, call: object
) -> None:
    with pytest.raises(TransportError):
        call(_request(tmp_path), _Unreachable())  # type: ignore[operator]
    assert not shared()
    assert gc.isenabled()


def test_the_survey_plans_with_what_the_first_scans_found(tmp_path: Path) -> None:
    request = _request(tmp_path)
    (tmp_path / "there").mkdir()
    report = run_sync(request, InProcessTransport(tmp_path / "there"))
    assert report.pushed == 1
    assert not shared()
    assert gc.isenabled()
    assert len(list((tmp_path / "there" / "projects").glob("*/*.jsonl"))) == 1


def test_a_project_that_cannot_be_scanned_is_its_own_error(tmp_path: Path) -> None:
    good = _request(tmp_path)
    # A folder sync's folder must be absolute: the agent's scan refuses this one.
    bad = attrs.evolve(good, folder_sync=True, local_path="relative/dir")
    firsts = FirstScans([bad, good])
    try:
        answers = firsts.answers()
    finally:
        firsts.close()
    assert isinstance(answers[0], AgentError)
    assert "absolute" in str(answers[0])
    assert not isinstance(answers[1], SessionSyncError)
    assert len(answers[1]["sessions"]) == 1
    assert not shared()


def test_a_bug_in_a_first_scan_is_raised_where_the_answers_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(local_scan, "local_answer", broken)
    firsts = FirstScans([_request(tmp_path)])
    with pytest.raises(ZeroDivisionError):
        firsts.answers()
    firsts.close()
    assert not shared()
    assert gc.isenabled()
