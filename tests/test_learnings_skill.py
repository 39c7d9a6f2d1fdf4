"""``session-sync skill install``: the /context-sync skill in a temp config dir."""

from __future__ import annotations

from pathlib import Path

from conftest import RunCli


def skill_file(config: Path) -> Path:
    return config / "skills" / "context-sync" / "SKILL.md"


def test_skill_install_writes_the_skill_once_and_keeps_an_edited_copy(
    tmp_path: Path, run_cli: RunCli
) -> None:
    config = tmp_path / "claude"

    planned = run_cli("skill", "install", "--config-dir", str(config), "--dry-run")
    assert planned.code == 0
    assert planned.out.startswith("would write ")
    assert not config.exists()

    first = run_cli("skill", "install", "--config-dir", str(config))
    assert first.out == f"wrote {skill_file(config)}\n"
    text = skill_file(config).read_text()
    front = text.split("---\n")[1]
    assert "name: context-sync\n" in front
    assert "description: " in front
    assert "\n   session-sync learnings\n" in text
    assert "session-sync learnings --dry-run" in text
    again = run_cli("skill", "install", "--config-dir", str(config))
    assert again.out == f"unchanged {skill_file(config)}\n"

    skill_file(config).write_text("my own edit\n")
    replaced = run_cli("skill", "install", "--config-dir", str(config))
    assert replaced.out.startswith("wrote ")
    (backup,) = skill_file(config).parent.glob("SKILL.md.*.bak")
    assert backup.read_text() == "my own edit\n"
    assert skill_file(config).read_text() == text
    names = sorted(p.name for p in skill_file(config).parent.iterdir())
    assert names == ["SKILL.md", backup.name]  # no temp file left


def test_two_edited_copies_replaced_in_the_same_second_are_both_kept(
    tmp_path: Path, run_cli: RunCli
) -> None:
    config = tmp_path / "claude"
    skill_file(config).parent.mkdir(parents=True)
    for edit in ("first edit\n", "second edit\n"):
        skill_file(config).write_text(edit)
        assert run_cli("skill", "install", "--config-dir", str(config)).code == 0
    kept = sorted(p.read_text() for p in skill_file(config).parent.glob("SKILL.md.*.bak"))
    # Both, however fast the two installs were (the backup name has a second's precision).
    assert kept == ["first edit\n", "second edit\n"]
