"""What the REAL Claude Code client (pinned: ``CLAUDE_CODE_VERSION``) does with the files
session-sync moves, run against the stand-in API on 127.0.0.1.

Without npm (or tmux for the interactive tests) these tests are skipped, except in CI
(``$CI`` set), where they fail: CI installs both.

What they show (2.1.328):
- ``<config>/sessions/<pid>.json`` is written by EVERY client process (interactive,
  ``-p``, resumed either way), ``kind`` "interactive" in all four, ``entrypoint`` "cli" or
  "sdk-cli"; ``procStart`` is field 22 of ``/proc/<pid>/stat`` as a string. It is removed
  on a normal exit; after ``kill -9`` it stays, and later clients do not prune it.
- A transcript copied to a new uuid name resumes as that name (byte-identical or with
  its sessionIds replaced): the history is sent, new lines carry the FILE's id, and the
  picker lists the copy beside the original. ``--fork-session`` links back only through
  ``requestSessionId`` on the copied assistant lines.
- With two branches in one file, ``--resume`` follows the chain of the message written
  last in the file (not the newest timestamp); the other branch cannot be reached.
- ``cwd`` fields naming another machine's path do not matter.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from session_sync.agent.live import live_session_ids, pid_domain
from session_sync.agent.paths import encode_project_path
from session_sync.testing.claude_client import (
    ClaudeClient,
    ClaudeHome,
    ClaudeInstallError,
    install_claude,
    iter_registry,
    make_claude_home,
    proc_start_ticks,
)
from session_sync.testing.stand_in_api import LoggedRequest, StandInApi

pytestmark = pytest.mark.real_client

PROMPT = "\u276f"
"""The input prompt's mark: on screen once the interactive client is ready for input."""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the real-client tests: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def claude_exe() -> Path:
    """The pinned client's executable (installed once into the cache)."""
    try:
        return install_claude()
    except ClaudeInstallError as exc:
        _unavailable(f"the real Claude Code client is not available: {exc}")
        raise  # not reached


@pytest.fixture
def need_tmux() -> None:
    """Interactive runs need tmux."""
    if shutil.which("tmux") is None:
        _unavailable("tmux is not installed (needed to run the client interactively)")


@pytest.fixture
def api() -> Iterator[StandInApi]:
    """The stand-in API; its default reply echoes the prompt's last word."""

    def echo(request: LoggedRequest) -> str:
        texts = request.user_texts()
        words = texts[-1].split() if texts else []
        return f"reply to {words[-1] if words else 'nothing'}"

    with StandInApi(echo) as server:
        yield server


@pytest.fixture
def claude(claude_exe: Path, api: StandInApi, tmp_path: Path) -> ClaudeClient:
    """The client in a fresh home of its own, pointed at ``api``."""
    return ClaudeClient(claude_exe, make_claude_home(tmp_path), api.base_url)


def lines_of(path: Path) -> list[bytes]:
    """The complete lines of a transcript (split on ``\\n`` only)."""
    return [line for line in path.read_bytes().split(b"\n") if line.strip()]


def records(path: Path) -> list[dict[str, Any]]:
    """Each line of a transcript, parsed."""
    return [json.loads(line) for line in lines_of(path)]


def only_session(home: ClaudeHome) -> str:
    """The id of the project's one session."""
    (session_id,) = home.transcripts()
    return session_id


def new_print_session(claude: ClaudeClient, prompt: str) -> tuple[str, Path]:
    """``claude -p PROMPT`` in a project with no other session; (id, transcript)."""
    claude.run_print(prompt).check()
    session_id = only_session(claude.home)
    return session_id, claude.home.transcript(session_id)


def registry(home: ClaudeHome) -> dict[int, dict[str, Any]]:
    """``{pid in the file name: contents}`` of ``<config>/sessions``."""
    return {int(path.stem): data for path, data in iter_registry(home.config)}


def wait_registry(home: ClaudeHome, pid: int, timeout: float = 20.0) -> dict[str, Any]:
    """Poll until ``<config>/sessions/<pid>.json`` exists and names a session."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = registry(home).get(pid)
        if entry and entry.get("sessionId"):
            return entry
        time.sleep(0.1)
    raise AssertionError(f"no registry entry for pid {pid}: {registry(home)}")


class HeldReply:
    """A reply callable that holds each answer until ``release()``: keeps a
    ``claude -p`` alive mid-turn while a test looks at it."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.go = threading.Event()

    def __call__(self, request: LoggedRequest) -> str:
        self.asked.set()
        self.go.wait(60)
        return "held reply"

    def release(self) -> None:
        self.go.set()


# --- the harness itself ---


def test_print_writes_a_session_and_sends_the_prompt(claude: ClaudeClient, api: StandInApi) -> None:
    run = claude.run_print("hello").check()
    assert run.stdout.strip() == "reply to hello"
    session_id = only_session(claude.home)
    path = claude.home.transcript(session_id)
    assert path.is_file()
    assert path.parent == claude.home.config / "projects" / encode_project_path(
        str(claude.home.project)
    )
    assert {r.get("sessionId") for r in records(path)} - {None} == {session_id}
    (request,) = api.requests_containing("hello")
    assert request.user_texts()[-1].endswith("hello")  # after a <system-reminder> block
    assert request.body["stream"] is True


# --- (a) the live-process registry <config>/sessions/<pid>.json ---


def assert_entry(entry: dict[str, Any], pid: int, home: ClaudeHome, entrypoint: str) -> None:
    assert entry["pid"] == pid
    assert entry["cwd"] == str(home.project)
    assert entry["kind"] == "interactive"  # also for `claude -p`
    assert entry["entrypoint"] == entrypoint
    assert entry["procStart"] == proc_start_ticks(pid)  # a string: /proc/<pid>/stat field 22
    assert entry["version"] == "2.1.328"
    assert isinstance(entry["startedAt"], int)  # ms since the epoch
    assert entry["messagingSocketPath"] == str(home.tmp / "cc-socks" / f"{pid}.sock")


@pytest.mark.parametrize("resume", [False, True], ids=["new", "resumed"])
def test_print_mode_is_in_the_registry_while_it_runs(
    claude: ClaudeClient, api: StandInApi, resume: bool
) -> None:
    args: tuple[str, ...] = ()
    if resume:
        old_id, _ = new_print_session(claude, "first turn")
        args = ("--resume", old_id)
    held = HeldReply()
    api.reply = held
    proc = claude.start_print("while running", *args)
    try:
        assert held.asked.wait(30), "the client sent no request"
        entry = wait_registry(claude.home, proc.pid)
        assert_entry(entry, proc.pid, claude.home, "sdk-cli")
        assert entry["status"] == "busy"
        if resume:
            assert entry["sessionId"] == old_id
    finally:
        held.release()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert entry["sessionId"] == only_session(claude.home)
    assert registry(claude.home) == {}  # removed on a normal exit


@pytest.mark.usefixtures("need_tmux")
def test_interactive_is_in_the_registry_and_removed_on_exit(claude: ClaudeClient) -> None:
    with claude.tmux() as tmux:
        tmux.wait_for(PROMPT)
        pid = tmux.pane_pid()
        entry = wait_registry(claude.home, pid)  # there before the first prompt
        assert_entry(entry, pid, claude.home, "cli")
        # The agent names this pid namespace as the client does, so an entry of
        # another namespace is told apart (and counted as open: it cannot be checked).
        assert entry["pidDomain"] == pid_domain()
        assert entry["sessionId"] in live_session_ids(str(claude.home.config))
        assert claude.home.transcripts() == {}
        tmux.send_text("say hi")
        tmux.send_keys("Enter")
        tmux.wait_for("reply to hi")
        assert only_session(claude.home) == entry["sessionId"]
        tmux.send_keys("C-c")
        tmux.send_keys("C-c")
        tmux.wait_exit()
        assert registry(claude.home) == {}


@pytest.mark.usefixtures("need_tmux")
def test_interactive_resume_names_the_session_and_kill9_leaves_the_entry(
    claude: ClaudeClient,
) -> None:
    session_id, _ = new_print_session(claude, "first turn")
    with claude.tmux("--resume", session_id) as tmux:
        tmux.wait_for("reply to turn")
        pid = tmux.pane_pid()
        entry = wait_registry(claude.home, pid)
        assert_entry(entry, pid, claude.home, "cli")
        assert entry["sessionId"] == session_id
        os.kill(pid, signal.SIGKILL)
        tmux.wait_exit()
        # A stale entry: its pid is dead (or, later, reused: procStart tells).
        assert registry(claude.home) == {pid: entry}
        assert (claude.home.tmp / "cc-socks" / f"{pid}.sock").exists()


# --- (b) forks: a transcript copied to a new uuid name ---


@pytest.mark.parametrize("rewrite", [False, True], ids=["byte-identical", "ids-replaced"])
def test_a_copy_under_a_new_id_resumes_as_that_id(
    claude: ClaudeClient, api: StandInApi, rewrite: bool
) -> None:
    a_id, a_path = new_print_session(claude, "original MARKER-A")
    a_bytes = a_path.read_bytes()
    f_id = str(uuid.uuid4())
    f_path = claude.home.transcript(f_id)
    data = a_bytes
    if rewrite:
        data = data.replace(f'"sessionId":"{a_id}"'.encode(), f'"sessionId":"{f_id}"'.encode())
    f_path.write_bytes(data)
    api.clear()
    claude.run_print("next MARKER-F", "--resume", f_id).check()
    (request,) = api.requests_containing("MARKER-F")
    assert "MARKER-A" in request.messages_text  # F's history was sent
    assert f_path.read_bytes().startswith(data)  # appended to F
    appended = [json.loads(line) for line in f_path.read_bytes()[len(data) :].split(b"\n") if line]
    assert {r.get("sessionId") for r in appended} - {None} == {f_id}  # the FILE's id
    assert a_path.read_bytes() == a_bytes
    assert set(claude.home.transcripts()) == {a_id, f_id}


@pytest.mark.usefixtures("need_tmux")
def test_the_picker_lists_copies_beside_the_original(claude: ClaudeClient) -> None:
    with claude.tmux() as tmux:
        tmux.wait_for(PROMPT)
        tmux.send_text("interactive MARKER-A")
        tmux.send_keys("Enter")
        tmux.wait_for("reply to MARKER-A")
        tmux.send_keys("C-c")
        tmux.send_keys("C-c")
        tmux.wait_exit()
    a_id = only_session(claude.home)
    a_bytes = claude.home.transcript(a_id).read_bytes()
    identical, replaced = str(uuid.uuid4()), str(uuid.uuid4())
    claude.home.transcript(identical).write_bytes(a_bytes)
    claude.home.transcript(replaced).write_bytes(
        a_bytes.replace(f'"sessionId":"{a_id}"'.encode(), f'"sessionId":"{replaced}"'.encode())
    )
    # A `claude -p` session (entrypoint sdk-cli) is not listed; the same lines with
    # entrypoint cli are: that field decides.
    claude.run_print("print MARKER-P").check()
    p_id = next(s for s in claude.home.transcripts() if s not in (a_id, identical, replaced))
    p_bytes = claude.home.transcript(p_id).read_bytes()
    claude.home.transcript(str(uuid.uuid4())).write_bytes(
        p_bytes.replace(b'"entrypoint":"sdk-cli"', b'"entrypoint":"cli"').replace(
            b"MARKER-P", b"MARKER-Q"
        )
    )
    with claude.tmux("--resume") as tmux:
        screen = tmux.wait_for("Resume session")
        screen = tmux.wait_for("MARKER-Q")
        assert screen.count("interactive MARKER-A") == 3  # A and both copies
        assert "MARKER-P" not in screen
        tmux.send_keys("Escape")


def test_fork_session_writes_a_new_file_with_the_new_id_and_no_link_back(
    claude: ClaudeClient, api: StandInApi
) -> None:
    a_id, a_path = new_print_session(claude, "original MARKER-A")
    a_bytes = a_path.read_bytes()
    api.clear()
    claude.run_print("forked MARKER-F", "--resume", a_id, "--fork-session").check()
    (f_id,) = set(claude.home.transcripts()) - {a_id}
    f_path = claude.home.transcript(f_id)
    assert a_path.read_bytes() == a_bytes
    (request,) = api.requests_containing("MARKER-F")
    assert "MARKER-A" in request.messages_text
    f_records = records(f_path)
    assert {r.get("sessionId") for r in f_records} - {None} == {f_id}
    # The conversation lines are copied with their uuids and chain; the copied replies
    # carry the one link back: "requestSessionId" (the session that made the request).
    a_chain = [r["uuid"] for r in records(a_path) if r.get("type") in ("user", "assistant")]
    by_uuid = {r["uuid"]: r for r in f_records if "uuid" in r}
    assert set(a_chain) <= set(by_uuid)
    copied_replies = [by_uuid[u] for u in a_chain if by_uuid[u]["type"] == "assistant"]
    assert copied_replies
    assert all(r["requestSessionId"] == a_id for r in copied_replies)
    assert [r for r in f_records if a_id in json.dumps(r)] == copied_replies
    assert not any("requestSessionId" in r for r in f_records if r.get("uuid") not in a_chain)


# --- (c) two branches in one transcript ---


@pytest.mark.parametrize("last", ["one", "two"])
def test_resume_follows_the_chain_of_the_branch_written_last(
    claude: ClaudeClient, api: StandInApi, last: str
) -> None:
    s_id, s_path = new_print_session(claude, "common MARK-C0")
    common = lines_of(s_path)
    # Branch two: a fork off the common prefix, its lines moved into S (older timestamps).
    claude.run_print("branch MARK-TWO", "--resume", s_id, "--fork-session").check()
    (f_id,) = set(claude.home.transcripts()) - {s_id}
    f_path = claude.home.transcript(f_id)
    known = {json.loads(line).get("uuid") for line in common} - {None}
    two = [
        line.replace(f'"sessionId":"{f_id}"'.encode(), f'"sessionId":"{s_id}"'.encode())
        for line in lines_of(f_path)
        if json.loads(line).get("uuid") not in known
    ]
    f_path.unlink()
    claude.run_print("branch MARK-ONE", "--resume", s_id).check()
    one = lines_of(s_path)[len(common) :]
    first_two = next(json.loads(line) for line in two if json.loads(line)["type"] == "user")
    assert first_two["parentUuid"] in known  # both branches hang off the common prefix
    body = common + (two + one if last == "one" else one + two)
    s_path.write_bytes(b"\n".join(body) + b"\n")
    api.clear()
    claude.run_print("next MARK-N", "--resume", s_id).check()
    (request,) = api.requests_containing("MARK-N")
    text = request.messages_text
    assert "MARK-C0" in text
    assert ("MARK-ONE" in text, "MARK-TWO" in text) == (last == "one", last == "two")
    # The other branch cannot be reached: --resume-session-at only knows the active chain.
    other = one if last == "two" else two
    other_reply = [json.loads(line) for line in other if json.loads(line)["type"] == "assistant"]
    run = claude.run_print(
        "again", "--resume", s_id, "--resume-session-at", other_reply[-1]["uuid"]
    )
    assert run.returncode != 0
    assert "No message found" in run.stdout + run.stderr


# --- (d) cwd fields naming another machine's path ---


def test_a_transcript_from_another_path_resumes(claude: ClaudeClient, api: StandInApi) -> None:
    s_id, s_path = new_print_session(claude, "elsewhere MARKER-D")
    moved = s_path.read_bytes().replace(
        str(claude.home.project).encode(), b"/home/someone/elsewhere/app"
    )
    assert b'"cwd":"/home/someone/elsewhere/app"' in moved
    s_path.write_bytes(moved)
    api.clear()
    claude.run_print("next MARKER-N", "--resume", s_id).check()
    (request,) = api.requests_containing("MARKER-N")
    assert "MARKER-D" in request.messages_text
    appended = [json.loads(line) for line in s_path.read_bytes()[len(moved) :].split(b"\n") if line]
    assert {r.get("cwd") for r in appended} - {None} == {str(claude.home.project)}
