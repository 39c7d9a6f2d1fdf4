"""The REAL Claude Code client, installed from npm at a pinned version, for tests.

``install_claude()`` installs ``@anthropic-ai/claude-code@CLAUDE_CODE_VERSION`` once into
a cache dir (under a file lock: parallel workers wait for one install) and returns the
``claude`` executable. ``make_claude_home(root)`` lays out a fresh home (config dir,
project dir, the ``.claude.json`` an interactive run needs). ``ClaudeClient`` runs
``claude -p`` there against a stand-in API (``session_sync.testing.stand_in_api``), or
starts it interactively in a private tmux server (``TmuxSession``) to drive the picker.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

__all__ = [
    "API_KEY",
    "CLAUDE_CODE_VERSION",
    "NPM_PACKAGE",
    "ClaudeClient",
    "ClaudeHome",
    "ClaudeInstallError",
    "ClaudeRun",
    "TmuxSession",
    "cache_dir",
    "install_claude",
    "iter_registry",
    "make_claude_home",
    "proc_start_ticks",
]

CLAUDE_CODE_VERSION = "2.1.328"
"""The pinned client version (the one the facts in the shared notes were checked on)."""
NPM_PACKAGE = "@anthropic-ai/claude-code"
API_KEY = "test-key-for-the-stand-in-api"
"""The API key given to the client (the stand-in accepts anything)."""

QUIET_ENV: Mapping[str, str] = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_BUG_COMMAND": "1",
    "CLAUDE_CODE_IDE_SKIP_AUTO_INSTALL": "1",
}
"""Environment that keeps the client off the network except for the API it is pointed at."""


class ClaudeInstallError(RuntimeError):
    """npm is missing, or installing or starting the pinned client failed."""


def cache_dir(version: str = CLAUDE_CODE_VERSION) -> Path:
    """``$SESSION_SYNC_TEST_CACHE/claude-code-<version>``, else under
    ``~/.cache/session-sync-tests``."""
    base = os.environ.get("SESSION_SYNC_TEST_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "session-sync-tests"
    return root / f"claude-code-{version}"


def _reported_version(exe: Path) -> str:
    """What ``claude --version`` prints ("" when it does not run)."""
    try:
        done = subprocess.run(
            [str(exe), "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **QUIET_ENV},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def install_claude(
    version: str = CLAUDE_CODE_VERSION, *, cache: Path | None = None, timeout: float = 900.0
) -> Path:
    """Install the pinned client once (idempotent, under a lock); its ``claude``
    executable. Raises ``ClaudeInstallError`` when npm is missing or anything fails."""
    cache = cache or cache_dir(version)
    exe = cache / "node_modules" / ".bin" / "claude"
    stamp = cache / ".installed"
    if stamp.is_file() and stamp.read_text().strip() == version and exe.exists():
        return exe
    npm = shutil.which("npm")
    if npm is None:
        raise ClaudeInstallError("npm is not installed (needed to install the real client)")
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / f".{cache.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be installing: wait for it
        if stamp.is_file() and stamp.read_text().strip() == version and exe.exists():
            return exe
        cache.mkdir(parents=True, exist_ok=True)
        argv = [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund"]
        try:
            done = subprocess.run(
                [*argv, f"{NPM_PACKAGE}@{version}"],
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ClaudeInstallError(f"npm install timed out after {timeout:.0f} s") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip()[-2000:]
            raise ClaudeInstallError(f"npm install {NPM_PACKAGE}@{version} failed:\n{tail}")
        if not _reported_version(exe).startswith(version):
            # npm may have skipped the postinstall that puts the native binary in place.
            package = cache / "node_modules" / NPM_PACKAGE
            subprocess.run(
                ["node", "install.cjs"], cwd=package, capture_output=True, timeout=300, check=False
            )
        reported = _reported_version(exe)
        if not reported.startswith(version):
            raise ClaudeInstallError(f"{exe} --version said {reported!r}, expected {version}")
        stamp.write_text(version + "\n")
    return exe


@attrs.frozen
class ClaudeHome:
    """A fresh user home for the client: ``home/.claude`` and a project checkout."""

    home: Path
    config: Path
    """``$CLAUDE_CONFIG_DIR`` (``home/.claude``)."""
    project: Path
    """The project dir the client runs in (a realpath)."""
    tmp: Path
    """``$TMPDIR`` of the client (it keeps ``cc-socks/<pid>.sock`` there)."""

    @property
    def sessions_dir(self) -> Path:
        """``<config>/sessions``: the live-process registry."""
        return self.config / "sessions"

    def project_dir(self, project: Path | None = None) -> Path:
        """``<config>/projects/<encoded project>``."""
        from session_sync.agent.paths import encode_project_path

        return self.config / "projects" / encode_project_path(str(project or self.project))

    def transcript(self, session_id: str, project: Path | None = None) -> Path:
        """Where session ``session_id`` of ``project`` lives."""
        return self.project_dir(project) / f"{session_id}.jsonl"

    def transcripts(self, project: Path | None = None) -> dict[str, Path]:
        """``{session id: path}`` of the ``.jsonl`` files in the project dir."""
        folder = self.project_dir(project)
        return {p.stem: p for p in sorted(folder.glob("*.jsonl"))} if folder.is_dir() else {}

    def trust(self, project: Path) -> None:
        """Mark ``project`` trusted in ``.claude.json`` (no trust dialog there)."""
        path = self.config / ".claude.json"
        data = json.loads(path.read_text())
        data.setdefault("projects", {})[str(project)] = _trusted_project()
        path.write_text(json.dumps(data, indent=2))


def _trusted_project() -> dict[str, object]:
    return {
        "allowedTools": [],
        "hasTrustDialogAccepted": True,
        "hasCompletedProjectOnboarding": True,
        "projectOnboardingSeenCount": 1,
    }


def make_claude_home(root: Path, *, project_name: str = "project") -> ClaudeHome:
    """``root/home`` with ``.claude/.claude.json`` set up for interactive runs
    (onboarding done, theme, API key approved, the project trusted)."""
    home = root / "home"
    config = home / ".claude"
    project = root / project_name
    for folder in (config, project, root / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    project = Path(os.path.realpath(project))
    settings = {
        "hasCompletedOnboarding": True,
        "theme": "dark",
        "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
        "autoUpdates": False,
        "bypassPermissionsModeAccepted": True,
        "projects": {str(project): _trusted_project()},
    }
    (config / ".claude.json").write_text(json.dumps(settings, indent=2))
    return ClaudeHome(
        home=Path(os.path.realpath(home)),
        config=config.resolve(),
        project=project,
        tmp=(root / "tmp").resolve(),
    )


@attrs.frozen
class ClaudeRun:
    """How one ``claude -p`` run ended."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> ClaudeRun:
        """Itself; raises ``AssertionError`` with the output if it failed."""
        assert self.returncode == 0, (
            f"{self.argv} exited {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        )
        return self


@attrs.frozen
class ClaudeClient:
    """The real client, run in ``home`` against the API at ``base_url``."""

    executable: Path
    home: ClaudeHome
    base_url: str
    extra_env: Mapping[str, str] = attrs.field(factory=dict)

    def env(self) -> dict[str, str]:
        """The client's whole environment (nothing inherited but ``PATH`` and locale)."""
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        env.update(QUIET_ENV)
        env.update(
            HOME=str(self.home.home),
            CLAUDE_CONFIG_DIR=str(self.home.config),
            TMPDIR=str(self.home.tmp),
            ANTHROPIC_BASE_URL=self.base_url,
            ANTHROPIC_API_KEY=API_KEY,
            TERM="xterm-256color",
        )
        env.update(self.extra_env)
        return env

    def argv(self, *args: str) -> list[str]:
        """``claude ARGS``."""
        return [str(self.executable), *args]

    def start_print(
        self, prompt: str, *args: str, cwd: Path | None = None
    ) -> subprocess.Popen[str]:
        """Start ``claude -p PROMPT ARGS`` without waiting (to look at it while it runs)."""
        return subprocess.Popen(
            self.argv("-p", prompt, *args),
            cwd=cwd or self.home.project,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run_print(
        self, prompt: str, *args: str, cwd: Path | None = None, timeout: float = 90.0
    ) -> ClaudeRun:
        """Run ``claude -p PROMPT ARGS`` in the project dir (or ``cwd``) to its end."""
        argv = self.argv("-p", prompt, *args)
        done = subprocess.run(
            argv,
            cwd=cwd or self.home.project,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return ClaudeRun(tuple(argv), done.returncode, done.stdout, done.stderr)

    def tmux(
        self, *args: str, cwd: Path | None = None, width: int = 160, height: int = 50
    ) -> TmuxSession:
        """Start ``claude ARGS`` interactively in a private tmux server."""
        return TmuxSession.start(
            self.argv(*args), env=self.env(), cwd=cwd or self.home.project, size=(width, height)
        )


class TmuxSession:
    """A command in the one pane of its own tmux server (``tmux -L <unique socket>``)."""

    def __init__(self, socket: str) -> None:
        self.socket = socket
        self.socket_path = ""
        self.target = "main"

    @classmethod
    def start(
        cls,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        size: tuple[int, int] = (160, 50),
    ) -> TmuxSession:
        """Run ``argv`` with exactly ``env`` in a new detached tmux session."""
        if shutil.which("tmux") is None:
            raise ClaudeInstallError("tmux is not installed (needed for interactive runs)")
        session = cls(f"session-sync-test-{uuid.uuid4().hex[:12]}")
        env_argv = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]
        session._tmux(
            "new-session", "-d", "-s", session.target, "-x", str(size[0]), "-y", str(size[1]),
            "-c", str(cwd), *env_argv,
        )  # fmt: skip
        session._tmux("set-option", "-t", session.target, "remain-on-exit", "on")
        session.socket_path = session._tmux("display-message", "-p", "#{socket_path}").strip()
        return session

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def send_keys(self, *keys: str) -> None:
        """Send tmux key names (``"Enter"``, ``"Down"``, ``"C-c"``...)."""
        self._tmux("send-keys", "-t", self.target, *keys)

    def send_text(self, text: str) -> None:
        """Type ``text`` literally (no Enter)."""
        self._tmux("send-keys", "-t", self.target, "-l", text)

    def capture(self) -> str:
        """The pane's visible text now."""
        return self._tmux("capture-pane", "-p", "-t", self.target)

    def wait_for(self, pattern: str, *, timeout: float = 30.0) -> str:
        """Poll the pane until ``pattern`` (a regex) appears; the screen then."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture()
            if re.search(pattern, screen):
                return screen
            time.sleep(0.2)
        raise TimeoutError(f"{pattern!r} not on screen after {timeout} s:\n{screen}")

    def pane_pid(self) -> int:
        """The pid of the pane's process (the client: ``env`` execs it)."""
        return int(self._tmux("display-message", "-p", "-t", self.target, "#{pane_pid}").strip())

    def is_dead(self) -> bool:
        """Whether the pane's process has exited."""
        return self._tmux("display-message", "-p", "-t", self.target, "#{pane_dead}").strip() == "1"

    def wait_exit(self, *, timeout: float = 30.0) -> None:
        """Wait until the pane's process has exited."""
        deadline = time.monotonic() + timeout
        while not self.is_dead():
            if time.monotonic() > deadline:
                raise TimeoutError(f"still running after {timeout} s:\n{self.capture()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """Stop the tmux server (and with it the pane's process)."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._tmux("kill-server")
        if self.socket_path:
            Path(self.socket_path).unlink(missing_ok=True)

    def __enter__(self) -> TmuxSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()


def iter_registry(config: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Each ``<config>/sessions/<pid>.json`` and its parsed contents."""
    folder = config / "sessions"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        with contextlib.suppress(ValueError, OSError):
            yield path, json.loads(path.read_text())


def proc_start_ticks(pid: int) -> str:
    """Field 22 of ``/proc/<pid>/stat`` (start time after boot, in clock ticks)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()[22 - 3]
