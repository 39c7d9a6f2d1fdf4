"""Putting generated sessions on disk: ``write_session`` and ``write_live_marker``.

Files get exact modes (0600 for transcripts and markers, 0644 for metadata and
tool results) whatever the umask, and directories 0700, as the client makes them.
"""

from __future__ import annotations

import os
import pathlib
import sys
import time

from session_sync.testing.sessions.records import dumps
from session_sync.testing.sessions.spec import SessionSpec, encode_dir_name, session_bytes

__all__ = ["write_live_marker", "write_session"]


def _mkdir(path: pathlib.Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def _write_file(path: pathlib.Path, data: bytes, mode: int, mtime: float | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    path.chmod(mode)  # exact mode, whatever the umask
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def write_session(
    config_dir: pathlib.Path,
    spec: SessionSpec,
    *,
    project_dir_name: str | None = None,
    mtime: float | None = None,
    partial_tail: bytes = b"",
) -> pathlib.Path:
    """Write the session (and its subagents / tool results) under ``config_dir/projects``."""
    if not config_dir.exists():
        _mkdir(config_dir)
    projects = config_dir / "projects"
    if not projects.exists():
        _mkdir(projects)
    project = projects / (project_dir_name or encode_dir_name(spec.cwd))
    _mkdir(project)
    main = project / f"{spec.session_id}.jsonl"
    _write_file(main, session_bytes(spec) + partial_tail, 0o600, mtime)
    if spec.subagents:
        sub_dir = project / spec.session_id / "subagents"
        _mkdir(sub_dir.parent)
        _mkdir(sub_dir)
        for agent_id, lines in spec.subagents:
            data = b"\n".join(lines) + b"\n"
            _write_file(sub_dir / f"agent-{agent_id}.jsonl", data, 0o600, mtime)
            meta = dumps({"agentType": "general-purpose"})
            _write_file(sub_dir / f"agent-{agent_id}.meta.json", meta, 0o644, mtime)
    if spec.tool_results:
        res_dir = project / spec.session_id / "tool-results"
        _mkdir(res_dir.parent)
        _mkdir(res_dir)
        for name, content in spec.tool_results:
            _write_file(res_dir / name, content, 0o644, mtime)
    return main


def _proc_start(pid: int) -> str:
    """Field 22 (starttime) of /proc/<pid>/stat, or "0" where unavailable."""
    if not sys.platform.startswith("linux"):
        return "0"
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    # comm (field 2) may contain spaces and parentheses: fields resume after the last ')'.
    rest = stat[stat.rfind(")") + 1 :].split()
    return rest[19] if len(rest) > 19 else "0"


def write_live_marker(
    config_dir: pathlib.Path, session_id: str, cwd: str, pid: int
) -> pathlib.Path:
    """Write ``<config_dir>/sessions/<pid>.json``, the marker of a running Claude process."""
    sessions = config_dir / "sessions"
    _mkdir(sessions)
    marker = {
        "pid": pid,
        "sessionId": session_id,
        "cwd": cwd,
        "startedAt": int(time.time() * 1000),
        "procStart": _proc_start(pid),
        "kind": "interactive",
    }
    path = sessions / f"{pid}.json"
    _write_file(path, dumps(marker), 0o600, None)
    return path
