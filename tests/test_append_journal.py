"""The journal of in-place appends: a kill inside one leaves a transcript that the
next apply on the machine completes (its old bytes, then our whole lines)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_append_fast import NEW, append_op, apply, lines, scanned

from session_sync.agent.append_journal import JOURNAL_DIR, begin_append, recover_appends
from session_sync.agent.faults import FAULT_FILE_ENV


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "claude"
    (path / "projects").mkdir(parents=True)
    return path


def journal(config: Path) -> list[str]:
    base = config / JOURNAL_DIR
    return sorted(p.name for p in base.iterdir()) if base.is_dir() else []


def journaled(config: Path, path: Path) -> None:
    """``NEW`` journaled as an append to ``path`` (as it is now)."""
    with open(path, "rb") as fh:
        begin_append(str(config), str(path), fh.fileno(), io.BytesIO(NEW), len(NEW))


def test_a_cut_append_is_completed_by_the_next_apply(config: Path) -> None:
    old = lines(30)
    path = scanned(config, old)
    journaled(config, path)
    # What a kill -9 inside the write of a long line leaves: a part of a line.
    with open(path, "ab") as fh:
        fh.write(NEW[: len(NEW) // 2 + 3])

    notes = recover_appends(str(config))

    assert path.read_bytes() == old + NEW
    assert notes == [f"{path}: a cut append completed ({len(NEW) - len(NEW) // 2 - 3} bytes)"]
    assert journal(config) == []


@pytest.mark.parametrize(
    ("after", "why"),
    [
        (b'{"other":"writer"}\n', "other bytes follow its old end"),
        (NEW[:10] + b'{"other":"writer"}\n', "other bytes follow its old end"),
    ],
)
def test_bytes_not_ours_after_the_old_end_are_left_alone(
    config: Path, after: bytes, why: str
) -> None:
    old = lines(30)
    path = scanned(config, old)
    journaled(config, path)
    with open(path, "ab") as fh:
        fh.write(after)

    notes = recover_appends(str(config))

    assert path.read_bytes() == old + after
    assert notes == [f"{path}: {why}; left alone"]
    assert journal(config) == []


def test_a_replaced_file_is_left_alone(config: Path) -> None:
    path = scanned(config, lines(30))
    journaled(config, path)
    path.unlink()
    path.write_bytes(b"new\n")

    assert recover_appends(str(config)) == [f"{path}: replaced since the append; left alone"]
    assert path.read_bytes() == b"new\n"


def test_an_open_sessions_cut_append_waits(config: Path) -> None:
    old = lines(30)
    path = scanned(config, old)
    journaled(config, path)
    with open(path, "ab") as fh:
        fh.write(NEW[:7])

    assert recover_appends(str(config), live=[path.stem]) == []
    assert path.read_bytes() == old + NEW[:7]
    assert len(journal(config)) == 2
    recover_appends(str(config))
    assert path.read_bytes() == old + NEW


CHILD = """
import sys
sys.path[:0] = [{tests!r}]
from pathlib import Path
from test_append_fast import append_op, apply, lines
config = Path({config!r})
apply(config, append_op(lines(30)))
"""


@pytest.mark.parametrize("point", ["apply.journaled", "apply.appended"])
def test_a_kill_inside_an_in_place_append_is_completed_by_the_next_apply(
    config: Path, tmp_path: Path, point: str
) -> None:
    old = lines(30)
    path = scanned(config, old)
    fault = tmp_path / "fault"
    fault.write_text(f"{point} 1\n")
    tests = str(Path(__file__).parent)
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(tests=tests, config=str(config))],
        env={**os.environ, FAULT_FILE_ENV: str(fault)},
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert child.returncode == -9, child.stderr
    assert len(journal(config)) == 2  # the kill left its entry
    assert path.read_bytes() in (old, old + NEW)

    # The next apply on this machine (whatever it brings) completes or forgets it.
    result = apply(config, append_op(old + NEW, b""), b"")
    assert path.read_bytes() == old + NEW
    assert journal(config) == []
    assert "error" not in result or result["ok"], result
