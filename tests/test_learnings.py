"""``session-sync learnings`` with real parts: a checkout cloned from a real bare git
remote (with a pre-receive hook where pushes must fail), transcripts on disk in a
temp config dir, and test LLM commands (scripts that log the prompt they got)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from conftest import RunCli
from hypothesis import given, settings
from hypothesis import strategies as st
from learnings_support import FakeLlm, Project, fake_llm, git, make_project, not_said, said

from session_sync.learnings.persist import (
    DIRECTIVE_HEADING,
    PUSH_BACKOFF_ENV,
    new_bullets,
    plan_writes,
    write_planned,
)
from session_sync.learnings.prompt import EXTRACTION_PROMPT, parse_answer
from session_sync.learnings.read import marks_dir

PROGRESS = ("session-sync learnings: asking", "session-sync learnings: read ")
ANSWER = (
    "- Deploys go through `make deploy`, never `fly deploy` directly.\n"
    "- The webhook server in `webhook/main.go` handles Telegram replies.\n"
)


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Test\n\temail = test@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv(PUSH_BACKOFF_ENV, "0.01")
    project = make_project(tmp_path)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(project.config))
    monkeypatch.chdir(project.checkout)
    return project


def llm(proj: Project, answer: str = ANSWER, **kw: float) -> FakeLlm:
    return fake_llm(proj.root / f"llm-{len(list(proj.root.glob('llm-*')))}", answer, **kw)  # type: ignore[arg-type]


def run(run_cli: RunCli, fake: FakeLlm, *args: str) -> tuple[int, str, str]:
    return tuple(run_cli("learnings", "--llm", fake.command, "--machine", "vm", *args))  # type: ignore[return-value]


def a_session(proj: Project, *texts: str, **kw: object) -> Path:
    cwd = str(proj.checkout)
    lines = [said("user" if i % 2 == 0 else "assistant", t, cwd) for i, t in enumerate(texts)]
    return proj.write_session(lines, **kw)  # type: ignore[arg-type]


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def test_a_run_appends_commits_only_the_two_files_and_pushes(
    proj: Project, run_cli: RunCli
) -> None:
    a_session(proj, "How do we deploy?", "With make deploy; fly deploy skips the migrations.")
    # Other work, staged and unstaged: it stays as it is, out of the commit.
    (proj.checkout / "staged.txt").write_text("work in progress\n")
    git(proj.checkout, "add", "staged.txt")
    (proj.checkout / "README.md").write_text("# app\nedited, not staged\n")
    fake = llm(proj)

    code, out, err = run(run_cli, fake)

    assert code == 0, err
    (prompt,) = fake.prompts()
    assert prompt.startswith(EXTRACTION_PROMPT)
    assert "[user] How do we deploy?" in prompt
    assert "[assistant] With make deploy; fly deploy skips the migrations." in prompt
    learnings = (proj.checkout / ".claude" / "learnings.md").read_text()
    heading = learnings.splitlines()[0]
    assert heading.startswith("## 20")
    assert heading.endswith(" (vm)")
    assert learnings.endswith(ANSWER)
    assert DIRECTIVE_HEADING in (proj.checkout / ".claude" / "CLAUDE.md").read_text()
    committed = git(proj.checkout, "show", "--name-only", "--format=", "HEAD").split()
    assert committed == [".claude/CLAUDE.md", ".claude/learnings.md"]
    status = git(proj.checkout, "status", "--porcelain").splitlines()
    assert sorted(status) == [" M README.md", "A  staged.txt"]
    assert proj.remote_head() == proj.head()
    assert "added 2 learning(s)" in out
    assert "pushed" in out


def test_a_push_refused_twice_is_retried_until_it_lands(proj: Project, run_cli: RunCli) -> None:
    a_session(proj, "question", "answer")
    pushes = proj.hook(refusals=2)

    code, _, err = run(run_cli, llm(proj))

    assert code == 0, err
    assert pushes.read_text().strip() == "3"
    assert proj.remote_head() == proj.head()


def test_a_push_that_keeps_failing_keeps_the_commit_and_exits_1(
    proj: Project, run_cli: RunCli
) -> None:
    a_session(proj, "question", "answer")
    pushes = proj.hook(refusals=-1)
    before = proj.remote_head()

    code, _, err = run(run_cli, llm(proj))

    assert code == 1
    assert pushes.read_text().strip() == "4"  # the push and 3 retries
    assert proj.remote_head() == before
    assert proj.head() != before
    assert "learnings.md" in git(proj.checkout, "show", "--name-only", "HEAD")
    (line,) = err.strip().splitlines()[-1:]
    assert "git push failed" in line
    assert "after 4 attempts" in line
    assert "is kept" in line
    # What was committed was read: the next run does not send it again.
    again = llm(proj)
    assert run(run_cli, again, "--no-push")[0] == 0
    assert again.prompts() == []


def test_the_push_names_its_branch_whatever_push_default_says(
    proj: Project, run_cli: RunCli
) -> None:
    """Only the learnings' branch goes, to its upstream: push.default=nothing (or
    matching, which would push every branch) does not decide it."""
    git(proj.checkout, "config", "push.default", "nothing")
    git(proj.checkout, "branch", "side")
    a_session(proj, "question", "answer")

    code, _, err = run(run_cli, llm(proj))

    assert code == 0, err
    assert proj.remote_head() == proj.head()
    assert git(proj.remote, "branch", "--list", "side") == ""


def test_a_push_behind_the_remote_is_not_retried_and_says_to_pull(
    proj: Project, run_cli: RunCli
) -> None:
    """A non-fast-forward refusal does not change by waiting: no retry, one line."""
    other = proj.root / "other"
    git(proj.root, "clone", "--quiet", str(proj.remote), str(other))
    (other / "NEWS.md").write_text("news\n")
    git(other, "add", "NEWS.md")
    git(other, "commit", "--quiet", "-m", "elsewhere")
    git(other, "push", "--quiet", "origin", "main")
    a_session(proj, "question", "answer")

    code, _, err = run(run_cli, llm(proj))

    assert code == 1
    (line,) = err.strip().splitlines()[-1:]
    assert "after 1 attempt" in line
    assert "git pull" in line
    assert "is kept" in line
    assert "learnings.md" in git(proj.checkout, "show", "--name-only", "HEAD")


def test_the_second_run_reads_only_new_turns(proj: Project, run_cli: RunCli) -> None:
    path = a_session(proj, "first question", "first answer")
    assert run(run_cli, llm(proj), "--no-push")[0] == 0

    idle = llm(proj)
    code, out, _ = run(run_cli, idle, "--no-push")
    assert code == 0
    assert idle.prompts() == []  # no LLM call at all
    assert "No new turns" in out

    proj.append(path, [said("user", "second question", str(proj.checkout), minutes_ago=10)])
    later = llm(proj, "- Another learning.\n")
    assert run(run_cli, later, "--no-push")[0] == 0
    (prompt,) = later.prompts()
    assert "second question" in prompt
    assert "first question" not in prompt


def test_a_rewritten_or_shrunk_session_is_read_anew(proj: Project, run_cli: RunCli) -> None:
    path = a_session(proj, "original question", "original answer")
    assert run(run_cli, llm(proj), "--no-push")[0] == 0
    a_session(proj, "rewritten question", session_id=path.stem)  # shorter, other bytes

    again = llm(proj, "- Rewritten learning.\n")
    assert run(run_cli, again, "--no-push")[0] == 0
    (prompt,) = again.prompts()
    assert "rewritten question" in prompt


def test_only_what_was_said_is_sent(proj: Project, run_cli: RunCli) -> None:
    cwd = str(proj.checkout)
    lines = [said("user", "kept question", cwd), *not_said(cwd, "SKIPPED")]
    lines.append(said("assistant", "kept answer", cwd))
    partial = json.dumps(said("user", "half written SKIPPED", cwd)).encode()[:40]
    path = proj.write_session(lines, tail=partial)
    # A subagent's transcript beside the session is never read.
    sub = path.with_suffix("") / "subagents" / "agent-a1.jsonl"
    sub.parent.mkdir(parents=True)
    sub.write_text(json.dumps(said("user", "subagent SKIPPED", cwd)) + "\n")
    fake = llm(proj)

    assert run(run_cli, fake, "--no-push")[0] == 0

    (prompt,) = fake.prompts()
    assert "kept question" in prompt
    assert "kept answer" in prompt
    assert "SKIPPED" not in prompt
    # The half-written last line is not marked read: it is read once complete.
    (mark,) = marks_dir(proj.config).rglob("*.json")
    assert json.loads(mark.read_text())["offset"] == path.stat().st_size - len(partial)


def test_sessions_open_in_claude_are_skipped(proj: Project, run_cli: RunCli) -> None:
    open_one = a_session(proj, "open session text")
    a_session(proj, "closed session text")
    registry = proj.config / "sessions"
    registry.mkdir()
    entry = {"pid": os.getpid(), "sessionId": open_one.stem, "cwd": str(proj.checkout)}
    (registry / f"{os.getpid()}.json").write_text(json.dumps(entry))
    fake = llm(proj)

    code, out, _ = run(run_cli, fake, "--no-push")

    assert code == 0
    (prompt,) = fake.prompts()
    assert "closed session text" in prompt
    assert "open session text" not in prompt
    assert "skipped 1 session(s) open in Claude" in out


def test_without_a_registry_a_session_written_in_the_last_minute_is_open(
    proj: Project, run_cli: RunCli
) -> None:
    a_session(proj, "fresh session text", hours_ago=0)
    a_session(proj, "settled session text")
    fake = llm(proj)

    assert run(run_cli, fake, "--no-push")[0] == 0

    (prompt,) = fake.prompts()
    assert "settled session text" in prompt
    assert "fresh session text" not in prompt


def test_every_project_dir_of_the_project_counts_and_no_other(
    proj: Project, run_cli: RunCli
) -> None:
    cwd = str(proj.checkout)
    a_session(proj, "in the encoded dir")
    # A dir of another name whose session recorded this checkout's path.
    proj.write_session([said("user", "in a dir found by its cwd", cwd)], dir_name="-elsewhere")
    proj.write_session([said("user", "another project", "/srv/other")], dir_name="-srv-other")
    fake = llm(proj)

    assert run(run_cli, fake, "--no-push")[0] == 0

    (prompt,) = fake.prompts()
    assert "in the encoded dir" in prompt
    assert "in a dir found by its cwd" in prompt
    assert "another project" not in prompt


def test_the_first_run_reads_sessions_of_the_last_days_only(proj: Project, run_cli: RunCli) -> None:
    a_session(proj, "recent session", hours_ago=24)
    a_session(proj, "old session", hours_ago=24 * 10)
    fake = llm(proj)

    assert run(run_cli, fake, "--no-push", "--days", "7")[0] == 0

    (prompt,) = fake.prompts()
    assert "recent session" in prompt
    assert "old session" not in prompt


def test_a_large_backlog_is_split_into_calls_newest_first(proj: Project, run_cli: RunCli) -> None:
    cwd = str(proj.checkout)
    lines = [
        said("user", f"turn {i:02d} " + "x" * 200, cwd, minutes_ago=100 - i) for i in range(10)
    ]
    proj.write_session(lines)
    fake = llm(proj)

    code, out, err = run(run_cli, fake, "--no-push", "--call-chars", "700", "--max-calls", "2")

    assert code == 0, err
    first, second = fake.prompts()
    assert "turn 09" in first
    assert "turn 07" in first
    assert "turn 06" not in first
    assert "turn 06" in second
    assert "turn 04" in second
    assert "turn 03" not in second
    assert first.index("turn 07") < first.index("turn 09")  # in time order inside a call
    assert "4 older turn(s) over the budget were not sent" in out
    assert err.count("asking the LLM") == 2


def test_no_new_learnings_writes_nothing(proj: Project, run_cli: RunCli) -> None:
    a_session(proj, "question", "answer")
    head = proj.head()

    code, out, _ = run(run_cli, llm(proj, "No new learnings.\n"))

    assert code == 0
    assert "No new learnings." in out
    assert not (proj.checkout / ".claude").exists()
    assert proj.head() == head


def test_known_bullets_are_skipped_and_the_directive_is_never_doubled(
    proj: Project, run_cli: RunCli
) -> None:
    claude_md = proj.checkout / ".claude" / "CLAUDE.md"
    claude_md.parent.mkdir()
    claude_md.write_text("# Project rules\n\nUse uv.\n")
    git(proj.checkout, "add", ".claude/CLAUDE.md")
    git(proj.checkout, "commit", "-qm", "rules")
    a_session(proj, "one")
    assert run(run_cli, llm(proj), "--no-push")[0] == 0
    a_session(proj, "two")
    more = "- deploys go through `make deploy`,   never `fly deploy` directly.\n- A new one.\n"

    code, out, _ = run(run_cli, llm(proj, more), "--no-push")

    assert code == 0
    text = (proj.checkout / ".claude" / "learnings.md").read_text()
    assert text.lower().count("make deploy") == 1
    assert text.endswith("- A new one.\n")
    assert text.count("## ") == 1  # the same day and machine: one heading
    rules = claude_md.read_text()
    assert rules.startswith("# Project rules\n\nUse uv.\n")
    assert rules.count(DIRECTIVE_HEADING) == 1
    assert "added 1 learning(s)" in out


def test_dry_run_changes_nothing(proj: Project, run_cli: RunCli) -> None:
    a_session(proj, "question", "answer")
    (proj.checkout / "staged.txt").write_text("x\n")
    git(proj.checkout, "add", "staged.txt")
    before = (tree(proj.checkout), tree(proj.config), git(proj.checkout, "status", "--porcelain"))
    head = proj.head()

    code, out, _ = run(run_cli, llm(proj), "--dry-run")

    assert code == 0
    assert "would add 2 learning(s)" in out
    assert "make deploy" in out
    after = (tree(proj.checkout), tree(proj.config), git(proj.checkout, "status", "--porcelain"))
    assert after == before
    assert proj.head() == head
    assert not marks_dir(proj.config).exists()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("no-such-llm-command -p", "the LLM command 'no-such-llm-command' was not found"),
        ("FAIL", "failed (exit 3): quota exceeded"),
        ("HANG", "did not answer in 0.5 s"),
    ],
    ids=["missing", "failing", "hanging"],
)
def test_an_llm_that_is_missing_fails_or_hangs_stops_with_one_line(
    proj: Project, run_cli: RunCli, command: str, message: str
) -> None:
    a_session(proj, "question", "answer")
    if command == "FAIL":
        command = llm(proj, exit_code=3).command
    elif command == "HANG":
        command = llm(proj, sleep=30).command

    code, _out, err = run_cli("learnings", "--llm", command, "--llm-timeout", "0.5", "--no-push")

    assert code == 1
    lines = [ln for ln in err.splitlines() if not ln.startswith(PROGRESS)]
    assert len(lines) == 1, err
    assert message in lines[0], err
    assert not (proj.checkout / ".claude").exists()
    assert not marks_dir(proj.config).exists()


def test_a_secret_in_the_answer_stops_everything(proj: Project, run_cli: RunCli) -> None:
    a_session(proj, "question", "answer")
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2
    answer = f"- Deploys use make deploy.\n- The CI token is {token} for now.\n"
    head = proj.head()

    code, out, err = run(run_cli, llm(proj, answer))

    assert code == 1
    assert token not in out + err
    assert "line 2 (github-token): - The CI token is ghp_******** for now." in err
    assert "nothing was written" in err
    assert "--dry-run" in err
    assert not (proj.checkout / ".claude").exists()
    assert proj.head() == head
    assert not marks_dir(proj.config).exists()


def test_a_secret_split_over_a_bullets_lines_is_caught_as_it_would_be_written(
    proj: Project, run_cli: RunCli
) -> None:
    """A bullet's indented continuation is joined to it: the scan sees what would be
    written, not only the answer's lines one by one."""
    a_session(proj, "question", "answer")
    answer = "- Deploys use make deploy.\n- The staging DB takes password=\n  " + "hunter22x\n"

    code, _, err = run(run_cli, llm(proj, answer))

    assert code == 1
    assert "hunter22x" not in err
    assert "password-assignment" in err
    assert not (proj.checkout / ".claude").exists()
    assert not marks_dir(proj.config).exists()


def test_a_secret_with_json_points_at_the_json_not_at_lines_above(
    proj: Project, run_cli: RunCli
) -> None:
    a_session(proj, "question", "answer")
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2

    code, out, err = run(run_cli, llm(proj, f"- The CI token is {token}.\n"), "--json")

    assert code == 1
    assert json.loads(out)["secrets"][0]["rule"] == "github-token"
    assert token not in out + err
    assert "above" not in err
    assert '"secrets"' in err


def test_json_output_is_one_object(proj: Project, run_cli: RunCli) -> None:
    a_session(proj, "question", "answer")
    result = run_cli("learnings", "--llm", llm(proj).command, "--no-push", "--json")

    assert result.code == 0
    data = result.json()
    assert data["new"] == [
        "Deploys go through `make deploy`, never `fly deploy` directly.",
        "The webhook server in `webhook/main.go` handles Telegram replies.",
    ]
    assert data["commit"] == proj.head()
    assert data["pushed"] is False
    assert data["written"] == [".claude/learnings.md", ".claude/CLAUDE.md"]


def test_outside_a_checkout_or_without_a_remote_it_stops_before_asking(
    proj: Project, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_session(proj, "question", "answer")
    fake = llm(proj)
    git(proj.checkout, "remote", "remove", "origin")

    code, _, err = run(run_cli, fake)
    assert code == 1
    assert "no git remote to push to: pass --no-push" in err

    elsewhere = tmp_path / "plain"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, _, err = run(run_cli, fake)
    assert code == 2
    assert "not inside a git checkout" in err
    assert fake.prompts() == []


def test_an_ignored_learnings_file_stops_the_run_before_asking(
    proj: Project, run_cli: RunCli
) -> None:
    a_session(proj, "question", "answer")
    (proj.checkout / ".gitignore").write_text(".claude/\n")
    fake = llm(proj)

    code, _, err = run(run_cli, fake, "--no-push")

    assert code == 1
    assert ".claude/learnings.md is ignored by git here" in err
    assert fake.prompts() == []
    assert not (proj.checkout / ".claude").exists()


def test_a_linked_claude_dir_is_not_followed(proj: Project, run_cli: RunCli) -> None:
    """A checkout whose .claude is a link (a cloned repo can hold one) gets nothing
    written through it: one line, before the LLM is asked."""
    a_session(proj, "question", "answer")
    elsewhere = proj.root / "elsewhere"
    elsewhere.mkdir()
    (proj.checkout / ".claude").symlink_to(elsewhere)
    fake = llm(proj)

    code, _, err = run(run_cli, fake, "--no-push")

    assert code == 1
    (line,) = err.strip().splitlines()[-1:]
    assert "symbolic link" in line
    assert fake.prompts() == []
    assert list(elsewhere.iterdir()) == []


def test_a_merge_in_progress_stops_the_run_before_asking(proj: Project, run_cli: RunCli) -> None:
    """git takes no partial commit during a merge: said first, not after the files
    were written (which would leave them written and not committed)."""
    git(proj.checkout, "checkout", "--quiet", "-b", "side")
    (proj.checkout / "side.txt").write_text("side\n")
    git(proj.checkout, "add", "side.txt")
    git(proj.checkout, "commit", "--quiet", "-m", "side")
    git(proj.checkout, "checkout", "--quiet", "main")
    (proj.checkout / "main.txt").write_text("main\n")
    git(proj.checkout, "add", "main.txt")
    git(proj.checkout, "commit", "--quiet", "-m", "main")
    git(proj.checkout, "merge", "--quiet", "--no-commit", "--no-ff", "side")
    a_session(proj, "question", "answer")
    fake = llm(proj)

    code, _, err = run(run_cli, fake, "--no-push")

    assert code == 1
    (line,) = err.strip().splitlines()[-1:]
    assert "merge" in line
    assert fake.prompts() == []
    assert not (proj.checkout / ".claude").exists()


def test_an_answer_that_is_no_bullet_list_stops_with_one_line(
    proj: Project, run_cli: RunCli
) -> None:
    a_session(proj, "question", "answer")

    code, _, err = run(run_cli, llm(proj, "Sure, I can help with that!\n"), "--no-push")

    assert code == 1
    (line,) = [ln for ln in err.splitlines() if not ln.startswith(PROGRESS)]
    assert "the LLM answered neither a bullet list nor 'No new learnings.'" in line
    assert "'Sure, I can help with that!'" in line
    assert not (proj.checkout / ".claude").exists()
    assert not marks_dir(proj.config).exists()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=60),
        max_size=8,
    )
)
def test_bullets_once_written_are_never_new_again(texts: list[str]) -> None:
    answer = "".join(f"- {t}\n" for t in texts if t.strip()) or "No new learnings."
    bullets = parse_answer(answer)
    with tempfile.TemporaryDirectory() as tmp:
        checkout = Path(tmp)
        writes = plan_writes(checkout, new_bullets("", bullets), "## 2026-12-02 (vm)")
        write_planned(checkout, writes)
        text = (checkout / ".claude" / "learnings.md").read_text() if writes else ""

        assert new_bullets(text, bullets) == []
        assert plan_writes(checkout, new_bullets(text, bullets), "## 2026-12-02 (vm)") == []
        # Each bullet is one line of its own: nothing it says becomes a heading.
        assert text.count("\n## ") + text.startswith("## ") == (1 if writes else 0)
