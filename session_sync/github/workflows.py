"""The library side of the ``bin/`` commands: one function per command, each
taking its options and returning an exit status (``cli.codespace_flags`` builds
the options from flags and maps errors).

Messages go to stderr as ``PROG: ...`` lines; stdout carries what a script
would capture (the new codespace's name, a report, ``--json``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import attrs

from session_sync.agent.paths import normalize_github_repo
from session_sync.checkpoints.codespaces import AfterSync, checkout_for, checkpoint_after
from session_sync.cli.common import (
    EXIT_OK,
)
from session_sync.engine import scan_local
from session_sync.errors import CodespaceUnavailableError, SessionSyncError, UsageError
from session_sync.github.gh import (
    READY_STATES,
    STARTING_STATES,
    Codespace,
    GhCli,
    check_codespace_state,
)
from session_sync.github.parts import (
    CommonOptions,
    failure_summary,
    finish,
    parts_of,
    sync_parts,
    write_reports,
)
from session_sync.github.syncs import (
    DEV_ENV_FOLDER,
    CodespaceOptions,
    checkout_of,
    pick_codespace,
    session_request,
    workspace_path,
)
from session_sync.model.reconcile import Direction

__all__ = [
    "ConnectOptions",
    "CreateOptions",
    "DevEnvOptions",
    "PushOptions",
    "connect_to_codespace",
    "create_codespace",
    "sync_dev_env",
    "sync_to_codespace",
]


# --- codespace-create -------------------------------------------------------------------


@attrs.frozen
class CreateOptions:
    """``codespace-create``."""

    repository: str
    """``OWNER/REPO`` to make the codespace from."""
    branch: str | None = None
    """The branch to check out (default: the repository's default)."""
    machine: str | None = None
    """The machine type (``gh codespace create -m``)."""
    wait: float = 600.0
    """Seconds to wait for the new codespace to become Available."""
    poll: float = 3.0
    """Seconds between two looks at its state."""
    common: CommonOptions = attrs.field(factory=CommonOptions)
    """The shared options (``codespace`` is not used)."""


def create_codespace(options: CreateOptions) -> int:
    """Create a codespace, wait until it is Available, then push the dev env and the
    recent sessions. Prints the codespace's name on stdout. A sync that fails
    warns and does not fail the creation."""
    repository = normalize_github_repo(options.repository)
    if repository is None or "/" not in options.repository:
        raise UsageError(f"-R {options.repository!r} is not a GitHub repository (use OWNER/REPO)")
    common = options.common
    gh = common.gh()
    settings = common.codespace_options(gh)
    if common.dry_run:
        planned = Codespace("(new codespace)", repository, "")
        request = session_request(planned, settings, days=common.days, direction=Direction.PUSH)
        found = scan_local(request)
        args = ["gh", "codespace", "create", "-R", repository]
        args += ["-b", options.branch] if options.branch else []
        args += ["-m", options.machine] if options.machine else []
        common.notice(f"would run: {' '.join(args)}")
        common.notice(
            f"then push {len(found.sessions)} session(s) of {repository} from the last"
            f" {common.days:g} days (from {request.local_path})"
        )
        return EXIT_OK
    # A quick call first: gh missing, logged out or hung shows within --gh-timeout,
    # not after the long timeout that creating a codespace is given.
    gh.list_codespaces()
    common.notice(f"creating a codespace of {repository} (this can take a few minutes)")
    name = gh.create(repository, branch=options.branch, machine=options.machine)
    common.notice(f"created codespace {name}")
    try:
        codespace = _wait_until_available(gh, name, options.wait, options.poll, common.notice)
    except CodespaceUnavailableError as exc:
        sys.stdout.write(f"{name}\n")
        raise CodespaceUnavailableError(
            f"codespace {name} was created but {exc}", exc.state
        ) from None
    if codespace is None:
        common.notice(
            f"codespace {name} is not available after {options.wait:g} s: sessions not pushed;"
            f" push them later with `sync-to-codespace -c {name}`"
        )
    else:
        _warned_sync(codespace, settings, common, Direction.PUSH, "to the new codespace")
    sys.stdout.write(f"{name}\n")
    return EXIT_OK


def _wait_until_available(
    gh: GhCli, name: str, wait: float, poll: float, notify: Callable[[str], None]
) -> Codespace | None:
    """The codespace once Available; None if ``wait`` ran out first. A state that
    will not end in Available (Failed...) raises ``CodespaceUnavailableError``."""
    deadline = time.monotonic() + wait
    shown = None
    while True:
        codespace = gh.find(name)
        if codespace.state in READY_STATES:
            return codespace
        if codespace.state not in STARTING_STATES:
            raise CodespaceUnavailableError(
                f"is {codespace.state or 'in an unknown state'}", codespace.state
            )
        if codespace.state != shown:
            notify(f"codespace {name} is {codespace.state}: waiting for it to be available")
            shown = codespace.state
        if time.monotonic() + poll > deadline:
            return None
        time.sleep(poll)


# --- codespace-ssh ----------------------------------------------------------------------


@attrs.frozen
class ConnectOptions:
    """``codespace-ssh``."""

    ssh_args: tuple[str, ...] = ()
    """Passed to ssh after ``--`` (options, or a command)."""
    common: CommonOptions = attrs.field(factory=CommonOptions)
    """The shared options."""


def connect_to_codespace(options: ConnectOptions) -> int:
    """Sync both ways, run ``gh codespace ssh`` here, then pull; ssh's exit status.

    The syncs happen only when the current directory is a checkout of the
    codespace's repository; one that fails warns and changes nothing else.
    """
    common = options.common
    gh = common.gh()
    settings = common.codespace_options(gh)
    codespace = pick_codespace(gh, common.codespace, settings.where)
    in_checkout = checkout_of(codespace, settings.where) is not None
    if not common.dry_run:
        # The user asks to connect: a shut-down codespace is started, and said so once
        # (by the sync's transport when there is a sync, else here).
        check_codespace_state(
            codespace, wake=True, notify=_quiet if in_checkout else settings.notify
        )
    if in_checkout:
        # Both ways first: this brings home work from a codespace that timed out.
        _warned_sync(codespace, settings, common, Direction.BOTH, "before connecting")
    else:
        common.notice(
            f"not syncing: {settings.where} is not a checkout of {codespace.repository}"
            " (run from the checkout to sync sessions)"
        )
    if common.dry_run:
        common.notice(f"would run: gh codespace ssh -c {codespace.name}")
        return EXIT_OK
    code = gh.interactive_ssh(codespace.name, options.ssh_args)
    if in_checkout:
        top = checkout_for(codespace, [settings.where])
        # The work there too (a codespace deleted next takes it along), when this
        # checkout's repository can keep it.
        after = None
        if top is not None:
            remote = workspace_path(codespace, settings.workspace)
            after = checkpoint_after(codespace, top, remote, common.notice)
        _warned_sync(codespace, settings, common, Direction.PULL, "after the session", after)
    return code


def _quiet(message: str) -> None:
    """Says nothing (someone else says it)."""


def _warned_sync(
    codespace: Codespace,
    settings: CodespaceOptions,
    common: CommonOptions,
    direction: Direction,
    when: str,
    after: AfterSync | None = None,
) -> None:
    """A sync whose failure is a warning on stderr, never an exception (``after``:
    then run on its connection)."""
    try:
        parts = parts_of(
            codespace, settings, dev_env=True, sessions=True, days=common.days, direction=direction
        )
    except SessionSyncError as exc:
        common.notice(f"warning: sync {when} skipped: {exc}")
        return
    way = {
        Direction.BOTH: "both ways with",
        Direction.PULL: "from",
        Direction.PUSH: "the dev env and sessions to",
    }[direction]
    common.notice(f"syncing {way} {codespace.name} {when}")
    reports, error = sync_parts(codespace, parts, settings, after=after)
    write_reports(reports, sys.stderr)
    problem = failure_summary(error, reports)
    if problem is not None:
        common.notice(f"warning: sync {when} failed: {problem}")


# --- sync-to-codespace ------------------------------------------------------------------


@attrs.frozen
class PushOptions:
    """``sync-to-codespace``."""

    sessions: bool = True
    """Push the recent sessions too (``--no-sessions``: only the dev env)."""
    common: CommonOptions = attrs.field(factory=CommonOptions)
    """The shared options."""


def sync_to_codespace(options: PushOptions) -> int:
    """Push the dev env folder (from a checkout of the codespace's repository) and,
    unless told not to, the recent sessions."""
    common = options.common
    gh = common.gh()
    settings = common.codespace_options(gh)
    codespace = pick_codespace(gh, common.codespace, settings.where)
    parts = parts_of(
        codespace,
        settings,
        dev_env=True,
        sessions=options.sessions,
        days=common.days,
        direction=Direction.PUSH,
    )
    if not parts:
        common.notice(
            f"nothing to push: {settings.where} is not a checkout of {codespace.repository}"
            " and --no-sessions was given"
        )
        return EXIT_OK
    reports, error = sync_parts(codespace, parts, settings, show=not common.json)
    return finish(codespace, reports, error, common)


# --- sync-dev-env -----------------------------------------------------------------------


@attrs.frozen
class DevEnvOptions:
    """``sync-dev-env``."""

    dev_env: bool = True
    """Sync the checkout's dev env folder (``--sessions-only``: not)."""
    sessions: bool = False
    """Sync the recent sessions too (``--sessions``, ``--sessions-only``)."""
    direction: Direction = Direction.BOTH
    """Both ways, or ``--push`` / ``--pull`` only."""
    common: CommonOptions = attrs.field(factory=CommonOptions)
    """The shared options."""


def sync_dev_env(options: DevEnvOptions) -> int:
    """Sync ``.coding-agent/`` between this checkout and the codespace's (newer wins,
    the replaced copy is backed up, nothing is deleted), and the sessions if asked."""
    common = options.common
    gh = common.gh()
    settings = common.codespace_options(gh)
    codespace = pick_codespace(gh, common.codespace, settings.where)
    if options.dev_env and checkout_of(codespace, settings.where) is None:
        raise UsageError(
            f"{settings.where} is not in a checkout of {codespace.repository}: run from the"
            f" checkout (its {DEV_ENV_FOLDER}/ is what is synced), or pass --sessions-only"
        )
    parts = parts_of(
        codespace,
        settings,
        dev_env=options.dev_env,
        sessions=options.sessions,
        days=common.days,
        direction=options.direction,
    )
    reports, error = sync_parts(codespace, parts, settings, show=not common.json)
    return finish(codespace, reports, error, common)
