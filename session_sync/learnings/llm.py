"""Running the LLM command: the prompt on its stdin, the answer on its stdout."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess

from session_sync.errors import SessionSyncError

__all__ = [
    "ANSWER_LIMIT",
    "DEFAULT_CALL_CHARS",
    "DEFAULT_LLM",
    "DEFAULT_LLM_TIMEOUT",
    "DEFAULT_MAX_CALLS",
    "LlmError",
    "run_llm",
]

DEFAULT_LLM = "claude -p --no-session-persistence"
"""The user's own Claude Code, in print mode. ``--no-session-persistence``: the
extraction run must not become a session of the project that the next run reads."""
DEFAULT_LLM_TIMEOUT = 300.0
DEFAULT_CALL_CHARS = 100_000
"""Characters of conversation sent in one call (about 25k tokens)."""
DEFAULT_MAX_CALLS = 5
"""Calls one run makes at most; older turns beyond them are not sent."""
ANSWER_LIMIT = 1 << 20
"""Bytes of an answer read; a longer one is cut (learnings are a short list)."""
# Claude Code refuses to start inside another one's environment; the skill runs us there.
_NESTING_ENV = ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT")


class LlmError(SessionSyncError):
    """The LLM command is missing, failed, or did not answer in time."""


def _last_line(data: bytes) -> str:
    lines = [ln for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1].strip()[:200] if lines else "no message"


def run_llm(command: str, prompt: str, *, timeout: float = DEFAULT_LLM_TIMEOUT) -> str:
    """The answer of ``command`` (split as a shell would, not run by one) to ``prompt``."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise LlmError(f"--llm {command!r}: {exc}") from None
    if not argv:
        raise LlmError("--llm names no command")
    env = {k: v for k, v in os.environ.items() if k not in _NESTING_ENV}
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # a timeout ends the command and all it started
        )
    except FileNotFoundError:
        hint = (
            " (install Claude Code, or name another with --llm CMD)" if argv[0] == "claude" else ""
        )
        raise LlmError(f"the LLM command {argv[0]!r} was not found{hint}") from None
    except OSError as exc:
        raise LlmError(f"the LLM command {argv[0]!r} could not be run: {exc.strerror}") from None
    try:
        out, err = process.communicate(prompt.encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        raise LlmError(
            f"the LLM command {argv[0]!r} did not answer in {timeout:g} s (see --llm-timeout)"
        ) from None
    except BaseException:
        _kill(process)
        raise
    if process.returncode != 0:
        raise LlmError(
            f"the LLM command {argv[0]!r} failed (exit {process.returncode}): {_last_line(err)}"
        )
    return out[:ANSWER_LIMIT].decode("utf-8", "replace")


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
