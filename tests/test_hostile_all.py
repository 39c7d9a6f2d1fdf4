"""``--all`` against a far side that lies in its project list or its scans."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Machines, RunCli, session_files, write_old
from test_hostile import _one_error_line as one_error_line

from session_sync.agent.paths import encode_project_path
from session_sync.testing.hostile_agent import FarSide
from session_sync.testing.sessions import continue_session, make_session


def two_projects(m: Machines) -> None:
    for i, name in enumerate(("one", "two")):
        path = m.root / "src" / name
        path.mkdir(parents=True)
        write_old(m.b, make_session(random.Random(i), str(path), turns=2))


LIST_LIES: dict[str, Callable[[Any], Any]] = {
    "relative cwd": lambda a: {**a, "projects": [{**a["projects"][0], "cwd": "../../etc"}]},
    "NUL in cwd": lambda a: {**a, "projects": [{**a["projects"][0], "cwd": "/a\x00b"}]},
    "huge path": lambda a: {**a, "projects": [{**a["projects"][0], "cwd": "/" + "x" * 5000}]},
    "sessions not a size": lambda a: {**a, "projects": [{**a["projects"][0], "sessions": -1}]},
    "not a list": lambda a: {"projects": {"a": 1}},
    "too many": lambda a: {"projects": a["projects"] * 6000},
}

SCAN_MANY_LIES: dict[str, Callable[[Any], Any]] = {
    "one answer short": lambda a: {"answers": a["answers"][:-1]},
    "one answer too many": lambda a: {"answers": a["answers"] * 2},
    "an answer not an object": lambda a: {"answers": [1, *a["answers"][1:]]},
    "an error not a string": lambda a: {"answers": [{"error": 5}, *a["answers"][1:]]},
}

# Each lie: the FarSide method that tells it, the lie, and what the error line says.
LIES = [
    *(("list_projects", LIST_LIES[k], "malformed project list", k) for k in sorted(LIST_LIES)),
    *(
        ("scan_many", SCAN_MANY_LIES[k], "malformed scan answers", k)
        for k in sorted(SCAN_MANY_LIES)
    ),
]


@pytest.mark.parametrize(("method", "lie", "said"), [p[:3] for p in LIES], ids=[p[3] for p in LIES])
def test_a_malformed_list_or_scan_answer_is_one_protocol_error_line(
    method: str,
    lie: Callable[[Any], Any],
    said: str,
    machines: Machines,
    run_cli: RunCli,
    hostile_dir: Callable[[type[FarSide]], None],
) -> None:
    two_projects(machines)
    honest = getattr(FarSide, method)

    class Liar(FarSide):
        pass

    setattr(Liar, method, lambda self, request: lie(honest(self, request)))
    hostile_dir(Liar)
    result = run_cli("sync", "--all", "--dir", str(machines.b))
    assert result.code == 1, result
    assert f"{said} from hostile" in one_error_line(result.err)
    assert session_files(machines.a) == {}


def test_a_refused_scan_fails_its_project_only(
    machines: Machines, run_cli: RunCli, hostile_dir: Callable[[type[FarSide]], None]
) -> None:
    two_projects(machines)

    class RefusesOne(FarSide):
        def scan_many(self, request: dict[str, Any]) -> Any:
            answer = super().scan_many(request)
            answer["answers"][0] = {"error": "no \x1b[31mthanks"}
            return answer

    hostile_dir(RefusesOne)
    result = run_cli("sync", "--all", "--dir", str(machines.b), "--json")
    assert result.code == 1, result
    projects = result.json()["projects"]
    assert "refused: no" in projects[0]["error"]
    assert projects[1]["report"]["pulled"] == 1
    assert [Path(k).parent.name for k in session_files(machines.a)] == [
        encode_project_path(projects[1]["local_path"])
    ]
    text = run_cli("status", "--all", "--dir", str(machines.b))
    assert "\x1b" not in text.out


def test_a_refused_rescan_fails_its_project_only(
    machines: Machines, run_cli: RunCli, hostile_dir: Callable[[type[FarSide]], None]
) -> None:
    two_projects(machines)
    # Project one: a session old here that grew there (its prefix needs a second scan).
    one = machines.root / "src" / "one"
    spec = make_session(random.Random(9), str(one), turns=2)
    write_old(machines.a, spec, hours=24 * 20)
    write_old(machines.b, continue_session(random.Random(9), spec), hours=1)

    class RefusesTheRescan(FarSide):
        def scan_many(self, request: dict[str, Any]) -> Any:
            answer = super().scan_many(request)
            if sum(1 for r in self.requests if r.get("op") == "scan_many") > 1:
                answer["answers"] = [{"error": "not again"} for _ in answer["answers"]]
            return answer

    hostile_dir(RefusesTheRescan)
    result = run_cli("sync", "--all", "--dir", str(machines.b), "--json")
    assert result.code == 1, result
    projects = {Path(p["local_path"]).name: p for p in result.json()["projects"]}
    assert "refused: not again" in projects["one"]["error"]
    assert projects["two"]["report"]["pulled"] == 1
