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
from session_sync.engine import ProgressCallback, SyncRequest, apply_survey
from session_sync.errors import SessionSyncError, TransportError
from session_sync.model.pairing import (
    Pair,
    Pairing,
    ProjectSide,
    Side,
    TargetKind,
    Unpaired,
    pair_projects,
)
from session_sync.model.report import SyncReport
from session_sync.model.wire import check_project_list
from session_sync.survey import Survey, survey_many
from session_sync.transports.base import Transport
from session_sync.transports.connection import DEFAULT_IO_TIMEOUT, AgentConnection

__all__ = ["NO_CWD", "AllProjects", "ProjectOutcome", "all_projects"]


NO_CWD = "its sessions record no working directory"


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


def _sides(listing: Mapping[str, Any], side: Side) -> tuple[list[ProjectSide], list[Unpaired]]:
    projects: list[ProjectSide] = []
    nameless: list[Unpaired] = []
    for facts in listing["projects"]:
        if facts["cwd"] is None:
            dirs = ", ".join(facts["dirs"])
            nameless.append(Unpaired(side, f"(projects/{dirs})", NO_CWD))
        else:
            projects.append(ProjectSide(facts["cwd"], facts.get("repo")))
    return projects, nameless


def _home_of(connection: AgentConnection, kind: TargetKind) -> str | None:
    """The other side's home (for ``--dir``, this machine's: it is the same one)."""
    if kind is TargetKind.DIR:
        return os.path.expanduser("~")
    home = connection.hello.get("home")
    return home if isinstance(home, str) else None


def _under_home(path: str, home: str | None) -> str:
    """A path map's remote side with ``~`` as the other machine's home."""
    if home and (path == "~" or path.startswith("~/")):
        return home.rstrip("/") + path[1:]
    return path


def _pairing(
    template: SyncRequest,
    connection: AgentConnection,
    kind: TargetKind,
    path_maps: Mapping[str, str] | None,
) -> Pairing:
    where = connection.transport.description
    theirs = connection.request({"op": "list_projects", "days": template.days})
    check_project_list(theirs, where, PROJECTS_LIMIT)
    ours = list_projects(str(template.local_config), template.days)
    local, local_nameless = _sides(ours, Side.HERE)
    remote, remote_nameless = _sides(theirs, Side.THERE)
    remote_home = _home_of(connection, kind)
    pairing = pair_projects(
        local,
        remote,
        kind=kind,
        local_home=os.path.expanduser("~"),
        remote_home=remote_home,
        path_maps={
            os.path.expanduser(k): _under_home(v, remote_home) for k, v in (path_maps or {}).items()
        },
    )
    return attrs.evolve(
        pairing, unpaired=pairing.unpaired + tuple(local_nameless) + tuple(remote_nameless)
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
) -> AllProjects:
    """Survey every project with recent sessions on either side, paired by the
    rules of ``model.pairing``, and with ``apply`` sync each (``template`` gives the
    days, direction, dry run and what else travels; its paths are ignored)."""
    started = time.monotonic()
    connection = AgentConnection(transport, io_timeout=io_timeout, compress=compress)
    try:
        moment = now or dt.datetime.now(dt.timezone.utc)
        pairing = _pairing(template, connection, kind, path_maps)
        requests = [
            attrs.evolve(
                template, local_path=pair.local_path, remote_path=pair.remote_path, repo=None
            )
            for pair in pairing.pairs
        ]
        surveys = survey_many(requests, connection, moment) if requests else []
        outcomes = []
        lost: str | None = None
        for pair, request, found in zip(pairing.pairs, requests, surveys, strict=True):
            if isinstance(found, SessionSyncError):
                outcomes.append(ProjectOutcome(pair, error=str(found)))
            elif not apply:
                outcomes.append(ProjectOutcome(pair, found))
            elif lost is not None:
                outcomes.append(ProjectOutcome(pair, found, error=f"not synced: {lost}"))
            else:
                try:
                    report = apply_survey(found.request or request, found, connection, progress)
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
            _home_of(connection, kind),
            connection.round_trips,
            time.monotonic() - started,
        )
    finally:
        connection.close()
