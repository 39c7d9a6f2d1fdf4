"""The rules of the package's layout, checked by parsing the code (``ast``).

* ``session_sync.model`` is pure: no OS, processes, clocks or threads, and none of
  the layers above it (transports, engine, github, cli).
* ``session_sync.agent`` is the stdlib-only agent shipped to the far side: it imports
  the standard library and its siblings (relatively) only, parses as Python 3.8
  (vermin), and really syncs when the far side's interpreter is a Python 3.8.
* The bin/ commands, pyproject's shared-scripts table and the Ansible role's list of
  linked commands agree.
* No module is over ``MAX_MODULE_LINES`` lines.
* Importing the package, or asking the CLI for ``--help``, does not import paramiko;
  ``--help`` and a ``--dir`` sync with nothing to do import none of ``HEAVY``.
"""

from __future__ import annotations

import ast
import glob
import importlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import session_files

from session_sync.bundle import payload_sha256
from session_sync.engine import SyncRequest, run_sync
from session_sync.testing.sessions import (
    continue_session,
    make_session,
    session_bytes,
    write_session,
)
from session_sync.transports.connection import AgentConnection
from session_sync.transports.local import LocalProcessTransport

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (mypy's target) has no tomllib; tomli is the same parser.
    tomllib = pytest.importorskip("tomli")

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = REPO_ROOT / "session_sync"
MODEL_DIR = PACKAGE_DIR / "model"
AGENT_DIR = PACKAGE_DIR / "agent"
ROLE_DIR = REPO_ROOT / "ansible" / "roles" / "session_sync"

MAX_MODULE_LINES = 450

MODEL_FORBIDDEN_STDLIB = frozenset(
    {"os", "subprocess", "socket", "time", "shutil", "pathlib", "threading"}
)
"""Top-level modules ``session_sync.model`` must not import (nor any of their submodules)."""

MODEL_FORBIDDEN_PACKAGES = (
    "session_sync.transports",
    "session_sync.engine",
    "session_sync.exchange",
    "session_sync.knowledge",
    "session_sync.github",
    "session_sync.cli",
)
"""Layers above the model: it must import none of their modules."""


# --- Reading imports with ast -------------------------------------------------------


class ImportRef(NamedTuple):
    """One module an import statement names."""

    path: Path
    lineno: int
    statement: str
    """The statement as written (``ast.unparse``), for messages."""
    level: int
    """0 for an absolute import, else the number of leading dots."""
    module: str
    """For ``level`` 0 the absolute name; else the name after the dots (may be "")."""
    names: tuple[str, ...]
    """The names of a ``from ... import`` (empty for ``import X``)."""

    def where(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.lineno}: {self.statement}"


def package_of(path: Path) -> str:
    """The dotted package ``path`` (a module under the repo root) belongs to."""
    rel = path.relative_to(REPO_ROOT).with_suffix("")
    parts = rel.parts if rel.name == "__init__" else rel.parts[:-1]
    return ".".join(p for p in parts if p != "__init__")


def import_refs(path: Path) -> list[ImportRef]:
    """Every import in ``path``, at any depth (a function's lazy import counts too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    refs: list[ImportRef] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                refs.append(ImportRef(path, node.lineno, ast.unparse(node), 0, alias.name, ()))
        elif isinstance(node, ast.ImportFrom):
            refs.append(
                ImportRef(
                    path,
                    node.lineno,
                    ast.unparse(node),
                    node.level,
                    node.module or "",
                    tuple(alias.name for alias in node.names),
                )
            )
    return sorted(refs, key=lambda ref: ref.lineno)


def absolute_names(ref: ImportRef) -> list[str]:
    """The absolute module names ``ref`` may import.

    ``import a.b`` gives ``a.b``; ``from a import b`` gives ``a`` and ``a.b`` (``b``
    may be a submodule); a relative import is resolved against the file's package.
    """
    if ref.level == 0:
        base = ref.module
    else:
        package = package_of(ref.path).split(".")
        keep = len(package) - (ref.level - 1)
        anchor = ".".join(package[: max(keep, 0)])
        base = ".".join(p for p in (anchor, ref.module) if p)
    names = [base] if base else []
    names.extend(f"{base}.{name}" if base else name for name in ref.names if name != "*")
    return names


def python_files(directory: Path) -> list[Path]:
    files = sorted(directory.rglob("*.py"))
    assert files, f"no Python files under {directory} (has the package moved?)"
    return files


# --- 1. The model is pure -----------------------------------------------------------


def model_violations(path: Path) -> list[str]:
    problems = []
    for ref in import_refs(path):
        for name in absolute_names(ref):
            top = name.split(".", 1)[0]
            if top in MODEL_FORBIDDEN_STDLIB:
                problems.append(f"{ref.where()}  (imports {name!r}: the model does no I/O)")
                break
            layer = next(
                (p for p in MODEL_FORBIDDEN_PACKAGES if name == p or name.startswith(p + ".")),
                None,
            )
            if layer is not None:
                problems.append(f"{ref.where()}  (imports {name!r}: {layer} is above the model)")
                break
    return problems


def test_model_is_pure() -> None:
    problems = [p for path in python_files(MODEL_DIR) for p in model_violations(path)]
    assert not problems, "session_sync/model imports what it must not:\n" + "\n".join(problems)


# --- 2. The agent imports the standard library and its siblings only ---------------


def agent_siblings() -> set[str]:
    return {path.stem for path in AGENT_DIR.glob("*.py") if path.stem != "__init__"}


def agent_violations(path: Path, siblings: set[str]) -> list[str]:
    problems = []
    for ref in import_refs(path):
        if ref.level == 0:
            top = ref.module.split(".", 1)[0]
            if top == "session_sync":
                problems.append(
                    f"{ref.where()}  (absolute session_sync import: use a relative import,"
                    " the agent runs as another package on the far side)"
                )
            elif top not in sys.stdlib_module_names:
                problems.append(f"{ref.where()}  ({top!r} is not in the standard library)")
        elif ref.level > 1:
            problems.append(f"{ref.where()}  (reaches outside session_sync/agent)")
        elif ref.module:
            if ref.module.split(".", 1)[0] not in siblings:
                problems.append(f"{ref.where()}  (no sibling module {ref.module!r} in agent/)")
        else:
            missing = [name for name in ref.names if name not in siblings]
            if missing:
                problems.append(
                    f"{ref.where()}  ({', '.join(missing)} not sibling modules:"
                    " agent/__init__.py exports nothing)"
                )
    return problems


def test_agent_imports_stdlib_and_siblings_only() -> None:
    siblings = agent_siblings()
    problems = [p for path in python_files(AGENT_DIR) for p in agent_violations(path, siblings)]
    assert not problems, "session_sync/agent imports what it must not:\n" + "\n".join(problems)


def test_agent_init_imports_nothing() -> None:
    refs = import_refs(AGENT_DIR / "__init__.py")
    assert not refs, "session_sync/agent/__init__.py must import nothing:\n" + "\n".join(
        ref.where() for ref in refs
    )


def test_agent_parses_as_python_3_8() -> None:
    # vermin has no ``__main__`` (``python -m vermin`` fails): call its main the
    # way its console script does, in this interpreter (the project's venv).
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from vermin import main; sys.exit(main())",
            "--target=3.8-",
            "--no-tips",
            "--violations",
            "session_sync/agent",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, (
        f"vermin says session_sync/agent needs more than Python 3.8"
        f" (exit {done.returncode}):\n{done.stdout}{done.stderr}"
    )


# --- 3. The shipped agent runs under a real Python 3.8 ------------------------------


def python38_candidates() -> Iterator[str]:
    """Places a Python 3.8 may be, best first (each still has to prove it runs)."""
    found = shutil.which("python3.8")
    if found:
        yield found
    patterns = [str(Path.home() / ".pyenv" / "versions" / "3.8*" / "bin" / "python3.8")]
    roots = [os.environ.get("PYENV_ROOT", "")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run(
                [pyenv, "root"], capture_output=True, text=True, timeout=30, check=False
            )
            roots.append(out.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    patterns.extend(
        os.path.join(root, "versions", "3.8*", "bin", "python3.8") for root in roots if root
    )
    seen: set[str] = set()
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            if path not in seen:
                seen.add(path)
                yield path


def find_python38() -> tuple[str | None, list[str]]:
    """A working Python 3.8 and, for the skip message, what was tried."""
    tried = []
    for candidate in python38_candidates():
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(f"{candidate}: {exc}")
            continue
        if done.returncode == 0 and done.stdout.strip() == "3.8":
            return candidate, tried
        # A pyenv shim exits 127 when 3.8 is installed but not selected.
        tried.append(f"{candidate}: exit {done.returncode} {done.stdout.strip()!r}")
    return None, tried


@pytest.fixture(scope="module")
def python38() -> str:
    """A Python 3.8 interpreter; skipped without one, except in CI (there it fails)."""
    found, tried = find_python38()
    if found is None:
        reason = "no Python 3.8 interpreter found (python3.8 on PATH, ~/.pyenv, pyenv root)"
        if tried:
            reason += "; tried: " + "; ".join(tried)
        if os.environ.get("CI"):
            pytest.fail(f"CI must have Python 3.8: {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def test_agent_says_it_runs_python_3_8(python38: str, tmp_path: Path) -> None:
    far = tmp_path / "far"
    far.mkdir()
    connection = AgentConnection(LocalProcessTransport(far, python=python38))
    try:
        hello = connection.hello
    finally:
        connection.close()
    assert str(hello.get("python", "")).startswith("3.8"), (
        f"the agent started with {python38} reports python {hello.get('python')!r}"
    )
    assert hello.get("agent_sha256") == payload_sha256()
    assert hello.get("config_dir") == str(far)


def test_real_sync_with_a_python_3_8_far_side(python38: str, tmp_path: Path) -> None:
    here, far, project_dir = tmp_path / "here", tmp_path / "far", tmp_path / "project"
    for path in (here, far, project_dir):
        path.mkdir()
    project = str(project_dir)
    rng = random.Random(38)
    hour_ago = time.time() - 3600
    pushed = make_session(rng, project, turns=3, with_subagent=True, with_tool_result=True)
    pulled = make_session(rng, project, turns=4, with_subagent=True)
    shared = make_session(rng, project, turns=2)
    grown = continue_session(rng, shared, turns=2)
    write_session(here, pushed, mtime=hour_ago)
    write_session(far, pulled, mtime=hour_ago)
    write_session(here, shared, mtime=hour_ago - 600)
    write_session(far, grown, mtime=hour_ago)

    report = run_sync(
        SyncRequest(local_config=here, local_path=project, remote_path=project),
        LocalProcessTransport(far, python=python38),
    )

    failed = [(i.file, i.error) for i in report.items if i.outcome == "failed"]
    assert report.ok, f"the sync with a Python 3.8 far side failed: {failed}"
    assert report.pushed >= 1, report.items
    assert report.pulled >= 1, report.items
    for spec in (pushed, pulled, grown):
        [path_here] = list(here.glob(f"projects/*/{spec.session_id}.jsonl"))
        [path_far] = list(far.glob(f"projects/*/{spec.session_id}.jsonl"))
        assert path_here.read_bytes() == session_bytes(spec), f"{path_here} is not whole"
        assert path_far.read_bytes() == session_bytes(spec), f"{path_far} is not whole"
    # Every file (subagents, tool results) arrived byte for byte, both ways.
    assert session_files(here) == session_files(far)

    again = run_sync(
        SyncRequest(local_config=here, local_path=project, remote_path=project),
        LocalProcessTransport(far, python=python38),
    )
    assert again.ok
    assert (again.pushed, again.pulled) == (0, 0), again.items


# --- 4. The bin/ commands, pyproject and the Ansible role agree ---------------------


def bin_commands() -> set[str]:
    return {
        path.name
        for path in (REPO_ROOT / "bin").iterdir()
        if path.is_file() and not path.name.startswith(".")
    }


def pyproject() -> dict[str, Any]:
    with (REPO_ROOT / "pyproject.toml").open("rb") as fh:
        config: dict[str, Any] = tomllib.load(fh)
    return config


def load_yaml(path: Path) -> Any:
    # PyYAML comes with ansible-core (dev group) but has no type stubs here.
    yaml = importlib.import_module("yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def role_commands() -> list[str]:
    defaults = load_yaml(ROLE_DIR / "defaults" / "main.yml")
    commands = defaults.get("session_sync_commands")
    assert isinstance(commands, list), (
        f"{ROLE_DIR / 'defaults/main.yml'}: session_sync_commands is not a list: {commands!r}"
    )
    return [str(c) for c in commands]


def test_role_links_its_command_list() -> None:
    tasks = load_yaml(ROLE_DIR / "tasks" / "install.yml")
    links = [
        task
        for task in tasks
        if isinstance(task, dict)
        and isinstance(task.get("ansible.builtin.file"), dict)
        and task["ansible.builtin.file"].get("state") == "link"
    ]
    assert links, "the role's install.yml has no task that links the commands"
    for task in links:
        assert re.fullmatch(r"\{\{\s*session_sync_commands\s*\}\}", str(task.get("loop"))), (
            f"task {task.get('name')!r} links {task.get('loop')!r}, not session_sync_commands"
        )


def describe(label: str, names: set[str], others: Sequence[tuple[str, set[str]]]) -> str:
    lines = []
    for other_label, other in others:
        if names - other:
            lines.append(f"  in {label}, not in {other_label}: {sorted(names - other)}")
    return "\n".join(lines)


def test_commands_agree() -> None:
    config = pyproject()
    shared = config["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-scripts"]
    wrong_source = {src: name for src, name in shared.items() if src != f"bin/{name}"}
    assert not wrong_source, f"shared-scripts entries not installed as bin/<name>: {wrong_source}"
    entry_points = set(config["project"].get("scripts", {}))
    role = role_commands()
    duplicates = sorted({c for c in role if role.count(c) > 1})
    assert not duplicates, f"the role lists commands twice: {duplicates}"

    # The role also links the console scripts (``session-sync``), which are not bin/
    # commands; every one of them must be there, and the rest must be the bin/ set.
    missing_entry_points = entry_points - set(role)
    assert not missing_entry_points, (
        f"the role does not link the console scripts {sorted(missing_entry_points)}"
    )
    sets = [
        ("bin/", bin_commands()),
        ("pyproject shared-scripts", set(shared.values())),
        ("the role's session_sync_commands (console scripts aside)", set(role) - entry_points),
    ]
    problems = [describe(label, names, sets) for label, names in sets]
    assert all(names == sets[0][1] for _, names in sets), "the command lists differ:\n" + (
        "\n".join(p for p in problems if p)
    )


# --- 5. Module size -----------------------------------------------------------------


def test_no_module_is_too_long() -> None:
    sizes = {
        path: len(path.read_text(encoding="utf-8").splitlines())
        for path in python_files(PACKAGE_DIR)
    }
    offenders = sorted(
        ((n, p) for p, n in sizes.items() if n > MAX_MODULE_LINES), key=lambda x: -x[0]
    )
    assert not offenders, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(
        f"  {path.relative_to(REPO_ROOT)}: {n} lines" for n, path in offenders
    )


# --- 6. paramiko stays out of the import of the package and of --help ---------------


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """This interpreter on ``args`` in a fresh process, the checkout importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def import_chain(code: str, target: str) -> list[str]:
    """Who imported ``target`` when running ``code`` (``-X importtime``), innermost first."""
    done = run_python("-X", "importtime", "-c", code)
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s*\d+ \|\s*\d+ \|( *)(\S+)$", line)
        if match:
            rows.append((len(match.group(1)), match.group(2)))
    # importtime prints a module after everything it imported, one step deeper.
    start = next((i for i, (_, name) in enumerate(rows) if name == target), None)
    if start is None:
        return []
    chain = [target]
    depth = rows[start][0]
    for indent, name in rows[start + 1 :]:
        if indent < depth:
            chain.append(name)
            depth = indent
    return chain


def assert_no_paramiko(code: str, what: str) -> None:
    done = run_python("-c", code)
    assert done.returncode == 0, f"{what} failed:\n{done.stdout}{done.stderr}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"{what} printed nothing:\n{done.stderr}"
    if lines[-1] != "False":
        chain = import_chain(code, "paramiko")
        pytest.fail(
            f"{what} imports paramiko (printed {lines[-1]!r}); imported by:\n  "
            + "\n  <- ".join(chain),
            pytrace=False,
        )


def test_importing_the_package_does_not_import_paramiko() -> None:
    assert_no_paramiko(
        "import session_sync, sys; print('paramiko' in sys.modules)", "import session_sync"
    )


def test_cli_help_does_not_import_paramiko() -> None:
    code = (
        "import sys\n"
        "from session_sync.cli.app import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('paramiko' in sys.modules)\n"
    )
    assert_no_paramiko(code, "session-sync --help")


def test_version_comes_from_the_package_metadata() -> None:
    import importlib.metadata

    import session_sync

    assert session_sync.__version__ == importlib.metadata.version("session-sync")
    assert "__version__" in dir(session_sync)


def test_public_names_resolve_lazily() -> None:
    """Every name in ``__all__`` is importable from the package (the lazy table has
    no typo), and a submodule is reachable as an attribute, as when all was eager."""
    import session_sync

    for name in session_sync.__all__:
        assert getattr(session_sync, name) is not None, name
    assert session_sync.engine.run_sync is session_sync.run_sync
    with pytest.raises(AttributeError):
        _ = session_sync.no_such_name


HOOK_FORBIDDEN = ("paramiko", "fabric", "rich", "cattrs", "session_sync.engine")
"""What the session-start hook (run at the start of every Claude session) must not import."""


def test_the_session_start_hook_imports_nothing_heavy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    code = (
        "import io, json, sys\n"
        f"sys.stdin = io.TextIOWrapper(io.BytesIO(json.dumps({{'cwd': {str(tmp_path)!r}}})"
        ".encode()))\n"
        "from session_sync.cli.entry import main\n"
        "assert main(['hook', 'session-start']) == 0\n"
        f"print(json.dumps([m for m in {HOOK_FORBIDDEN!r} if m in sys.modules]))\n"
    )
    done = run_python("-c", code)
    assert done.returncode == 0, f"the hook failed:\n{done.stdout}{done.stderr}"
    assert done.stderr == "", done.stderr
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == [], f"the session-start hook imports {imported}"


HEAVY = ("paramiko", "fabric", "invoke", "cattrs", "tenacity", "rich", "dateutil")
"""What ``--help`` and a ``--dir`` sync must not import (each costs 20-200 ms of start-up)."""


def heavy_imports(argv: Sequence[str]) -> list[str]:
    """The ``HEAVY`` modules a fresh process imports running ``session-sync ARGV``."""
    code = (
        "import contextlib, io, json, sys\n"
        "from session_sync.cli.entry import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        code = main({list(argv)!r})\n"
        "    except SystemExit as exc:\n"
        "        code = exc.code\n"
        "tops = {m.split('.')[0] for m in sys.modules}\n"
        f"print(json.dumps([code, sorted(tops & {set(HEAVY)!r})]))\n"
    )
    done = run_python("-c", code)
    assert done.returncode == 0, f"session-sync {argv} failed:\n{done.stdout}{done.stderr}"
    code_and_modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert code_and_modules[0] in (0, None), f"session-sync {argv}: {done.stderr}"
    return list(code_and_modules[1])


def test_help_imports_nothing_heavy() -> None:
    assert heavy_imports(["--help"]) == []
    assert heavy_imports(["sync", "--help"]) == []


def test_a_dir_sync_with_nothing_to_do_imports_nothing_heavy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, far, project_dir = tmp_path / "here", tmp_path / "far", tmp_path / "project"
    for path in (here, far, project_dir):
        path.mkdir()
    rng = random.Random(16)
    hour_ago = time.time() - 3600
    for turns in (2, 3):
        spec = make_session(rng, str(project_dir), turns=turns, with_subagent=True)
        write_session(here, spec, mtime=hour_ago)
        write_session(far, spec, mtime=hour_ago)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(here))
    argv = ["sync", "--dir", str(far), "--local-path", str(project_dir)]
    assert heavy_imports(argv) == []
    # The check sees an import: --json is where cattrs is paid for.
    assert heavy_imports([*argv, "--json"]) == ["cattrs"]
