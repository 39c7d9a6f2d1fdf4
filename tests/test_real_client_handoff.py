"""The session-start hook with the REAL Claude Code client against the stand-in API:
installed with ``session-sync hooks install`` in the client's config dir, it puts
the handoff of another machine's work into a new session's first request, and a
second new session with nothing changed does not get it again."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_old
from handoff_work import worked_session
from test_handoff import checkout
from test_real_client import api, claude_exe  # noqa: F401  (fixtures)

from session_sync.agent.paths import encode_project_path
from session_sync.testing.claude_client import ClaudeClient, make_claude_home
from session_sync.testing.stand_in_api import StandInApi

pytestmark = pytest.mark.real_client

SESSION_SYNC = str(Path(sys.executable).parent / "session-sync")
"""This checkout's installed executable: the hook's command is its absolute path."""


def test_a_new_session_starts_with_the_handoff_once(
    claude_exe: Path,  # noqa: F811
    api: StandInApi,  # noqa: F811
    tmp_path: Path,
) -> None:
    home = make_claude_home(tmp_path)
    client = ClaudeClient(claude_exe, home, api.base_url)
    checkout(home.project)
    # Work done in a codespace, pulled here by a sync: in this machine's project dir.
    there = worked_session(
        random.Random(14),
        "/workspaces/app",
        edits=[("Edit", "/workspaces/app/src/app.py")],
        todos=[("finish the HANDOFF-TODO", "in_progress")],
        last_prompt="make the parser HANDOFF-MARK faster",
    )
    write_old(home.config, there, hours=2, dir_name=encode_project_path(str(home.project)))
    installed = subprocess.run(
        [SESSION_SYNC, "hooks", "install"],
        env={**os.environ, "HOME": str(home.home), "CLAUDE_CONFIG_DIR": str(home.config)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    settings = json.loads((home.config / "settings.json").read_text())
    [group] = settings["hooks"]["SessionStart"]
    assert group["hooks"][0]["command"] == f"{SESSION_SYNC} hook session-start"

    # Sessions that leave no transcript: the second one starts with nothing changed.
    client.run_print("first FIRST-MARK", "--no-session-persistence").check()
    [first] = api.requests_containing("FIRST-MARK")
    assert "SessionStart:startup hook success" in first.messages_text
    assert "# session-sync handoff: me/app" in first.messages_text
    assert "HANDOFF-MARK" in first.messages_text
    assert "[in_progress] finish the HANDOFF-TODO" in first.messages_text
    assert f"codespace /workspaces/app · session {there.session_id[:8]}" in first.messages_text
    assert "- src/app.py · clean" in first.messages_text

    client.run_print("second SECOND-MARK", "--no-session-persistence").check()
    [second] = api.requests_containing("SECOND-MARK")
    assert "session-sync handoff" not in second.messages_text
    assert "HANDOFF-MARK" not in second.messages_text
