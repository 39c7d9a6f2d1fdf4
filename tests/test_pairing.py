"""Pairing for ``--all``: named cases and the invariants (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from session_sync.model.pairing import (
    PairRule,
    ProjectSide,
    Side,
    TargetKind,
    pair_projects,
)

HOME = "/home/me"
THERE = "/home/you"


def test_git_remote_pairs_across_different_paths() -> None:
    found = pair_projects(
        [ProjectSide("/home/me/code/app", "git@github.com:o/app.git")],
        [ProjectSide("/srv/app", "https://github.com/o/app")],
        kind=TargetKind.HOST,
        local_home=HOME,
        remote_home=THERE,
    )
    assert [(p.local_path, p.remote_path, p.rule) for p in found.pairs] == [
        ("/home/me/code/app", "/srv/app", PairRule.GIT_REMOTE)
    ]
    assert found.unpaired == ()


def test_one_sided_project_is_created_under_the_home_rule() -> None:
    found = pair_projects(
        [ProjectSide("/home/me/x")], [], kind=TargetKind.HOST, local_home=HOME, remote_home=THERE
    )
    assert [(p.remote_path, p.created) for p in found.pairs] == [("/home/you/x", Side.THERE)]


def test_codespace_without_repo_and_outside_home_are_left_alone() -> None:
    found = pair_projects(
        [ProjectSide("/home/me/norepo"), ProjectSide("/home/me/r", "o/r")],
        [],
        kind=TargetKind.CODESPACE,
        local_home=HOME,
        remote_home="/home/codespace",
    )
    assert [p.remote_path for p in found.pairs] == ["/workspaces/r"]
    assert [u.path for u in found.unpaired] == ["/home/me/norepo"]
    outside = pair_projects(
        [ProjectSide("/opt/x")], [], kind=TargetKind.HOST, local_home=HOME, remote_home=THERE
    )
    assert outside.pairs == ()
    assert "outside the home" in outside.unpaired[0].reason
    mapped = pair_projects(
        [ProjectSide("/opt/x")],
        [],
        kind=TargetKind.HOST,
        local_home=HOME,
        remote_home=THERE,
        path_maps={"/opt": "/data"},
    )
    assert [(p.remote_path, p.rule) for p in mapped.pairs] == [("/data/x", PairRule.PATH_MAP)]


def test_two_local_projects_mapping_to_one_remote_are_left_alone() -> None:
    found = pair_projects(
        [ProjectSide("/a/x"), ProjectSide("/b/x")],
        [ProjectSide("/r/x")],
        kind=TargetKind.HOST,
        local_home=HOME,
        remote_home=THERE,
        path_maps={"/a": "/r", "/b": "/r"},
    )
    assert {u.path for u in found.unpaired if u.side is Side.HERE} == {"/a/x", "/b/x"}
    assert all(p.local_path not in {"/a/x", "/b/x"} for p in found.pairs)


_paths = st.sampled_from(
    ["/home/me/a", "/home/me/b", "/home/you/a", "/home/you/c", "/opt/a", "/workspaces/a", "/r/a"]
)
_repos = st.one_of(st.none(), st.sampled_from(["o/a", "o/b", "a"]))
_projects = st.lists(st.builds(ProjectSide, _paths, _repos), max_size=6)


@given(
    _projects,
    _projects,
    st.sampled_from(list(TargetKind)),
    st.dictionaries(st.sampled_from(["/opt", "/r", "/home/me"]), _paths, max_size=2),
    st.randoms(),
)
def test_every_project_once_and_deterministic(local, remote, kind, maps, rng) -> None:  # type: ignore[no-untyped-def]
    found = pair_projects(
        local, remote, kind=kind, local_home=HOME, remote_home=THERE, path_maps=maps
    )
    here = [p.local_path for p in found.pairs if p.created is not Side.HERE]
    there = [p.remote_path for p in found.pairs if p.created is not Side.THERE]
    assert len(here) == len(set(here))
    assert len(there) == len(set(there))
    assert len({p.local_path for p in found.pairs}) == len(found.pairs)
    assert len({p.remote_path for p in found.pairs}) == len(found.pairs)
    left_here = {u.path for u in found.unpaired if u.side is Side.HERE}
    left_there = {u.path for u in found.unpaired if u.side is Side.THERE}
    assert {p.path for p in local} == set(here) | left_here
    assert not set(here) & left_here
    assert {p.path for p in remote} == set(there) | left_there
    assert not set(there) & left_there
    shuffled_local, shuffled_remote = list(local), list(remote)
    rng.shuffle(shuffled_local)
    rng.shuffle(shuffled_remote)
    again = pair_projects(
        shuffled_local,
        shuffled_remote,
        kind=kind,
        local_home=HOME,
        remote_home=THERE,
        path_maps=maps,
    )
    assert again == found
