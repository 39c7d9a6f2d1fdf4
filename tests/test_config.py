"""The config file: defaults for the flags (flags beat it), ``session-sync config``,
and one line naming the file, line and key when it is malformed."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import Machines, Remote, RunCli, RunSubprocess, session_files, write_old

from session_sync.agent.paths import encode_project_path
from session_sync.cli.parser import build_parser
from session_sync.cli.settings import apply_settings
from session_sync.config import Settings, config_path, load_settings
from session_sync.errors import ConfigError, UsageError
from session_sync.testing.sessions import make_session


def test_without_a_file_every_setting_is_its_default(run_cli: RunCli, no_user_config: Path) -> None:
    result = run_cli("config", "--json")

    assert result.code == 0, result
    answer = result.json()
    assert answer["path"] == str(no_user_config)
    assert answer["exists"] is False
    assert answer["settings"]["days"] == {"value": 7.0, "source": "default"}
    assert answer["settings"]["memory"] == {"value": True, "source": "default"}
    text = run_cli("config").out
    assert "not there: every setting is its default" in text


def test_config_shows_each_setting_with_its_line(run_cli: RunCli, no_user_config: Path) -> None:
    no_user_config.write_text(
        '# mine\nhost = "devbox"\ndays = 14\n\n[learnings]\ncommand = "llm -m x"\n\n'
        '[path_maps.devbox]\n"~/src" = "~/code"\n'
    )

    answer = run_cli("config", "--json").json()
    text = run_cli("config").out

    settings = answer["settings"]
    assert settings["host"] == {"value": "devbox", "source": f"{no_user_config} line 2"}
    assert settings["days"] == {"value": 14.0, "source": f"{no_user_config} line 3"}
    assert settings["learnings.command"]["source"] == f"{no_user_config} line 6"
    assert settings["io_timeout"]["source"] == "default"
    assert answer["path_maps"] == {
        "devbox": {"maps": {"~/src": "~/code"}, "source": f"{no_user_config} line 8"}
    }
    assert f"days              = 14  ({no_user_config} line 3)" in text
    assert "path map for devbox: ~/src -> ~/code" in text
    assert run_cli("config", "--path").out == f"{no_user_config}\n"


def test_the_xdg_place_is_the_default(tmp_path: Path) -> None:
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == (
        tmp_path / "session-sync" / "config.toml"
    )
    assert config_path({"SESSION_SYNC_CONFIG": "/x/y.toml", "XDG_CONFIG_HOME": "/z"}) == Path(
        "/x/y.toml"
    )


MALFORMED = {
    "not toml": ("days = 3\nhost = \n", "line 2: ", "(not TOML)"),
    "bad days": ('host = "a"\ndays = "many"\n', "line 2: days: must be a number above 0", ""),
    "zero timeout": ("io_timeout = 0\n", "line 1: io_timeout: must be a number", ""),
    "unknown key": ("\n\ndayz = 3\n", "line 3: dayz: not a setting (known: host,", ""),
    "memory not bool": ('memory = "no"\n', "line 1: memory: must be true or false", ""),
    "both targets": ('host = "a"\ncodespace = "b"\n', "line 2: codespace: host is set too", ""),
    "relative map": ('[path_maps.a]\n"src" = "/x"\n', "line 2: path_maps.a: 'src': both", ""),
    "unknown learnings key": ("[learnings]\nmodel = 1\n", "line 2: learnings.model: not a", ""),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_file_is_one_line_naming_file_line_and_key(
    case: str, run_cli: RunCli, machines: Machines, no_user_config: Path
) -> None:
    text, said, also = MALFORMED[case]
    no_user_config.write_text(text)

    for args in (("config",), ("status", "--dir", str(machines.b))):
        result = run_cli(*args)
        assert result.code == 2, result
        assert result.out == ""
        assert result.err.count("\n") == 1, result.err
        assert f"{no_user_config}: {said}" in result.err
        assert also in result.err
    with pytest.raises(ConfigError):
        load_settings(no_user_config)


def old_session(m: Machines, hours: float) -> None:
    write_old(m.b, make_session(random.Random(5), str(m.project), turns=2), hours=hours)


def test_days_from_the_file_and_a_flag_beats_it(
    machines: Machines, run_cli: RunCli, no_user_config: Path
) -> None:
    old_session(machines, hours=48)
    no_user_config.write_text("days = 1\n")

    dry = run_cli(*machines.sync_args("--dry-run")).json()
    assert dry["pulled"] == 0
    assert dry["older_sessions_remote"] == 1
    flagged = run_cli(*machines.sync_args("--days", "3"))
    assert flagged.code == 0, flagged
    assert flagged.json()["pulled"] == 1
    assert len(session_files(machines.a)) == 1


def test_memory_and_history_false_are_the_no_flags() -> None:
    parser = build_parser()
    settings_path = Path("/nonexistent/config.toml")
    off = Settings(settings_path, True, {"memory": False, "history": False}, {})
    args = parser.parse_args(["sync", "--dir", "/d"])
    apply_settings(args, off)
    assert (args.no_memory, args.no_history, args.days, args.io_timeout) == (True, True, 7.0, 60.0)
    args = parser.parse_args(["sync", "--dir", "/d", "--io-timeout", "5"])
    apply_settings(args, Settings(settings_path, True, {"io_timeout": 99.0}, {}))
    assert (args.no_memory, args.io_timeout) == (False, 5.0)
    args = parser.parse_args(["sync", "--dir", "/d", "--memory"])
    apply_settings(args, off)
    assert (args.no_memory, args.no_history) == (False, True)  # the flag beats the file
    args = parser.parse_args(["learnings"])
    apply_settings(args, Settings(settings_path, True, {"learnings.command": "my-llm"}, {}))
    assert args.llm == "my-llm"


def test_no_target_and_none_in_the_file_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli("status")
    assert result.code == 2
    assert "status needs the other machine: --dir, --host or --codespace" in result.err
    with pytest.raises(UsageError):
        apply_settings(build_parser().parse_args(["sync"]), load_settings())


@pytest.mark.slow
def test_default_host_and_its_path_map_over_ssh(remote: Remote) -> None:
    config = remote.laptop / ".config" / "session-sync" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('host = "box"\n[path_maps.box]\n"~/src" = "~/code"\n')
    env = {k: v for k, v in remote.env.items() if k != "SESSION_SYNC_CONFIG"}
    write_old(remote.config, make_session(random.Random(1), str(remote.project), turns=2))

    result = RunSubprocess(env)(["sync", "--json"], cwd=remote.project)
    assert result.code == 0, result
    report = result.json()
    mapped = str(remote.host.home / "code" / "app")
    assert report["remote_project_path"] == mapped
    there = remote.remote_config / "projects" / encode_project_path(mapped)
    assert len(list(there.glob("*.jsonl"))) == 1
    shown = json.loads(RunSubprocess(env)(["config", "--json"], cwd=remote.project).out)
    assert shown["settings"]["host"]["source"] == f"{config} line 1"
