"""One ``session-sync learnings`` run: read the new turns, ask the LLM, scan its
answers for secrets, write, commit, mark what was read, push.

Nothing is written (no file, no commit, no read mark) until every call has
answered and the answers passed the secret scan. Read marks are saved once the
learnings are committed (or once the answers held none that is new), before the
push: a failing push keeps the commit and the next run does not read those turns
again.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from pathlib import Path

import attrs

from session_sync.agent.gitinfo import git_origin_url
from session_sync.errors import UsageError
from session_sync.learnings import persist
from session_sync.learnings.llm import (
    DEFAULT_CALL_CHARS,
    DEFAULT_LLM,
    DEFAULT_LLM_TIMEOUT,
    DEFAULT_MAX_CALLS,
    run_llm,
)
from session_sync.learnings.prompt import build_prompt, parse_answer, plan_calls
from session_sync.learnings.read import project_dirs, read_sessions, save_mark
from session_sync.learnings.secrets import SecretHit, scan_text

__all__ = [
    "DEFAULT_CALL_CHARS",
    "DEFAULT_MAX_CALLS",
    "LearningsOptions",
    "LearningsResult",
    "default_machine",
    "run_learnings",
    "valid_machine",
]

_MACHINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def default_machine(environ: dict[str, str] | None = None) -> str:
    """This machine's name in headings: the codespace's name in a codespace, else the
    host name (its first label)."""
    env = os.environ if environ is None else environ
    name = env.get("CODESPACE_NAME") or socket.gethostname().split(".", 1)[0]
    return name if _MACHINE.match(name) else "machine"


def valid_machine(name: str) -> str:
    """``name`` when it can go into a heading; else ``UsageError``."""
    if not _MACHINE.match(name):
        raise UsageError(f"--machine {name!r}: use letters, digits and ._@- (64 at most)")
    return name


@attrs.frozen
class LearningsOptions:
    """What one run is asked to do."""

    config: Path
    """The Claude config dir whose sessions are read (and where read marks are kept)."""
    checkout: Path
    """The git checkout (top level) the learnings go into."""
    today: str
    """The heading's date, ``YYYY-MM-DD``."""
    now: float
    """Seconds since the epoch: what "the last N days" and "open" are measured from."""
    machine: str
    """The heading's machine name."""
    days: float = 7.0
    """A session never read before is read when written in the last this many days."""
    dry_run: bool = False
    """Show the learnings; write, commit and mark nothing."""
    push: bool = True
    """Push the commit."""
    llm: str = DEFAULT_LLM
    """The LLM command line (prompt on stdin, answer on stdout)."""
    llm_timeout: float = DEFAULT_LLM_TIMEOUT
    """Seconds one call may take."""
    call_chars: int = DEFAULT_CALL_CHARS
    """Characters of conversation per call."""
    max_calls: int = DEFAULT_MAX_CALLS
    """Calls per run at most."""


@attrs.frozen
class LearningsResult:
    """What a run found and did."""

    sessions_read: int
    """Session files with new turns."""
    skipped_open: tuple[str, ...]
    """Ids of sessions passed over because they are open in Claude."""
    turns: int
    """New turns found."""
    dropped_turns: int
    """Older turns over the budget, not sent (and marked read)."""
    calls: int
    """LLM calls made."""
    learnings: tuple[str, ...]
    """Every learning the answers held."""
    new: tuple[str, ...]
    """Those not already in learnings.md (what is, or would be, added)."""
    secrets: tuple[SecretHit, ...] = ()
    """Lines of the answers that look like secrets (then nothing was written)."""
    written: tuple[str, ...] = ()
    """Files written (paths in the checkout)."""
    commit: str | None = None
    """The commit made."""
    pushed: bool = False
    """Whether the commit was pushed."""
    push_error: str | None = None
    """Why the push failed (the commit is kept)."""

    def to_json(self) -> dict[str, object]:
        """The result as ``--json`` prints it (secrets masked)."""
        data = attrs.asdict(self)
        data["secrets"] = [attrs.asdict(hit) for hit in self.secrets]
        for key in ("skipped_open", "learnings", "new", "written"):
            data[key] = list(data[key])
        return data


def run_learnings(
    options: LearningsOptions, progress: Callable[[str], None] = lambda _: None
) -> LearningsResult:
    """Do one run (see the module's docstring)."""
    checkout = options.checkout
    if not options.dry_run:
        persist.check_committable(checkout)
    if options.push and not options.dry_run:
        target = persist.push_target(checkout)  # nowhere to push: say so before anything
    dirs = project_dirs(options.config, str(checkout), git_origin_url(str(checkout)))
    reads, skipped = read_sessions(options.config, dirs, days=options.days, now=options.now)
    turns = [turn for read in reads for turn in read.turns]
    bad = sum(read.bad_lines for read in reads)
    progress(
        f"read {len(reads)} session file(s) in {len(dirs)} project dir(s): {len(turns)} new"
        f" turn(s)" + (f"; {bad} line(s) that are not JSON passed over" if bad else "")
    )
    calls, dropped = plan_calls(turns, call_chars=options.call_chars, max_calls=options.max_calls)
    learnings: list[str] = []
    answers: list[str] = []
    for number, call in enumerate(calls, start=1):
        size = sum(len(t.text) for t in call)
        progress(f"asking the LLM ({number} of {len(calls)}: {len(call)} turns, {size} characters)")
        answer = run_llm(
            options.llm, build_prompt(call, checkout.name), timeout=options.llm_timeout
        )
        answers.append(answer)
        learnings += parse_answer(answer)
    base = LearningsResult(
        sessions_read=sum(1 for r in reads if r.turns),
        skipped_open=tuple(skipped),
        turns=len(turns),
        dropped_turns=dropped,
        calls=len(calls),
        learnings=tuple(learnings),
        new=(),
    )
    # The answers line by line, then the learnings as they would be written (a
    # bullet's continuation lines joined to it can make a secret the lines hid).
    hits = tuple(scan_text("\n".join(answers))) or tuple(scan_text("\n".join(learnings)))
    if hits:
        # Never the secret itself, not even in --json's list of learnings.
        masked = tuple(next(iter(scan_text(b)), None) for b in learnings)
        shown = tuple(h.masked_line if h else b for h, b in zip(masked, learnings, strict=True))
        return attrs.evolve(base, secrets=hits, learnings=shown)
    existing = checkout / persist.LEARNINGS_MD
    text = existing.read_text("utf-8", "replace") if existing.is_file() else ""
    new = persist.new_bullets(text, learnings)
    result = attrs.evolve(base, new=tuple(new))
    if options.dry_run:
        return result
    writes = persist.plan_writes(checkout, new, f"## {options.today} ({options.machine})")
    if writes:
        persist.write_planned(checkout, writes)
        rels = [w.rel for w in writes]
        noun = "learning" if len(new) == 1 else "learnings"
        message = f"learnings: {len(new)} {noun} from {options.machine}"
        try:
            sha = persist.commit_files(checkout, rels, message)
        except persist.GitError as exc:
            raise persist.GitError(
                f"{exc}; {' and '.join(rels)} are written but not committed: commit them yourself"
            ) from None
        result = attrs.evolve(result, written=tuple(rels), commit=sha)
    for read in reads:
        save_mark(options.config, read)
    if result.commit is None or not options.push:
        return result
    progress("pushing")
    try:
        persist.push(checkout, target)
    except persist.PushError as exc:
        return attrs.evolve(result, push_error=str(exc))
    return attrs.evolve(result, pushed=True)
