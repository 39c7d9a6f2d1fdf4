"""``session-sync demo``: a sandbox of two machines, synced twice.

The sandbox holds two Claude config dirs, ``laptop/.claude`` and
``codespace/.claude``, with realistic sessions of one project (checked out at
``laptop/src/my-app`` and ``codespace/workspaces/my-app``): some only on one
side, one resumed in the codespace, one continued on the laptop, one that
diverged, one too old to sync, and Claude's memory and a typed prompt on each
side. It never reads or writes the user's own config.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import tempfile
from pathlib import Path
from typing import TextIO

from session_sync.agent.paths import encode_project_path
from session_sync.engine import SyncRequest, run_sync
from session_sync.model.report import SyncReport
from session_sync.testing.sessions import SessionSpec, continue_session, make_session, write_session
from session_sync.transports.local import LocalProcessTransport

__all__ = ["DemoMachines", "build_sandbox", "run_demo"]


class DemoMachines:
    """Where the demo's two machines live."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.laptop_config = root / "laptop" / ".claude"
        self.codespace_config = root / "codespace" / ".claude"
        self.laptop_project = root / "laptop" / "src" / "my-app"
        self.codespace_project = root / "codespace" / "workspaces" / "my-app"


def build_sandbox(root: Path, seed: int = 2026) -> tuple[DemoMachines, list[str]]:
    """Create the two machines and their sessions; returns what was made, in words."""
    box = DemoMachines(root)
    for path in (
        box.laptop_config,
        box.codespace_config,
        box.laptop_project,
        box.codespace_project,
    ):
        path.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    hours = dt.timedelta(hours=1)
    laptop, codespace = str(box.laptop_project), str(box.codespace_project)
    story: list[str] = []

    def on(config: Path, spec: SessionSpec, when: dt.datetime, cwd: str) -> None:
        """Write ``spec`` on one machine, in the project dir of ``cwd`` there."""
        write_session(
            config, spec, project_dir_name=encode_project_path(cwd), mtime=when.timestamp()
        )

    planning = make_session(
        rng, laptop, turns=5, start=now - 30 * hours, with_subagent=True, with_tool_result=True
    )
    on(box.laptop_config, planning, now - 29 * hours, laptop)
    story.append(f"{planning.session_id}  only on the laptop (with a subagent and a tool result)")

    spike = make_session(rng, codespace, turns=4, start=now - 6 * hours, with_tool_result=True)
    on(box.codespace_config, spike, now - 5 * hours, codespace)
    story.append(f"{spike.session_id}  only in the codespace")

    resumed = make_session(rng, laptop, turns=3, start=now - 26 * hours)
    resumed_more = continue_session(rng, resumed, turns=3, start=now - 4 * hours)
    on(box.laptop_config, resumed, now - 25 * hours, laptop)
    on(box.codespace_config, resumed_more, now - 3 * hours, codespace)
    story.append(f"{resumed.session_id}  resumed in the codespace: the laptop has a prefix")

    continued = make_session(rng, laptop, turns=3, start=now - 50 * hours)
    continued_more = continue_session(rng, continued, turns=2, start=now - 2 * hours)
    on(box.codespace_config, continued, now - 49 * hours, codespace)
    on(box.laptop_config, continued_more, now - 1 * hours, laptop)
    story.append(f"{continued.session_id}  continued on the laptop: the codespace has a prefix")

    base = make_session(rng, laptop, turns=2, start=now - 20 * hours)
    on_laptop = continue_session(rng, base, turns=1, start=now - 10 * hours)
    in_codespace = continue_session(random.Random(seed + 1), base, turns=2, start=now - 8 * hours)
    on(box.laptop_config, on_laptop, now - 10 * hours + hours / 2, laptop)
    on(box.codespace_config, in_codespace, now - 7 * hours, codespace)
    story.append(
        f"{base.session_id}  diverged: both went on; the codespace's last message is newer"
    )

    old = make_session(rng, laptop, turns=2, start=now - 24 * 20 * hours)
    on(box.laptop_config, old, now - 24 * 20 * hours, laptop)
    story.append(f"{old.session_id}  20 days old on the laptop: outside --days 7, left alone")
    _knowledge(box, now)
    story.append("MEMORY.md   Claude's memory of the project: one entry new on each side")
    story.append("history     a prompt typed on each machine (up-arrow recall)")
    return box, story


def _knowledge(box: DemoMachines, now: dt.datetime) -> None:
    """Claude's memory index and a typed prompt on each machine, each side with
    something the other lacks."""
    shared = "- [Testing](testing.md) \u2014 run `uv run pytest -q`; sshd tests need OpenSSH\n"
    entries = {
        box.laptop_config: (
            box.laptop_project,
            "- Deploys go through `make deploy`, never by hand\n",
        ),
        box.codespace_config: (
            box.codespace_project,
            "- The codespace has no GPU: skip CUDA tests\n",
        ),
    }
    for i, (config, (project, entry)) in enumerate(entries.items()):
        memory = config / "projects" / encode_project_path(str(project)) / "memory"
        memory.mkdir(parents=True, exist_ok=True)
        (memory / "MEMORY.md").write_text(shared + entry, encoding="utf-8")
        stamp = int((now - dt.timedelta(hours=6 - i)).timestamp() * 1000)
        line: dict[str, object] = {
            "display": "run the slow tests too" if i else "why does the sync skip open sessions?",
            "pastedContents": {},
            "timestamp": stamp,
            "project": str(project),
        }
        history = config / "history.jsonl"
        history.write_text(json.dumps(line) + "\n", encoding="utf-8")
        history.chmod(0o600)


def _sync(box: DemoMachines) -> SyncReport:
    request = SyncRequest(
        local_config=box.laptop_config,
        local_path=str(box.laptop_project),
        remote_path=str(box.codespace_project),
    )
    return run_sync(request, LocalProcessTransport(box.codespace_config))


def run_demo(keep: Path | None, *, json_output: bool, out: TextIO) -> int:
    """Build the sandbox, sync twice, report. 0 when the second sync moved nothing."""
    from session_sync.model.report_text import print_report

    root = keep if keep is not None else Path(tempfile.mkdtemp(prefix="session-sync-demo-"))
    if keep is not None and keep.exists() and any(keep.iterdir()):
        from session_sync.errors import UsageError

        raise UsageError(f"--keep {keep}: directory is not empty")
    try:
        box, story = build_sandbox(root)
        first = _sync(box)
        second = _sync(box)
        quiet = not any(i.action != "skip" for i in second.items) and not (
            second.knowledge.memory or second.knowledge.history
        )
        if json_output:
            json.dump(
                {"sandbox": str(root), "first": first.to_json(), "second": second.to_json()},
                out,
                indent=2,
            )
            out.write("\n")
        else:
            out.write(
                f"Sandbox: {root}\n"
                f"  laptop:    {box.laptop_config}  (project {box.laptop_project})\n"
            )
            out.write(
                f"  codespace: {box.codespace_config}  (project {box.codespace_project})\n"
                "\nSessions:\n"
            )
            for line in story:
                out.write(f"  {line}\n")
            out.write("\n1) First sync, both ways:\n")
            print_report(first, out)
            out.write("\n2) Second sync: nothing left to move:\n")
            print_report(second, out)
            backups = sorted((box.laptop_config / "session-sync" / "backups").glob("*/backup.json"))
            forks = [i.session for i in first.items if i.case == "forked"]
            if forks:
                out.write(
                    f"\nThe diverged session's other branch is a session of its own on both"
                    f" machines: claude --resume {forks[0]}\n"
                )
            if backups:
                where = backups[0].parent.relative_to(root)
                out.write(
                    f"The diverged session's losing copy was also backed up in <sandbox>/{where}\n"
                )
            if keep is not None:
                out.write(f"\nThe sandbox is kept in {root}.\n")
            else:
                out.write("\nThe sandbox was removed (pass --keep DIR to look around in it).\n")
        return 0 if first.ok and second.ok and quiet else 1
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
