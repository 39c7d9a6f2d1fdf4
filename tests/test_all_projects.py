"""``sync --all`` / ``status --all``: every project with recent sessions, over one connection."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from conftest import CODESPACE, Machines, Remote, RunCli, session_files, write_old

from session_sync.agent import fsutil, hashcache
from session_sync.agent.paths import encode_project_path
from session_sync.agent.scan import scan
from session_sync.agent.serve import scan_many
from session_sync.all_projects import NO_CWD
from session_sync.testing.sandbox import TcpRelay
from session_sync.testing.sessions import SessionSpec, make_session


def spec_at(path: Path | str, seed: int) -> SessionSpec:
    return make_session(random.Random(seed), str(path), turns=2, target_bytes=3000)


def names(config: Path) -> dict[str, set[str]]:
    """``{project dir: {session file names}}`` of a config dir."""
    found: dict[str, set[str]] = {}
    for rel in session_files(config):
        parts = rel.split("/")
        if len(parts) == 2 and parts[1].endswith(".jsonl"):
            found.setdefault(parts[0], set()).add(parts[1])
    return found


def three_projects(m: Machines) -> tuple[Path, Path, Path]:
    """Project ``app`` with sessions on both sides, ``here`` only here, ``there`` only there."""
    paths = []
    for name in ("app", "here", "there"):
        path = m.root / "src" / name
        path.mkdir(parents=True, exist_ok=True)
        paths.append(Path(os.path.realpath(path)))
    app, here, there = paths
    write_old(m.a, spec_at(app, 1))
    write_old(m.b, spec_at(app, 2))
    write_old(m.a, spec_at(here, 3))
    write_old(m.b, spec_at(there, 4))
    return app, here, there


def test_sync_all_over_dir_takes_every_project_both_ways(
    machines: Machines, run_cli: RunCli
) -> None:
    app, here, there = three_projects(machines)

    result = run_cli("sync", "--all", "--dir", str(machines.b), "--json")

    assert result.code == 0, result
    answer = result.json()
    assert [p["local_path"] for p in answer["projects"]] == [str(app), str(here), str(there)]
    created = {p["local_path"]: p["created"] for p in answer["projects"]}
    assert created == {str(app): None, str(here): "there", str(there): "here"}
    assert names(machines.a) == names(machines.b)
    assert set(names(machines.a)) == {encode_project_path(str(p)) for p in (app, here, there)}
    # The second time, nothing moves.
    again = run_cli("sync", "--all", "--dir", str(machines.b), "--json").json()
    assert all(p["report"]["pushed"] == p["report"]["pulled"] == 0 for p in again["projects"]), (
        again
    )
    text = run_cli("sync", "--all", "--dir", str(machines.b)).out.splitlines()
    counts = {app: "2 sessions", here: "1 session", there: "1 session"}
    assert text[:3] == [f"in step: {p} ({n})" for p, n in counts.items()]
    assert text[3].startswith("3 projects synced with dir ")


def test_status_all_lists_each_project_and_changes_nothing(
    machines: Machines, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, here, there = three_projects(machines)
    before = (session_files(machines.a), session_files(machines.b))
    monkeypatch.setenv("COLUMNS", "80")

    table = run_cli("status", "--all", "--dir", str(machines.b))
    answer = run_cli("status", "--all", "--dir", str(machines.b), "--json")

    assert table.code == 0, table
    assert all(len(line) <= 80 for line in table.out.splitlines()), table.out
    for path in (app, here, there):
        assert path.name in table.out
    assert "yet)" in table.out  # "(not there yet)", folded with the path at 80 columns
    rows = {p["local_path"]: p for p in answer.json()["projects"]}
    assert rows[str(app)]["would"] == "push 1, pull 1"
    assert rows[str(here)]["would"] == "push 1"
    assert rows[str(there)]["would"] == "pull 1"
    assert (rows[str(app)]["sessions_local"], rows[str(app)]["sessions_remote"]) == (1, 1)
    assert (session_files(machines.a), session_files(machines.b)) == before


def test_a_project_with_no_recorded_cwd_is_left_alone_with_why(
    machines: Machines, run_cli: RunCli
) -> None:
    three_projects(machines)
    nameless = machines.a / "projects" / "-somewhere-unknown"
    nameless.mkdir()
    (nameless / "0b5d4a36-4a51-4b7b-9f4c-5d2f7c1e9a10.jsonl").write_text('{"type":"summary"}\n')

    answer = run_cli("sync", "--all", "--dir", str(machines.b), "--json").json()

    assert answer["unpaired"] == [
        {
            "side": "here",
            "path": "(projects/-somewhere-unknown)",
            "reason": "its sessions record no working directory",
        }
    ]
    assert "-somewhere-unknown" not in names(machines.b)


@pytest.mark.parametrize("flag", ["--local-path", "--repo", "--remote-path"])
def test_all_with_one_project_named_is_refused(
    machines: Machines, run_cli: RunCli, flag: str
) -> None:
    result = run_cli("sync", "--all", "--dir", str(machines.b), flag, "x")

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"--all takes every project; {flag}" in result.err
    assert not names(machines.b)


def git_checkout(path: Path, repo: str) -> Path:
    (path / ".git").mkdir(parents=True)
    (path / ".git" / "config").write_text(f'[remote "origin"]\n\turl = git@github.com:{repo}.git\n')
    return Path(os.path.realpath(path))


def populate(remote: Remote, projects: int) -> None:
    """``projects`` projects with a session on each side (same place under the homes)."""
    for i in range(projects):
        here = remote.laptop / "work" / f"p{i}"
        there = remote.host.home / "work" / f"p{i}"
        write_old(remote.config, spec_at(here, 10 + i))
        write_old(remote.remote_config, spec_at(there, 100 + i))


@pytest.mark.slow
def test_status_all_over_ssh_costs_the_same_round_trips_for_2_and_6_projects(
    remote: Remote,
) -> None:
    trips = []
    for count in (2, 6):
        populate(remote, count)
        with TcpRelay(remote.host.port) as relay:
            remote.sandbox.write_client_config(
                remote.laptop, {"counted": ("127.0.0.1", relay.port)}
            )
            result = remote.run("status", "--all", "--host", "counted", "--json")
            relay.wait_idle()
            assert relay.connections == 1
        assert result.code == 0, result
        answer = result.json()
        assert len(answer["projects"]) == count
        trips.append(answer["round_trips"])
    assert trips[0] == trips[1] == 2  # list_projects, scan_many


@pytest.mark.slow
def test_sync_all_over_ssh_pairs_by_git_remote_and_by_home(remote: Remote) -> None:
    # The laptop's checkout of the repo is src/app; the host's is elsewhere.
    write_old(remote.config, spec_at(remote.project, 1))
    their_checkout = git_checkout(remote.host.home / "code" / "renamed", "octo/app")
    (remote.project / ".git" / "config").write_text(
        '[remote "origin"]\n\turl = https://github.com/octo/app.git\n'
    )
    write_old(remote.remote_config, spec_at(their_checkout, 2))
    populate(remote, 1)
    outside = Path("/opt/elsewhere")
    write_old(remote.remote_config, spec_at(outside, 3))

    result = remote.run("sync", "--all", "--host", "box", "--json")

    assert result.code == 0, result
    answer = result.json()
    rules = {(p["local_path"], p["remote_path"]): p["paired_by"] for p in answer["projects"]}
    assert rules == {
        (str(remote.project), str(their_checkout)): "git remote",
        (str(remote.laptop / "work" / "p0"), str(remote.host.home / "work" / "p0")): "same path",
    }
    assert answer["unpaired"] == [
        {
            "side": "there",
            "path": str(outside),
            "reason": "outside the home, and no path map for it",
        }
    ]
    # Both sessions of the repo's project are on both sides now, each in its own dir.
    ours = names(remote.config)[encode_project_path(str(remote.project))]
    theirs = names(remote.remote_config)[encode_project_path(str(their_checkout))]
    assert ours == theirs
    assert len(ours) == 2
    assert encode_project_path(str(outside)) not in names(remote.config)


@pytest.mark.slow
def test_a_path_map_from_the_config_pairs_projects_under_another_root(remote: Remote) -> None:
    config = remote.laptop / "config.toml"
    config.write_text('[path_maps.box]\n"~/src" = "~/code"\n')
    here = remote.laptop / "src" / "tool"
    write_old(remote.config, spec_at(here, 1))
    there = remote.host.home / "code" / "tool"
    write_old(remote.remote_config, spec_at(there, 2))

    result = remote.run(
        "sync", "--all", "--host", "box", "--json", env={"SESSION_SYNC_CONFIG": str(config)}
    )

    assert result.code == 0, result
    projects = result.json()["projects"]
    [project] = projects
    assert (project["remote_path"], project["paired_by"]) == (str(there), "path map")
    assert (project["report"]["pushed"], project["report"]["pulled"]) == (1, 1)


def test_scan_many_loads_and_saves_the_hash_cache_once(
    machines: Machines, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_projects(machines)
    loads, writes = [], []
    real_init = hashcache.HashCache.__init__
    real_write = fsutil.write_atomic

    def counted_init(self: hashcache.HashCache, config: str) -> None:
        loads.append(config)
        real_init(self, config)

    def counted_write(path: str, data: bytes, mode: int, durable: bool = True) -> None:
        writes.append(path)
        real_write(path, data, mode, durable)

    monkeypatch.setattr(hashcache.HashCache, "__init__", counted_init)
    monkeypatch.setattr(hashcache, "write_atomic", counted_write)
    scans = [
        {"op": "scan", "project_path": str(machines.root / "src" / name), "days": 7}
        for name in ("app", "here", "there")
    ]
    alone = [scan(str(machines.b), dict(one)) for one in scans]  # type: ignore[arg-type]
    assert (len(loads), len(writes)) == (3, 2)  # "here" has no session in b: nothing to save
    loads.clear()
    writes.clear()
    (machines.b / "session-sync" / "hash-cache.json").unlink()

    answer = scan_many(str(machines.b), {"op": "scan_many", "scans": scans})

    assert (len(loads), len(writes)) == (1, 1)
    together = answer["answers"]
    assert [a["sessions"] for a in together] == [a["sessions"] for a in alone]
    assert [a["files_hashed"] for a in together] == [1, 0, 1]


@pytest.mark.slow
def test_sync_all_with_a_codespace_uses_its_workspace(remote: Remote) -> None:
    write_old(remote.config, spec_at(remote.project, 1))  # a checkout of CODESPACE_REPO
    write_old(remote.remote_config, spec_at("/workspaces/app", 2))
    write_old(remote.remote_config, spec_at("/workspaces/other", 3))
    loose = remote.laptop / "notes"  # no git remote: no workspace to go to
    write_old(remote.config, spec_at(loose, 4))
    other = git_checkout(remote.laptop / "src" / "tool", "octo/tool")  # not its repo
    write_old(remote.config, spec_at(other, 5))

    result = remote.run("sync", "--all", "--codespace", CODESPACE, "--json")

    assert result.code == 0, result
    answer = result.json()
    [project] = answer["projects"]
    assert (project["local_path"], project["remote_path"]) == (
        str(remote.project),
        "/workspaces/app",
    )
    assert project["paired_by"] == "codespace workspace"
    assert (project["report"]["pushed"], project["report"]["pulled"]) == (1, 1)
    assert {(u["side"], u["path"]): u["reason"] for u in answer["unpaired"]} == {
        ("here", str(loose)): "no git remote: a codespace project needs one",
        ("here", str(other)): "not the codespace's repository (octo-org/app)",
        ("there", "/workspaces/other"): "found only in the codespace, and no path map for it",
    }
    # One connection: the gh calls of one sync, not one set per project.
    assert sum(1 for argv in remote.gh.invocations() if "--stdio" in argv) == 1


@pytest.mark.slow
def test_a_project_made_here_by_all_is_the_same_one_the_next_time(remote: Remote) -> None:
    # Only on the host, under its home: --all makes it here under ours. Its sessions
    # here then record the host's path, and the dir is known here by its name only.
    there = remote.host.home / "work" / "tool"
    write_old(remote.remote_config, spec_at(there, 1))
    first = remote.run("sync", "--all", "--host", "box", "--json")
    assert first.code == 0, first
    [made] = first.json()["projects"]
    assert made["created"] == "here"

    again = remote.run("status", "--all", "--host", "box", "--json")

    assert again.code == 0, again
    answer = again.json()
    assert answer["unpaired"] == []
    [project] = answer["projects"]
    assert (project["local_path"], project["created"]) == (made["local_path"], None)
    assert project["would"] == "in step"


def test_a_cwd_that_is_not_a_path_is_passed_over(machines: Machines, run_cli: RunCli) -> None:
    three_projects(machines)
    odd = machines.a / "projects" / "-x-y"
    odd.mkdir()
    line = {"type": "user", "cwd": "/x\u0000y", "timestamp": "2026-11-30T10:00:00.000Z"}
    (odd / "0b5d4a36-4a51-4b7b-9f4c-5d2f7c1e9a10.jsonl").write_text(json.dumps(line) + "\n")

    result = run_cli("status", "--all", "--dir", str(machines.b), "--json")

    assert result.code == 0, result
    assert {"side": "here", "path": "(projects/-x-y)", "reason": NO_CWD} in result.json()[
        "unpaired"
    ]


def test_what_push_holds_back_is_said_not_in_step(machines: Machines, run_cli: RunCli) -> None:
    app, here, there = three_projects(machines)

    planned = run_cli("sync", "--all", "--dir", str(machines.b), "--push", "--dry-run", "--json")
    text = run_cli("sync", "--all", "--dir", str(machines.b), "--push").out

    would = {p["local_path"]: p["would"] for p in planned.json()["projects"]}
    assert would == {
        str(app): "push 1, 1 held back (--push)",
        str(here): "push 1",
        str(there): "1 held back (--push)",
    }
    assert f"in step: {there}" not in text
    assert "1 session newer there not pulled (--push)" in text
