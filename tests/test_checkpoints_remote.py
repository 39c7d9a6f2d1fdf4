"""Checkpoints of a far checkout, end to end: real git repositories on both sides of
the sandbox's real sshd, the far one served as a codespace by the fake ``gh``.

The laptop's checkout of ``octo-org/app`` is ``remote.project`` (a real clone);
the codespace's is ``<host.home>/workspaces/app`` (``--workspace
'~/workspaces/{repo}'``, as in ``test_bin_commands``), with work of every kind
(``test_checkpoints.clone_with_work``).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import CODESPACE, REPO_ROOT, Remote, run_process
from test_bin_commands import cs_checkout, laptop_session, run_bin
from test_checkpoints import (
    EXPECTED,
    ORIGIN_URL,
    clone_with_work,
    far_state,
    files_at,
    git,
    make_upstream,
)

from session_sync.checkpoints.store import list_checkpoints

pytestmark = pytest.mark.slow


@pytest.fixture
def repos(remote: Remote, tmp_path: Path) -> Remote:
    """``remote`` with a clean clone here and a clone with work in the codespace."""
    upstream = make_upstream(tmp_path)
    shutil.rmtree(remote.project)
    git(tmp_path, "clone", "-q", str(upstream), str(remote.project))
    git(remote.project, "remote", "set-url", "origin", ORIGIN_URL)
    cs_checkout(remote.host).parent.mkdir(parents=True)
    clone_with_work(upstream, cs_checkout(remote.host))
    return remote


def test_a_codespaces_work_comes_home_and_outlives_the_codespace(repos: Remote) -> None:
    far = cs_checkout(repos.host)
    before = far_state(far)
    take = ("checkpoint", "--codespace", CODESPACE, "--remote-path", "~/workspaces/app")

    result = repos.run(*take, "--max-file-size", "1k", "--json")

    assert result.code == 0, result
    report = json.loads(result.out)
    assert report["left_out"] == [{"path": "data.bin", "size": 3000}]
    assert report["checkout"] == str(far)
    assert far_state(far) == before  # index, HEAD, refs, files: all as they were
    [cp] = list_checkpoints(repos.project)
    assert cp.id == report["checkpoint"]
    assert cp.machine == CODESPACE
    assert files_at(repos.project, cp.commit) == EXPECTED
    # Unchanged work: no second checkpoint.
    again = repos.run(*take, "--max-file-size", "1k")
    assert again.code == 0, again
    assert "no new checkpoint" in again.out, again
    assert len(list_checkpoints(repos.project)) == 1

    shutil.rmtree(repos.host.home)  # the codespace is deleted
    restored = repos.run("checkpoints", "restore", cp.id, "--branch", "rescued")

    assert restored.code == 0, restored
    assert files_at(repos.project, "rescued") == EXPECTED
    history = git(repos.project, "log", "--format=%s", "rescued").splitlines()
    assert history[1:] == ["unpushed", "first"]  # the unpushed commit came home too


def test_a_hosts_checkout_by_the_same_path_under_its_home(repos: Remote) -> None:
    far = Path(repos.remote_project)
    far.parent.mkdir(parents=True)
    shutil.copytree(cs_checkout(repos.host), far, symlinks=True)

    result = repos.run("checkpoint", "--host", "box", "--max-file-size", "1k")

    assert result.code == 0, result
    [cp] = list_checkpoints(repos.project)
    assert cp.machine == "box"
    assert files_at(repos.project, cp.commit) == EXPECTED


def test_a_far_checkout_of_another_repository_is_refused(repos: Remote) -> None:
    git(cs_checkout(repos.host), "remote", "set-url", "origin", "git@github.com:x/other.git")
    result = repos.run("checkpoint", "--codespace", CODESPACE, "--remote-path", "~/workspaces/app")
    assert result.code == 1, result
    assert "is not of the repository" in result.err, result
    assert len(result.err.strip().splitlines()) == 1, result
    assert list_checkpoints(repos.project) == []


def test_codespace_ssh_takes_a_checkpoint_after_the_session(repos: Remote) -> None:
    result = run_bin(repos, "codespace-ssh", stdin="echo more >> ~/workspaces/app/app.py\n")

    assert result.code == 0, result
    [cp] = list_checkpoints(repos.project)
    assert cp.machine == CODESPACE
    assert f"checkpoint {cp.id}" in result.err, result
    after_session = files_at(repos.project, cp.commit)
    assert after_session["app.py"] == EXPECTED["app.py"] + b"more\n"


def test_a_failed_checkpoint_is_only_a_warning(repos: Remote) -> None:
    shutil.rmtree(cs_checkout(repos.host) / ".git")  # no longer a git checkout
    result = run_bin(repos, "codespace-ssh", stdin="exit 3\n")
    assert result.code == 3, result
    assert "warning: no checkpoint of" in result.err, result


def test_the_hourly_job_takes_one_per_running_codespace(repos: Remote, tmp_path: Path) -> None:
    laptop_session(repos, 21)  # how the job finds the checkout here
    argv = [sys.executable, str(REPO_ROOT / "bin" / "sync-sessions-from-all-codespaces")]
    argv += ["--workspace", "~/workspaces/{repo}", "--log-file", str(tmp_path / "log"), "--json"]

    result = run_process(argv, env=repos.env, cwd=repos.laptop, timeout=120)

    assert result.code == 0, result
    [outcome] = json.loads(result.out)["codespaces"]
    [cp] = list_checkpoints(repos.project)
    assert outcome["checkpoint"] == cp.id
    assert files_at(repos.project, cp.commit)["notes/plan.md"] == EXPECTED["notes/plan.md"]
