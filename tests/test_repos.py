"""Tests for GitHub repository names and git origin lookup in the agent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from session_sync.agent.gitinfo import git_origin_url
from session_sync.agent.paths import encode_project_path, normalize_github_repo, repositories_match
from session_sync.projects import resolve_local_project

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


@pytest.mark.parametrize(
    "value",
    [
        "owner/repo",
        "Owner/Repo",
        "OWNER/REPO",
        "https://github.com/owner/repo",
        "https://github.com/Owner/Repo.git",
        "https://github.com/owner/repo/",
        "http://github.com/owner/repo",
        "HTTPS://GITHUB.COM/OWNER/REPO.GIT",
        "https://user@github.com/owner/repo.git",
        "https://github.com:443/owner/repo",
        "git@github.com:owner/repo.git",
        "git@github.com:owner/repo",
        "GIT@GitHub.com:Owner/Repo.Git",
        "ssh://git@github.com/owner/repo",
        "ssh://git@github.com/owner/repo.git",
        "ssh://git@github.com:22/owner/repo.git",
        "git://github.com/owner/repo.git",
        "github.com/owner/repo",
        "github.com:owner/repo.git",
        "  owner/repo\n",
        "owner/repo.git",
    ],
)
def test_normalizes_every_spelling_to_owner_repo(value: str) -> None:
    assert normalize_github_repo(value) == "owner/repo"


@pytest.mark.parametrize("value", ["repo", "Repo", "repo.git", "my-repo_2.x"])
def test_bare_repo_name(value: str) -> None:
    expected = value.lower().removesuffix(".git")
    assert normalize_github_repo(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "https://gitlab.com/o/r",
        "https://gitlab.com/o/r.git",
        "git@gitlab.com:o/r.git",
        "ssh://git@bitbucket.org/o/r",
        "https://github.com.evil.example/o/r",
        "https://evilgithub.com/o/r",
        "https://github.com@evil.example/o/r",
        "https://notgithub.com/o/r",
        "a/b/c",
        "https://github.com/o/r/tree/main",
        "owner/re po",
        "owner/r;rm -rf",
        "/",
        "https://github.com/",
        "file:///srv/git/repo",
        "C:/repo",
    ],
)
def test_rejects_what_is_not_a_github_repo(value: str | None) -> None:
    assert normalize_github_repo(value) is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("owner/repo", "https://github.com/Owner/Repo.git"),
        ("git@github.com:o/r.git", "ssh://git@github.com/O/R"),
        ("repo", "o/repo"),
        ("repo", "https://github.com/anyone/REPO.git"),
        ("Repo", "repo"),
        ("o/repo", "repo"),
    ],
)
def test_repositories_match(a: str, b: str) -> None:
    assert repositories_match(a, b)
    assert repositories_match(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("o1/repo", "o2/repo"),
        ("https://github.com/o1/repo", "git@github.com:o2/repo.git"),
        ("o/repo", "o/repo2"),
        ("repo", "o/other"),
        ("repo", "repo2"),
        ("https://gitlab.com/o/r", "o/r"),
        ("https://gitlab.com/o/r", "https://gitlab.com/o/r"),
        (None, "o/r"),
        (None, None),
        ("", ""),
    ],
)
def test_repositories_do_not_match(a: str | None, b: str | None) -> None:
    assert not repositories_match(a, b)
    assert not repositories_match(b, a)


name = st.from_regex(
    r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}(\.[A-Za-z0-9_-]{1,5})?", fullmatch=True
).filter(lambda n: not n.lower().endswith(".git"))


def _spellings(owner: str, repo: str) -> list[str]:
    return [
        f"{owner}/{repo}",
        f"https://github.com/{owner}/{repo}",
        f"https://github.com/{owner}/{repo}.git",
        f"git@github.com:{owner}/{repo}.git",
        f"ssh://git@github.com/{owner}/{repo}",
        f"github.com/{owner}/{repo}",
    ]


def _random_case(text: str, flips: list[bool]) -> str:
    return "".join(c.swapcase() if flips[i % len(flips)] else c for i, c in enumerate(text))


@settings(max_examples=150, deadline=None)
@given(name, name, st.lists(st.booleans(), min_size=1, max_size=8))
def test_property_every_spelling_normalizes_alike(owner: str, repo: str, flips: list[bool]) -> None:
    expected = f"{owner}/{repo}".lower()
    for spelling in _spellings(owner, repo):
        assert normalize_github_repo(spelling) == expected
        assert normalize_github_repo(_random_case(spelling, flips)) == expected
        assert repositories_match(spelling, repo.upper())


@settings(max_examples=150, deadline=None)
@given(name, name, name)
def test_property_different_owners_never_match(o1: str, o2: str, repo: str) -> None:
    same = o1.lower() == o2.lower()
    for a in _spellings(o1, repo):
        for b in _spellings(o2, repo):
            assert repositories_match(a, b) is same


@settings(max_examples=100, deadline=None)
@given(name, name, st.sampled_from(["gitlab.com", "bitbucket.org", "example.com"]))
def test_property_other_hosts_are_never_github(owner: str, repo: str, host: str) -> None:
    for value in (
        f"https://{host}/{owner}/{repo}",
        f"git@{host}:{owner}/{repo}.git",
        f"ssh://git@{host}/{owner}/{repo}",
    ):
        assert normalize_github_repo(value) is None
        assert not repositories_match(value, f"{owner}/{repo}")


# --------------------------------------------------------------------------
# git_origin_url on real checkouts


def _git(cwd: Path, *args: str) -> None:
    assert GIT is not None
    env = dict(os.environ)
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    subprocess.run([GIT, *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=60)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "my_app"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "remote", "add", "upstream", "https://github.com/upstream/my_app.git")
    _git(repo, "remote", "add", "origin", "git@github.com:Me/My_App.git")
    return repo


@needs_git
def test_git_origin_url_of_a_checkout(checkout: Path) -> None:
    url = git_origin_url(str(checkout))
    assert url == "git@github.com:Me/My_App.git"
    assert repositories_match(url, "me/my_app")
    assert not repositories_match(url, "upstream/my_app")


@needs_git
def test_git_origin_url_only_at_the_top_level(checkout: Path) -> None:
    sub = checkout / "src"
    sub.mkdir()
    assert git_origin_url(str(sub)) is None


@needs_git
def test_git_origin_url_without_origin(tmp_path: Path) -> None:
    repo = tmp_path / "plain"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "remote", "add", "upstream", "https://github.com/o/plain")
    assert git_origin_url(str(repo)) is None


def test_git_origin_url_not_a_checkout(tmp_path: Path) -> None:
    assert git_origin_url(str(tmp_path)) is None
    assert git_origin_url(str(tmp_path / "missing")) is None


@needs_git
def test_git_origin_url_follows_set_url(checkout: Path) -> None:
    _git(checkout, "remote", "set-url", "origin", "https://github.com/new/place")
    assert git_origin_url(str(checkout)) == "https://github.com/new/place"


@needs_git
def test_git_origin_url_of_a_worktree(checkout: Path, tmp_path: Path) -> None:
    (checkout / "README").write_text("hi\n")
    _git(checkout, "add", "README")
    _git(checkout, "commit", "-q", "-m", "first")
    worktree = tmp_path / "wt"
    _git(checkout, "worktree", "add", "-q", str(worktree), "-b", "feature")
    assert (worktree / ".git").is_file()
    assert git_origin_url(str(worktree)) == "git@github.com:Me/My_App.git"


def test_git_origin_url_of_a_hand_written_worktree_with_relative_gitdir(tmp_path: Path) -> None:
    main_git = tmp_path / "main" / ".git"
    (main_git / "worktrees" / "wt").mkdir(parents=True)
    (main_git / "config").write_text(
        '[core]\n\tbare = false\n[remote "origin"]\n'
        "\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
        "\turl = https://github.com/o/r.git\n"
    )
    (main_git / "worktrees" / "wt" / "commondir").write_text("../..\n")
    worktree = tmp_path / "wt"
    worktree.mkdir()
    (worktree / ".git").write_text("gitdir: ../main/.git/worktrees/wt\n")
    assert git_origin_url(str(worktree)) == "https://github.com/o/r.git"


def _project_with_sessions(config: Path, dir_name: str, cwds_oldest_first: list[str]) -> None:
    folder = config / "projects" / dir_name
    folder.mkdir(parents=True)
    now = time.time()
    for i, cwd in enumerate(cwds_oldest_first):
        line = json.dumps({"type": "user", "cwd": cwd, "timestamp": "2026-11-20T10:00:00.000Z"})
        path = folder / f"{uuid.UUID(int=i + 1)}.jsonl"  # sessions are uuid-named
        path.write_text(line + "\n")
        os.utime(path, (now - 86400 + i, now - 86400 + i))


@pytest.mark.parametrize("pulled", [1, 30, 150])
def test_a_checkout_is_found_past_sessions_brought_from_a_codespace(
    tmp_path: Path, pulled: int
) -> None:
    # The laptop's project dir holds its own session and, newer, sessions pulled from
    # a codespace, whose cwd is the codespace's path. The dir is still the checkout's.
    checkout = tmp_path / "src" / "app"
    (checkout / ".git").mkdir(parents=True)
    (checkout / ".git" / "config").write_text(
        '[remote "origin"]\n\turl = git@github.com:octo-org/app.git\n'
    )
    config = tmp_path / "claude"
    own = encode_project_path(str(checkout))
    _project_with_sessions(config, own, [str(checkout)] + ["/workspaces/app"] * pulled)
    # Another project whose newest sessions are foreign too must still not match.
    other = tmp_path / "src" / "other"
    other.mkdir()
    _project_with_sessions(
        config, encode_project_path(str(other)), [str(other)] + ["/workspaces/app"] * 5
    )

    project = resolve_local_project(config, None, "octo-org/app", cwd=str(tmp_path))

    assert project.path == os.path.realpath(checkout)
