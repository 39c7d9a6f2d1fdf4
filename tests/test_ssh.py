"""``--host``: sync with another machine over a real OpenSSH server on 127.0.0.1.

Each test gets its own "laptop" home (``HOME`` of the CLI process, with an
``~/.ssh/config`` alias ``box``) and its own machine behind its own sshd.
"""

from __future__ import annotations

import os
import random
import socket
import stat
from pathlib import Path

import pytest
from conftest import (
    Remote,
    changed_but_the_hash_cache,
    session_files,
    snapshot_tree,
    temp_files,
    write_old,
)

from session_sync.agent.paths import encode_project_path
from session_sync.testing.sandbox import TcpRelay
from session_sync.testing.sessions import SessionSpec, continue_session, make_session, session_bytes
from session_sync.transports.connection import AgentConnection
from session_sync.transports.ssh import SshTransport
from session_sync.transports.ssh_channel import ChannelStream


def spec_at(path: Path | str, seed: int, size: int = 6000) -> SessionSpec:
    """A realistic session recorded in ``path``."""
    return make_session(random.Random(seed), str(path), turns=3, target_bytes=size)


def remote_dir(remote: Remote, project: str | None = None) -> Path:
    """The other machine's project dir for ``project`` (default: the home-relative path)."""
    return remote.remote_config / "projects" / encode_project_path(project or remote.remote_project)


def local_dir(remote: Remote) -> Path:
    return remote.config / "projects" / encode_project_path(str(remote.project))


def relay_alias(remote: Remote, relay: TcpRelay) -> None:
    """Alias ``counted`` reaches the host through ``relay``; ``box`` stays direct."""
    remote.sandbox.write_client_config(
        remote.laptop,
        {"box": (remote.host.host, remote.host.port), "counted": ("127.0.0.1", relay.port)},
    )


def test_sync_both_ways_over_ssh(remote: Remote) -> None:
    here = spec_at(remote.project, 1)
    there = spec_at(remote.remote_project, 2)
    write_old(remote.config, here)
    write_old(remote.remote_config, there)

    result = remote.run("sync", "--host", "box", "--json")

    assert result.code == 0, result
    report = result.json()
    assert (report["pushed"], report["pulled"], report["failed"]) == (1, 1, 0)
    # Default remote path: the same place under the other machine's home.
    assert report["remote_project_path"] == remote.remote_project
    for session in (here, there):
        name = f"{session.session_id}.jsonl"
        a, b = remote_dir(remote) / name, local_dir(remote) / name
        assert a.read_bytes() == b.read_bytes() == session_bytes(session)
        assert stat.S_IMODE(a.stat().st_mode) == stat.S_IMODE(b.stat().st_mode) == 0o600
        assert a.stat().st_mtime_ns == b.stat().st_mtime_ns
    assert not temp_files(remote.config)
    assert not temp_files(remote.remote_config)


def test_many_sessions_one_connection_at_most_three_round_trips(remote: Remote) -> None:
    rng = random.Random(7)
    grown_here, grown_there = [], []
    for i in range(40):
        spec = spec_at(remote.project, 100 + i, size=3000)
        write_old(remote.config, spec)
        write_old(remote.remote_config, spec, dir_name=encode_project_path(remote.remote_project))
        if i < 5:
            grown_here.append(continue_session(rng, spec))
        elif i < 10:
            grown_there.append(continue_session(rng, spec))
    for spec in grown_here:
        write_old(remote.config, spec, hours=1)
    for spec in grown_there:
        write_old(remote.remote_config, spec, hours=1, dir_name=remote_dir(remote).name)
    # A session old here that grew there: the case that needs the third round trip.
    old = spec_at(remote.project, 999, size=3000)
    write_old(remote.config, old, hours=24 * 20)
    write_old(remote.remote_config, continue_session(rng, old), dir_name=remote_dir(remote).name)
    for i in range(5):
        write_old(remote.config, spec_at(remote.project, 200 + i, size=3000))
        write_old(remote.remote_config, spec_at(remote.remote_project, 300 + i, size=3000))

    with TcpRelay(remote.host.port) as relay:
        relay_alias(remote, relay)
        result = remote.run("sync", "--host", "counted", "--json")
        relay.wait_idle()
        connections = relay.connections

    assert result.code == 0, result
    report = result.json()
    assert connections == 1
    assert report["round_trips"] <= 3
    assert (report["pushed"], report["pulled"], report["failed"]) == (10, 11, 0)
    mine = {Path(k).name: v for k, v in session_files(remote.config).items()}
    theirs = {Path(k).name: v for k, v in session_files(remote.remote_config).items()}
    assert mine == theirs


def test_appends_move_only_the_new_bytes(remote: Remote) -> None:
    rng = random.Random(3)
    spec = spec_at(remote.project, 5, size=400_000)
    write_old(remote.config, spec)
    write_old(remote.remote_config, spec, dir_name=remote_dir(remote).name)
    grown = continue_session(rng, spec)
    write_old(remote.config, grown, hours=1)
    appended = len(session_bytes(grown)) - len(session_bytes(spec))

    result = remote.run("sync", "--host", "box", "--json")

    assert result.code == 0, result
    report = result.json()
    assert [i["action"] for i in report["items"]] == ["append"]
    assert report["bytes_sent"] == appended
    name = f"{spec.session_id}.jsonl"
    assert (remote_dir(remote) / name).read_bytes() == session_bytes(grown)


def test_remote_path_with_tilde_is_under_the_remote_home(remote: Remote) -> None:
    spec = spec_at(remote.project, 8)
    write_old(remote.config, spec)

    result = remote.run("sync", "--host", "box", "--remote-path", "~/elsewhere/app", "--json")

    assert result.code == 0, result
    target = str(remote.host.home / "elsewhere" / "app")
    assert result.json()["remote_project_path"] == target
    assert (remote_dir(remote, target) / f"{spec.session_id}.jsonl").is_file()


def test_project_outside_home_needs_remote_path(remote: Remote, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()

    result = remote.run("sync", "--host", "box", "--local-path", str(outside))

    assert result.code == 2, result
    assert result.err.count("\n") == 1
    assert "--remote-path" in result.err
    assert not remote.remote_config.exists()


def test_status_and_dry_run_write_nothing_over_there(remote: Remote) -> None:
    write_old(remote.config, spec_at(remote.project, 11))
    write_old(remote.remote_config, spec_at(remote.remote_project, 12))
    before = snapshot_tree(remote.remote_config), snapshot_tree(remote.config)

    status = remote.run("status", "--host", "box", "--json")
    dry = remote.run("sync", "--host", "box", "--dry-run", "--json")

    assert status.code == 0, status
    assert dry.code == 0, dry
    states = sorted(row["state"] for row in status.json()["sessions"])
    assert states == ["only on local", "only on remote"]
    assert dry.json()["dry_run"] is True
    after = snapshot_tree(remote.remote_config), snapshot_tree(remote.config)
    assert changed_but_the_hash_cache(before[0], after[0]) == []
    assert changed_but_the_hash_cache(before[1], after[1]) == []


def test_chatty_login_and_remote_claude_config_dir(remote: Remote, tmp_path: Path) -> None:
    # A shell startup file that prints (like many dotfiles) and a CLAUDE_CONFIG_DIR set
    # for sessions over there (like devcontainers do).
    noisy = tmp_path / "bash_env"
    noisy.write_text("echo 'Welcome to the box!'; printf 'SS\\x00garbage\\n'\n")
    config_there = tmp_path / "node-claude"
    host = remote.sandbox.add_host(
        f"{tmp_path.name}-chatty"[-60:],
        env={"BASH_ENV": str(noisy), "CLAUDE_CONFIG_DIR": str(config_there)},
    )
    try:
        remote.sandbox.write_client_config(remote.laptop, {"box": (host.host, host.port)})
        spec = spec_at(remote.project, 13)
        write_old(remote.config, spec)

        result = remote.run("sync", "--host", "box", "--json")

        assert result.code == 0, result
        assert result.json()["pushed"] == 1
        project = encode_project_path(str(host.home / "src" / "app"))
        copied = config_there / "projects" / project / f"{spec.session_id}.jsonl"
        assert copied.read_bytes() == session_bytes(spec)
        assert not (host.home / ".claude").exists()
    finally:
        host.stop()


HOSTILE = ["my app", 'it\'s "quoted"', "$(touch PWNED)", "a;touch PWNED2;b", "`touch PWNED3`"]


@pytest.mark.parametrize("name", HOSTILE)
def test_paths_never_reach_a_shell_unquoted(remote: Remote, name: str) -> None:
    project = remote.laptop / "src" / name
    project.mkdir(parents=True)
    spec = spec_at(project, 21)
    write_old(remote.config, spec)

    result = remote.run("sync", "--host", "box", "--local-path", str(project), "--json")

    assert result.code == 0, result
    there = remote.host.home / "src" / name
    copied = remote_dir(remote, str(there)) / f"{spec.session_id}.jsonl"
    assert copied.read_bytes() == session_bytes(spec)
    for home in (remote.laptop, remote.host.home, Path(os.getcwd()), Path("/root"), remote.project):
        assert not list(home.glob("PWNED*")), f"a shell ran part of a name in {home}"


def test_sessions_of_a_path_with_a_tilde_in_the_middle(remote: Remote) -> None:
    # Only a leading "~/" means the remote home; "a~b" is a plain name.
    spec = spec_at(remote.project, 30)
    write_old(remote.config, spec)
    target = str(remote.host.home / "x~y")

    result = remote.run("sync", "--host", "box", "--remote-path", target, "--json")

    assert result.code == 0, result
    assert result.json()["remote_project_path"] == target


def test_the_ssh_socket_sends_small_packets_at_once(remote: Remote) -> None:
    """TCP_NODELAY: the handshake's and each request's small packets do not wait for
    the peer's delayed ACK (Nagle)."""
    transport = SshTransport(
        f"{remote.host.user}@{remote.host.host}:{remote.host.port}",
        key_files=[str(remote.sandbox.client_key)],
        use_ssh_config=False,
        strict_host_keys=False,
    )
    connection = AgentConnection(transport)
    try:
        assert connection.hello["home"] == str(remote.host.home)
        stream = connection.stream
        assert isinstance(stream, ChannelStream)
        ssh = stream.connection.client.get_transport()
        assert ssh is not None
        assert isinstance(ssh.sock, socket.socket)
        assert ssh.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        connection.close()
