"""--version, backups flags after the action, and a quiet end on a closed pipe."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from session_sync.cli.entry import main


def test_version_is_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == (
        f"session-sync {importlib.metadata.version('session-sync')}\n"
    )


def test_backups_list_takes_json_after_the_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "claude"
    (config / "projects").mkdir(parents=True)
    assert main(["backups", "--config-dir", str(config), "list", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert main(["backups", "--config-dir", str(config), "--json", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == after


@pytest.mark.parametrize("args", [["--help"], ["backups", "list"]])
def test_a_closed_pipe_ends_quietly(tmp_path: Path, args: list[str]) -> None:
    config = tmp_path / "claude"
    (config / "projects").mkdir(parents=True)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first byte, as `| head -0`
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config)}
    done = subprocess.run(
        [sys.executable, "-m", "session_sync", *args],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        check=False,
    )
    os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")
