"""The test sandbox itself: sshd machines, the TCP relay and the fake ``gh``.

Everything is checked with the real OpenSSH client and subprocesses only,
never with session-sync's own transports, so a failure here points at the
sandbox and not at the code it is meant to test. The servers start once for
the module; tests that stop a server start their own.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from session_sync.testing.sandbox import (
    FakeGh,
    Sandbox,
    SshHost,
    TcpRelay,
    find_sshd,
    install_fake_gh,
)
from session_sync.testing.sandbox.fake_gh import AUTH_HELP
from session_sync.testing.sandbox.sshd import client_options

if find_sshd() is None or shutil.which("ssh") is None:
    if os.environ.get("CI"):
        pytest.fail("CI must have OpenSSH (server and client) installed", pytrace=False)
    pytest.skip("OpenSSH server or client not installed", allow_module_level=True)

TIMEOUT = 30.0
"""Seconds any one command here may take (they take well under one)."""

Run = subprocess.CompletedProcess[str]


def run(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = TIMEOUT,
) -> Run:
    """Run ``argv`` and capture its output as text."""
    return subprocess.run(
        list(argv),
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def ssh_opts(sandbox: Sandbox) -> list[str]:
    """OpenSSH options for logging in with the sandbox key and no host key checks."""
    return client_options(sandbox.client_key)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sandbox")) as box:
        box.add_host("a")
        box.add_host("b")
        yield box


@pytest.fixture
def host_a(sandbox: Sandbox) -> SshHost:
    return sandbox.hosts["a"]


@pytest.fixture
def host_b(sandbox: Sandbox) -> SshHost:
    return sandbox.hosts["b"]


class Gh:
    """Runs the fake ``gh`` the way a program would: found on ``PATH``."""

    def __init__(self, fake: FakeGh) -> None:
        self.fake = fake
        self.env = fake.env(os.environ)

    def __call__(self, *args: str, input: str | None = None, timeout: float = TIMEOUT) -> Run:
        return run(["gh", *args], env=self.env, input=input, timeout=timeout)


@pytest.fixture
def fake(tmp_path: Path, sandbox: Sandbox, host_a: SshHost) -> FakeGh:
    """A fake gh with one Available codespace (``cs-one``, on host a, branch feature/x)."""
    installed = install_fake_gh(
        tmp_path / "bin", tmp_path / "gh" / "state.json", identity_file=sandbox.client_key
    )
    installed.add_codespace("cs-one", "octo/one", port=host_a.port, branch="feature/x")
    return installed


@pytest.fixture
def gh(fake: FakeGh) -> Gh:
    return Gh(fake)


def read_until_closed(fd: int, timeout: float) -> bytes:
    """Everything read from a pty's main side until its other side is closed."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: no process holds the other side any more
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def wait_for_state(gh: Gh, name: str, state: str, timeout: float = 10.0) -> list[dict[str, object]]:
    """``gh codespace list --json name,state`` once ``name`` shows ``state`` there."""
    deadline = time.monotonic() + timeout
    while True:
        listed = gh("cs", "list", "--json", "name,state")
        assert listed.returncode == 0, listed.stderr
        rows: list[dict[str, object]] = json.loads(listed.stdout)
        if {"name": name, "state": state} in rows:
            return rows
        assert time.monotonic() < deadline, f"{name} is not {state}: {rows}"
        time.sleep(0.1)


def wait_for_event(fake: FakeGh, event: str, timeout: float = 5.0) -> dict[str, object]:
    """The first ``event`` in the log, waiting for it (processes log as they end)."""
    deadline = time.monotonic() + timeout
    while True:
        for entry in fake.events():
            if entry["event"] == event:
                return entry
        assert time.monotonic() < deadline, f"no {event!r} event in {fake.events()}"
        time.sleep(0.05)


# --- sshd hosts -----------------------------------------------------------------------


def test_host_runs_commands_with_its_own_home(sandbox: Sandbox, host_a: SshHost) -> None:
    done = run(sandbox.ssh_command(host_a, 'echo "$HOME"; test -d ~ && echo isdir'))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(host_a.home), "isdir"]
    assert host_a.running
    assert host_a.host == "127.0.0.1"
    assert stat.S_IMODE(host_a.home.stat().st_mode) == 0o755
    assert "Accepted publickey" in host_a.log.read_text()


def test_two_hosts_have_different_homes(host_a: SshHost, host_b: SshHost) -> None:
    assert host_a.home != host_b.home
    assert host_a.port != host_b.port
    done = run(host_a.ssh_command("echo from-a > ~/marker"))
    assert done.returncode == 0, done.stderr
    assert (host_a.home / "marker").read_text() == "from-a\n"
    assert not (host_b.home / "marker").exists()
    done = run(host_b.ssh_command('echo "$HOME"'))
    assert done.stdout.strip() == str(host_b.home)


def test_stop_and_start_on_the_same_port(sandbox: Sandbox) -> None:
    host = sandbox.add_host("comeback", env={"SANDBOX_WORD": "two words"})
    port = host.port
    assert run(host.ssh_command('echo "$SANDBOX_WORD"')).stdout == "two words\n"
    # A session open when the host goes down is dropped with it.
    session = subprocess.Popen(
        host.ssh_command("sleep 20"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(0.5)
    host.stop()
    assert not host.running
    assert session.wait(timeout=10) != 0
    down = run(host.ssh_command("true"))
    assert down.returncode == 255
    assert "refused" in down.stderr
    host.start()
    assert host.running
    assert host.port == port
    again = run(host.ssh_command('echo "$HOME"'))
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == str(host.home)


def test_client_config_checks_host_keys_strictly(
    sandbox: Sandbox, host_a: SshHost, host_b: SshHost, tmp_path: Path
) -> None:
    home = tmp_path / "client"
    config = sandbox.write_client_config(
        home, {"alpha": (host_a.host, host_a.port), "beta": (host_b.host, host_b.port)}
    )
    assert config == home / ".ssh" / "config"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    known = (home / ".ssh" / "known_hosts").read_text().splitlines()
    assert sandbox.known_hosts_line(host_a.port) in known
    assert sandbox.known_hosts_line(host_a.port).startswith(
        f"[127.0.0.1]:{host_a.port} ssh-ed25519 AAAA"
    )
    strict = ["ssh", "-F", str(config), "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
    for alias, host in (("alpha", host_a), ("beta", host_b)):
        done = run([*strict, alias, 'echo "$HOME"'])
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == str(host.home)
    # The check is real: another key under the same name is refused.
    (home / ".ssh" / "known_hosts").write_text(
        f"[127.0.0.1]:{host_a.port} {sandbox.client_public_key}\n"
    )
    refused = run([*strict, "alpha", "true"])
    assert refused.returncode == 255
    assert "verification failed" in refused.stderr


# --- relay ----------------------------------------------------------------------------


def test_relay_forwards_and_counts_bytes(sandbox: Sandbox, host_a: SshHost) -> None:
    with TcpRelay(host_a.port) as relay:
        done = run(sandbox.ssh_command(relay.port, "head -c 100000 /dev/zero"))
        assert done.returncode == 0, done.stderr
        assert done.stdout == "\0" * 100_000
        assert relay.wait_idle()
        assert relay.connections == 1
        assert 0 < relay.bytes_up < relay.bytes_down
        relay.reset_counts()
        assert (relay.connections, relay.bytes_up, relay.bytes_down) == (0, 0, 0)


def test_relay_cut_drops_a_big_transfer(sandbox: Sandbox, host_a: SshHost) -> None:
    big = "head -c 3000000 /dev/zero"
    with TcpRelay(host_a.port, cut_after=100_000, cut_direction="down") as relay:
        cut = subprocess.run(
            sandbox.ssh_command(relay.port, big), capture_output=True, timeout=TIMEOUT
        )
        assert cut.returncode != 0
        assert len(cut.stdout) < 3_000_000
        assert relay.wait_idle()
        assert relay.bytes_down == 100_000  # exactly up to the cut, then nothing
        # Settings are read per connection: the next one goes through whole.
        relay.cut_after = None
        whole = subprocess.run(
            sandbox.ssh_command(relay.port, big), capture_output=True, timeout=TIMEOUT
        )
        assert whole.returncode == 0
        assert len(whole.stdout) == 3_000_000
        # The last connection's closing bytes must be counted before the reset, not after.
        assert relay.wait_idle()
        relay.cut_after, relay.cut_direction = 5_000, "up"
        relay.reset_counts()
        up = run(sandbox.ssh_command(relay.port, "cat > /dev/null"), input="x" * 500_000)
        assert up.returncode != 0
        assert relay.wait_idle()
        assert relay.bytes_up == 5_000


def test_relay_refuses_and_blackholes(sandbox: Sandbox, host_a: SshHost) -> None:
    with TcpRelay(host_a.port, refuse=True) as relay:
        refused = run(sandbox.ssh_command(relay.port, "true"))
        assert refused.returncode == 255
        relay.refuse, relay.blackhole = False, True
        with pytest.raises(subprocess.TimeoutExpired):
            run(sandbox.ssh_command(relay.port, "true"), timeout=1.0)
        assert relay.connections == 2


# --- fake gh --------------------------------------------------------------------------


def test_gh_list_json_gives_the_fields_asked_for(gh: Gh, fake: FakeGh, host_b: SshHost) -> None:
    fake.add_codespace("cs-two", "octo/two", port=host_b.port, state="Shutdown")
    done = gh("codespace", "list", "--json", "name,repository,state,gitStatus")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {
            "name": "cs-one",
            "repository": "octo/one",
            "state": "Available",
            "gitStatus": {
                "ref": "feature/x",
                "hasUnpushedChanges": False,
                "hasUncommittedChanges": False,
            },
        },
        {
            "name": "cs-two",
            "repository": "octo/two",
            "state": "Shutdown",
            "gitStatus": {
                "ref": "main",
                "hasUnpushedChanges": False,
                "hasUncommittedChanges": False,
            },
        },
    ]
    only = gh("cs", "list", "-R", "octo/two", "--json", "name,displayName,machineName")
    assert json.loads(only.stdout) == [
        {"name": "cs-two", "displayName": "two codespace", "machineName": "basicLinux32gb"}
    ]
    assert [
        c["name"] for c in json.loads(gh("cs", "list", "-L", "1", "--json", "name").stdout)
    ] == ["cs-one"]
    table = gh("cs", "list")
    assert table.stdout.splitlines()[1].split("\t")[:5] == [
        "cs-two",
        "two codespace",
        "octo/two",
        "main",
        "Shutdown",
    ]
    bad = gh("cs", "list", "--json", "nonsense")
    assert bad.returncode == 1
    assert 'Unknown JSON field: "nonsense"' in bad.stderr


def test_gh_ssh_config_is_the_real_template(gh: Gh, fake: FakeGh, sandbox: Sandbox) -> None:
    done = gh("codespace", "ssh", "-c", "cs-one", "--config")
    assert done.returncode == 0, done.stderr
    key = sandbox.client_key
    user = fake.state()["ssh_user"]
    assert done.stdout == (
        "Host cs.cs-one.feature-x\n"
        f"\tUser {user}\n"
        f"\tProxyCommand {fake.gh} cs ssh -c cs-one --stdio -- -i {key}\n"
        "\tUserKnownHostsFile=/dev/null\n"
        "\tStrictHostKeyChecking no\n"
        "\tLogLevel quiet\n"
        "\tControlMaster auto\n"
        f"\tIdentityFile {key}\n"
        "\n"
    )


def test_gh_ssh_config_works_with_openssh(gh: Gh, tmp_path: Path, host_a: SshHost) -> None:
    config = tmp_path / "codespaces.config"
    config.write_text(gh("cs", "ssh", "-c", "cs-one", "--config").stdout)
    done = run(["ssh", "-F", str(config), "cs.cs-one.feature-x", 'echo "$HOME"'], env=gh.env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(host_a.home)


def test_gh_stdio_is_a_proxy_command_for_ssh(
    gh: Gh, fake: FakeGh, sandbox: Sandbox, host_a: SshHost
) -> None:
    proxy = f"{fake.gh} cs ssh -c cs-one --stdio"
    payload = "".join(chr(c) for c in range(32, 127)) * 2000
    done = run(
        ["ssh", *ssh_opts(sandbox), "-o", f"ProxyCommand={proxy}", "cs-one", 'echo "$HOME"; cat'],
        env=gh.env,
        input=payload,
    )
    assert done.returncode == 0, done.stderr
    home, _, echoed = done.stdout.partition("\n")
    assert home == str(host_a.home)
    assert echoed == payload
    end = wait_for_event(fake, "relay-end")
    assert end["name"] == "cs-one"
    # What crossed is the encrypted stream (uncompressed: -F /dev/null): a little more.
    assert isinstance(end["up"], int)
    assert end["up"] > len(payload)
    assert isinstance(end["down"], int)
    assert end["down"] > 0


def test_gh_stdio_follows_the_port_override(
    gh: Gh, fake: FakeGh, sandbox: Sandbox, host_a: SshHost
) -> None:
    with TcpRelay(host_a.port) as relay:
        fake.set_proxy_port_override(relay.port)
        proxy = f"{fake.gh} cs ssh -c cs-one --stdio"
        via = run(
            ["ssh", *ssh_opts(sandbox), "-o", f"ProxyCommand={proxy}", "cs", "true"], env=gh.env
        )
        assert via.returncode == 0, via.stderr
        assert relay.wait_idle()
        assert relay.connections == 1
        # `-- CMD` keeps the codespace's own port: one route can break alone.
        direct = gh("cs", "ssh", "-c", "cs-one", "--", "true")
        assert direct.returncode == 0, direct.stderr
        assert relay.connections == 1
        fake.set_proxy_port_override(None)


def test_gh_stdio_reports_a_port_nobody_listens_on(gh: Gh, fake: FakeGh, host_a: SshHost) -> None:
    with TcpRelay(host_a.port) as relay:
        closed = relay.port
    fake.set_proxy_port_override(closed)
    done = gh("cs", "ssh", "-c", "cs-one", "--stdio")
    assert done.returncode == 1
    assert "error connecting to codespace" in done.stderr


def test_gh_set_port_to_a_closed_port_breaks_both_routes_of_one_codespace(
    gh: Gh, fake: FakeGh, sandbox: Sandbox, host_a: SshHost, host_b: SshHost
) -> None:
    fake.add_codespace("cs-two", "octo/two", port=host_b.port)
    with TcpRelay(host_a.port) as relay:
        closed = relay.port
    fake.set_port("cs-one", closed)
    stdio = gh("cs", "ssh", "-c", "cs-one", "--stdio", input="", timeout=10)
    assert stdio.returncode == 1
    assert "error connecting to codespace" in stdio.stderr
    assert "refused" in stdio.stderr
    direct = gh("cs", "ssh", "-c", "cs-one", "--", "true", timeout=10)
    assert direct.returncode == 255
    assert "refused" in direct.stderr
    # The other codespace still answers on both routes.
    proxy = f"{fake.gh} cs ssh -c cs-two --stdio"
    via = run(
        ["ssh", *ssh_opts(sandbox), "-o", f"ProxyCommand={proxy}", "cs-two", 'echo "$HOME"'],
        env=gh.env,
    )
    assert (via.returncode, via.stdout) == (0, f"{host_b.home}\n"), via.stderr
    other = gh("cs", "ssh", "-c", "cs-two", "--", 'echo "$HOME"')
    assert (other.returncode, other.stdout) == (0, f"{host_b.home}\n"), other.stderr
    # Pointed back, it works again.
    fake.set_port("cs-one", host_a.port)
    assert gh("cs", "ssh", "-c", "cs-one", "--", "true").returncode == 0


def test_gh_ssh_runs_a_command_in_the_codespace(gh: Gh, host_a: SshHost) -> None:
    done = gh("codespace", "ssh", "-c", "cs-one", "--", 'echo "$HOME"')
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{host_a.home}\n"
    # Words after the flags are the command too; stdin goes through; the exit status is ssh's.
    echoed = gh("cs", "ssh", "-c", "cs-one", "cat", input="line one\nline two\n")
    assert echoed.stdout == "line one\nline two\n"
    assert gh("cs", "ssh", "-c", "cs-one", "--", "-o", "ConnectTimeout=5", "exit 3").returncode == 3


def test_gh_ssh_without_a_command_runs_the_login_shell_on_stdin(gh: Gh, host_a: SshHost) -> None:
    done = gh(
        "codespace", "ssh", "-c", "cs-one", input='echo "hello-from-codespace $HOME"; exit 7\n'
    )
    assert done.returncode == 7, done.stderr
    assert f"hello-from-codespace {host_a.home}\n" in done.stdout
    # -T: no "Pseudo-terminal will not be allocated because stdin is not a terminal".
    assert "Pseudo-terminal" not in done.stderr
    # No stdin at all: the shell reads end of file and ends well.
    empty = gh("cs", "ssh", "-c", "cs-one")
    assert (empty.returncode, empty.stdout) == (0, ""), empty.stderr


def test_gh_ssh_with_options_and_no_command_runs_the_login_shell(gh: Gh) -> None:
    done = gh(
        "cs",
        "ssh",
        "-c",
        "cs-one",
        "--",
        "-o",
        "LogLevel=error",
        input="echo with-options; exit 3\n",
    )
    assert done.returncode == 3, done.stderr
    assert "with-options\n" in done.stdout
    # The user's own -T/-t is left alone (here -T, the same as the default without a tty).
    mine = gh("cs", "ssh", "-c", "cs-one", "--", "-T", input="echo own-flag\n")
    assert (mine.returncode, mine.stdout) == (0, "own-flag\n"), mine.stderr


def test_gh_ssh_without_a_command_on_a_terminal_gets_one_over_there(fake: FakeGh) -> None:
    main, sub = pty.openpty()
    try:
        process = subprocess.Popen(
            ["gh", "cs", "ssh", "-c", "cs-one"],
            env=fake.env(os.environ),
            stdin=sub,
            stdout=sub,
            stderr=sub,
            start_new_session=True,
        )
    finally:
        os.close(sub)
    try:
        # The shell over there reads this once it is up; the echo of the line has no "=/".
        os.write(main, b'echo "tty=$(tty)"; exit 5\n')
        seen = read_until_closed(main, timeout=TIMEOUT)
        assert process.wait(timeout=TIMEOUT) == 5, seen
    finally:
        os.close(main)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert re.search(rb"tty=/dev/pts/\d+", seen), seen


def test_gh_ssh_starts_a_shut_down_codespace(gh: Gh, fake: FakeGh) -> None:
    fake.set_state("cs-one", "Shutdown")
    listed = gh("cs", "list", "--json", "name,state")
    assert json.loads(listed.stdout) == [{"name": "cs-one", "state": "Shutdown"}]
    assert fake.events() == []
    done = gh("cs", "ssh", "-c", "cs-one", "--", "true")
    assert done.returncode == 0, done.stderr
    assert fake.state_of("cs-one") == "Available"
    assert json.loads(gh("cs", "list", "--json", "state").stdout) == [{"state": "Available"}]
    started = wait_for_event(fake, "started")
    assert started["name"] == "cs-one"
    assert started["previous"] == "Shutdown"
    fake.set_state("cs-one", "Starting")
    assert gh("cs", "ssh", "-c", "cs-one", "--config").returncode == 0
    assert fake.state_of("cs-one") == "Available"


def test_a_codespace_can_be_stopped_right_after_a_list(gh: Gh, fake: FakeGh) -> None:
    fake.stop_after_lists("cs-one", 2)
    shown = [json.loads(gh("cs", "list", "--json", "state").stdout) for _ in range(3)]
    # The second list still shows it running; it is shut down once that list printed.
    assert shown == [[{"state": "Available"}], [{"state": "Available"}], [{"state": "Shutdown"}]]
    assert [(e["event"], e["name"]) for e in fake.events()] == [("stopped", "cs-one")]
    assert "cs-one" not in fake.state().get("stop_after_lists", {})
    with pytest.raises(KeyError):
        fake.stop_after_lists("no-such-cs")


def test_gh_ssh_refuses_unknown_and_failed_codespaces(gh: Gh, fake: FakeGh) -> None:
    unknown = gh("cs", "ssh", "-c", "no-such-cs", "--", "true")
    assert unknown.returncode == 1
    assert "no-such-cs" in unknown.stderr
    assert "404" in unknown.stderr
    fake.set_state("cs-one", "Failed")
    failed = gh("cs", "ssh", "-c", "cs-one", "--stdio")
    assert failed.returncode == 1
    assert "Failed" in failed.stderr
    assert fake.state_of("cs-one") == "Failed"


def test_gh_logged_out_exits_4(gh: Gh, fake: FakeGh) -> None:
    assert gh("auth", "status").returncode == 0
    fake.set_logged_in(False)
    done = gh("codespace", "list", "--json", "name")
    assert done.returncode == 4
    assert done.stderr == AUTH_HELP
    assert "gh auth login" in done.stderr
    assert "GH_TOKEN" in done.stderr
    assert gh("auth", "status").returncode == 1


def test_gh_hangs_when_told_to(gh: Gh, fake: FakeGh) -> None:
    fake.set_logged_in(False, hang=True)
    with pytest.raises(subprocess.TimeoutExpired):
        gh("codespace", "list", "--json", "name", timeout=1.5)
    assert fake.invocations() == [["codespace", "list", "--json", "name"]]


def test_gh_delay_is_applied_after_logging(gh: Gh, fake: FakeGh) -> None:
    fake.set_delay(0.3)
    assert fake.state()["delay"] == 0.3
    done = gh("cs", "list", "--json", "name")
    assert done.returncode == 0, done.stderr
    assert fake.invocations() == [["cs", "list", "--json", "name"]]


def test_gh_create_takes_a_spare(gh: Gh, fake: FakeGh, host_b: SshHost) -> None:
    fake.add_spare(host_b.port)
    done = gh("codespace", "create", "-R", "octo/new-repo", "-b", "dev", "-m", "largePremiumLinux")
    assert done.returncode == 0, done.stderr
    name = done.stdout.strip()
    assert re.fullmatch(r"new-repo-[a-z0-9]{6}", name), name
    assert fake.state()["spares"] == []
    created = fake.codespace(name)
    assert (created["state"], created["branch"], created["port"]) == (
        "Available",
        "dev",
        host_b.port,
    )
    on_it = gh("cs", "ssh", "-c", name, "--", 'echo "$HOME"')
    assert on_it.stdout.strip() == str(host_b.home)
    none_left = gh("codespace", "create", "-R", "octo/new-repo")
    assert none_left.returncode == 1


def create(gh: Gh) -> str:
    """``gh codespace create`` of a codespace of octo/new-repo; its name."""
    done = gh("codespace", "create", "-R", "octo/new-repo")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_gh_create_outcome_shows_starting_then_available(
    gh: Gh, fake: FakeGh, host_b: SshHost
) -> None:
    fake.add_spare(host_b.port)
    fake.set_create_outcome("Starting", ready_after=1.5)
    name = create(gh)
    listed = json.loads(gh("cs", "list", "--json", "name,state").stdout)
    assert listed == [
        {"name": "cs-one", "state": "Available"},
        {"name": name, "state": "Starting"},
    ]
    record = fake.codespace(name)
    assert (record["state"], record["final_state"]) == ("Starting", "Available")
    assert isinstance(record["ready_at"], float)
    assert fake.state_of(name) == "Starting"
    created = wait_for_event(fake, "created")
    assert (created["name"], created["state"]) == (name, "Starting")

    wait_for_state(gh, name, "Available")
    assert fake.state_of(name) == "Available"
    assert "ready_at" not in fake.codespace(name)
    # Settled by a read; the next write saves it, and nothing else changed.
    assert gh("cs", "stop", "-c", "cs-one").returncode == 0
    stored = json.loads(fake.state_file.read_text())["codespaces"][1]
    assert stored["state"] == "Available"
    assert "ready_at" not in stored
    assert "final_state" not in stored
    assert [e["event"] for e in fake.events()] == ["created", "stopped"]


def test_gh_create_outcome_keeps_going_until_changed_and_defaults_to_available(
    gh: Gh, fake: FakeGh, host_a: SshHost, host_b: SshHost
) -> None:
    for port in (host_a.port, host_b.port, host_b.port):
        fake.add_spare(port)
    fake.set_create_outcome("Provisioning", ready_after=60)
    first, second = create(gh), create(gh)
    assert fake.state_of(first) == fake.state_of(second) == "Provisioning"
    # set_state drops the pending change: the state stays as set.
    fake.set_state(first, "Available")
    assert "ready_at" not in fake.codespace(first)
    assert "final_state" not in fake.codespace(first)
    assert fake.state_of(first) == "Available"
    fake.set_create_outcome()
    third = create(gh)
    assert fake.state_of(third) == "Available"
    assert "ready_at" not in fake.codespace(third)
    assert fake.state_of(second) == "Provisioning"
    with pytest.raises(ValueError, match="ready_after"):
        fake.set_create_outcome("Starting", ready_after=-1)


def test_gh_create_outcome_failed(gh: Gh, fake: FakeGh, host_b: SshHost) -> None:
    fake.add_spare(host_b.port)
    fake.set_create_outcome("Starting", ready_after=0.5, final_state="Failed")
    name = create(gh)
    assert fake.state_of(name) == "Starting"
    wait_for_state(gh, name, "Failed")
    assert fake.state_of(name) == "Failed"
    for route in (["--", "true"], ["--stdio"], []):
        failed = gh("cs", "ssh", "-c", name, *route, input="")
        assert failed.returncode == 1, route
        assert name in failed.stderr
        assert "Failed" in failed.stderr
    stopped = gh("cs", "stop", "-c", name)
    assert stopped.returncode == 1
    assert "not running" in stopped.stderr
    assert fake.state_of(name) == "Failed"


def test_gh_ssh_waits_for_a_starting_codespace(gh: Gh, fake: FakeGh, host_b: SshHost) -> None:
    fake.add_spare(host_b.port)
    fake.set_create_outcome("Starting", ready_after=1.5)
    name = create(gh)
    assert fake.state_of(name) == "Starting"
    done = gh("cs", "ssh", "-c", name, "--", 'echo "$HOME"')
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{host_b.home}\n"
    assert fake.state_of(name) == "Available"
    waited = wait_for_event(fake, "waited")
    assert (waited["name"], waited["previous"], waited["state"]) == (name, "Starting", "Available")
    # It came up by itself: gh did not start it.
    assert [e["event"] for e in fake.events()] == ["created", "waited"]


def test_gh_ssh_waits_then_fails_when_creation_fails(gh: Gh, fake: FakeGh, host_b: SshHost) -> None:
    fake.add_spare(host_b.port)
    fake.set_create_outcome("Provisioning", ready_after=1.0, final_state="Failed")
    name = create(gh)
    done = gh("cs", "ssh", "-c", name, input="echo never\n")
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"codespace {name} is Failed" in done.stderr
    waited = wait_for_event(fake, "waited")
    assert (waited["previous"], waited["state"]) == ("Provisioning", "Failed")


def test_gh_delete_and_stop(gh: Gh, fake: FakeGh, host_b: SshHost) -> None:
    fake.add_codespace("doomed", "octo/two", port=host_b.port)
    assert gh("cs", "stop", "-c", "cs-one").returncode == 0
    assert fake.state_of("cs-one") == "Shutdown"
    deleted = gh("codespace", "delete", "-c", "doomed", "--force")
    assert deleted.returncode == 0, deleted.stderr
    assert fake.codespace_names() == ["cs-one"]
    again = gh("codespace", "delete", "-c", "doomed")
    assert again.returncode == 1
    assert "404" in again.stderr
    assert [e["event"] for e in fake.events()] == ["stopped", "deleted"]


def test_gh_logs_every_invocation(gh: Gh, fake: FakeGh) -> None:
    calls = [
        ["auth", "status"],
        ["cs", "list", "--json", "name"],
        ["codespace", "ssh", "-c", "cs-one", "--config"],
        ["codespace", "frobnicate"],
        ["repo", "view"],
    ]
    codes = [gh(*call).returncode for call in calls]
    assert codes == [0, 0, 0, 1, 1]
    assert fake.invocations() == calls
    for entry in fake.events():
        assert "argv" not in entry
    lines = [json.loads(line) for line in fake.log_file.read_text().splitlines()]
    assert all(isinstance(line["time"], float) and line["pid"] > 0 for line in lines)
