"""The edges of reaching the other machine: shut-down codespaces, known_hosts lines
paramiko cannot read, overlapping syncs, and the other machine's backups.

Every test runs real parts: the CLI as a subprocess, the sandbox's real sshd, the
fake ``gh`` (whose log shows whether any ``gh codespace ssh``, which would start a
shut-down codespace, ran at all).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CODESPACE, REPO_ROOT, Machines, Remote, snapshot_tree, write_old

from session_sync.agent.fsutil import LOCK_WAIT_ENV
from session_sync.agent.paths import encode_project_path
from session_sync.testing.sessions import SessionSpec, make_session, session_bytes

WORKSPACE = "/workspaces/app"


def spec_at(path: Path | str, seed: int, size: int = 5000) -> SessionSpec:
    return make_session(random.Random(seed), str(path), turns=3, target_bytes=size)


def workspace_dir(remote: Remote) -> Path:
    return remote.remote_config / "projects" / encode_project_path(WORKSPACE, resolve=False)


def ssh_calls(remote: Remote) -> list[list[str]]:
    """Every gh call that is a ``gh codespace ssh`` (each would start a shut-down one)."""
    return [argv for argv in remote.gh.invocations() if "ssh" in argv]


def started(remote: Remote) -> list[str]:
    return [str(e["name"]) for e in remote.gh.events() if e["event"] == "started"]


def populate(remote: Remote) -> None:
    write_old(remote.config, spec_at(remote.project, 1))
    write_old(remote.remote_config, spec_at(WORKSPACE, 2), dir_name=workspace_dir(remote).name)


# --- a shut-down codespace is started only by a sync that names it ----------------------


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (["status"], "status never starts one"),
        (["sync", "--dry-run"], "a dry run never starts one"),
    ],
)
def test_status_and_dry_run_never_start_a_shut_down_codespace(
    remote: Remote, command: list[str], why: str
) -> None:
    populate(remote)
    remote.gh.set_state(CODESPACE, "Shutdown")
    before = snapshot_tree(remote.config), snapshot_tree(remote.remote_config)

    result = remote.run(*command, "--codespace", CODESPACE)

    assert result.code == 1, result
    assert result.err.count("\n") == 1, result.err
    assert f"codespace {CODESPACE} is Shutdown: not starting it ({why}" in result.err
    assert ssh_calls(remote) == [], remote.gh.invocations()
    assert started(remote) == []
    assert remote.gh.state_of(CODESPACE) == "Shutdown"
    assert (snapshot_tree(remote.config), snapshot_tree(remote.remote_config)) == before


def test_status_of_an_available_codespace_still_works(remote: Remote) -> None:
    populate(remote)

    result = remote.run("status", "--codespace", CODESPACE, "--json")

    assert result.code == 0, result
    assert len(result.json()["sessions"]) == 2
    assert started(remote) == []


def test_a_named_codespace_that_shut_down_after_its_lookup_is_started_by_the_sync(
    remote: Remote,
) -> None:
    populate(remote)
    # Available when the CLI looked the name up, shut down before the first ssh: the
    # fresh lookup stands in for a re-read (a named sync may start it anyway), so the
    # first `gh codespace ssh` starts it, and the state is read again before the next.
    remote.gh.stop_after_lists(CODESPACE, 1)

    result = remote.run("sync", "--codespace", CODESPACE, "--json")

    assert result.code == 0, result
    assert (result.json()["pushed"], result.json()["pulled"]) == (1, 1)
    assert started(remote) == [CODESPACE]
    calls = remote.gh.invocations()
    ssh_at = [i for i, argv in enumerate(calls) if "ssh" in argv]
    assert all(calls[i - 1][:2] == ["codespace", "list"] for i in ssh_at[1:])


def test_status_reads_the_state_again_and_never_starts_one_shut_down_since(
    remote: Remote,
) -> None:
    populate(remote)
    remote.gh.stop_after_lists(CODESPACE, 1)

    result = remote.run("status", "--codespace", CODESPACE)

    assert result.code != 0
    assert result.err.count("\n") == 1, result.err
    assert "Shutdown" in result.err
    assert started(remote) == []
    assert not any("ssh" in argv for argv in remote.gh.invocations())


# --- known_hosts lines paramiko cannot read -----------------------------------------------


def known_hosts(remote: Remote) -> Path:
    """The laptop's known_hosts, which holds the sandbox host key for alias ``box``."""
    return remote.laptop / ".ssh" / "known_hosts"


def populate_host(remote: Remote) -> None:
    write_old(remote.config, spec_at(remote.project, 3))
    write_old(remote.remote_config, spec_at(remote.remote_project, 4))


def other_key(remote: Remote) -> str:
    """``ssh-ed25519 AAAA...``: a real key that is not the sandbox hosts' key."""
    return " ".join(remote.sandbox.client_public_key.split()[:2])


def test_known_hosts_lines_paramiko_cannot_parse_are_skipped_with_a_warning(
    remote: Remote,
) -> None:
    populate_host(remote)
    key_type, blob = other_key(remote).split()
    ours = known_hosts(remote).read_text()
    known_hosts(remote).write_text(
        f"@cert-authority *.example.com {key_type} {blob}\n"
        f"other.example {key_type} {blob[:26]}\n"  # cut short: not base64 any more
        f"@revoked other.example {key_type} {blob}\n"  # a valid revocation, of another key
        "just-one-word\n" + ours  # the host's own line comes after all of them
    )

    result = remote.run("sync", "--host", "box", "--json")

    assert result.code == 0, result
    assert (result.json()["pushed"], result.json()["pulled"]) == (1, 1)
    assert "Traceback" not in result.err
    warnings = result.err.splitlines()
    assert all(line.startswith("session-sync: ") for line in warnings), result.err
    where = f"{known_hosts(remote)} line"
    assert any(
        f"{where} 1: host certificates (@cert-authority) are not supported; line skipped" in w
        for w in warnings
    ), result.err
    assert any(f"{where} 2: cannot read this key" in w for w in warnings), result.err
    assert len(warnings) == 2, result.err


@pytest.mark.parametrize("also_listed", [True, False], ids=["also-listed", "only-revoked"])
def test_a_host_key_marked_revoked_is_refused_before_logging_in(
    remote: Remote, also_listed: bool
) -> None:
    populate_host(remote)
    before = snapshot_tree(remote.config), snapshot_tree(remote.remote_config)
    ours = known_hosts(remote).read_text() if also_listed else ""
    host_key = " ".join(remote.sandbox.host_public_key.split()[:2])
    known_hosts(remote).write_text(ours + f"@revoked * {host_key}\n")

    result = remote.run("sync", "--host", "box")

    assert result.code == 1, result
    assert result.err.count("\n") == 1, result.err
    assert "connection refused: the host key of" in result.err
    assert f"is marked @revoked ({known_hosts(remote)} line" in result.err
    assert (snapshot_tree(remote.config), snapshot_tree(remote.remote_config)) == before


def test_a_revoked_key_of_a_host_that_lists_another_key_is_refused_as_revoked(
    remote: Remote,
) -> None:
    populate_host(remote)
    name = known_hosts(remote).read_text().split()[0]  # [127.0.0.1]:PORT
    host_key = " ".join(remote.sandbox.host_public_key.split()[:2])
    known_hosts(remote).write_text(f"{name} {other_key(remote)}\n@revoked {name} {host_key}\n")

    result = remote.run("sync", "--host", "box")

    assert result.code == 1, result
    assert result.err.count("\n") == 1, result.err
    assert "is marked @revoked" in result.err
    assert "CHANGED" not in result.err


# --- overlapping syncs take turns at a machine's apply lock ---------------------------------

HOLDER = """
import fcntl, os, sys
path = sys.argv[1]
os.makedirs(os.path.dirname(path), exist_ok=True)
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)  # the lock every session-sync takes to apply
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin (or kills us)
"""


@contextlib.contextmanager
def lock_held(config: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Another process holding ``config``'s apply lock until its stdin is closed."""
    lock = config / "session-sync" / "lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def sync_process(machines: Machines, lock_wait: float) -> subprocess.Popen[bytes]:
    env = dict(os.environ, CLAUDE_CONFIG_DIR=str(machines.a))
    env[LOCK_WAIT_ENV] = str(lock_wait)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "session_sync", *machines.sync_args()],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_a_sync_waits_for_another_ones_lock_then_succeeds(machines: Machines) -> None:
    theirs = spec_at(machines.project, 5)
    write_old(machines.b, theirs)  # to be pulled: written here under this machine's lock

    with lock_held(machines.a) as holder:
        sync = sync_process(machines, lock_wait=600)
        assert sync.stderr is not None
        said = []
        for line in iter(sync.stderr.readline, b""):
            said.append(line.decode())
            if b"waiting for another session-sync on" in line:
                break
        else:
            pytest.fail(f"the sync never waited for the lock: {said}")
        assert holder.stdin is not None
        holder.stdin.close()  # the other sync is done: the lock is free
        holder.wait(timeout=60)
        out, err = sync.communicate(timeout=120)

    assert sync.returncode == 0, (out, said, err)
    report = json.loads(out)
    assert (report["pulled"], report["failed"]) == (1, 0)
    assert machines.transcript(machines.a, theirs.session_id).read_bytes() == session_bytes(theirs)
    assert said[-1].strip() == (
        f"session-sync: waiting for another session-sync on {socket.gethostname()} (up to 600 s)..."
    ), said
    assert "waiting" not in err.decode()  # said once


@pytest.mark.parametrize("side", ["here", "there"])
def test_a_lock_held_past_the_bound_fails_the_files_with_one_line(
    machines: Machines, side: str
) -> None:
    spec = spec_at(machines.project, 6)
    # Written on the other side, so it must be applied on the side whose lock is held.
    source, held = (machines.b, machines.a) if side == "here" else (machines.a, machines.b)
    write_old(source, spec)
    target = machines.transcript(held, spec.session_id)

    with lock_held(held):
        sync = sync_process(machines, lock_wait=1)
        out, err = sync.communicate(timeout=120)

    assert sync.returncode == 1, (out, err)
    report = json.loads(out)
    assert report["failed"] == 1
    [item] = [i for i in report["items"] if i["outcome"] == "failed"]
    assert item["error"] == (
        f"another session-sync on {socket.gethostname()} held the apply lock for 1 s;"
        " not written: run the sync again when it is done"
    )
    assert not target.exists()
    assert "Traceback" not in err.decode()


# --- the other machine's backups, over the one agent connection ---------------------------

DIR_NAME = "-home-someone-src-app"
SESSION = "0b5a3f9e-4c1d-4e8a-9f2b-7d6c5e4a3b21.jsonl"


def plant_backup(config: Path, set_id: str, data: bytes, label: str = "sync at noon") -> Path:
    """A backup set as a sync leaves it: the kept bytes and the set's ``backup.json``."""
    root = config / "session-sync" / "backups" / set_id
    kept = root / DIR_NAME / SESSION
    kept.parent.mkdir(parents=True)
    kept.write_bytes(data)
    entry = {
        "dir": DIR_NAME,
        "rel": SESSION,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "mode": 0o600,
        "mtime_ns": 1_700_000_000_123_456_789,
        "replaced_by": "0" * 64,
        "reason": "diverged: the other copy has the newer last message",
    }
    index = {"label": label, "created": 1_700_000_000.0, "entries": [entry]}
    (root / "backup.json").write_text(json.dumps(index))
    return kept


def live_file(config: Path, data: bytes) -> Path:
    path = config / "projects" / DIR_NAME / SESSION
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


OLD = b'{"type":"user","uuid":"a"}\n{"type":"assistant","uuid":"b"}\n'
NEW = b'{"type":"user","uuid":"a"}\n{"type":"assistant","uuid":"c"}\n'


@pytest.mark.parametrize("target", ["host", "codespace"])
def test_the_other_machines_backups_are_listed_and_restored(remote: Remote, target: str) -> None:
    where = ["--host", "box"] if target == "host" else ["--codespace", CODESPACE]
    plant_backup(remote.config, "20240101T000000Z-aaaaaa", b"ours\n", label="ours")
    plant_backup(remote.remote_config, "20240102T000000Z-bbbbbb", OLD)
    live = live_file(remote.remote_config, NEW)
    mine_before = snapshot_tree(remote.config)

    listed = remote.run("backups", *where, "--json", "list")

    assert listed.code == 0, listed
    document = json.loads(listed.out)  # exactly one JSON document on stdout
    assert document["machine"] == ("host box" if target == "host" else f"codespace {CODESPACE}")
    (backup,) = document["backups"]
    assert backup["id"] == "20240102T000000Z-bbbbbb"
    assert [(e["dir"], e["rel"], e["size"]) for e in backup["entries"]] == [
        (DIR_NAME, SESSION, len(OLD))
    ]
    text = remote.run("backups", *where)
    assert text.code == 0, text
    assert text.out.splitlines()[0].startswith("20240102T000000Z-bbbbbb  1 file(s)  sync at noon")
    assert f"{DIR_NAME}/{SESSION}  {len(OLD)} bytes" in text.out

    restored = remote.run("backups", *where, "restore", backup["id"])

    assert restored.code == 0, restored
    assert restored.out == f"  ok     {SESSION}\n"
    assert live.read_bytes() == OLD
    # The copy it replaced was backed up over there, so the restore can be undone.
    after = json.loads(remote.run("backups", *where, "--json", "list").out)["backups"]
    assert len(after) == 2
    undo = [s for s in after if s["id"] != backup["id"]]
    kept = remote.remote_config / "session-sync" / "backups" / undo[0]["id"] / DIR_NAME / SESSION
    assert kept.read_bytes() == NEW
    # This machine's own backups and files were not touched.
    assert snapshot_tree(remote.config) == mine_before


def test_restoring_a_set_the_other_machine_does_not_have_is_usage(remote: Remote) -> None:
    plant_backup(remote.remote_config, "20240102T000000Z-bbbbbb", OLD)

    result = remote.run("backups", "--host", "box", "restore", "no-such-set")

    assert result.code == 2, result
    assert result.err.count("\n") == 1
    assert "no backup set 'no-such-set' on host box" in result.err
    assert result.out == ""


def test_listing_a_shut_down_codespaces_backups_does_not_start_it(remote: Remote) -> None:
    plant_backup(remote.remote_config, "20240102T000000Z-bbbbbb", OLD)
    remote.gh.set_state(CODESPACE, "Shutdown")

    listed = remote.run("backups", "--codespace", CODESPACE, "--json", "list")

    assert listed.code == 1, listed
    assert "is Shutdown: not starting it (listing backups never starts one" in listed.err
    assert ssh_calls(remote) == []
    assert remote.gh.state_of(CODESPACE) == "Shutdown"


def test_backups_of_another_config_dir_through_its_agent(remote: Remote, tmp_path: Path) -> None:
    other = tmp_path / "other-config"
    plant_backup(other, "20240103T000000Z-cccccc", OLD)

    listed = remote.run("backups", "--dir", str(other), "--json", "list")

    assert listed.code == 0, listed
    assert [b["id"] for b in json.loads(listed.out)["backups"]] == ["20240103T000000Z-cccccc"]


def test_the_other_machines_backup_names_are_printed_escaped(
    remote: Remote, tmp_path: Path
) -> None:
    other = tmp_path / "other-config"
    plant_backup(
        other, "20240104T000000Z-dddddd", OLD, label="\x1b]0;owned\x07\x1b[2J\n  ok forged"
    )

    listed = remote.run("backups", "--dir", str(other), "list")

    assert listed.code == 0, listed
    assert "\x1b" not in listed.out
    assert "\x07" not in listed.out
    assert "\n  ok forged" not in listed.out
    assert "20240104T000000Z-dddddd" in listed.out
