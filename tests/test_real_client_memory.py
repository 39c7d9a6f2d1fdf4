"""Claude's memory and prompt history after a sync, checked with the REAL Claude
Code client on two machines whose checkouts are at different paths:

- a memory entry written on b is sent to the model by a new ``claude -p``
  session on a (and was not before the sync);
- a prompt typed interactively on a is recalled by up-arrow on b.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_real_client import PROMPT, api, claude_exe, need_tmux  # noqa: F401  (fixtures)
from test_real_client_sync import sync

from session_sync.testing.claude_client import ClaudeClient, ClaudeHome, make_claude_home
from session_sync.testing.stand_in_api import StandInApi

pytestmark = pytest.mark.real_client


def machine(root: Path) -> ClaudeHome:
    """A home of its own with its own checkout of the project (``root/src/app``)."""
    made = make_claude_home(root)
    project = (root / "src" / "app").resolve()
    project.mkdir(parents=True)
    made.trust(project)
    return ClaudeHome(home=made.home, config=made.config, project=project, tmp=made.tmp)


@pytest.fixture
def two(
    claude_exe: Path,  # noqa: F811
    api: StandInApi,  # noqa: F811
    tmp_path: Path,
) -> tuple[ClaudeClient, ClaudeClient]:
    a = ClaudeClient(claude_exe, machine(tmp_path / "a"), api.base_url)
    b = ClaudeClient(claude_exe, machine(tmp_path / "b"), api.base_url)
    return a, b


def test_a_memory_entry_from_the_other_machine_reaches_the_model(
    two: tuple[ClaudeClient, ClaudeClient],
    api: StandInApi,  # noqa: F811
) -> None:
    a, b = two
    memory = b.home.project_dir() / "memory"
    memory.mkdir(parents=True)
    entry = "- [Staging](staging.md) — MEMORY-FROM-B: staging needs the VPN"
    (memory / "MEMORY.md").write_text(f"# Memory\n{entry}\n")
    (memory / "staging.md").write_text("Connect the VPN before deploying to staging.\n")

    a.run_print("before MARK-M0").check()
    (before,) = api.requests_containing("MARK-M0")
    assert "MEMORY-FROM-B" not in before.messages_text  # the control: not there yet

    report = sync(a, b)

    assert "memory came in: memory/MEMORY.md" in report, report
    assert "MEMORY-FROM-B" in report  # the user sees what entered Claude's context
    a.run_print("after MARK-M1").check()
    (after,) = api.requests_containing("MARK-M1")
    assert "MEMORY-FROM-B" in after.messages_text


@pytest.mark.usefixtures("need_tmux")
def test_a_prompt_typed_on_one_machine_is_recalled_on_the_other(
    two: tuple[ClaudeClient, ClaudeClient],
) -> None:
    a, b = two
    typed = "HISTORY-FROM-A please list the files"
    with a.tmux() as tmux:
        tmux.wait_for(PROMPT)
        tmux.send_text(typed)
        tmux.send_keys("Enter")
        tmux.wait_for("reply to files")
        tmux.send_keys("C-c")
        tmux.send_keys("C-c")
        tmux.wait_exit()
    lines = [json.loads(x) for x in (a.home.config / "history.jsonl").read_text().splitlines()]
    assert [(e["display"], e["project"]) for e in lines] == [(typed, str(a.home.project))]

    report = sync(a, b)

    assert "prompt history sent: 1 prompt" in report, report
    with b.tmux() as tmux:
        tmux.wait_for(PROMPT)
        assert "HISTORY-FROM-A" not in tmux.capture()
        tmux.send_keys("Up")
        tmux.wait_for("HISTORY-FROM-A")
        tmux.send_keys("C-c")
        tmux.send_keys("C-c")
        tmux.wait_exit()
