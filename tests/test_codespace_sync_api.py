"""``session_sync.github.api``: the seed's functions by name, on real files.

The pure helpers run on temp dirs; the ``sync_sessions_*`` functions run end to
end against the ``remote`` fixture (a fake ``gh`` serving a codespace whose SSH
is a real sshd), with the checkout at ``~/workspaces/app`` in the codespace's
own home.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import (
    CODESPACE,
    CODESPACE_REPO,
    HOUR,
    Remote,
    changed_but_the_hash_cache,
    session_files,
    snapshot_tree,
    write_old,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from session_sync.agent.paths import encode_project_path
from session_sync.errors import UsageError
from session_sync.github.api import (
    SyncCounts,
    find_local_project_dir,
    find_recent_sessions,
    get_last_timestamp,
    remote_project_dir,
    sync_sessions_bidirectional,
    sync_sessions_from_codespace,
    sync_sessions_to_codespace,
    timestamp_newer,
)
from session_sync.github.gh import Codespace, GhCli
from session_sync.github.syncs import CodespaceOptions, workspace_path
from session_sync.testing.sessions import SessionSpec, make_session, session_bytes

UTC = dt.timezone.utc


def checkout(path: Path, origin: str | None) -> Path:
    """A dir that is a git checkout's top level with ``origin`` (no git needed)."""
    path.mkdir(parents=True)
    if origin is not None:
        (path / ".git").mkdir()
        (path / ".git" / "config").write_text(f'[remote "origin"]\n\turl = {origin}\n')
    return Path(os.path.realpath(path))


def session_in(config: Path, cwd: Path | str, seed: int, *, hours: float = 3.0) -> Path:
    """A session that ran in ``cwd``, in the project dir Claude names after it."""
    spec = make_session(random.Random(seed), str(cwd), turns=2)
    return write_old(config, spec, hours=hours, dir_name=encode_project_path(str(cwd), False))


# --- find_local_project_dir -------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "claude"
    (path / "projects").mkdir(parents=True)
    return path


def test_owner_repo_finds_the_dir_whose_sessions_ran_in_a_checkout_of_it(
    tmp_path: Path, config: Path
) -> None:
    app = checkout(tmp_path / "src" / "app", "git@github.com:octo-org/app.git")
    other = checkout(tmp_path / "src" / "web", "git@github.com:octo-org/web.git")
    transcript = session_in(config, app, 1)
    session_in(config, other, 2)
    before = snapshot_tree(config)

    found = find_local_project_dir("octo-org/app", config_dir=config)

    assert found == transcript.parent
    assert found == config / "projects" / encode_project_path(str(app))
    assert find_local_project_dir("Octo-Org/App", config_dir=config) == found
    assert find_local_project_dir("https://github.com/octo-org/app.git", config_dir=config) == found
    assert find_local_project_dir("octo-org/web", config_dir=config) != found
    # Another owner's repo of the same name is another repository.
    assert find_local_project_dir("someone-else/app", config_dir=config) is None
    assert snapshot_tree(config) == before  # looking changes nothing


def test_a_bare_name_matches_by_the_cwd_basename(tmp_path: Path, config: Path) -> None:
    app = checkout(tmp_path / "src" / "app", None)  # no git needed for a bare name
    session_in(config, app, 1)

    assert find_local_project_dir("app", config_dir=config) == (
        config / "projects" / encode_project_path(str(app))
    )
    assert find_local_project_dir("src", config_dir=config) is None


def test_a_bare_name_is_found_past_newer_sessions_from_elsewhere(
    tmp_path: Path, config: Path
) -> None:
    # The dir's own session is older than five brought from a machine where the
    # project ran in another directory: the dir is still found by its own.
    app = checkout(tmp_path / "src" / "app", None)
    own = session_in(config, app, 1, hours=10)
    for n in range(5):
        spec = make_session(random.Random(10 + n), "/elsewhere/proj", turns=2)
        write_old(config, spec, hours=1, dir_name=own.parent.name)

    assert find_local_project_dir("app", config_dir=config) == own.parent


def test_never_by_the_suffix_of_the_encoded_name(config: Path) -> None:
    # -x-my-app ends with -app, but its sessions ran in /x/my-app.
    session_in(config, "/x/my-app", 1)
    assert (config / "projects" / "-x-my-app").is_dir()

    assert find_local_project_dir("app", config_dir=config) is None
    assert find_local_project_dir("octo-org/app", config_dir=config) is None
    assert find_local_project_dir("my-app", config_dir=config) == config / "projects" / "-x-my-app"


def test_nothing_matches(tmp_path: Path, config: Path) -> None:
    assert find_local_project_dir("octo-org/app", config_dir=config) is None
    assert find_local_project_dir("app", config_dir=config) is None
    empty = tmp_path / "no-such-config"
    assert find_local_project_dir("octo-org/app", config_dir=empty) is None
    assert find_local_project_dir("app", config_dir=empty) is None


def test_not_a_github_repository_is_a_usage_error(config: Path) -> None:
    with pytest.raises(UsageError, match="not a GitHub repository"):
        find_local_project_dir("a/b/c", config_dir=config)


@pytest.mark.parametrize("newest", ["first", "second"])
@pytest.mark.parametrize("name", ["octo-org/app", "app"])
def test_of_several_the_one_with_the_newest_session(
    tmp_path: Path, config: Path, newest: str, name: str
) -> None:
    origin = "git@github.com:octo-org/app.git"
    first = checkout(tmp_path / "src" / "app", origin)
    second = checkout(tmp_path / "clone" / "app", origin)
    hours = {"first": (1.0, 5.0), "second": (5.0, 1.0)}[newest]
    a = session_in(config, first, 1, hours=hours[0])
    b = session_in(config, second, 2, hours=hours[1])
    # An older session in each dir changes nothing: the newest one counts.
    session_in(config, first, 3, hours=30.0)
    session_in(config, second, 4, hours=30.0)

    found = find_local_project_dir(name, config_dir=config)

    assert found == (a.parent if newest == "first" else b.parent)


# --- remote_project_dir, workspace_path -------------------------------------------------------


def test_remote_project_dir() -> None:
    assert remote_project_dir("octo-org/app") == "~/.claude/projects/-workspaces-app"
    assert remote_project_dir("app") == "~/.claude/projects/-workspaces-app"
    assert remote_project_dir("octo-org/my.app") == "~/.claude/projects/-workspaces-my-app"
    assert (
        remote_project_dir("octo-org/app", workspace="/home/dev/{repo}", config_dir="/cfg/")
        == "/cfg/projects/-home-dev-app"
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("/workspaces/{repo}", "/workspaces/app"),
        ("/workspaces/{repo}/", "/workspaces/app"),
        ("~/w/{repo}", "~/w/app"),
        ("~/workspaces/{repo}", "~/workspaces/app"),
        ("/srv/fixed", "/srv/fixed"),
        ("~", "~"),
    ],
)
def test_workspace_path(template: str, expected: str) -> None:
    codespace = Codespace(CODESPACE, CODESPACE_REPO, "Available")
    assert workspace_path(codespace, template) == expected


@pytest.mark.parametrize("template", ["w/{repo}", "{repo}", "", "./{repo}", "~user/{repo}"])
def test_a_relative_workspace_is_a_usage_error(template: str) -> None:
    with pytest.raises(UsageError, match="absolute path"):
        workspace_path(Codespace(CODESPACE, CODESPACE_REPO, "Available"), template)


def test_the_default_workspace_is_under_workspaces() -> None:
    assert workspace_path(Codespace(CODESPACE, "octo-org/app", "Shutdown")) == "/workspaces/app"


# --- find_recent_sessions ---------------------------------------------------------------------


def _touch(path: Path, mtime: float) -> Path:
    path.write_bytes(b"{}\n")
    os.utime(path, (mtime, mtime))
    return path


def test_find_recent_sessions_by_mtime(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    day = 86400.0
    recent = _touch(tmp_path / "bbbbbbbb-0000-4000-8000-000000000001.jsonl", now - 1 * day)
    # exactly at the cutoff: in
    edge = _touch(tmp_path / "aaaaaaaa-0000-4000-8000-000000000002.jsonl", now - 7 * day)
    _touch(tmp_path / "cccccccc-0000-4000-8000-000000000003.jsonl", now - 7 * day - 1)
    _touch(tmp_path / "notes.txt", now)  # not a transcript
    _touch(tmp_path / "notes.jsonl", now)  # not a session's name
    (tmp_path / "dddddddd-0000-4000-8000-000000000004.jsonl").mkdir()  # not a file
    (tmp_path / "eeeeeeee-0000-4000-8000-000000000005.jsonl").symlink_to(recent)  # a link
    (tmp_path / "sub").mkdir()
    _touch(tmp_path / "sub" / "ffffffff-0000-4000-8000-000000000006.jsonl", now)  # nested

    assert find_recent_sessions(tmp_path, now=now) == [edge, recent]
    assert find_recent_sessions(str(tmp_path), 1, now=now) == [recent]
    assert find_recent_sessions(tmp_path, 0.5, now=now) == []
    assert len(find_recent_sessions(tmp_path, 30, now=now)) == 3


def test_find_recent_sessions_of_no_dir(tmp_path: Path) -> None:
    assert find_recent_sessions(None) == []
    assert find_recent_sessions(tmp_path / "missing") == []


def test_find_recent_sessions_defaults_to_a_week_back_from_now(tmp_path: Path) -> None:
    fresh = _touch(tmp_path / "0b6f2c1e-1111-4222-8333-444455556666.jsonl", time.time() - HOUR)
    _touch(tmp_path / "0b6f2c1e-1111-4222-8333-444455556667.jsonl", time.time() - 8 * 86400)
    assert find_recent_sessions(tmp_path) == [fresh]


# --- get_last_timestamp -----------------------------------------------------------------------


def _jsonl(path: Path, *records: dict[str, object], tail: bytes = b"") -> Path:
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records) + tail)
    return path


def test_the_last_timestamp_is_found_past_lines_without_one(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "s.jsonl",
        {"type": "user", "timestamp": "2026-11-22T03:00:00.000Z"},
        {"type": "assistant", "timestamp": "2026-11-22T03:05:07.250Z"},
        {"type": "last-prompt", "lastPrompt": "go on"},
        {"type": "cost-state", "costUSD": 0.25},
    )
    assert get_last_timestamp(path) == dt.datetime(2026, 11, 22, 3, 5, 7, 250000, tzinfo=UTC)
    assert get_last_timestamp(str(path)) == get_last_timestamp(path)


def test_the_last_timestamp_is_a_moment_not_text(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "s.jsonl",
        {"type": "assistant", "timestamp": "2026-11-22T06:05:00+03:00"},
        {"type": "cost-state"},
    )
    assert get_last_timestamp(path) == dt.datetime(2026, 11, 22, 3, 5, tzinfo=UTC)


def test_a_half_written_last_line_is_not_the_last_message(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "s.jsonl",
        {"type": "assistant", "timestamp": "2026-11-22T03:05:00Z"},
        tail=b'{"type": "user", "timestamp": "2026-11-22T09:00:00Z", "mess',
    )
    assert get_last_timestamp(path) == dt.datetime(2026, 11, 22, 3, 5, tzinfo=UTC)


def test_a_snapshot_after_the_last_message_counts(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "s.jsonl",
        {"type": "assistant", "timestamp": "2026-11-22T03:05:00Z"},
        {"type": "file-history-snapshot", "snapshot": {"timestamp": "2026-11-22T03:06:00Z"}},
        {"type": "cost-state"},
    )
    assert get_last_timestamp(path) == dt.datetime(2026, 11, 22, 3, 6, tzinfo=UTC)


def test_a_real_session_ends_at_its_last_message(tmp_path: Path) -> None:
    spec = make_session(random.Random(9), "/w/app", turns=3)
    path = tmp_path / "s.jsonl"
    path.write_bytes(session_bytes(spec))
    records = [json.loads(line) for line in spec.lines]
    stamps = [r.get("timestamp") or (r.get("snapshot") or {}).get("timestamp") for r in records]
    assert stamps[-1] is None  # the fixture ends like a real session: cost-state, no time
    assert get_last_timestamp(path) == max(
        dt.datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps if s
    )


def test_no_timestamp(tmp_path: Path) -> None:
    assert get_last_timestamp(tmp_path / "missing.jsonl") is None
    assert get_last_timestamp(_jsonl(tmp_path / "empty.jsonl")) is None
    assert get_last_timestamp(_jsonl(tmp_path / "none.jsonl", {"type": "cost-state"})) is None


# --- timestamp_newer --------------------------------------------------------------------------


def test_timestamp_newer_compares_moments_not_strings() -> None:
    z = "2026-11-22T03:00:00.000Z"
    plus2 = "2026-11-22T04:00:00+02:00"  # 02:00Z: earlier, though it sorts later as text
    assert plus2 > z
    assert timestamp_newer(z, plus2) is True
    assert timestamp_newer(plus2, z) is False
    # Different precisions of the same moment: neither is newer.
    assert timestamp_newer("2026-11-22T03:00:00Z", z) is False
    assert timestamp_newer(z, "2026-11-22T03:00:00Z") is False
    assert timestamp_newer("2026-11-22T03:00:00.001Z", z) is True
    # datetimes and strings mix; a naive time is UTC.
    assert timestamp_newer(dt.datetime(2026, 11, 22, 3, 0, 1, tzinfo=UTC), z) is True
    assert timestamp_newer(dt.datetime(2026, 11, 22, 2, 59), z) is False
    assert timestamp_newer("2026-11-22T03:00:01", z) is True


def test_none_is_the_oldest() -> None:
    z = "2026-11-22T03:00:00.000Z"
    assert timestamp_newer(z, None) is True
    assert timestamp_newer(None, z) is False
    assert timestamp_newer(None, None) is False
    # Text that is no time counts as none.
    assert timestamp_newer(z, "yesterday-ish") is True
    assert timestamp_newer("not a time", z) is False


_offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
    lambda m: dt.timezone(dt.timedelta(minutes=m))
)
_moments = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2100, 1, 1)),
    _offsets,
)
_written = st.one_of(
    st.builds(lambda m: ("dt", m), _moments),
    st.builds(lambda m: ("iso", m), _moments),
    st.builds(lambda m: ("utc-z", m), _moments),
)


def _form(kind: str, moment: dt.datetime) -> dt.datetime | str:
    if kind == "dt":
        return moment
    if kind == "iso":
        return moment.isoformat()
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@settings(max_examples=300, deadline=None)
@given(_written, _written)
def test_timestamp_newer_is_a_strict_order_of_moments(
    a: tuple[str, dt.datetime], b: tuple[str, dt.datetime]
) -> None:
    (kind_a, moment_a), (kind_b, moment_b) = a, b
    # The "Z" form keeps milliseconds only: compare with what it says.
    if kind_a == "utc-z":
        moment_a = moment_a.replace(microsecond=moment_a.microsecond // 1000 * 1000)
    if kind_b == "utc-z":
        moment_b = moment_b.replace(microsecond=moment_b.microsecond // 1000 * 1000)
    x, y = _form(kind_a, moment_a), _form(kind_b, moment_b)

    forward, backward = timestamp_newer(x, y), timestamp_newer(y, x)

    assert not (forward and backward)
    assert forward == (moment_a > moment_b)
    assert backward == (moment_b > moment_a)
    assert timestamp_newer(x, x) is False


# --- sync_sessions_* against a codespace ------------------------------------------------------


def options(remote: Remote, *, route: str = "exec", dry_run: bool = False) -> CodespaceOptions:
    """The laptop of ``remote``, its checkout, and the codespace's checkout in its own home.

    ``exec``: see ``test_the_proxy_route_runs_gh_with_the_gh_environment``.
    """
    return CodespaceOptions(
        gh=GhCli(env=remote.env),
        config_dir=remote.config,
        cwd=str(remote.project),
        workspace="~/workspaces/{repo}",
        route=route,
        dry_run=dry_run,
    )


def workspace(remote: Remote) -> Path:
    path = remote.host.home / "workspaces" / "app"
    path.mkdir(parents=True, exist_ok=True)
    return path


def remote_dir(remote: Remote) -> Path:
    """The codespace's project dir of its checkout."""
    name = encode_project_path(str(workspace(remote)), resolve=False)
    return remote.remote_config / "projects" / name


def local_dir(remote: Remote) -> Path:
    return remote.config / "projects" / encode_project_path(str(remote.project))


def populate(remote: Remote) -> tuple[SessionSpec, SessionSpec]:
    """One recent session on each side, and one too old to take part here."""
    here = make_session(random.Random(1), str(remote.project), turns=2)
    there = make_session(random.Random(2), str(workspace(remote)), turns=2)
    old = make_session(random.Random(3), str(remote.project), turns=2)
    write_old(remote.config, here)
    write_old(remote.config, old, hours=10 * 24)
    write_old(remote.remote_config, there, dir_name=remote_dir(remote).name)
    return here, there


def names(path: Path) -> set[str]:
    return {p.name for p in path.glob("*.jsonl")}


def ssh_calls(remote: Remote) -> list[list[str]]:
    return [a for a in remote.gh.invocations() if a[:2] == ["codespace", "ssh"]]


def test_to_codespace_pushes_and_only_pushes(remote: Remote) -> None:
    here, there = populate(remote)

    counts = sync_sessions_to_codespace(CODESPACE_REPO, CODESPACE, options=options(remote))

    assert isinstance(counts, SyncCounts)
    assert counts.as_dict() == {"pushed": 1, "pulled": 0, "skipped": 1, "failed": 0}
    assert (counts.pushed, counts.pulled, counts.skipped, counts.failed) == (1, 0, 1, 0)
    assert counts.report.remote_project_path == str(workspace(remote))
    assert names(remote_dir(remote)) == {f"{here.session_id}.jsonl", f"{there.session_id}.jsonl"}
    pushed = remote_dir(remote) / f"{here.session_id}.jsonl"
    assert pushed.read_bytes() == session_bytes(here)
    assert there.session_id not in {Path(k).stem for k in session_files(remote.config)}
    assert len(ssh_calls(remote)) == 1  # one connection


def test_from_codespace_pulls_and_only_pulls(remote: Remote) -> None:
    here, there = populate(remote)

    counts = sync_sessions_from_codespace("app", CODESPACE, options=options(remote))

    assert counts.as_dict() == {"pushed": 0, "pulled": 1, "skipped": 1, "failed": 0}
    pulled = local_dir(remote) / f"{there.session_id}.jsonl"
    assert pulled.read_bytes() == session_bytes(there)
    assert names(remote_dir(remote)) == {f"{there.session_id}.jsonl"}
    assert here.session_id in {p.stem for p in local_dir(remote).glob("*.jsonl")}


def test_bidirectional_then_nothing_left_to_do(remote: Remote) -> None:
    here, there = populate(remote)

    counts = sync_sessions_bidirectional(CODESPACE_REPO, CODESPACE, options=options(remote))

    assert counts.as_dict() == {"pushed": 1, "pulled": 1, "skipped": 0, "failed": 0}
    assert (remote_dir(remote) / f"{here.session_id}.jsonl").read_bytes() == session_bytes(here)
    assert (local_dir(remote) / f"{there.session_id}.jsonl").read_bytes() == session_bytes(there)

    again = sync_sessions_bidirectional(CODESPACE_REPO, CODESPACE, options=options(remote))
    assert again.as_dict() == {"pushed": 0, "pulled": 0, "skipped": 0, "failed": 0}
    assert again.report.items == ()


def test_days_limits_the_sessions(remote: Remote) -> None:
    populate(remote)
    # The old session (10 days) takes part with days=30.
    counts = sync_sessions_to_codespace(CODESPACE_REPO, CODESPACE, days=30, options=options(remote))
    assert counts.pushed == 2


def test_a_dry_run_changes_nothing(remote: Remote) -> None:
    populate(remote)
    before = snapshot_tree(remote.config), snapshot_tree(remote.remote_config)

    counts = sync_sessions_bidirectional(
        CODESPACE_REPO, CODESPACE, options=options(remote, dry_run=True)
    )

    assert counts.as_dict() == {"pushed": 0, "pulled": 0, "skipped": 0, "failed": 0}
    assert sorted((i.direction, i.outcome) for i in counts.report.items) == [
        ("pull", "planned"),
        ("push", "planned"),
    ]
    after = snapshot_tree(remote.config), snapshot_tree(remote.remote_config)
    assert changed_but_the_hash_cache(before[0], after[0]) == []
    assert changed_but_the_hash_cache(before[1], after[1]) == []


@pytest.mark.parametrize("repo", ["someone-else/app", "octo-org/web", "web"])
@pytest.mark.parametrize(
    "sync", [sync_sessions_to_codespace, sync_sessions_from_codespace, sync_sessions_bidirectional]
)
def test_another_repository_is_refused_before_any_ssh(
    remote: Remote, repo: str, sync: Callable[..., SyncCounts]
) -> None:
    populate(remote)
    before = snapshot_tree(remote.config), snapshot_tree(remote.remote_config)

    with pytest.raises(UsageError, match=f"holds {CODESPACE_REPO}, not {repo}"):
        sync(repo, CODESPACE, options=options(remote))

    assert ssh_calls(remote) == []
    assert remote.gh.invocations() == [
        ["codespace", "list", "--json", "name,repository,state", "--limit", "1000"]
    ]
    assert (snapshot_tree(remote.config), snapshot_tree(remote.remote_config)) == before


def test_the_proxy_route_runs_gh_with_the_gh_environment(remote: Remote) -> None:
    populate(remote)

    counts = sync_sessions_bidirectional(
        CODESPACE_REPO, CODESPACE, options=options(remote, route="proxy")
    )

    assert counts.as_dict() == {"pushed": 1, "pulled": 1, "skipped": 0, "failed": 0}
