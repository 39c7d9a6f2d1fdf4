"""Every project at once (``--all``): list both sides, pair, survey, sync, over one connection.

The round trips do not grow with the number of projects: one ``list_projects``,
one ``scan_many`` carrying every project's scan (and one more for the projects
whose prefixes are missing). Only the applying does: each project that has
files to move (or memory and history to land there) costs its ``exchange``.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping
from typing import Any

import attrs

from session_sync.agent.listing import PROJECTS_LIMIT, list_projects
from session_sync.agent.paths import (
    encode_project_path,
    encoded_names_match,
    repositories_match,
)
from session_sync.engine import ProgressCallback, SyncRequest, apply_survey
from session_sync.errors import SessionSyncError, TransportError
from session_sync.model.pairing import (
    Pair,
    Pairing,
    PairRule,
    ProjectSide,
    Side,
    TargetKind,
    Unpaired,
    pair_projects,
)
from session_sync.model.report import SyncReport
from session_sync.model.wire import check_project_list
from session_sync.projects import remote_project_path
from session_sync.survey import Survey, survey_many
from session_sync.transports.base import Transport
from session_sync.transports.connection import DEFAULT_IO_TIMEOUT, AgentConnection

__all__ = ["NO_CWD", "AllProjects", "ProjectOutcome", "all_projects"]


NO_CWD = "its sessions record no working directory"

TOO_MANY = f"over {PROJECTS_LIMIT} projects: these were not listed"


@attrs.frozen
class ProjectOutcome:
    """One paired project: what was found, and (for a sync) what was done."""

    pair: Pair
    """The two paths and why they are paired."""
    survey: Survey | None = None
    """Both sides scanned and planned (None: the survey failed)."""
    report: SyncReport | None = None
    """What the sync did (None: a survey only, or it failed)."""
    error: str | None = None
    """Why the project could not be surveyed or synced."""


@attrs.frozen
class AllProjects:
    """Every project of both sides: the paired ones and those left alone."""

    outcomes: tuple[ProjectOutcome, ...]
    """One per pair, by local path."""
    unpaired: tuple[Unpaired, ...]
    """Projects left alone, and why."""
    remote_description: str
    """The other machine, in words."""
    remote_home: str | None
    """Its home dir (None: it did not say)."""
    round_trips: int
    """Requests made over the connection, all projects together."""
    seconds: float
    """How long it took, connection included."""

    @property
    def failed(self) -> int:
        """Projects that could not be surveyed, or whose sync failed a file."""
        return sum(
            1 for o in self.outcomes if o.error is not None or (o.report and not o.report.ok)
        )


@attrs.frozen
class _KnownByName:
    """A project dir whose sessions all came from another machine: its path here is
    known by the dir's name only (they record the other machine's)."""

    side: Side
    dir: str
    recorded: str


def _sides(
    listing: Mapping[str, Any], side: Side
) -> tuple[list[ProjectSide], list[Unpaired], list[_KnownByName]]:
    projects: list[ProjectSide] = []
    nameless: list[Unpaired] = []
    by_name: list[_KnownByName] = []
    for facts in listing["projects"]:
        if facts["cwd"] is not None:
            projects.append(ProjectSide(facts["cwd"], facts.get("repo")))
        elif facts.get("recorded") is not None and len(facts["dirs"]) == 1:
            by_name.append(_KnownByName(side, facts["dirs"][0], facts["recorded"]))
        else:
            dirs = ", ".join(facts["dirs"])
            nameless.append(Unpaired(side, f"(projects/{dirs})", NO_CWD))
    if listing.get("more"):
        nameless.append(Unpaired(side, f"({listing['more']} more projects)", TOO_MANY))
    return projects, nameless, by_name


def _settle(
    pairing: Pairing,
    nameless: list[Unpaired],
    by_name: list[_KnownByName],
    codespace_repo: str | None,
) -> Pairing:
    """The pairs, with a project "created" on a side where a dir of its name holds
    sessions from the other machine made existing (it is that one); in a codespace,
    only its own repository's projects are created."""
    names = {(k.side, k.dir): k for k in by_name}
    matched: set[_KnownByName] = set()
    pairs: list[Pair] = []
    unpaired = [*pairing.unpaired, *nameless]
    for pair in pairing.pairs:
        if pair.created is not None:
            path = pair.local_path if pair.created is Side.HERE else pair.remote_path
            encoded = encode_project_path(path, resolve=False)
            hit = names.get((pair.created, encoded)) or next(
                (
                    k
                    for k in by_name
                    if k.side is pair.created and encoded_names_match(k.dir, encoded)
                ),
                None,
            )
            if hit is not None:
                matched.add(hit)
                pair = attrs.evolve(pair, created=None)
        if (
            pair.rule is PairRule.WORKSPACE
            and pair.created is Side.THERE
            and not (codespace_repo and repositories_match(pair.repo, codespace_repo))
        ):
            why = f"not the codespace's repository ({codespace_repo or 'unknown'})"
            unpaired.append(Unpaired(Side.HERE, pair.local_path, why))
            continue
        pairs.append(pair)
    unpaired += [
        Unpaired(
            k.side,
            f"(projects/{k.dir})",
            f"its sessions came from another machine (they record {k.recorded});"
            " no project there pairs with it",
        )
        for k in by_name
        if k not in matched
    ]
    return Pairing(
        tuple(pairs), tuple(sorted(unpaired, key=lambda u: (u.side.value, u.path, u.reason)))
    )


def _home_of(connection: AgentConnection, kind: TargetKind) -> str | None:
    """The other side's home (for ``--dir``, this machine's: it is the same one)."""
    if kind is TargetKind.DIR:
        return os.path.expanduser("~")
    home = connection.hello.get("home")
    return home if isinstance(home, str) else None


def _pairing(
    template: SyncRequest,
    connection: AgentConnection,
    kind: TargetKind,
    remote_home: str | None,
    path_maps: Mapping[str, str] | None,
    codespace_repo: str | None,
) -> Pairing:
    where = connection.transport.description
    theirs = connection.request({"op": "list_projects", "days": template.days})
    check_project_list(theirs, where, PROJECTS_LIMIT)
    ours = list_projects(str(template.local_config), template.days)
    local, local_nameless, local_by_name = _sides(ours, Side.HERE)
    remote, remote_nameless, remote_by_name = _sides(theirs, Side.THERE)
    pairing = pair_projects(
        local,
        remote,
        kind=kind,
        local_home=os.path.expanduser("~"),
        remote_home=remote_home,
        path_maps={
            # ~ there is the other machine's home (a path map may say ~/code).
            os.path.expanduser(k): remote_project_path(v, remote_home) or v
            for k, v in (path_maps or {}).items()
        },
    )
    return _settle(
        pairing, local_nameless + remote_nameless, local_by_name + remote_by_name, codespace_repo
    )


def all_projects(
    template: SyncRequest,
    transport: Transport,
    *,
    kind: TargetKind,
    apply: bool,
    path_maps: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
    now: dt.datetime | None = None,
    io_timeout: float | None = DEFAULT_IO_TIMEOUT,
    compress: str = "auto",
    codespace_repo: str | None = None,
) -> AllProjects:
    """Survey every project with recent sessions on either side, paired by the
    rules of ``model.pairing``, and with ``apply`` sync each (``template`` gives the
    days, direction, dry run and what else travels; its paths are ignored)."""
    started = time.monotonic()
    connection = AgentConnection(transport, io_timeout=io_timeout, compress=compress)
    try:
        moment = now or dt.datetime.now(dt.timezone.utc)
        remote_home = _home_of(connection, kind)
        pairing = _pairing(template, connection, kind, remote_home, path_maps, codespace_repo)
        requests = [
            attrs.evolve(
                template, local_path=pair.local_path, remote_path=pair.remote_path, repo=None
            )
            for pair in pairing.pairs
        ]
        surveys = survey_many(requests, connection, moment) if requests else []
        outcomes = []
        lost: str | None = None
        for pair, found in zip(pairing.pairs, surveys, strict=True):
            if isinstance(found, SessionSyncError):
                outcomes.append(ProjectOutcome(pair, error=str(found)))
            elif not apply:
                outcomes.append(ProjectOutcome(pair, found))
            elif lost is not None:
                outcomes.append(ProjectOutcome(pair, found, error=f"not synced: {lost}"))
            else:
                try:
                    report = apply_survey(found.request, found, connection, progress)
                except TransportError as exc:
                    # The connection is gone: the projects after this one are not tried.
                    lost = str(exc)
                    outcomes.append(ProjectOutcome(pair, found, error=lost))
                except SessionSyncError as exc:
                    outcomes.append(ProjectOutcome(pair, found, error=str(exc)))
                else:
                    outcomes.append(ProjectOutcome(pair, found, report))
        return AllProjects(
            tuple(outcomes),
            pairing.unpaired,
            transport.description,
            remote_home,
            connection.round_trips,
            time.monotonic() - started,
        )
    finally:
        connection.close()
