"""Pairing: which project here goes with which project there, for ``--all``.

A pure function of the two sides' project lists. The rules, in order:

1. by git remote, where both sides have a checkout of the same repository (and
   each side has exactly one project of it);
2. else by the target path the project would have on the other side: a path map
   (local prefix -> remote prefix) when one matches (an explicit map beats the
   default), else the same path relative to the home (``--host``), the same
   absolute path (``--dir``), or ``/workspaces/<repo>`` (a codespace).

A project found on one side only is created on the other at that target path. A
project that cannot be paired (no target path, or two projects with one target,
or a target already paired with another) is listed with the reason and left alone.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Mapping, Sequence

import attrs

from session_sync.agent.paths import normalize_github_repo

__all__ = [
    "CODESPACE_WORKSPACES",
    "Pair",
    "PairRule",
    "Pairing",
    "ProjectSide",
    "Side",
    "TargetKind",
    "Unpaired",
    "mapped_path",
    "pair_projects",
]


CODESPACE_WORKSPACES = "/workspaces"


class TargetKind(enum.Enum):
    """What kind of machine the other side is (its path rule depends on it)."""

    HOST = "host"
    CODESPACE = "codespace"
    DIR = "dir"


class Side(enum.Enum):
    """Which side of a sync a project was found on."""

    HERE = "here"
    THERE = "there"


class PairRule(enum.Enum):
    """Why two projects are paired."""

    GIT_REMOTE = "git remote"
    SAME_PATH = "same path"
    PATH_MAP = "path map"
    WORKSPACE = "codespace workspace"


@attrs.frozen
class ProjectSide:
    """One project as one side lists it."""

    path: str
    """The project's absolute path on that side (its sessions' recorded cwd)."""
    repo: str | None = None
    """The git remote of the checkout at ``path`` there, if there is one."""


@attrs.frozen
class Pair:
    """Two project paths that sync with each other."""

    local_path: str
    """The project's path here."""
    remote_path: str
    """The project's path there."""
    rule: PairRule
    """Why they are paired."""
    repo: str | None = None
    """The repository (normalized) when either side knows it."""
    created: Side | None = None
    """The side the project does not exist on yet (the sync creates it), if any."""


@attrs.frozen
class Unpaired:
    """A project left alone, and why."""

    side: Side
    """Where it was found."""
    path: str
    """Its path there."""
    reason: str
    """Why it cannot be paired, in words."""


@attrs.frozen
class Pairing:
    """The pairs, and what is left alone."""

    pairs: tuple[Pair, ...]
    """Paired projects, by local path."""
    unpaired: tuple[Unpaired, ...]
    """Projects left alone, by side then path."""


def _norm(path: str) -> str:
    return posixpath.normpath(path) if path else path


def _under(path: str, prefix: str) -> str | None:
    """``path`` relative to ``prefix`` ("" for the prefix itself), or None."""
    prefix = _norm(prefix)
    if path == prefix:
        return ""
    if prefix and path.startswith(prefix.rstrip("/") + "/"):
        return path[len(prefix.rstrip("/")) + 1 :]
    return None


def _mapped(path: str, maps: Sequence[tuple[str, str]]) -> str | None:
    """Through the longest matching prefix of ``maps``, or None."""
    for source, destination in maps:
        rest = _under(path, source)
        if rest is not None:
            return _norm(posixpath.join(destination, rest)) if rest else _norm(destination)
    return None


def mapped_path(path: str, path_maps: Mapping[str, str]) -> str | None:
    """``path`` through the longest local prefix of ``path_maps`` that holds it, or None."""
    maps = sorted(((_norm(k), _norm(v)) for k, v in path_maps.items()), reverse=True)
    return _mapped(_norm(path), sorted(maps, key=lambda m: len(m[0]), reverse=True))


@attrs.frozen
class _Rules:
    kind: TargetKind
    local_home: str
    remote_home: str | None
    maps: tuple[tuple[str, str], ...]
    """Local prefix -> remote prefix, longest local prefix first."""
    inverse: tuple[tuple[str, str], ...]
    """Remote prefix -> local prefix, longest remote prefix first."""

    def target(self, project: ProjectSide, side: Side) -> tuple[str | None, PairRule, str]:
        """The path ``project`` would have on the other side, the rule, or why not."""
        maps = self.maps if side is Side.HERE else self.inverse
        mapped = _mapped(project.path, maps)
        if mapped is not None:
            return mapped, PairRule.PATH_MAP, ""
        if self.kind is TargetKind.DIR:
            return project.path, PairRule.SAME_PATH, ""
        if self.kind is TargetKind.CODESPACE:
            if side is Side.HERE:
                repo = normalize_github_repo(project.repo)
                if repo is None:
                    return None, PairRule.WORKSPACE, "no git remote: a codespace project needs one"
                name = repo.split("/")[-1]
                return f"{CODESPACE_WORKSPACES}/{name}", PairRule.WORKSPACE, ""
            return None, PairRule.WORKSPACE, "found only in the codespace, and no path map for it"
        home, other = (
            (self.local_home, self.remote_home)
            if side is Side.HERE
            else (self.remote_home, self.local_home)
        )
        rest = _under(project.path, home) if home else None
        if rest is None or other is None:
            return None, PairRule.SAME_PATH, "outside the home, and no path map for it"
        return _norm(posixpath.join(other, rest)), PairRule.SAME_PATH, ""


def _by_repo(
    local: Sequence[ProjectSide], remote: Sequence[ProjectSide]
) -> dict[str, tuple[ProjectSide, ProjectSide]]:
    """Repositories with exactly one project on each side."""

    def index(projects: Sequence[ProjectSide]) -> dict[str, list[ProjectSide]]:
        found: dict[str, list[ProjectSide]] = {}
        for project in projects:
            repo = normalize_github_repo(project.repo)
            if repo is not None:
                found.setdefault(repo, []).append(project)
        return found

    here, there = index(local), index(remote)
    return {
        repo: (here[repo][0], there[repo][0])
        for repo in sorted(here.keys() & there.keys())
        if len(here[repo]) == 1 and len(there[repo]) == 1
    }


def _unique(projects: Sequence[ProjectSide]) -> list[ProjectSide]:
    """One entry per path, sorted by path; of several repos named for one path,
    the least (whatever the order they came in)."""
    repos: dict[str, set[str]] = {}
    for project in projects:
        named = repos.setdefault(_norm(project.path), set())
        if project.repo is not None:
            named.add(project.repo)
    return [ProjectSide(p, min(repos[p]) if repos[p] else None) for p in sorted(repos)]


def pair_projects(
    local: Sequence[ProjectSide],
    remote: Sequence[ProjectSide],
    *,
    kind: TargetKind,
    local_home: str,
    remote_home: str | None,
    path_maps: Mapping[str, str] | None = None,
) -> Pairing:
    """Pair the projects here with those there (see the module's rules).

    Deterministic (the same sets give the same answer whatever their order);
    every project appears exactly once, in one pair or as unpaired.
    """
    maps = sorted(((_norm(k), _norm(v)) for k, v in (path_maps or {}).items()), reverse=True)
    maps.sort(key=lambda m: len(m[0]), reverse=True)
    inverse = sorted(((v, k) for k, v in maps), key=lambda m: (len(m[0]), m), reverse=True)
    rules = _Rules(
        kind, _norm(local_home), remote_home and _norm(remote_home), tuple(maps), tuple(inverse)
    )
    here, there = _unique(local), _unique(remote)
    pairs: list[Pair] = []
    unpaired: list[Unpaired] = []
    taken_here: set[str] = set()
    taken_there: set[str] = set()
    for repo, (mine, theirs) in _by_repo(here, there).items():
        pairs.append(Pair(mine.path, theirs.path, PairRule.GIT_REMOTE, repo))
        taken_here.add(mine.path)
        taken_there.add(theirs.path)
    there_paths = {p.path: p for p in there}
    here_paths = {p.path: p for p in here}
    for side, projects, taken, taken_other, other_paths in (
        (Side.HERE, here, taken_here, taken_there, there_paths),
        (Side.THERE, there, taken_there, taken_here, here_paths),
    ):
        wanted: dict[str, list[tuple[ProjectSide, PairRule]]] = {}
        for project in projects:
            if project.path in taken:
                continue
            target, rule, why = rules.target(project, side)
            if target is None:
                unpaired.append(Unpaired(side, project.path, why))
                continue
            wanted.setdefault(target, []).append((project, rule))
        for target in sorted(wanted):
            claims = wanted[target]
            if len(claims) > 1:
                for project, _ in claims:
                    unpaired.append(
                        Unpaired(side, project.path, f"{len(claims)} projects map to {target}")
                    )
                continue
            project, rule = claims[0]
            if target in taken_other:
                unpaired.append(
                    Unpaired(
                        side,
                        project.path,
                        f"{target} is paired with, or claimed by, another project",
                    )
                )
                continue
            existing = other_paths.get(target)
            known_repo = normalize_github_repo(project.repo) or (
                normalize_github_repo(existing.repo) if existing else None
            )
            created = (
                None if existing is not None else (Side.THERE if side is Side.HERE else Side.HERE)
            )
            local_path, remote_path = (
                (project.path, target) if side is Side.HERE else (target, project.path)
            )
            pairs.append(Pair(local_path, remote_path, rule, known_repo, created))
            taken.add(project.path)
            taken_other.add(target)
        # A project left alone here is not created or claimed from there either.
        taken.update(u.path for u in unpaired if u.side is side)
    return Pairing(
        tuple(sorted(pairs, key=lambda p: (p.local_path, p.remote_path))),
        tuple(sorted(unpaired, key=lambda u: (u.side.value, u.path, u.reason))),
    )
