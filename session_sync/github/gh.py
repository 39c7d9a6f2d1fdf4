"""GitHub Codespaces through the ``gh`` CLI: listing, states, creation, ssh config.

Every ``gh`` call has a timeout (``gh`` waits forever for a login that is not
coming) and runs in its own process group, so a timeout also ends the ``ssh``
it may have started. Any ``gh codespace ssh`` STARTS a shut-down codespace, so
the codespace transport reads the state with ``gh codespace list`` right
before each one, and a ``Shutdown`` codespace is only ever woken when the
caller says so.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import attrs

from session_sync.errors import (
    CodespaceNotFoundError,
    CodespaceUnavailableError,
    GhError,
)

__all__ = [
    "BUSY_STATES",
    "NOT_WOKEN_HINT",
    "READY_STATES",
    "ROUTES",
    "STARTING_STATES",
    "WAKEABLE_STATES",
    "Codespace",
    "CodespaceSshConfig",
    "GhCli",
    "check_codespace_state",
    "parse_ssh_config",
]

logger = logging.getLogger(__name__)

_CODESPACE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

READY_STATES = frozenset({"Available"})
"""States in which a sync can start at once."""
WAKEABLE_STATES = frozenset({"Shutdown", "ShuttingDown"})
"""States a ``gh codespace ssh`` would start the codespace from."""
STARTING_STATES = frozenset({"Starting", "Queued", "Provisioning", "Created", "Awaiting"})
"""States that end in ``Available`` by themselves (gh waits for it)."""
BUSY_STATES = frozenset({"Rebuilding", "Updating", "Exporting"})
"""States that will pass, but during which the codespace must be left alone."""


ROUTES = ("auto", "proxy", "exec")
"""``proxy``: SSH through ``gh ... --stdio``; ``exec``: one ``gh ... -- COMMAND``
process; ``auto``: proxy, else exec."""


@attrs.frozen
class Codespace:
    """One line of ``gh codespace list``."""

    name: str
    """The codespace's name (``gh codespace ssh -c NAME``)."""
    repository: str
    """``OWNER/REPO`` it was made from."""
    state: str
    """``Available``, ``Shutdown``, ``Starting``, ``Rebuilding``..."""

    @property
    def repo_name(self) -> str:
        """The repository's name without its owner (the checkout's dir name)."""
        return self.repository.rsplit("/", 1)[-1]

    @property
    def workspace_path(self) -> str:
        """Where the codespace checks the repository out."""
        return f"/workspaces/{self.repo_name}"


@attrs.frozen
class CodespaceSshConfig:
    """What ``gh codespace ssh --config`` says about reaching one codespace."""

    user: str | None
    """The login user in the codespace (images differ: never assume ``codespace``)."""
    identity_file: str | None
    """The private key gh made for codespaces (``~/.ssh/codespaces.auto``)."""


def parse_ssh_config(text: str) -> CodespaceSshConfig:
    """The user and key of the first ``Host`` block of an OpenSSH config text."""
    user: str | None = None
    identity: str | None = None
    hosts = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.replace("=", " ", 1).partition(" ")
        key, value = key.lower(), value.strip()
        if key == "host":
            hosts += 1
            if hosts > 1:
                break
        elif key == "user" and user is None:
            user = value
        elif key == "identityfile" and identity is None:
            identity = value.strip('"')
    return CodespaceSshConfig(user, identity)


@attrs.frozen
class GhCli:
    """Runs ``gh`` with a timeout on every call."""

    executable: str = "gh"
    """The gh binary (looked up on ``PATH``)."""
    timeout: float = 60.0
    """Seconds for a plain call (``list``)."""
    start_timeout: float = 600.0
    """Seconds for a call that may have to start a codespace (``ssh --config``)."""
    env: Mapping[str, str] | None = None
    """The environment for gh (default: ours)."""

    def not_installed(self) -> GhError:
        """The error for a gh that is not there."""
        return GhError(
            f"{self.executable} (the GitHub CLI) is not installed or not on PATH:"
            " install it from https://cli.github.com, then run `gh auth login`"
        )

    def run(self, args: Sequence[str], *, timeout: float | None = None) -> str:
        """gh's stdout; ``GhError`` saying what to do when it fails or hangs."""
        limit = self.timeout if timeout is None else timeout
        shown = shlex.join(["gh", *args])
        if len(shown) > 120:
            shown = shown[:117] + "..."
        try:
            process = subprocess.Popen(
                [self.executable, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(self.env) if self.env is not None else None,
                start_new_session=True,  # so a timeout can end gh and its ssh together
            )
        except FileNotFoundError:
            raise self.not_installed() from None
        except OSError as exc:
            raise GhError(f"cannot run {self.executable}: {exc}") from None
        started = time.perf_counter()
        logger.debug("running %s", shown)
        try:
            out, err = process.communicate(timeout=limit)
            logger.debug(
                "%s: exit status %s in %.0f ms, %d bytes",
                shown,
                process.returncode,
                (time.perf_counter() - started) * 1000,
                len(out),
            )
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.communicate()
            raise GhError(
                f"`{shown}` did not answer in {limit:.0f} s: is gh logged in?"
                " (check with `gh auth status`)"
            ) from None
        message = err.decode("utf-8", "replace").strip()
        if process.returncode == 4 or "gh auth login" in message:
            raise GhError(
                "gh is not logged in: run `gh auth login` (codespaces also need"
                " `gh auth refresh -h github.com -s codespace`)"
            )
        if process.returncode != 0:
            last = message.splitlines()[-1] if message else "no message"
            raise GhError(f"`{shown}` failed (exit status {process.returncode}): {last}")
        return out.decode("utf-8", "replace")

    def list_codespaces(self) -> list[Codespace]:
        """Every codespace of the logged-in user."""
        text = self.run(["codespace", "list", "--json", "name,repository,state", "--limit", "1000"])
        try:
            rows = json.loads(text or "[]")
        except ValueError as exc:
            raise GhError(f"`gh codespace list` printed no JSON list: {exc}") from None
        if not isinstance(rows, list):
            raise GhError("`gh codespace list` did not print a JSON list")
        return [
            Codespace(str(r.get("name", "")), str(r.get("repository", "")), str(r.get("state", "")))
            for r in rows
            if isinstance(r, dict)
        ]

    def find(self, name: str) -> Codespace:
        """The codespace called ``name``; ``CodespaceNotFoundError`` listing the others."""
        codespaces = self.list_codespaces()
        for codespace in codespaces:
            if codespace.name == name:
                return codespace
        names = ", ".join(sorted(c.name for c in codespaces)) or "none"
        raise CodespaceNotFoundError(
            f"no codespace named {name!r} (`gh codespace list` shows: {names})"
        )

    def create(
        self,
        repository: str,
        *,
        branch: str | None = None,
        machine: str | None = None,
        timeout: float | None = None,
    ) -> str:
        """``gh codespace create``; returns the new codespace's name."""
        args = ["codespace", "create", "-R", repository]
        if branch:
            args += ["-b", branch]
        if machine:
            args += ["-m", machine]
        out = self.run(args, timeout=self.start_timeout if timeout is None else timeout)
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        if not lines or not _CODESPACE_NAME.match(lines[-1]):
            raise GhError(f"`gh codespace create` did not print a codespace name: {out.strip()!r}")
        return lines[-1]

    def interactive_ssh(self, name: str, ssh_args: Sequence[str] = ()) -> int:
        """Run ``gh codespace ssh -c NAME [-- SSH_ARGS]`` on this terminal; its exit status.

        No timeout: the session lasts as long as the user wants. Ctrl-C goes to
        the session (ssh), not to us, so what runs after it still runs.
        """
        argv = [self.executable, "codespace", "ssh", "-c", name]
        if ssh_args:
            argv += ["--", *ssh_args]
        # A no-op handler, not SIG_IGN: ignored signals stay ignored in the child.
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, _ignore_signal) if in_main else None
        try:
            try:
                process = subprocess.Popen(
                    argv, env=dict(self.env) if self.env is not None else None
                )
            except FileNotFoundError:
                raise self.not_installed() from None
            code = process.wait()
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)
        return code if code >= 0 else 128 - code

    def ssh_config(self, name: str) -> CodespaceSshConfig:
        """The user and key for SSH into ``name`` (starts it if it is shut down)."""
        text = self.run(["codespace", "ssh", "-c", name, "--config"], timeout=self.start_timeout)
        return parse_ssh_config(text)


def _ignore_signal(signum: int, frame: object) -> None:
    """The terminal's Ctrl-C is the interactive session's, not ours."""


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        process.kill()


NOT_WOKEN_HINT = "name it with --codespace to start it and sync"
"""Why a shut-down codespace was left alone, when the caller says nothing better."""


def check_codespace_state(
    codespace: Codespace,
    *,
    wake: bool,
    notify: Callable[[str], None],
    not_woken: str = NOT_WOKEN_HINT,
) -> None:
    """Raise ``CodespaceUnavailableError`` unless a sync may go ahead now.

    A shut-down codespace is only started when ``wake`` (the user named it);
    ``notify`` then tells the user it is being started. ``not_woken`` says, in
    the refusal, why it was not (and what would start it).
    """
    name, state = codespace.name, codespace.state
    if state in READY_STATES:
        return
    if state in WAKEABLE_STATES:
        if not wake:
            raise CodespaceUnavailableError(
                f"codespace {name} is {state}: not starting it ({not_woken})", state
            )
        notify(f"codespace {name} is {state}: starting it (this can take a minute or two)")
        return
    if state in STARTING_STATES:
        notify(f"codespace {name} is {state}: waiting for it to be available")
        return
    if state in BUSY_STATES:
        raise CodespaceUnavailableError(
            f"codespace {name} is {state}: try again when `gh codespace list` shows it Available",
            state,
        )
    raise CodespaceUnavailableError(
        f"codespace {name} is {state or 'in an unknown state'}: it cannot be synced", state
    )
