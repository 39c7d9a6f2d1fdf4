"""session-sync's two rules that depend on the client, checked with the REAL Claude
Code client on two machines (two homes, one project path) against the stand-in API:

- a divergence keeps the losing branch as a forked session of its own, which the
  client resumes on both machines with that branch's history;
- a session open in Claude on the receiving side is never written; once the client
  has exited, the last turn goes across.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from test_real_client import PROMPT, api, claude_exe, need_tmux  # noqa: F401  (fixtures)

from session_sync.testing.claude_client import ClaudeClient, ClaudeHome, make_claude_home
from session_sync.testing.stand_in_api import StandInApi

pytestmark = pytest.mark.real_client


def machine(root: Path, project: Path) -> ClaudeHome:
    """A home of its own whose client works in the shared ``project`` path."""
    made = make_claude_home(root)
    made.trust(project)
    return ClaudeHome(home=made.home, config=made.config, project=project, tmp=made.tmp)


@pytest.fixture
def two(
    claude_exe: Path,  # noqa: F811
    api: StandInApi,  # noqa: F811
    tmp_path: Path,
) -> tuple[ClaudeClient, ClaudeClient]:
    project = tmp_path / "src" / "app"
    project.mkdir(parents=True)
    a = ClaudeClient(claude_exe, machine(tmp_path / "a", project.resolve()), api.base_url)
    b = ClaudeClient(claude_exe, machine(tmp_path / "b", project.resolve()), api.base_url)
    return a, b


def sync(a: ClaudeClient, b: ClaudeClient) -> str:
    """``session-sync sync`` on machine a with machine b (``--dir``, b's project path as
    the remote path); its text report."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(a.home.home),
        "CLAUDE_CONFIG_DIR": str(a.home.config),
        "PYTHONPATH": str(REPO_ROOT),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "session_sync.cli.app",
            "sync",
            "--dir",
            str(b.home.config),
            "--local-path",
            str(a.home.project),
            "--remote-path",
            str(b.home.project),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done
    return done.stdout


def history_sent(server: StandInApi, marker: str) -> str:
    """The text of the one request whose prompt carries ``marker``."""
    (request,) = server.requests_containing(marker)
    return request.messages_text


def session_on_both(a: ClaudeClient, b: ClaudeClient) -> str:
    """A session made by a's client (``ROOT-MARK``), synced to b; its id."""
    a.run_print("base ROOT-MARK").check()
    (session_id,) = a.home.transcripts()
    sync(a, b)
    assert session_id in b.home.transcripts()
    return session_id


def test_both_branches_of_a_divergence_resume_on_both_machines(
    two: tuple[ClaudeClient, ClaudeClient],
    api: StandInApi,  # noqa: F811
) -> None:
    a, b = two
    session_id = session_on_both(a, b)
    # Both machines go on from the same history; b later, so b's branch wins.
    a.run_print("branch BRANCH-ALPHA", "--resume", session_id).check()
    b.run_print("branch BRANCH-BRAVO", "--resume", session_id).check()

    report = sync(a, b)

    assert "diverged" in report
    for machine_ in (a, b):
        sessions = machine_.home.transcripts()
        assert len(sessions) == 2, (report, sessions)
        (fork_id,) = set(sessions) - {session_id}
        assert fork_id in report
        api.clear()
        machine_.run_print("next MARK-N1", "--resume", session_id).check()
        winner = history_sent(api, "MARK-N1")
        assert "ROOT-MARK" in winner
        assert "BRANCH-BRAVO" in winner
        assert "BRANCH-ALPHA" not in winner
        machine_.run_print("next MARK-N2", "--resume", fork_id).check()
        loser = history_sent(api, "MARK-N2")
        assert "ROOT-MARK" in loser
        assert "BRANCH-ALPHA" in loser
        assert "BRANCH-BRAVO" not in loser


@pytest.mark.usefixtures("need_tmux")
def test_a_session_open_on_the_receiving_side_waits_and_the_last_turn_comes_home(
    two: tuple[ClaudeClient, ClaudeClient],
) -> None:
    a, b = two
    session_id = session_on_both(a, b)
    b_path = b.home.transcript(session_id)

    with b.tmux("--resume", session_id) as tmux:
        tmux.wait_for(PROMPT)
        # Open on b (its registry says so). a's client has just written a turn and
        # exited: a's last turn is ready to go, but not into b's open session.
        a.run_print("more MARK-MORE", "--resume", session_id).check()
        before = b_path.read_bytes()

        report = sync(a, b)

        assert "open in Claude on remote: not written there" in report, report
        assert b_path.read_bytes() == before
        tmux.send_keys("C-c")
        tmux.send_keys("C-c")
        tmux.wait_exit()

    # Closed now, and a's session was written seconds ago: it goes across.
    report = sync(a, b)

    everything_on_b = b"".join(p.read_bytes() for p in b.home.transcripts().values())
    assert b"MARK-MORE" in everything_on_b, report
    for line in before.split(b"\n"):
        assert line in everything_on_b
