"""The hourly job run by hand: on a terminal its log, failures included, is on stderr
too, with the codespaces' words escaped; with stderr not a terminal (launchd, systemd,
a pipe) it writes only to its log."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

JOB = REPO_ROOT / "bin" / "sync-sessions-from-all-codespaces"

GH = """#!/bin/sh
# One running codespace; every other gh call fails with a title-setting escape.
if [ "$1 $2" = "codespace list" ]; then
    echo '[{"name": "cs-one", "repository": "octo-org/app", "state": "Available"}]'
    exit 0
fi
printf 'it broke \\033]0;pwned\\007 here\\n' >&2
exit 1
"""
FAILURE = "ERROR cs-one: failed: `gh codespace ssh -c cs-one --config` failed (exit status 1)"
ESCAPED = "it broke \\x1b]0;pwned\\x07 here"


def job_env(tmp_path: Path) -> dict[str, str]:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "gh").write_text(GH, encoding="utf-8")
    (tools / "gh").chmod(0o755)
    (tmp_path / "home").mkdir()
    return {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "HOME": str(tmp_path / "home")}


def read_all(fd: int) -> bytes:
    """Everything written to a pty until its last writer closes it."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the slave side is closed everywhere
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_by_hand_on_a_terminal_failures_are_on_stderr_escaped(tmp_path: Path) -> None:
    log = tmp_path / "sync.log"
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, str(JOB), "--log-file", str(log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            env=job_env(tmp_path),
        )
        os.close(follower)
        terminal = read_all(leader).decode("utf-8")
        out, _ = process.communicate(timeout=120)
    finally:
        os.close(leader)
    assert process.returncode == 1
    assert out == b""
    assert FAILURE in terminal, terminal
    assert ESCAPED in terminal, terminal
    assert "\x1b" not in terminal
    assert "\x07" not in terminal
    assert "done: 0 synced, 1 failed" in terminal
    logged = log.read_text(encoding="utf-8")
    assert FAILURE in logged
    assert ESCAPED in logged
    assert "\x1b" not in logged


def test_with_stderr_not_a_terminal_only_the_log_has_them(tmp_path: Path) -> None:
    log = tmp_path / "sync.log"
    done = subprocess.run(
        [sys.executable, str(JOB), "--log-file", str(log)],
        capture_output=True,
        text=True,
        env=job_env(tmp_path),
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "")
    assert FAILURE in log.read_text(encoding="utf-8")
