"""The Ansible role, applied for real: ``ansible-playbook ansible/site.yml``.

Every run is the command the README gives, ``ansible-playbook -i localhost, -c
local ansible/site.yml -e bootstrap_use=...``, against this machine with ``HOME``
a temp dir, so the package is really installed into a venv there (pip, from this
checkout) and the commands really linked into ``~/bin``. The environment hides
any user systemd (no ``XDG_RUNTIME_DIR``, no session bus): the timer is installed
but not started, which is the container case, and no test can touch the user
manager of whoever runs them. What launchd would do cannot be run here; its plist
is rendered by Ansible from the role's own template and parsed with ``plistlib``.
"""

from __future__ import annotations

import json
import os
import plistlib
import random
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import REPO_ROOT, make_laptop, snapshot_tree, write_old

from session_sync.agent.paths import encode_project_path
from session_sync.github.background import default_log_file
from session_sync.learnings.skill import SKILL_MD
from session_sync.testing.sandbox import Sandbox, current_user, install_fake_gh
from session_sync.testing.sandbox.fake_gh import STATE_ENV
from session_sync.testing.sessions import make_session, session_bytes

PLAYBOOK = REPO_ROOT / "ansible" / "site.yml"
ROLE = REPO_ROOT / "ansible" / "roles" / "session_sync"
COMMANDS = (
    "session-sync",
    "codespace-create",
    "codespace-ssh",
    "sync-to-codespace",
    "sync-dev-env",
    "sync-sessions-from-all-codespaces",
)
JOB = "sync-sessions-from-all-codespaces"
UNIT = "claude-session-sync"
APP_REPO = "octo-org/app"
CODESPACE = "app-hourly-q7x9"
INSTALL_TASK = "Install session-sync into the environment"
SKILL_TASK = "Install the /context-sync skill for Claude Code"
NOT_STARTED = "no user systemd is running here"
# Variables that would point the play at the real user's session or config.
HIDDEN_ENV = (
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
    "DBUS_SESSION_BUS_ADDRESS",
    "CLAUDE_CONFIG_DIR",
    "VIRTUAL_ENV",
    "PYTHONPATH",
)


def tool(name: str, comes_with: str = "the dev group (uv sync)") -> str:
    """The path of a tool the role's tests run (found beside this Python first); skips
    without it, except under CI, where a skip would hide the role's bugs."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {name}: it comes with {comes_with}", pytrace=False)
        pytest.skip(f"{name} is not installed")
    return found


def play_env(home: Path, pip_cache: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment (proxies and pip settings included) with ``HOME`` =
    ``home``, nothing that names the real user's session or config, and no colour."""
    env = {
        k: v for k, v in os.environ.items() if k not in HIDDEN_ENV and not k.startswith("ANSIBLE_")
    }
    env.update(
        HOME=str(home),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PIP_CACHE_DIR=str(pip_cache),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)]),
    )
    env.update(extra or {})
    return env


@attrs.frozen
class PlayResult:
    """What one ``ansible-playbook`` run gave back."""

    code: int
    out: str
    err: str

    @property
    def recap(self) -> dict[str, int]:
        """The ``PLAY RECAP`` line's counts: ``{"ok": 19, "changed": 0, ...}``."""
        lines = [ln for ln in self.out.splitlines() if ln.startswith("localhost ")]
        assert len(lines) == 1, f"no single recap line:\n{self.out}\n{self.err}"
        pairs = (word.split("=", 1) for word in lines[0].split(":", 1)[1].split())
        return {key: int(value) for key, value in pairs}

    @property
    def changed_tasks(self) -> list[str]:
        """The names of the tasks (handlers included) that reported a change."""
        current = ""
        changed: list[str] = []
        for line in self.out.splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                current = line.split("[", 1)[1].rsplit("]", 1)[0].split(" : ", 1)[-1]
            elif line.startswith("changed:") and (not changed or changed[-1] != current):
                changed.append(current)
        return changed

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@attrs.frozen
class Machine:
    """A temp home this machine is provisioned for."""

    home: Path
    """``HOME`` of every run."""
    pip_cache: Path
    """pip's cache, shared by the whole test run (each install would download again)."""

    @property
    def venv(self) -> Path:
        return self.home / ".local" / "share" / "session-sync" / "venv"

    @property
    def bin_dir(self) -> Path:
        return self.home / "bin"

    @property
    def units(self) -> Path:
        return self.home / ".config" / "systemd" / "user"

    @property
    def service(self) -> Path:
        return self.units / f"{UNIT}.service"

    @property
    def timer(self) -> Path:
        return self.units / f"{UNIT}.timer"

    def provision(
        self,
        bootstrap_use: str | None,
        variables: Mapping[str, Any] | None = None,
        *,
        check: bool = False,
    ) -> PlayResult:
        """The README's command (``-e bootstrap_use=...`` unless None), plus ``variables``
        (and ``--check`` when ``check``)."""
        argv = [tool("ansible-playbook"), "-i", "localhost,", "-c", "local"]
        argv.append(str(PLAYBOOK))
        if bootstrap_use is not None:
            argv += ["-e", f"bootstrap_use={bootstrap_use}"]
        if variables:
            argv += ["-e", json.dumps(dict(variables))]
        if check:
            argv.append("--check")
        done = subprocess.run(
            argv,
            env=play_env(self.home, self.pip_cache),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=600,
            check=False,
        )
        return PlayResult(
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )

    def installed(self) -> dict[str, Any]:
        """What the role installed: bin links, unit files, the venv's package, the stamp
        (kinds, modes, mtimes, bytes): equal before and after a run that changed nothing."""
        site = sorted(self.venv.glob("lib/python*/site-packages"))
        assert len(site) == 1, site
        dist_info = sorted(site[0].glob("session_sync-*.dist-info"))
        assert len(dist_info) == 1, dist_info
        return {
            "bin": snapshot_tree(self.bin_dir),
            "units": snapshot_tree(self.units),
            "package": snapshot_tree(site[0] / "session_sync"),
            "dist-info": snapshot_tree(dist_info[0]),
            "stamp": self.venv.joinpath("session-sync-source.sha256").stat().st_mtime_ns,
        }


def machine_at(home: Path, pip_cache: Path) -> Machine:
    home.mkdir(parents=True, exist_ok=True)
    return Machine(home=Path(os.path.realpath(home)), pip_cache=pip_cache)


@pytest.fixture(scope="session")
def pip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pip-cache")


def unit_directives(path: Path) -> dict[str, list[str]]:
    """``{"ExecStart": [...], "Environment": [...]}``: every ``Key=value`` of a unit file."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def unescaped(word: str, *, command: bool) -> str:
    """A word of a unit file as systemd takes it, when it holds nothing systemd would
    expand: ``%%`` is ``%`` (and, in a command line, ``$$`` is ``$``). A lone ``%``
    (a specifier, like ``%h``) or, in a command line, ``$`` (a variable) fails the test."""
    out, i = [], 0
    while i < len(word):
        char = word[i]
        if char == "%" or (command and char == "$"):
            assert word[i + 1 : i + 2] == char, f"systemd would expand {word[i:]!r} in {word!r}"
            i += 1
        out.append(char)
        i += 1
    return "".join(out)


def unit_command(service: Path) -> list[str]:
    """The service's ``ExecStart`` as the argv systemd runs."""
    (line,) = unit_directives(service)["ExecStart"]
    return [unescaped(w, command=True) for w in shlex.split(line)]


def unit_environment(service: Path) -> dict[str, str]:
    """The service's ``Environment=`` assignments, as systemd sets them."""
    env: dict[str, str] = {}
    for line in unit_directives(service).get("Environment", []):
        for word in shlex.split(line):
            key, value = unescaped(word, command=False).split("=", 1)
            env[key] = value
    return env


def verify_units(*units: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze --user verify`` (a private runtime dir: there is no user session;
    a temp one, so that nothing is left in the home the units were installed in)."""
    with tempfile.TemporaryDirectory() as runtime:
        return subprocess.run(
            [tool("systemd-analyze", "the apt package systemd"), "--user", "verify"]
            + [str(unit) for unit in units],
            env={"PATH": os.environ.get("PATH", os.defpath), "XDG_RUNTIME_DIR": runtime},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


# --- A work machine: the commands, and the hourly timer -------------------------------


@attrs.frozen
class WorkMachine:
    """A laptop home provisioned for work twice (then once more with ``--check``), and a
    codespace for its hourly job."""

    machine: Machine
    checkout: Path
    first: PlayResult
    second: PlayResult
    after_first: dict[str, Any]
    after_second: dict[str, Any]
    checked: PlayResult
    """A third run, with ``--check``."""
    space_home: Path
    space_workspace: Path


@pytest.fixture(scope="module")
def work(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory, pip_cache: Path
) -> Iterator[WorkMachine]:
    root = tmp_path_factory.mktemp("work")
    home, checkout = make_laptop(root / "home", APP_REPO)
    machine = machine_at(home, pip_cache)
    # The codespace the hourly job will find: a real sshd behind the fake gh. The
    # fake gh sits in ~/bin, which the job's default PATH searches first.
    host = sandbox.add_host(f"{root.name}-space"[-60:])
    workspace = host.home / "workspaces" / "app"
    workspace.mkdir(parents=True)
    gh = install_fake_gh(machine.bin_dir, root / "gh-state.json", identity_file=sandbox.client_key)
    gh.add_codespace(CODESPACE, APP_REPO, port=host.port)
    variables = {
        "session_sync_job_args": ["--workspace", "~/workspaces/{repo}"],
        "session_sync_job_environment": {STATE_ENV: str(gh.state_file)},
        "session_sync_hooks": True,
    }
    try:
        first = machine.provision("work", variables)
        assert first.code == 0, first
        after_first = machine.installed()
        time.sleep(0.01)  # a rewrite in the second run would show in the mtimes
        second = machine.provision("work", variables)
        assert second.code == 0, second
        after_second = machine.installed()
        checked = machine.provision("work", variables, check=True)
        yield WorkMachine(
            machine=machine,
            checkout=checkout,
            first=first,
            second=second,
            after_first=after_first,
            after_second=after_second,
            checked=checked,
            space_home=host.home,
            space_workspace=workspace,
        )
    finally:
        host.stop()


def test_work_machine_gets_the_package_in_its_own_venv(work: WorkMachine) -> None:
    machine = work.machine
    assert work.first.recap["failed"] == 0
    assert INSTALL_TASK in work.first.changed_tasks, work.first
    # Imported from the venv, not from this checkout (no PYTHONPATH, run from /).
    where = subprocess.run(
        [
            str(machine.venv / "bin" / "python"),
            "-c",
            "import session_sync; print(session_sync.__file__)",
        ],
        env={"PATH": "/usr/bin:/bin", "HOME": str(machine.home)},
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(machine.venv), where.stdout


def test_work_machine_gets_every_command_in_bin(work: WorkMachine) -> None:
    machine = work.machine
    for name in COMMANDS:
        link = machine.bin_dir / name
        assert link.is_symlink(), name
        assert Path(os.readlink(link)) == machine.venv / "bin" / name
        # Each runs as it is, with no venv activated and nothing of the checkout.
        done = subprocess.run(
            [str(link), "--help"],
            env={"PATH": "/usr/bin:/bin", "HOME": str(machine.home)},
            cwd="/",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (name, done.stderr)
        assert done.stdout.startswith("usage: "), (name, done.stdout)
        assert name in done.stdout.split("\n", 1)[0], (name, done.stdout)


def test_work_machine_gets_an_hourly_persistent_timer(work: WorkMachine) -> None:
    machine = work.machine
    service = unit_directives(machine.service)
    timer = unit_directives(machine.timer)
    assert service["Type"] == ["oneshot"]
    assert unit_command(machine.service) == [
        str(machine.bin_dir / JOB),
        "--workspace",
        "~/workspaces/{repo}",
    ]
    path = unit_environment(machine.service)["PATH"].split(":")
    assert path[0] == str(machine.bin_dir)
    assert {"/usr/local/bin", "/usr/bin", "/bin"} <= set(path)
    assert timer["OnCalendar"] == ["hourly"]
    assert timer["Persistent"] == ["true"]
    assert timer["WantedBy"] == ["timers.target"]
    for unit in (machine.service, machine.timer):
        assert stat.S_IMODE(unit.stat().st_mode) == 0o644, unit


HOOK_TASK = "Add the session-start hook to Claude Code's settings.json"


def test_work_machine_with_session_sync_hooks_gets_the_session_start_hook(
    work: WorkMachine,
) -> None:
    assert HOOK_TASK in work.first.changed_tasks, work.first
    settings = json.loads((work.machine.home / ".claude" / "settings.json").read_text())
    [group] = settings["hooks"]["SessionStart"]
    [entry] = group["hooks"]
    # The linked command, so the hook runs with no venv activated.
    assert entry["command"] == f"{work.machine.bin_dir / 'session-sync'} hook session-start"
    # The second run and --check found it there (they changed nothing, see below).
    assert HOOK_TASK not in work.second.changed_tasks
    assert HOOK_TASK not in work.checked.changed_tasks


GH_MISSING = "the hourly job finds no working gh on its PATH"


def test_work_machine_gets_the_context_sync_skill_once(work: WorkMachine) -> None:
    skill = work.machine.home / ".claude" / "skills" / "context-sync" / "SKILL.md"
    assert skill.read_text() == SKILL_MD
    assert SKILL_TASK in work.first.changed_tasks, work.first
    assert SKILL_TASK not in work.second.changed_tasks, work.second
    assert f"TASK [session_sync : {SKILL_TASK}]" in work.second.out  # it ran, and found it


def test_the_play_finds_the_gh_the_job_will_use(work: WorkMachine) -> None:
    assert GH_MISSING not in work.first.out, work.first


def test_the_play_warns_when_the_job_will_find_no_gh(tmp_path: Path, pip_cache: Path) -> None:
    machine = machine_at(tmp_path / "home", pip_cache)
    nowhere = str(tmp_path / "empty-bin")

    planned = machine.provision("work", {"session_sync_job_path": nowhere}, check=True)

    assert planned.code == 0, planned
    assert f"{GH_MISSING} ({nowhere})" in planned.out, planned


def test_without_a_user_systemd_the_timer_is_installed_but_not_started(
    work: WorkMachine,
) -> None:
    assert NOT_STARTED in work.first.out, work.first
    assert f"systemctl --user enable --now {UNIT}.timer" in work.first.out
    assert not (work.machine.units / "timers.target.wants").exists()


def test_the_installed_units_pass_systemd_analyze_verify(work: WorkMachine) -> None:
    done = verify_units(work.machine.service, work.machine.timer)

    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == "", done.stderr  # not even a warning


def test_a_second_work_run_changes_nothing(work: WorkMachine) -> None:
    assert work.second.recap["changed"] == 0, work.second
    assert work.second.recap["failed"] == 0, work.second
    assert work.second.changed_tasks == []
    # pip did not run again: nothing installed was rewritten, not even the stamp.
    assert work.after_second == work.after_first


def test_check_mode_on_a_provisioned_machine_plans_no_change(work: WorkMachine) -> None:
    assert work.checked.code == 0, work.checked
    assert work.checked.recap["changed"] == 0, work.checked
    assert work.machine.installed() == work.after_first


def test_check_mode_on_a_new_machine_plans_the_install_and_writes_nothing(
    tmp_path: Path, pip_cache: Path
) -> None:
    machine = machine_at(tmp_path / "home", pip_cache)

    planned = machine.provision("work", check=True)

    assert planned.code == 0, planned
    assert INSTALL_TASK in planned.changed_tasks
    assert "Install the hourly sync's service and timer" in planned.changed_tasks
    assert NOT_STARTED in planned.out  # the probe of the user systemd ran for real
    assert sorted(p.name for p in machine.home.iterdir()) == [".ansible"]


def test_the_hourly_job_as_installed_brings_the_codespace_work_home(work: WorkMachine) -> None:
    machine = work.machine
    space_config = work.space_home / ".claude"
    space_dir = (
        space_config / "projects" / encode_project_path(str(work.space_workspace), resolve=False)
    )
    laptop_dir = machine.home / ".claude" / "projects" / encode_project_path(str(work.checkout))
    there = make_session(random.Random(7), str(work.space_workspace), turns=3, target_bytes=4000)
    here = make_session(random.Random(8), str(work.checkout), turns=3, target_bytes=4000)
    write_old(space_config, there, dir_name=space_dir.name)
    write_old(machine.home / ".claude", here)
    # As the user manager starts it: the unit's command and environment, in the home.
    user = current_user()
    env = {"HOME": str(machine.home), "USER": user, "LOGNAME": user, "LANG": "C.UTF-8"}
    env.update(unit_environment(machine.service))

    done = subprocess.run(
        unit_command(machine.service),
        env=env,
        cwd=machine.home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert done.returncode == 0, (done.stdout, done.stderr)
    name_there, name_here = f"{there.session_id}.jsonl", f"{here.session_id}.jsonl"
    assert (laptop_dir / name_there).read_bytes() == session_bytes(there)
    assert (space_dir / name_here).read_bytes() == session_bytes(here)
    log = default_log_file("linux", {"HOME": str(machine.home)})
    assert f"{CODESPACE}: 1 pulled, 1 pushed" in log.read_text(), log.read_text()


# --- A personal machine: the commands, no schedule; reinstalled when the source changes ---


def copy_source(dest: Path) -> Path:
    """What the package is built from: a copy of this checkout's package files."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("session_sync", "bin"):
        shutil.copytree(REPO_ROOT / part, dest / part, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, dest / name)
    return dest


def test_personal_machine_gets_the_commands_and_no_schedule_and_reinstalls_on_change(
    tmp_path: Path, pip_cache: Path
) -> None:
    source = copy_source(tmp_path / "source")
    machine = machine_at(tmp_path / "home", pip_cache)
    variables = {"session_sync_source": str(source)}
    python = str(machine.venv / "bin" / "python")

    first = machine.provision("personal", variables)

    assert first.code == 0, first
    assert INSTALL_TASK in first.changed_tasks
    for name in COMMANDS:
        assert (machine.bin_dir / name).resolve() == machine.venv / "bin" / name
    assert not machine.units.exists()
    assert NOT_STARTED not in first.out
    installed = machine.installed()

    unchanged = machine.provision("personal", variables)

    assert unchanged.code == 0, unchanged
    assert unchanged.recap["changed"] == 0, unchanged
    assert machine.installed() == installed

    with (source / "session_sync" / "__init__.py").open("a") as init:
        init.write('\nPROVISIONED_FROM = "the changed copy"\n')
    changed = machine.provision("personal", variables)

    assert changed.code == 0, changed
    assert changed.changed_tasks == [INSTALL_TASK, "Record the fingerprint of what is installed"]
    mark = subprocess.run(
        [python, "-c", "import session_sync; print(session_sync.PROVISIONED_FROM)"],
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
    )
    assert mark.stdout.strip() == "the changed copy", mark.stderr
    assert machine.provision("personal", variables).recap["changed"] == 0


# --- Work, then personal: the schedule is removed ----------------------------------------


def test_a_machine_switched_to_personal_loses_its_schedule(tmp_path: Path, pip_cache: Path) -> None:
    machine = machine_at(tmp_path / "home", pip_cache)
    # The design document's Ruby command, installed in ~/bin by an older bootstrap.
    machine.bin_dir.mkdir()
    old_command = machine.bin_dir / "codespace-ssh"
    old_command.write_text("#!/usr/bin/env ruby\nputs 'the old one'\n")
    old_command.chmod(0o755)
    assert machine.provision("work").code == 0
    assert old_command.resolve() == machine.venv / "bin" / "codespace-ssh"
    assert machine.service.exists()
    assert machine.timer.exists()
    # As `systemctl --user enable` leaves it, had a user systemd been running then.
    wants = machine.units / "timers.target.wants" / f"{UNIT}.timer"
    wants.parent.mkdir()
    wants.symlink_to(machine.timer)

    switched = machine.provision("personal")

    assert switched.code == 0, switched
    assert "Remove the service, the timer and its enablement" in switched.changed_tasks
    assert not machine.service.exists()
    assert not machine.timer.exists()
    assert not os.path.lexists(wants)
    for name in COMMANDS:  # the commands stay
        assert (machine.bin_dir / name).resolve() == machine.venv / "bin" / name

    again = machine.provision("personal")

    assert again.code == 0, again
    assert again.recap["changed"] == 0, again


# --- Bad input: one clear message, nothing installed ---------------------------------------


@pytest.mark.parametrize(
    ("bootstrap_use", "variables", "message"),
    [
        (None, {}, "bootstrap_use must be 'work' (schedule the hourly sync) or 'personal'"),
        ("wrok", {}, "not wrok; pass -e bootstrap_use=work"),
        ("work", {"session_sync_source": "/nonexistent/src"}, "is not a session-sync checkout"),
        ("work", {"session_sync_source": "OTHER"}, "other is not a session-sync checkout"),
        (
            "work",
            {"session_sync_python": "/nonexistent/python3"},
            "/nonexistent/python3 could not be run; set session_sync_python to a Python >= 3.10",
        ),
    ],
    ids=["no-bootstrap-use", "bad-bootstrap-use", "no-source", "other-project", "no-python"],
)
def test_bad_input_fails_with_one_message_and_installs_nothing(
    tmp_path: Path,
    pip_cache: Path,
    bootstrap_use: str | None,
    variables: dict[str, str],
    message: str,
) -> None:
    machine = machine_at(tmp_path / "home", pip_cache)
    if variables.get("session_sync_source") == "OTHER":  # a Python project, not this one
        other = tmp_path / "other"
        other.mkdir()
        (other / "pyproject.toml").write_text('[project]\nname = "other"\n')
        variables = {"session_sync_source": str(other)}

    result = machine.provision(bootstrap_use, variables)

    assert result.code != 0, result
    failed = [ln for ln in result.out.splitlines() if ln.startswith("fatal: ")]
    assert len(failed) == 1, result
    assert message in failed[0], result
    assert sorted(p.name for p in machine.home.iterdir()) == [".ansible"]


# --- The templates on their own -------------------------------------------------------------

RENDER_PLAYBOOK = """\
- name: Render the session_sync role's templates
  hosts: all
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Load the role's defaults
      ansible.builtin.include_vars:
        file: ROLE/defaults/main.yml
    - name: Render
      ansible.builtin.template:
        src: ROLE/templates/{{ item }}.j2
        dest: OUT/{{ item }}
        mode: "0644"
      loop: TEMPLATES
"""


def render(
    tmp_path: Path, pip_cache: Path, facts: Mapping[str, Any], variables: Mapping[str, Any]
) -> Path:
    """Render every template of the role with its defaults, ``facts`` as the
    machine's ``ansible_facts`` and ``variables`` on top; the dir they are in."""
    out = tmp_path / "rendered"
    out.mkdir()
    templates = sorted(p.name.removesuffix(".j2") for p in (ROLE / "templates").iterdir())
    playbook = tmp_path / "render.yml"
    playbook.write_text(
        RENDER_PLAYBOOK.replace("ROLE", str(ROLE))
        .replace("OUT", str(out))
        .replace("TEMPLATES", json.dumps(templates))
    )
    extra = {"ansible_facts": dict(facts), "role_path": str(ROLE), **variables}
    done = subprocess.run(
        [
            tool("ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(playbook),
            "-e",
            json.dumps(extra),
        ],
        env=play_env(tmp_path / "home", pip_cache),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    return out


def facts_of(system: str, home: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "system": system,
        "env": {"HOME": str(home), **(env or {})},
        "user_uid": 501,
        "python": {"executable": sys.executable},
    }


TRICKY_ARGS = ["--days", "14", "50% of %h", "$HOME", 'say "hi"', "back\\slash", "a&b<c>"]


def test_the_launchd_plist_renders_and_parses_as_the_macos_job(
    tmp_path: Path, pip_cache: Path
) -> None:
    home = Path("/Users/me")
    out = render(
        tmp_path,
        pip_cache,
        facts_of("Darwin", home, {"CLAUDE_CONFIG_DIR": "/Users/me/.claude-work"}),
        {"session_sync_job_args": TRICKY_ARGS},
    )

    job = plistlib.loads((out / "launchd.plist").read_bytes())

    assert job["Label"] == "com.user.claude-session-sync"
    assert job["ProgramArguments"] == [f"{home}/bin/{JOB}", *TRICKY_ARGS]
    assert job["StartInterval"] == 3600
    assert job["RunAtLoad"] is False
    # launchd writes where the job itself logs on macOS.
    log = str(default_log_file("darwin", {"HOME": str(home)}))
    assert job["StandardOutPath"] == log
    assert job["StandardErrorPath"] == log
    path = job["EnvironmentVariables"]["PATH"].split(":")
    assert path[0] == f"{home}/bin"
    assert "/opt/homebrew/bin" in path  # Homebrew's gh on Apple silicon
    assert path.index("/opt/homebrew/bin") < path.index("/usr/bin")
    assert job["EnvironmentVariables"]["CLAUDE_CONFIG_DIR"] == "/Users/me/.claude-work"


def test_the_systemd_units_quote_any_argument_and_keep_claude_config_dir(
    tmp_path: Path, pip_cache: Path
) -> None:
    home = tmp_path / "home"
    (home / "bin").mkdir(parents=True)
    job = home / "bin" / JOB
    job.write_text("#!/bin/sh\n")
    job.chmod(0o755)
    out = render(
        tmp_path,
        pip_cache,
        facts_of("Linux", home, {"CLAUDE_CONFIG_DIR": "/srv/100% $claude"}),
        {"session_sync_job_args": TRICKY_ARGS},
    )
    service = out / f"{UNIT}.service"
    timer = out / f"{UNIT}.timer"
    (out / "systemd.service").rename(service)
    (out / "systemd.timer").rename(timer)

    assert unit_command(service) == [str(job), *TRICKY_ARGS]
    env = unit_environment(service)
    assert env["CLAUDE_CONFIG_DIR"] == "/srv/100% $claude"
    assert env["PATH"].split(":")[:2] == [str(home / "bin"), str(home / ".local" / "bin")]
    done = verify_units(service, timer)
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == "", done.stderr


def test_the_role_is_ansible_lint_clean(tmp_path: Path, pip_cache: Path) -> None:
    done = subprocess.run(
        [tool("ansible-lint"), "--offline", "--strict", "ansible/"],
        cwd=REPO_ROOT,
        env=play_env(tmp_path, pip_cache, {"NO_COLOR": "1"}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "0 failure(s), 0 warning(s)" in done.stdout + done.stderr, done.stderr
