"""End to end: Claude's auto memory and the prompt history synced with the
sessions, through the CLI over ``--dir`` and over the sandbox's real sshd."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from conftest import Machines, Remote, RunCli, temp_files
from test_hostile import _request

from session_sync import knowledge as knowledge_module
from session_sync.agent import history as history_module
from session_sync.agent.knowledge import apply_knowledge
from session_sync.agent.memory import MAX_MEMORY_FILE_BYTES
from session_sync.agent.paths import encode_project_path
from session_sync.engine import run_sync
from session_sync.errors import ProtocolError
from session_sync.testing.hostile_agent import FarSide, HostileTransport

Json = dict[str, Any]

INDEX_A = "# Memory\n- [Build](build.md) — run `make` before tests\n"
INDEX_B = "# Memory\n- [Deploy](deploy.md) — staging needs the VPN\n"


def memory_dir(config: Path, project: Path | str) -> Path:
    return config / "projects" / encode_project_path(str(project)) / "memory"


def write_memory(config: Path, project: Path | str, name: str, text: str) -> Path:
    folder = memory_dir(config, project)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def sync(run_cli: RunCli, m: Machines, *extra: str, code: int = 0) -> Json:
    result = run_cli(*m.sync_args(*extra))
    assert result.code == code, result
    return result.json()


def came_in(report: Json) -> dict[str, Json]:
    return {c["file"]: c for c in report["knowledge"]["memory"] if c["came_in"]}


def files_of(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())} if folder.exists() else {}


def test_both_sides_changed_memory_and_both_end_with_every_entry(
    run_cli: RunCli, machines: Machines
) -> None:
    m = machines
    write_memory(m.a, m.project, "MEMORY.md", INDEX_A)
    write_memory(m.b, m.project, "MEMORY.md", INDEX_B)
    write_memory(m.b, m.project, "deploy.md", "Staging: connect the VPN first.\n")

    report = sync(run_cli, m)

    a, b = files_of(memory_dir(m.a, m.project)), files_of(memory_dir(m.b, m.project))
    assert a == b
    assert set(a) == {"MEMORY.md", "deploy.md"}
    lines = a["MEMORY.md"].splitlines()
    assert lines.count("# Memory") == 1
    assert "- [Build](build.md) — run `make` before tests" in lines
    assert "- [Deploy](deploy.md) — staging needs the VPN" in lines
    # What entered this machine's Claude context is listed, line by line.
    incoming = came_in(report)
    assert incoming["memory/MEMORY.md"]["added"] == [
        "- [Deploy](deploy.md) — staging needs the VPN"
    ]
    assert incoming["memory/deploy.md"]["added"] == ["Staging: connect the VPN first."]
    assert incoming["memory/MEMORY.md"]["backup"]  # the replaced copy was kept
    assert Path(incoming["memory/MEMORY.md"]["backup"]).read_text() == INDEX_A
    assert report["failed"] == 0
    text = run_cli(*m.sync_args()[:-1]).out  # the human report of a second sync
    assert "everything is in step" in text
    assert not temp_files(m.a)
    assert not temp_files(m.b)


def test_the_human_report_shows_what_came_in_escaped(run_cli: RunCli, machines: Machines) -> None:
    m = machines
    write_memory(m.b, m.project, "MEMORY.md", "- evil \x1b]0;owned\x07 entry\n")
    result = run_cli("sync", "--dir", str(m.b), "--local-path", str(m.project))
    assert result.code == 0, result
    assert "memory came in: memory/MEMORY.md" in result.out
    assert "+ - evil \\x1b]0;owned\\x07 entry" in result.out
    assert "\x1b" not in result.out


def test_a_topic_changed_on_both_sides_keeps_both(run_cli: RunCli, machines: Machines) -> None:
    m = machines
    write_memory(m.a, m.project, "MEMORY.md", INDEX_A)
    write_memory(m.b, m.project, "MEMORY.md", INDEX_A)
    old = write_memory(m.a, m.project, "build.md", "make, then make test\n")
    new = write_memory(m.b, m.project, "build.md", "make -j8, then make check\n")
    os.utime(old, ns=(1_000_000_000, 1_000_000_000))
    os.utime(new, ns=(2_000_000_000, 2_000_000_000))

    report = sync(run_cli, m)

    a, b = files_of(memory_dir(m.a, m.project)), files_of(memory_dir(m.b, m.project))
    assert a == b
    old_sha = hashlib.sha256(b"make, then make test\n").hexdigest()
    beside = f"build.{old_sha[:8]}.md"
    assert a["build.md"] == "make -j8, then make check\n"
    assert a[beside] == "make, then make test\n"
    assert f"]({beside})" in a["MEMORY.md"]
    assert came_in(report)["memory/build.md"]["case"] == "memory-topic-newer"
    again = sync(run_cli, m)
    assert again["knowledge"]["memory"] == []


def test_no_memory_leaves_memory_alone(run_cli: RunCli, machines: Machines) -> None:
    m = machines
    write_memory(m.a, m.project, "MEMORY.md", INDEX_A)
    write_memory(m.b, m.project, "MEMORY.md", INDEX_B)
    report = sync(run_cli, m, "--no-memory")
    assert report["knowledge"]["memory"] == []
    assert files_of(memory_dir(m.a, m.project)) == {"MEMORY.md": INDEX_A}
    assert files_of(memory_dir(m.b, m.project)) == {"MEMORY.md": INDEX_B}


@pytest.mark.parametrize("way", ["--push", "--pull"])
def test_one_way_writes_memory_and_history_only_on_that_side(
    run_cli: RunCli, machines: Machines, way: str
) -> None:
    m = machines
    write_memory(m.a, m.project, "MEMORY.md", INDEX_A)
    write_memory(m.b, m.project, "MEMORY.md", INDEX_B)
    (m.a / "history.jsonl").write_text(history_line("typed here", 1000, m.project))
    (m.b / "history.jsonl").write_text(history_line("typed there", 2000, m.project))
    before = files_of(memory_dir(m.a if way == "--push" else m.b, m.project))
    sync(run_cli, m, way)
    written, untouched = (m.b, m.a) if way == "--push" else (m.a, m.b)
    assert files_of(memory_dir(untouched, m.project)) == before
    text = (memory_dir(written, m.project) / "MEMORY.md").read_text()
    assert "run `make`" in text
    assert "staging needs the VPN" in text
    assert len(history_of(written)) == 2
    assert len(history_of(untouched)) == 1


def test_dry_run_shows_the_memory_that_would_come_in_and_writes_nothing(
    run_cli: RunCli, machines: Machines
) -> None:
    m = machines
    write_memory(m.a, m.project, "MEMORY.md", INDEX_A)
    write_memory(m.b, m.project, "MEMORY.md", INDEX_B)
    report = sync(run_cli, m, "--dry-run")
    incoming = came_in(report)["memory/MEMORY.md"]
    assert incoming["outcome"] == "planned"
    assert incoming["added"] == ["- [Deploy](deploy.md) — staging needs the VPN"]
    assert files_of(memory_dir(m.a, m.project)) == {"MEMORY.md": INDEX_A}
    assert files_of(memory_dir(m.b, m.project)) == {"MEMORY.md": INDEX_B}
    assert not (m.a / "session-sync" / "memory-base.json").exists()


def test_a_file_changed_after_the_scan_is_not_overwritten(
    run_cli: RunCli, machines: Machines, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = machines
    path = write_memory(m.a, m.project, "MEMORY.md", INDEX_A)
    write_memory(m.b, m.project, "MEMORY.md", INDEX_B)
    real = apply_knowledge

    def claude_writes_first(*args: Any) -> Any:
        path.write_text(INDEX_A + "- [New](new.md) — written by Claude meanwhile\n")
        return real(*args)

    monkeypatch.setattr(knowledge_module, "apply_knowledge", claude_writes_first)
    report = sync(run_cli, m, code=1)
    mine = came_in(report)["memory/MEMORY.md"]
    assert mine["outcome"] == "failed"
    assert "changed since the scan" in mine["error"]
    assert "written by Claude meanwhile" in path.read_text()  # nothing lost
    # The next sync merges it in.
    sync(run_cli, m)
    for config in (m.a, m.b):
        text = (memory_dir(config, m.project) / "MEMORY.md").read_text()
        assert "written by Claude meanwhile" in text
        assert "staging needs the VPN" in text


def test_a_linked_memory_folder_is_neither_read_nor_written(
    run_cli: RunCli, machines: Machines, tmp_path: Path
) -> None:
    m = machines
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "MEMORY.md").write_text("- secret from outside\n")
    (m.b / "projects" / m.dir_name).mkdir(parents=True)
    (memory_dir(m.b, m.project)).symlink_to(outside)
    write_memory(m.a, m.project, "MEMORY.md", INDEX_A)
    report = sync(run_cli, m, code=1)
    assert not came_in(report)
    assert any("symbolic link" in n for n in report["knowledge"]["refused"])
    assert files_of(outside) == {"MEMORY.md": "- secret from outside\n"}  # nothing written there
    assert files_of(memory_dir(m.a, m.project)) == {"MEMORY.md": INDEX_A}


class _BadMemory(FarSide):
    """Says its memory holds files with bad names, a huge one and a lying one."""

    def scan(self, request: dict[str, Any]) -> Any:
        answer = super().scan(request)
        if request.get("memory"):
            big = "x" * (MAX_MEMORY_FILE_BYTES + 1)

            def fact(name: str, text: str, sha: str | None = None) -> Json:
                data = text.encode()
                return {
                    "name": name,
                    "size": len(data),
                    "mtime_ns": 1,
                    "mode": 0o4777,
                    "sha256": sha or hashlib.sha256(data).hexdigest(),
                    "content": text,
                }

            answer["memory"] = {
                "dir": "../../evil",
                "files": [
                    fact("../../../escape.md", "- escaped\n"),
                    fact("sub/dir.md", "- nested\n"),
                    fact(".bashrc.md", "- dot\n"),
                    fact("big.md", big),
                    fact("lie.md", "- lie\n", "0" * 64),
                    fact("ok.md", "- fine\n"),
                ],
            }
        return answer


def test_a_hostile_far_side_cannot_plant_bad_memory(machines: Machines) -> None:
    m = machines
    report = run_sync(_request(m), HostileTransport(_BadMemory(m.b)))
    got = files_of(memory_dir(m.a, m.project))
    assert got == {"ok.md": "- fine\n"}  # only the one well-formed file, in our own dir
    assert stat.S_IMODE((memory_dir(m.a, m.project) / "ok.md").stat().st_mode) == 0o755 | 0o600
    refused = " ".join(report.knowledge.refused)
    for name in ("../../../escape.md", "sub/dir.md", ".bashrc.md", "big.md", "lie.md"):
        assert name in refused
    assert not list(m.root.rglob("escape.md"))
    assert not (m.root / "evil").exists()


def history_line(text: str, t: int, project: Path | str) -> str:
    entry = {"display": text, "pastedContents": {}, "timestamp": t, "project": str(project)}
    return json.dumps(entry, separators=(",", ":")) + "\n"


def history_of(config: Path) -> list[Json]:
    path = config / "history.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_history_lines_of_the_project_cross_with_this_machines_path(
    run_cli: RunCli, machines: Machines, tmp_path: Path
) -> None:
    m = machines
    there = tmp_path / "there" / "app"  # the project's path on the other machine
    (m.a / "history.jsonl").write_text(history_line("typed here", 2000, m.project))
    (m.b / "history.jsonl").write_text(
        history_line("typed there", 1000, there)
        + history_line("another project", 1500, "/elsewhere")
        + history_line("typed there later", 3000, there)
    )
    report = sync(run_cli, m, "--remote-path", str(there))
    a = history_of(m.a)
    assert [(e["display"], e["project"]) for e in a] == [
        ("typed here", str(m.project)),
        ("typed there", str(m.project)),
        ("typed there later", str(m.project)),
    ]
    assert [e["display"] for e in history_of(m.b)][-1] == "typed here"
    assert history_of(m.b)[-1]["project"] == str(there)
    assert "another project" not in {e["display"] for e in a}
    assert stat.S_IMODE((m.a / "history.jsonl").stat().st_mode) == 0o600
    came = [h for h in report["knowledge"]["history"] if h["came_in"]]
    assert came[0]["prompts"] == ["typed there", "typed there later"]
    again = sync(run_cli, m, "--remote-path", str(there))
    assert again["knowledge"]["history"] == []
    assert len(history_of(m.a)) == 3


def test_a_prompt_typed_during_the_history_swap_is_kept(
    run_cli: RunCli, machines: Machines, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = machines
    (m.a / "history.jsonl").write_text(history_line("old", 1000, m.project))
    (m.b / "history.jsonl").write_text(history_line("from b", 2000, m.project))
    typed = history_line("typed during the swap", 3000, "/other/project")

    def claude_appends(point: str, where: str) -> None:
        if point == "apply.rechecked" and where == str(m.a):
            with open(m.a / "history.jsonl", "a") as fh:
                fh.write(typed)

    monkeypatch.setattr(history_module, "fault_point", claude_appends)
    report = sync(run_cli, m)
    assert report["failed"] == 0
    assert [e["display"] for e in history_of(m.a)] == ["old", "from b", "typed during the swap"]


def test_memory_and_history_over_ssh(remote: Remote) -> None:
    r = remote
    write_memory(r.config, r.project, "MEMORY.md", INDEX_A)
    write_memory(r.remote_config, r.remote_project, "MEMORY.md", INDEX_B)
    (r.remote_config / "history.jsonl").write_text(history_line("over ssh", 1000, r.remote_project))
    result = r.run("sync", "--host", "box", "--json")
    assert result.code == 0, result
    report = result.json()
    assert report["round_trips"] <= 3
    here = files_of(memory_dir(r.config, r.project))
    assert here == files_of(memory_dir(r.remote_config, r.remote_project))
    assert "staging needs the VPN" in here["MEMORY.md"]
    assert "run `make`" in here["MEMORY.md"]
    assert [(e["display"], e["project"]) for e in history_of(r.config)] == [
        ("over ssh", str(r.project))
    ]
    no_memory = r.run("sync", "--host", "box", "--json", "--no-memory")
    assert no_memory.code == 0
    assert no_memory.json()["knowledge"]["memory"] == []


@pytest.mark.parametrize(
    ("name", "directory"),
    [
        ("../escape.md", None),
        ("sub/x.md", None),
        (".hidden.md", None),
        ("x.txt", None),
        (".session-sync-abc.tmp", None),
        ("ok.md", "../../outside"),
        ("ok.md", "a/b"),
    ],
)
def test_the_writing_agent_confines_memory_names(
    machines: Machines, name: str, directory: str | None
) -> None:
    text = "- planted\n"
    write = {
        "name": name,
        "content": text,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "mode": 0o644,
        "mtime_ns": 1,
        "expect": None,
    }
    part = {"dir": directory or machines.dir_name, "writes": [write]}
    landed = apply_knowledge(str(machines.a), part, None, "test")
    results: list[Json] = landed["memory_results"]  # type: ignore[assignment]
    assert [r["ok"] for r in results] == [False]
    planted = [p for p in machines.root.rglob("*") if p.is_file() and p.read_text() == text]
    assert planted == []


def test_a_history_claude_starts_during_the_sync_is_not_replaced(
    run_cli: RunCli, machines: Machines, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = machines
    (m.b / "history.jsonl").write_text(history_line("from b", 2000, m.project))
    first = history_line("Claude's first prompt here", 3000, m.project)

    def claude_starts_one(point: str, where: str) -> None:
        if point == "apply.rechecked" and where == str(m.a) and not fired:
            fired.append(point)
            (m.a / "history.jsonl").write_text(first)

    fired: list[str] = []

    monkeypatch.setattr(history_module, "fault_point", claude_starts_one)
    report = sync(run_cli, m, code=1)
    (change,) = [h for h in report["knowledge"]["history"] if h["came_in"]]
    assert "appeared meanwhile" in change["error"]
    assert (m.a / "history.jsonl").read_text() == first
    sync(run_cli, m)  # the next sync appends to it
    assert [e["display"] for e in history_of(m.a)] == ["Claude's first prompt here", "from b"]


class _HidesItsMemoryResults(FarSide):
    """Lands its memory writes but answers without their results."""

    def apply(self, request: dict[str, Any], reader: Any) -> Any:
        answer = super().apply(request, reader)
        answer.pop("memory_results", None)
        return answer


def test_a_far_side_that_hides_its_results_lands_nothing_here_unreported(
    machines: Machines,
) -> None:
    m = machines
    write_memory(m.a, m.project, "MEMORY.md", INDEX_A)
    write_memory(m.b, m.project, "MEMORY.md", INDEX_B)
    with pytest.raises(ProtocolError, match="memory results"):
        run_sync(_request(m), HostileTransport(_HidesItsMemoryResults(m.b)))
    # Nothing entered this machine's memory without the report saying so.
    assert files_of(memory_dir(m.a, m.project)) == {"MEMORY.md": INDEX_A}


def test_the_human_dry_run_counts_the_memory_it_would_write(
    run_cli: RunCli, machines: Machines
) -> None:
    m = machines
    write_memory(m.a, m.project, "MEMORY.md", INDEX_A)
    write_memory(m.b, m.project, "MEMORY.md", INDEX_B)
    result = run_cli(*[a for a in m.sync_args("--dry-run") if a != "--json"])
    assert result.code == 0, result
    assert "dry run: 2 changes planned, nothing written" in result.out  # one on each side
    assert "plan   memory to come in: memory/MEMORY.md" in result.out  # nothing came in
    assert "plan   memory to send: memory/MEMORY.md" in result.out


def test_a_memory_change_that_failed_to_land_shows_no_lines_as_come_in(
    run_cli: RunCli, machines: Machines, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = machines
    path = write_memory(m.a, m.project, "MEMORY.md", INDEX_A)
    write_memory(m.b, m.project, "MEMORY.md", INDEX_B)
    real = apply_knowledge

    def claude_writes_first(*args: Any) -> Any:
        path.write_text(INDEX_A + "- written by Claude meanwhile\n")
        return real(*args)

    monkeypatch.setattr(knowledge_module, "apply_knowledge", claude_writes_first)
    result = run_cli(*m.sync_args()[:-1])
    assert result.code == 1, result
    assert "FAILED memory came in: memory/MEMORY.md" in result.out
    assert "staging needs the VPN" not in result.out  # it did not enter Claude's context here


def test_a_base_record_that_cannot_be_written_still_reports_what_came_in(
    run_cli: RunCli, machines: Machines
) -> None:
    m = machines
    write_memory(m.a, m.project, "MEMORY.md", INDEX_A)
    write_memory(m.b, m.project, "MEMORY.md", INDEX_B)
    (m.a / "session-sync" / "memory-base.json").mkdir(parents=True)  # no file can go there
    report = sync(run_cli, m)
    assert came_in(report)["memory/MEMORY.md"]["outcome"] == "done"
    assert "staging needs the VPN" in (memory_dir(m.a, m.project) / "MEMORY.md").read_text()


class _SurrogateMemory(FarSide):
    """Says a memory file holds a lone surrogate (no UTF-8 file can)."""

    def scan(self, request: dict[str, Any]) -> Any:
        answer = super().scan(request)
        if request.get("memory"):
            bad = {"name": "bad.md", "size": 3, "mtime_ns": 1, "mode": 0o644}
            bad |= {"sha256": "0" * 64, "content": "\ud800"}
            answer["memory"] = {"dir": answer["new_session_dir"] or "-", "files": [bad]}
        return answer


def test_a_far_memory_file_that_is_no_utf8_is_refused_and_the_sync_goes_on(
    machines: Machines,
) -> None:
    m = machines
    write_memory(m.a, m.project, "MEMORY.md", INDEX_A)
    report = run_sync(_request(m), HostileTransport(_SurrogateMemory(m.b)))
    assert any("bad.md" in note and "UTF-8" in note for note in report.knowledge.refused)
    assert "bad.md" not in files_of(memory_dir(m.a, m.project))


class _SurrogatePaths(FarSide):
    """Says its config dir and project path hold lone surrogates."""

    def scan(self, request: dict[str, Any]) -> Any:
        answer = super().scan(request)
        answer["config_dir"] = "/home/\ud800"
        answer["project_path"] = "/w/\udfff"
        return answer


def test_far_paths_that_are_no_utf8_do_not_stop_the_memory_sync(machines: Machines) -> None:
    m = machines
    write_memory(m.b, m.project, "MEMORY.md", INDEX_B)
    report = run_sync(_request(m), HostileTransport(_SurrogatePaths(m.b)))
    assert report.knowledge.memory
    assert "staging needs the VPN" in (memory_dir(m.a, m.project) / "MEMORY.md").read_text()


class _FutureHistory(FarSide):
    """Says its prompts of the project were typed in the year 2300."""

    def scan(self, request: dict[str, Any]) -> Any:
        answer = super().scan(request)
        if request.get("history"):
            stamp = 10_500_000_000_000  # ms: the year 2302
            future = [{"display": f"future {i}", "timestamp": stamp + i} for i in range(3)]
            real = {"display": "typed there", "timestamp": 2000}
            answer["history"] = {"entries": [*future, real], "truncated": False}
        return answer


def test_far_prompts_from_the_future_do_not_come_in(machines: Machines) -> None:
    m = machines
    (m.a / "history.jsonl").write_text(history_line("typed here", 1000, m.project))
    run_sync(_request(m), HostileTransport(_FutureHistory(m.b)))
    assert [e["display"] for e in history_of(m.a)] == ["typed here", "typed there"]


def test_a_history_ending_in_a_partial_line_is_left_whole(
    run_cli: RunCli, machines: Machines
) -> None:
    m = machines
    partial = history_line("Claude is writing th", 3000, m.project)[:-20]  # no newline yet
    (m.a / "history.jsonl").write_text(history_line("here", 1000, m.project) + partial)
    (m.b / "history.jsonl").write_text(history_line("from b", 2000, m.project))
    report = sync(run_cli, m, code=1)
    (change,) = [h for h in report["knowledge"]["history"] if h["came_in"]]
    assert "unterminated" in change["error"]
    # Nothing glued to Claude's half-written line; the other side got only whole lines.
    assert (m.a / "history.jsonl").read_text() == history_line("here", 1000, m.project) + partial
    assert [e["display"] for e in history_of(m.b)] == ["from b", "here"]


def test_a_history_past_the_scans_window_is_never_doubled(
    run_cli: RunCli, machines: Machines
) -> None:
    m = machines
    lines = "".join(history_line(f"p{t}", t, m.project) for t in range(1, 2601))
    (m.a / "history.jsonl").write_text(lines)
    (m.b / "history.jsonl").write_text(history_line("p5", 5, m.project))  # old, both have it
    for _ in range(2):
        sync(run_cli, m)
    a, b = history_of(m.a), history_of(m.b)
    assert len(a) == 2600  # nothing added here: b's one prompt was ours
    keys = [(e["timestamp"], e["display"]) for e in b]
    assert len(keys) == len(set(keys))
    assert keys[-1] == (2600, "p2600")  # the newest crossed
