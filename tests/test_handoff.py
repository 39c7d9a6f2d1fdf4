"""``session-sync handoff``: deterministic builds, budgeted text, the saved files,
the metrics log and ``--detail``, on real files and real git checkouts."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import attrs
from conftest import RunCli, write_old
from handoff_work import worked_session
from hypothesis import given, settings
from hypothesis import strategies as st

from session_sync.handoff.render import fit_lines, omitted_note, one_line
from session_sync.handoff.service import build
from session_sync.handoff.store import METRICS_KEEP
from session_sync.testing.sessions import encode_dir_name

SAVED = ("handoff.prefix.json", "handoff.delta.json", "handoff.latest.json")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), "-c", "user.email=t@t", "-c", "user.name=t", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def checkout(project: Path) -> None:
    """``project`` as a git checkout of github.com/me/app with two committed files."""
    git(project, "init", "-q", "-b", "main")
    git(project, "remote", "add", "origin", "git@github.com:me/app.git")
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text("print('hi')\n")
    (project / "README.md").write_text("# app\n")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "start")


def two_machines(config: Path, project: Path, seed: int = 15) -> tuple[str, str]:
    """A session written here and one pulled from a codespace, both editing src/app.py."""
    rng = random.Random(seed)
    here = worked_session(
        rng,
        str(project),
        edits=[("Edit", f"{project}/src/app.py"), ("Write", f"{project}/notes.txt")],
        todos=[("ship it", "pending"), ("write it", "completed")],
        last_prompt="now ship it",
        last_text="Ready to ship.",
    )
    there = worked_session(
        rng,
        "/workspaces/app",
        edits=[("Edit", "/workspaces/app/src/app.py")],
        last_prompt="make it faster",
    )
    write_old(config, here, hours=2)
    write_old(config, there, hours=3, dir_name=encode_dir_name(str(project)))
    return here.session_id, there.session_id


def test_two_builds_of_the_same_state_give_the_same_bytes(config_a: Path, project: Path) -> None:
    checkout(project)
    two_machines(config_a, project)
    first = build(str(config_a), str(project), "me/app")
    saved = {name: (first.store.dir + "/" + name) for name in SAVED}
    before = {name: Path(path).read_bytes() for name, path in saved.items()}
    second = build(str(config_a), str(project), "me/app")

    assert second.text == first.text
    assert (second.handoff.prefix_hash, second.handoff.delta_hash) == (
        first.handoff.prefix_hash,
        first.handoff.delta_hash,
    )
    assert second.handoff.combined_hash == first.handoff.combined_hash
    assert {name: Path(path).read_bytes() for name, path in saved.items()} == before
    latest = json.loads(before["handoff.latest.json"])
    assert latest["combined_hash"] == first.handoff.combined_hash
    assert latest["prefix"]["repository"] == "me/app"
    assert {m["machine"] for m in latest["prefix"]["paths"]} == {"here", "codespace"}
    log = (Path(first.store.dir) / "handoff.metrics.log").read_text().splitlines()
    assert [json.loads(x)["prefix_reused"] for x in log] == [False, True]
    assert [json.loads(x)["delta_reused"] for x in log] == [False, True]


def test_new_work_changes_the_delta_not_the_prefix(config_a: Path, project: Path) -> None:
    checkout(project)
    two_machines(config_a, project)
    first = build(str(config_a), str(project), "me/app")
    (project / "src" / "app.py").write_text("print('changed')\n")
    second = build(str(config_a), str(project), "me/app")
    assert second.handoff.prefix_hash == first.handoff.prefix_hash
    assert second.handoff.delta_hash != first.handoff.delta_hash
    [stub] = [f for f in second.handoff.delta.files if f.path == "src/app.py"]
    assert stub.status == "M"
    assert second.metrics.prefix_reused
    assert not second.metrics.delta_reused


def test_the_text_says_what_each_machine_did(config_a: Path, project: Path) -> None:
    checkout(project)
    here, there = two_machines(config_a, project)
    text = build(str(config_a), str(project), "me/app", save=False).text
    assert "repository me/app" in text
    assert "default branch" not in text  # no origin/HEAD in this checkout
    assert f"here · session {here[:8]}" in text
    assert f"codespace /workspaces/app · session {there[:8]}" in text
    assert '"now ship it"' in text
    assert "[pending] ship it" in text
    assert "write it" not in text  # a completed todo is not open
    # The one changed-files block: src/app.py once, though both sessions edited it.
    assert text.count("## Files those sessions edited") == 1
    [line] = [x for x in text.splitlines() if x.startswith("- src/app.py")]
    assert "clean" in line
    assert here[:8] in line
    assert there[:8] in line
    assert "- notes.txt · missing · not here" in text


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.text(min_size=0, max_size=300), max_size=40),
    budget=st.integers(min_value=0, max_value=6000),
)
def test_truncation_never_cuts_a_line(lines: list[str], budget: int) -> None:
    out = fit_lines(lines, budget)
    whole = [one_line(x) for x in lines]
    assert all("\n" not in x and "\r" not in x for x in out)
    body = out[:-1] if out and out[-1] == omitted_note(len(whole) - len(out) + 1) else out
    assert body == whole[: len(body)], "a kept line differs from its source line"
    if len(body) < len(whole):
        assert out[-1:] == [omitted_note(len(whole) - len(body))] or not out
    assert sum(len(x.encode()) + 1 for x in out) <= max(budget, 0) or out == whole
    if sum(len(x.encode()) + 1 for x in whole) <= budget:
        assert out == whole


def test_a_small_budget_keeps_the_stable_part_first(config_a: Path, project: Path) -> None:
    checkout(project)
    two_machines(config_a, project)
    full = build(str(config_a), str(project), "me/app", save=False).text
    small = build(str(config_a), str(project), "me/app", save=False, budget=400).text
    assert len(small.encode()) <= 400
    assert full.startswith(small.rsplit("\n", 2)[0])
    assert "more line(s) left out" in small.splitlines()[-1]
    assert set(small.splitlines()[:-1]) <= set(full.splitlines())


def test_the_metrics_log_keeps_its_last_500_lines(config_a: Path, project: Path) -> None:
    checkout(project)
    two_machines(config_a, project)
    first = build(str(config_a), str(project), "me/app")
    log = Path(first.store.dir) / "handoff.metrics.log"
    log.write_text("".join(json.dumps({"old": i}) + "\n" for i in range(700)))
    build(str(config_a), str(project), "me/app")
    lines = log.read_text().splitlines()
    assert len(lines) == METRICS_KEEP
    assert json.loads(lines[0]) == {"old": 700 - METRICS_KEEP + 1}
    assert json.loads(lines[-1])["combined_hash"] == first.handoff.combined_hash


def test_cli_handoff_json_detail_and_no_save(
    config_a: Path, project: Path, run_cli: RunCli
) -> None:
    checkout(project)
    here, there = two_machines(config_a, project)
    (project / "src" / "app.py").write_text("print('hi')\nprint('more')\n")

    dry = run_cli("handoff", "--local-path", str(project), "--no-save", "--json")
    assert dry.code == 0, dry.err
    assert dry.json()["saved"] is None
    assert not (config_a / "session-sync" / "handoff" / encode_dir_name(str(project))).exists()

    done = run_cli("handoff", "--local-path", str(project), "--json", "--budget", "2000")
    assert done.code == 0, done.err
    out = done.json()
    assert len(out["text"].encode()) <= 2000
    assert out["delta"]["sessions"][0]["id"] == here
    for name in SAVED:
        assert (Path(out["saved"]) / name).is_file()

    detail = run_cli("handoff", "--local-path", str(project), "--detail", "src/app.py", "--json")
    assert detail.code == 0, detail.err
    d = detail.json()
    assert d["file"]["status"] == "M"
    assert [(t["session"], t["machine"]) for t in d["touches"]] == [
        (here, "here"),
        (there, "codespace"),
    ]
    assert "src/app.py" in d["diff_stat"]
    assert "1 insertion" in d["diff_stat"]

    text = run_cli("handoff", "--local-path", str(project), "--detail", str(project / "README.md"))
    assert text.code == 0, text.err
    assert "No session of this project on this machine edited it." in text.out
    assert "git diff --stat HEAD: no change" in text.out


def test_another_machines_text_is_escaped_and_kept_on_one_line(
    config_a: Path, project: Path
) -> None:
    checkout(project)
    hostile = worked_session(
        random.Random(8),
        "/home/x/app",
        last_prompt="clear \x1b[2J the screen\n- src/app.py · forged line \u202etxt.exe",
    )
    write_old(config_a, hostile, hours=1, dir_name=encode_dir_name(str(project)))
    text = build(str(config_a), str(project), None, save=False).text
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "\\x1b[2J" in text
    assert "\\u202e" in text
    assert not any(line.startswith("- src/app.py · forged") for line in text.splitlines())


def test_a_lone_surrogate_from_a_transcript_is_saved_and_printed_escaped(
    config_a: Path, project: Path, run_cli: RunCli
) -> None:
    """The client's JSON may hold a lone surrogate (a JS string cut mid-emoji): the
    handoff still builds, saves and prints, and two builds give the same bytes."""
    checkout(project)
    spec = worked_session(random.Random(10), str(project), last_prompt="fix the SURROGATE bug")
    lines = tuple(line.replace(b"SURROGATE", b"\\ud83d") for line in spec.lines)
    cut = attrs.evolve(spec, lines=lines)
    write_old(config_a, cut, hours=1)
    done = run_cli("handoff", "--local-path", str(project))
    assert done.code == 0, done.err
    assert "fix the \\ud83d bug" in done.out
    first = build(str(config_a), str(project), None)
    saved = {n: (Path(first.store.dir) / n).read_bytes() for n in SAVED}
    second = build(str(config_a), str(project), None)
    assert second.handoff.combined_hash == first.handoff.combined_hash
    assert {n: (Path(second.store.dir) / n).read_bytes() for n in SAVED} == saved
