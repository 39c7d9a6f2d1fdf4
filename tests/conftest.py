"""Shared fixtures for the end-to-end tests: two temp "machines" and ways to run the CLI.

Each machine is a Claude config dir in ``tmp_path`` (``a`` is this machine:
``CLAUDE_CONFIG_DIR`` points at it; ``b`` is the other one, reached with
``--dir``). Sessions are written with the realistic generator of
``session_sync.testing.sessions`` and with mtimes hours in the past: a file modified in
the last 60 s counts as open in Claude and is skipped by every sync.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import pytest

from session_sync.agent.paths import TEMP_PREFIX, encode_project_path
from session_sync.cli import app as cli
from session_sync.testing.hostile_agent import FarSide, HostileTransport
from session_sync.testing.sandbox import FakeGh, Sandbox, SshHost, find_sshd, install_fake_gh
from session_sync.testing.sessions import SessionSpec, write_session
from session_sync.transports import local as local_transport

REPO_ROOT = Path(__file__).resolve().parent.parent
HOUR = 3600.0


class CliResult(NamedTuple):
    """What one run of ``session-sync`` gave back."""

    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        """stdout as exactly one JSON object (fails the test if it is anything else)."""
        decoder = json.JSONDecoder()
        obj, end = decoder.raw_decode(self.out.lstrip())
        assert self.out.lstrip()[end:].strip() == "", f"more than one JSON value:\n{self.out}"
        assert isinstance(obj, dict), f"not a JSON object: {obj!r}"
        return obj


RunCli = Callable[..., CliResult]
"""``run_cli("sync", "--dir", ...)``: the CLI in-process."""


def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    stdin: str | None = None,
    timeout: float = 120.0,
) -> CliResult:
    """Run ``argv`` to its end with this checkout importable; its exit status and output."""
    full_env = dict(env)
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH", "")) if p
    )
    done = subprocess.run(
        list(argv),
        env=full_env,
        cwd=cwd,
        input=stdin.encode() if stdin is not None else None,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


class RunSubprocess(NamedTuple):
    """Runs ``python -m session_sync`` as a real process."""

    env: dict[str, str]

    def __call__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120.0,
    ) -> CliResult:
        return run_process(
            [sys.executable, "-m", "session_sync", *args],
            env=self.env if env is None else env,
            cwd=cwd,
            timeout=timeout,
        )


@attrs.frozen
class Machines:
    """Two Claude config dirs on this box, and the project both talk about."""

    a: Path
    """This machine's config dir (``$CLAUDE_CONFIG_DIR``)."""
    b: Path
    """The other machine's config dir (``--dir``)."""
    project: Path
    """The project checkout's path (realpath), the same on both machines."""
    root: Path
    """``tmp_path``."""

    @property
    def dir_name(self) -> str:
        """The encoded project dir name of ``project``."""
        return encode_project_path(str(self.project))

    def project_dir(self, config: Path) -> Path:
        """``<config>/projects/<encoded project>``."""
        return config / "projects" / self.dir_name

    def transcript(self, config: Path, session_id: str) -> Path:
        """Where a session's ``.jsonl`` lives in ``config``."""
        return self.project_dir(config) / f"{session_id}.jsonl"

    def sync_args(self, *extra: str) -> list[str]:
        """``sync --dir B --local-path PROJECT --json`` plus ``extra``."""
        return ["sync", "--dir", str(self.b), "--local-path", str(self.project), "--json", *extra]


def write_old(
    config: Path,
    spec: SessionSpec,
    *,
    hours: float = 3.0,
    partial_tail: bytes = b"",
    dir_name: str | None = None,
) -> Path:
    """Write ``spec`` under ``config`` with every file's mtime ``hours`` ago.

    The project dir is the encoding of ``spec.cwd`` unless ``dir_name`` says otherwise.
    """
    return write_session(
        config,
        spec,
        project_dir_name=dir_name or encode_project_path(spec.cwd),
        mtime=time.time() - hours * HOUR,
        partial_tail=partial_tail,
    )


def set_mtime(path: Path, *, hours: float) -> int:
    """Set ``path``'s mtime to ``hours`` ago (with a non-zero ns part); returns it in ns."""
    mtime_ns = int((time.time() - hours * HOUR) * 1e9) // 10**9 * 10**9 + 123_456_789
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return mtime_ns


class Entry(NamedTuple):
    """One path of a tree snapshot."""

    kind: str
    mode: int
    mtime_ns: int
    data: bytes | None


def snapshot_tree(root: Path) -> dict[str, Entry]:
    """Every file and dir under ``root``: kind, mode, mtime (ns) and a file's bytes."""
    out: dict[str, Entry] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = path.relative_to(root).as_posix()
            if stat.S_ISREG(st.st_mode):
                out[rel] = Entry(
                    "file", stat.S_IMODE(st.st_mode), st.st_mtime_ns, path.read_bytes()
                )
            else:
                kind = "dir" if stat.S_ISDIR(st.st_mode) else "other"
                # A dir's mtime moves whenever an entry is added or removed inside it.
                out[rel] = Entry(kind, stat.S_IMODE(st.st_mode), st.st_mtime_ns, None)
    return out


HASH_CACHE = "session-sync/hash-cache.json"
"""Under a config dir: the one file a status or a dry run writes."""


def changed_but_the_hash_cache(before: dict[str, Entry], after: dict[str, Entry]) -> list[str]:
    """What changed from ``before`` to ``after`` (two ``snapshot_tree``), less
    session-sync's hash cache, wherever in them.

    A status or a dry run keeps the cache up to date (session-sync's own state:
    the next scan reads less) and must change nothing else. Its dir's mtime moves
    (the cache's atomic rewrite), and when that dir is made for it, so does the
    mtime of the dir it is made in; nothing else of either may change."""
    caches = {r for r in after if r == HASH_CACHE or r.endswith("/" + HASH_CACHE)}
    holders = {r[: -len("/hash-cache.json")] for r in caches}
    made_in = {h.rpartition("/")[0] for h in holders if h not in before}
    changed = []
    for rel in sorted(set(before) | set(after)):
        old, new = before.get(rel), after.get(rel)
        if old == new or rel in caches:
            continue
        if rel in holders and old is None and new is not None and new.kind == "dir":
            continue
        if rel in holders | made_in and old and new and _but_mtime(old) == _but_mtime(new):
            continue
        changed.append(rel)
    return changed


def _but_mtime(entry: Entry) -> Entry:
    return entry._replace(mtime_ns=0)


def session_files(config: Path) -> dict[str, bytes]:
    """``{path under projects/: bytes}`` of every file, session-sync's temp files excluded."""
    projects = config / "projects"
    return {
        rel: entry.data
        for rel, entry in snapshot_tree(projects).items()
        if entry.data is not None and not rel.rsplit("/", 1)[-1].startswith(TEMP_PREFIX)
    }


def temp_files(config: Path) -> list[Path]:
    """session-sync's staging files (``.session-sync-*``) left anywhere under ``projects/``."""
    return sorted(p for p in (config / "projects").rglob(f"{TEMP_PREFIX}*") if p.is_file())


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads the developer's own ``~/.config/session-sync/config.toml``: the
    config file is ``tmp_path/config.toml`` (absent until a test writes it)."""
    path = tmp_path / "config.toml"
    monkeypatch.setenv("SESSION_SYNC_CONFIG", str(path))
    return path


@pytest.fixture
def config_a(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This machine's config dir; ``$CLAUDE_CONFIG_DIR`` points at it."""
    path = tmp_path / "a"
    path.mkdir()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(path))
    return path


@pytest.fixture
def config_b(tmp_path: Path) -> Path:
    """The other machine's config dir."""
    path = tmp_path / "b"
    (path / "projects").mkdir(parents=True)  # a config dir Claude has run with
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project checkout (an existing dir, realpath), the same path on both machines."""
    path = tmp_path / "src" / "app"
    path.mkdir(parents=True)
    return Path(os.path.realpath(path))


@pytest.fixture
def machines(config_a: Path, config_b: Path, project: Path, tmp_path: Path) -> Machines:
    """Both config dirs and the project."""
    return Machines(a=config_a, b=config_b, project=project, root=tmp_path)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Run ``session_sync.cli.app.main`` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            code: int | str | None = cli.main(list(args))
        except SystemExit as exc:  # argparse exits on bad usage
            code = exc.code
        captured = capsys.readouterr()
        if code is None:
            code = 0
        assert isinstance(code, int), f"exit status is not a number: {code!r}"
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def run_subprocess(config_a: Path) -> RunSubprocess:
    """Run ``python -m session_sync ...`` as a real process, ``$CLAUDE_CONFIG_DIR`` = ``a``."""
    return RunSubprocess(env=dict(os.environ))


# --- Remote machines: a real sshd per machine, and a fake gh whose codespaces they are ---

CODESPACE = "fluffy-space-fishstick-q7x9"
"""The simulated codespace's name (``gh codespace list`` shows it)."""
CODESPACE_REPO = "octo-org/app"
"""The repository it was made from: its project path is ``/workspaces/app``."""


def require_openssh() -> None:
    """Skip without OpenSSH, except in CI, which installs it (a skip there would hide bugs)."""
    if find_sshd() is None or shutil.which("ssh") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have OpenSSH (server and client) installed", pytrace=False)
        pytest.skip("OpenSSH server or client not installed")


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """Sandbox keys shared by the whole run; each test adds its own machines."""
    require_openssh()
    with Sandbox(tmp_path_factory.mktemp("sandbox")) as box:
        yield box


@attrs.frozen
class Remote:
    """This machine (a "laptop" home) and one other machine reached over real SSH.

    The CLI runs as a subprocess with ``HOME`` = ``laptop``, so it reads
    ``laptop/.ssh/config`` (alias ``box``) and ``laptop/.claude``. The other
    machine is ``host``, whose sshd gives it ``host.home``; the fake ``gh``
    serves it as codespace ``CODESPACE`` of ``CODESPACE_REPO``.
    """

    laptop: Path
    """This machine's home."""
    project: Path
    """The project checkout here (``laptop/src/app``)."""
    host: SshHost
    """The other machine's sshd."""
    gh: FakeGh
    """The fake gh on ``PATH``."""
    sandbox: Sandbox
    """Keys and the means to add machines."""
    env: dict[str, str]
    """Environment of the CLI subprocess."""

    @property
    def config(self) -> Path:
        """This machine's Claude config dir."""
        return self.laptop / ".claude"

    @property
    def remote_config(self) -> Path:
        """The other machine's Claude config dir."""
        return self.host.home / ".claude"

    @property
    def remote_project(self) -> str:
        """The project's path over there when reached with ``--host`` (same place under home)."""
        return str(self.host.home / "src" / "app")

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120.0
    ) -> CliResult:
        """``python -m session_sync ARGS`` here, from inside the project checkout."""
        full_env = dict(self.env, **(env or {}))
        return RunSubprocess(full_env)(args, cwd=self.project, timeout=timeout)


def make_laptop(home: Path, repo: str) -> tuple[Path, Path]:
    """A laptop home with ``.claude`` and a checkout ``src/<name>`` of GitHub ``repo``
    (its ``.git/config`` names the origin); (home, checkout) as realpaths."""
    project = home / "src" / repo.rsplit("/", 1)[-1]
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "config").write_text(
        f'[remote "origin"]\n\turl = git@github.com:{repo}.git\n'
    )
    (home / ".claude").mkdir()
    return Path(os.path.realpath(home)), Path(os.path.realpath(project))


def laptop_env(gh: FakeGh, laptop: Path) -> dict[str, str]:
    """The environment of a command run on the laptop: its HOME, the fake gh first on
    PATH, and no CLAUDE_CONFIG_DIR (so ``~/.claude`` is used)."""
    env = gh.env(dict(os.environ))
    env["HOME"] = str(laptop)
    env.pop("CLAUDE_CONFIG_DIR", None)
    env.pop("XDG_CACHE_HOME", None)  # the laptop's own ~/.cache, not one shared by tests
    return env


@pytest.fixture
def remote(sandbox: Sandbox, tmp_path: Path) -> Iterator[Remote]:
    """A fresh laptop home and a fresh SSH machine (also served as a codespace)."""
    name = f"{tmp_path.parent.name}-{tmp_path.name}"[-60:]
    host = sandbox.add_host(name)
    laptop, project = make_laptop(tmp_path / "laptop", CODESPACE_REPO)
    sandbox.write_client_config(laptop, {"box": (host.host, host.port)})
    gh = install_fake_gh(
        tmp_path / "bin", tmp_path / "gh-state.json", identity_file=sandbox.client_key
    )
    gh.add_codespace(CODESPACE, CODESPACE_REPO, port=host.port)
    try:
        yield Remote(
            laptop=laptop,
            project=project,
            host=host,
            gh=gh,
            sandbox=sandbox,
            env=laptop_env(gh, laptop),
        )
    finally:
        host.stop()


@pytest.fixture
def hostile_dir(monkeypatch: pytest.MonkeyPatch) -> Callable[[type[FarSide]], None]:
    """Make ``session-sync ... --dir B`` reach a far side of the given class in B."""

    def use(kind: type[FarSide]) -> None:
        # The CLI looks the class up there when it makes the --dir transport.
        monkeypatch.setattr(
            local_transport, "LocalProcessTransport", lambda path: HostileTransport(kind(path))
        )

    return use
