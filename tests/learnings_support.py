"""What the learnings tests share: a checkout with a real bare remote, transcript
lines of every kind, and test LLM commands (small scripts that log their stdin)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import attrs

from session_sync.agent.paths import encode_project_path

HOUR = 3600.0
SESSION_CWD_KEY = "cwd"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def stamp(minutes_ago: float) -> str:
    """An ISO timestamp as the client writes it."""
    t = time.time() - minutes_ago * 60
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def said(role: str, text: str, cwd: str, minutes_ago: float = 90, **extra: Any) -> dict[str, Any]:
    """A user or assistant line carrying ``text``."""
    content: Any = text if role == "user" else [{"type": "text", "text": text}]
    return {
        "parentUuid": None,
        "isSidechain": False,
        "type": role,
        "message": {"role": role, "content": content},
        "uuid": str(uuid.uuid4()),
        "timestamp": stamp(minutes_ago),
        "sessionId": "x",
        SESSION_CWD_KEY: cwd,
        **extra,
    }


def not_said(cwd: str, marker: str) -> list[dict[str, Any]]:
    """One line of each kind that holds no user or assistant text, each carrying ``marker``."""
    ts = stamp(80)
    return [
        {
            "type": "user",
            "message": {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": f"tool result {marker}"}
                ],
            },
            "timestamp": ts,
            SESSION_CWD_KEY: cwd,
        },
        {
            "type": "assistant",
            "message": {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "t1",
                        "name": "Bash",
                        "input": {"command": f"echo {marker}"},
                    },
                    {"type": "thinking", "thinking": f"thinking {marker}", "signature": "s"},
                ],
            },
            "timestamp": ts,
            SESSION_CWD_KEY: cwd,
        },
        said("user", f"meta {marker}", cwd, isMeta=True),
        said("assistant", f"sidechain {marker}", cwd, isSidechain=True),
        {
            "type": "attachment",
            "attachment": {"type": "memory", "content": f"memory {marker}"},
            "timestamp": ts,
            SESSION_CWD_KEY: cwd,
        },
        {"type": "api-request-blob", "blob": f"CLAUDE.md says {marker}"},
        {"type": "system", "content": f"system {marker}", "timestamp": ts},
        said("user", f"<local-command-stdout>{marker}</local-command-stdout>", cwd),
    ]


@attrs.frozen
class Project:
    """A checkout (cloned from a real bare remote) and this machine's config dir."""

    checkout: Path
    remote: Path
    config: Path
    root: Path

    @property
    def session_dir(self) -> Path:
        return self.config / "projects" / encode_project_path(str(self.checkout))

    def write_session(
        self,
        lines: list[dict[str, Any]],
        *,
        session_id: str | None = None,
        dir_name: str | None = None,
        hours_ago: float = 1.0,
        tail: bytes = b"",
    ) -> Path:
        """A transcript file of ``lines`` (plus raw ``tail``), modified ``hours_ago``."""
        folder = self.config / "projects" / dir_name if dir_name else self.session_dir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{session_id or uuid.uuid4()}.jsonl"
        data = b"".join(json.dumps(line).encode() + b"\n" for line in lines) + tail
        path.write_bytes(data)
        age = time.time() - hours_ago * HOUR
        os.utime(path, (age, age))
        return path

    def append(self, path: Path, lines: list[dict[str, Any]], *, hours_ago: float = 0.5) -> None:
        with path.open("ab") as fh:
            fh.write(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
        age = time.time() - hours_ago * HOUR
        os.utime(path, (age, age))

    def head(self) -> str:
        return git(self.checkout, "rev-parse", "HEAD").strip()

    def remote_head(self) -> str:
        return git(self.remote, "rev-parse", "refs/heads/main").strip()

    def hook(self, refusals: int) -> Path:
        """A pre-receive hook on the remote refusing the first ``refusals`` pushes (-1:
        every one); returns the file counting the pushes it saw."""
        count = self.root / "pushes"
        count.write_text("0")
        hook = self.remote / "hooks" / "pre-receive"
        hook.write_text(
            "#!/bin/sh\n"
            f'n=$(($(cat "{count}") + 1)); echo $n > "{count}"\n'
            f"if [ {refusals} -lt 0 ] || [ $n -le {refusals} ]; then\n"
            '  echo "refused push $n" >&2; exit 1\nfi\n'
        )
        hook.chmod(0o755)
        return count


def make_project(root: Path) -> Project:
    """A bare remote, a clone with one commit pushed, and an empty config dir."""
    remote = root / "remote.git"
    git(root, "init", "--quiet", "--bare", "-b", "main", str(remote))
    checkout = root / "src" / "app"
    checkout.parent.mkdir(parents=True)
    git(root, "clone", "--quiet", str(remote), str(checkout))
    git(checkout, "checkout", "--quiet", "-b", "main")
    (checkout / "README.md").write_text("# app\n")
    git(checkout, "add", "README.md")
    git(checkout, "commit", "--quiet", "-m", "start")
    git(checkout, "push", "--quiet", "-u", "origin", "main")
    config = root / "claude"
    config.mkdir()
    return Project(Path(os.path.realpath(checkout)), remote, config, root)


@attrs.frozen
class FakeLlm:
    """A test LLM command: logs each prompt to ``log_dir/<n>.txt`` and answers."""

    command: str
    log_dir: Path

    def prompts(self) -> list[str]:
        files = sorted(self.log_dir.glob("*.txt"), key=lambda p: int(p.stem))
        return [p.read_text() for p in files]


def fake_llm(root: Path, answer: str, *, exit_code: int = 0, sleep: float = 0) -> FakeLlm:
    """A script answering ``answer`` (after ``sleep`` s, with ``exit_code``)."""
    root.mkdir(parents=True, exist_ok=True)
    log_dir = root / "prompts"
    log_dir.mkdir()
    script = root / "llm.py"
    script.write_text(
        "import pathlib, sys, time\n"
        f"log = pathlib.Path({str(log_dir)!r})\n"
        "n = len(list(log.glob('*.txt'))) + 1\n"
        "(log / f'{n}.txt').write_text(sys.stdin.read())\n"
        f"time.sleep({sleep})\n"
        f"sys.stdout.write({answer!r})\n"
        f"if {exit_code}: sys.stderr.write('model overloaded\\nquota exceeded\\n')\n"
        f"sys.exit({exit_code})\n"
    )
    return FakeLlm(f"{sys.executable} {script}", log_dir)
