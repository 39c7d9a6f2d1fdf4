"""``session-sync learnings`` end to end with the REAL Claude Code client: a session
made by ``claude -p`` in a checkout of a real bare remote, then ``session-sync
learnings`` with its default LLM command (``claude -p``) against the stand-in API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from learnings_support import git
from test_real_client import claude_exe  # noqa: F401  (fixture)

from session_sync.learnings.prompt import EXTRACTION_PROMPT
from session_sync.testing.claude_client import ClaudeClient, make_claude_home
from session_sync.testing.stand_in_api import LoggedRequest, StandInApi

pytestmark = pytest.mark.real_client

MARKER = "zebra-migration-rule"
LEARNED = "- Migrations run before the deploy step, never after (the zebra rule)."
EXTRACTION_START = EXTRACTION_PROMPT.split("\n", 1)[0]


@pytest.fixture
def learning_api() -> Iterator[StandInApi]:
    """Answers the extraction prompt with a bullet list, anything else briefly."""

    def reply(request: LoggedRequest) -> str:
        if EXTRACTION_START in request.messages_text:
            return f"{LEARNED}\n- The CI job needs `uv sync --locked` first.\n"
        return f"Noted: migrations before deploys ({MARKER})."

    with StandInApi(reply) as server:
        yield server


def checkout_with_a_session(
    exe: Path, api: StandInApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[ClaudeClient, Path, dict[str, str]]:
    """A checkout of a bare remote holding one settled ``claude -p`` session; the client,
    the remote, and the environment ``session-sync learnings`` runs with."""
    home = make_claude_home(tmp_path)
    remote = tmp_path / "remote.git"
    env_git = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig")}
    (tmp_path / "gitconfig").write_text("[user]\n\tname = T\n\temail = t@example.com\n")
    for key, value in env_git.items():
        monkeypatch.setenv(key, value)
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(home.project, "init", "-q", "-b", "main")
    git(home.project, "remote", "add", "origin", str(remote))
    (home.project / "README.md").write_text("# app\n")
    git(home.project, "add", "README.md")
    git(home.project, "commit", "-qm", "start")
    git(home.project, "push", "-q", "-u", "origin", "main")
    client = ClaudeClient(exe, home, api.base_url)
    client.run_print(f"Remember: migrations run before deploys ({MARKER}).").check()
    (transcript,) = home.transcripts().values()
    old = time.time() - 3600  # settled: not open in Claude by any rule
    os.utime(transcript, (old, old))
    api.clear()
    env = client.env()
    env.update(env_git)
    env["PATH"] = os.pathsep.join([str(exe.parent), env["PATH"]])
    env["PYTHONPATH"] = str(REPO_ROOT)
    return client, remote, env


def learnings(
    client: ClaudeClient, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "session_sync.cli.app", "learnings", "--machine", "laptop", *args],
        cwd=client.home.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_learnings_with_the_real_claude_p_commits_its_bullets(
    claude_exe: Path,  # noqa: F811
    learning_api: StandInApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, remote, env = checkout_with_a_session(claude_exe, learning_api, tmp_path, monkeypatch)
    home = client.home
    (session_id,) = home.transcripts()

    done = learnings(client, env)

    assert done.returncode == 0, (done.stdout, done.stderr)
    (request,) = learning_api.requests_containing(EXTRACTION_START)
    sent = request.messages_text
    assert EXTRACTION_PROMPT.strip() in sent
    assert f"[user] Remember: migrations run before deploys ({MARKER})." in sent
    assert f"[assistant] Noted: migrations before deploys ({MARKER})." in sent
    learned = (home.project / ".claude" / "learnings.md").read_text()
    assert learned.endswith(f"{LEARNED}\n- The CI job needs `uv sync --locked` first.\n")
    assert learned.splitlines()[0].endswith(" (laptop)")
    assert git(home.project, "rev-parse", "HEAD") == git(remote, "rev-parse", "main")
    # The extraction run kept no session of its own to be read next time.
    assert list(home.transcripts()) == [session_id]


def test_an_extraction_session_kept_by_the_llm_command_is_never_read(
    claude_exe: Path,  # noqa: F811
    learning_api: StandInApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, _, env = checkout_with_a_session(claude_exe, learning_api, tmp_path, monkeypatch)

    first = learnings(client, env, "--llm", "claude -p", "--no-push")
    assert first.returncode == 0, first.stderr
    assert len(client.home.transcripts()) == 2  # this command keeps its session
    learning_api.clear()

    again = learnings(client, env, "--llm", "claude -p", "--no-push")

    assert again.returncode == 0, again.stderr
    assert "No new turns" in again.stdout
    assert learning_api.requests_containing(EXTRACTION_START) == []
