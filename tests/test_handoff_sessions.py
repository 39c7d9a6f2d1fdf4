"""``session_sync.handoff.sessions``: the project's sessions here, each summed up."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import attrs
import pytest
from handoff_work import worked_session

from session_sync.handoff import sessions as sessions_mod
from session_sync.handoff.cache import SummaryCache
from session_sync.handoff.handoff import relative_to_project
from session_sync.handoff.sessions import project_sessions, summarize_transcript
from session_sync.testing.sessions import (
    continue_session,
    encode_dir_name,
    make_session,
    write_session,
)

HOUR = 3600.0


def test_sessions_from_three_machines_are_told_apart(config_a: Path, project: Path) -> None:
    rng = random.Random(15)
    here = worked_session(
        rng,
        str(project),
        edits=[("Edit", f"{project}/src/app.py"), ("Write", f"{project}/README.md")],
        todos=[("write the parser", "completed"), ("test it", "in_progress")],
        last_prompt="now run the tests",
        last_text="All 12 tests pass.",
    )
    codespace = worked_session(
        rng,
        "/workspaces/app",
        edits=[("MultiEdit", "/workspaces/app/src/app.py"), ("Edit", "/workspaces/app/src/app.py")],
        last_prompt="fix the flaky test",
    )
    host = worked_session(
        rng, "/home/dev/src/app", edits=[("NotebookEdit", "/home/dev/src/app/nb.ipynb")]
    )
    # A sync puts pulled sessions into this machine's own project dir.
    dir_name = encode_dir_name(str(project))
    for i, spec in enumerate((here, codespace, host)):
        write_session(config_a, spec, project_dir_name=dir_name, mtime=1_700_000_000 - i * HOUR)
    # Another project's session is not the project's.
    write_session(config_a, make_session(rng, "/home/dev/other"), mtime=1_700_000_000)

    found = {s.id: s for s in project_sessions(str(config_a), str(project), None)}

    assert set(found) == {here.session_id, codespace.session_id, host.session_id}
    mine = found[here.session_id]
    assert mine.machine == "here"
    assert found[codespace.session_id].machine == "codespace"
    assert found[host.session_id].machine == "elsewhere"
    assert found[host.session_id].cwd == "/home/dev/src/app"
    assert [e.path for e in mine.edited] == [f"{project}/src/app.py", f"{project}/README.md"]
    assert [(t.content, t.status) for t in mine.todos or ()] == [
        ("write the parser", "completed"),
        ("test it", "in_progress"),
    ]
    assert mine.last_prompt == "now run the tests"
    assert mine.last_assistant_text == "All 12 tests pass."
    first_line_prompt = next(
        json.loads(line)["message"]["content"]
        for line in here.lines
        if b'"type":"user"' in line and b'"permissionMode"' in line
    )
    assert mine.first_prompt == first_line_prompt
    [edit] = found[codespace.session_id].edited
    assert (edit.tools, edit.count) == (("MultiEdit", "Edit"), 2)
    assert edit.first_at is not None
    assert edit.last_at is not None
    assert edit.first_at < edit.last_at
    assert [e.path for e in found[host.session_id].edited] == ["/home/dev/src/app/nb.ipynb"]
    # The last message time comes from the end (the closing lines carry none).
    last_stamp = max(t for t in (json.loads(line).get("timestamp") for line in here.lines) if t)
    assert mine.last_message_at == last_stamp
    assert not any(s.open_here for s in found.values())


def test_tool_results_meta_and_attachments_are_not_prompts(config_a: Path, project: Path) -> None:
    spec = worked_session(random.Random(3), str(project), last_prompt="the real question")
    extra = [
        {"type": "user", "isMeta": True, "message": {"role": "user", "content": "meta text"}},
        {"type": "attachment", "attachment": {"type": "user", "content": "CLAUDE.md text"}},
        {"type": "user", "message": {"role": "user", "content": "<local-command-stdout>x"}},
        {"type": "api-request-blob", "blob": {"messages": [{"type": "user", "content": "y"}]}},
    ]
    lines = (*spec.lines[:-2], *(json.dumps(e).encode() for e in extra), *spec.lines[-2:])
    path = write_session(config_a, spec.__class__(spec.session_id, spec.cwd, lines))
    summary = summarize_transcript(str(path), spec.session_id, path.parent.name)
    assert summary is not None
    assert summary.last_prompt == "the real question"


def test_a_line_over_the_limit_is_passed_over(
    config_a: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = worked_session(random.Random(4), str(project), last_prompt="short")
    huge = json.dumps({"type": "user", "message": {"role": "user", "content": "z" * 5000}}).encode()
    lines = (*spec.lines[:-2], huge, *spec.lines[-2:])
    path = write_session(config_a, spec.__class__(spec.session_id, spec.cwd, lines))
    monkeypatch.setattr(sessions_mod, "LINE_LIMIT", 4000)
    summary = summarize_transcript(str(path), spec.session_id, path.parent.name)
    assert summary is not None
    assert summary.last_prompt == "short"
    assert summary.skipped_lines >= 1


def test_the_cache_reads_a_transcript_once_per_version(config_a: Path, project: Path) -> None:
    rng = random.Random(5)
    specs = [worked_session(rng, str(project), last_prompt=f"p{i}") for i in range(3)]
    paths = [write_session(config_a, s, mtime=1_700_000_000 + i) for i, s in enumerate(specs)]
    first = project_sessions(str(config_a), str(project), None)
    warm = SummaryCache(str(config_a))
    again = project_sessions(str(config_a), str(project), None, cache=warm)
    assert again == first
    assert (warm.hits, warm.misses) == (3, 0)

    grown = worked_session(rng, str(project), last_prompt="grown")
    paths[0].write_bytes(paths[0].read_bytes() + b"\n".join(grown.lines[1:3]) + b"\n")
    os.utime(paths[0], (1_700_000_100, 1_700_000_100))
    later = SummaryCache(str(config_a))
    project_sessions(str(config_a), str(project), None, cache=later)
    assert (later.hits, later.misses) == (2, 1)


def test_the_cache_of_one_project_survives_a_hook_in_another(
    config_a: Path, project: Path, tmp_path: Path
) -> None:
    """One cache file serves every project: a run in one must not drop the others'
    summaries (the next hook there would read every transcript again)."""
    other = tmp_path / "src" / "other"
    other.mkdir()
    rng = random.Random(7)
    for root in (project, other):
        for i in range(2):
            write_session(config_a, worked_session(rng, str(root), last_prompt=f"p{i}"))
    project_sessions(str(config_a), str(project), None)
    project_sessions(str(config_a), str(other), None)
    warm = SummaryCache(str(config_a))
    project_sessions(str(config_a), str(project), None, cache=warm)
    assert (warm.hits, warm.misses) == (2, 0)
    # A transcript gone from disk does drop out.
    gone = next((config_a / "projects").glob("*other*/*.jsonl"))
    gone.unlink()
    project_sessions(str(config_a), str(project), None)
    assert (
        str(gone) not in (config_a / "session-sync" / "handoff" / "sessions.cache.json").read_text()
    )


def test_a_link_in_a_sessions_place_is_not_followed(config_a: Path, project: Path) -> None:
    spec = worked_session(random.Random(6), str(project), last_prompt="real")
    path = write_session(config_a, spec)
    target = path.parent / "elsewhere.txt"
    target.write_bytes(path.read_bytes())
    link = path.parent / "0b9e9d8c-1111-4222-8333-444455556666.jsonl"
    link.symlink_to(target)
    found = project_sessions(str(config_a), str(project), None)
    assert [s.id for s in found] == [spec.session_id]


def test_a_session_resumed_in_a_codespace_counts_as_the_codespace_s(
    config_a: Path, project: Path
) -> None:
    rng = random.Random(21)
    started = worked_session(rng, str(project), edits=[("Edit", f"{project}/src/app.py")])
    # Resumed in the codespace: the same file grows there with the codespace's cwd.
    resumed = continue_session(rng, attrs.evolve(started, cwd="/workspaces/app"))
    write_session(
        config_a, resumed, project_dir_name=encode_dir_name(str(project)), mtime=1_700_000_000
    )

    (found,) = project_sessions(str(config_a), str(project), None)

    assert found.machine == "codespace"
    assert found.cwd == "/workspaces/app"
    assert found.first_cwd == str(project)
    # An edit made before it moved is still the project's file.
    assert relative_to_project(found.edited[0].path, found.cwd, str(project), found.first_cwd) == (
        "src/app.py"
    )
