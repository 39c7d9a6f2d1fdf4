"""A stand-in for the GitHub CLI ``gh``, whose codespaces are sandbox SSH servers.

Two parts in one file:

- the script: ``python fake_gh.py ARGS...`` behaves like ``gh ARGS...`` for
  ``auth status`` and ``codespace list/ssh/create/delete/stop``. It uses the
  standard library only and runs under any python3 >= 3.8. Its state (login,
  codespaces and the ports of their sshd, delays, how ``create`` ends) is a
  JSON file named by ``FAKE_GH_STATE``, read and written under a lock, since
  several gh processes run at once;
- ``install_fake_gh`` and ``FakeGh``: write an executable ``gh`` wrapper and
  the state, and change the state from a test.

Output follows the real gh (cli/cli ``pkg/cmd/codespace``) when its stdout is
not a terminal, as when a program runs it: ``--json`` prints compact JSON
with sorted keys on one line, ``list`` without ``--json`` prints
tab-separated rows and no header, ``delete``/``stop`` print nothing,
``create`` prints the new name. ``ssh --config`` prints the real template.

``gh codespace ssh -c NAME`` with no command (ssh options after ``--`` or
not) runs ssh with no remote command, so the codespace's login shell reads
stdin: with ``-T`` when stdin is not a terminal, ``-t`` when it is (real gh
adds neither). Its exit status is ssh's.

A codespace made by ``create`` can show a state such as ``Starting`` for a
while and then another (``FakeGh.set_create_outcome``): the record keeps
``ready_at`` (a ``time.time()``) and ``final_state``, and whoever reads the
state after ``ready_at`` sees ``final_state`` (the next write saves it), so no
process runs in the background. ``gh codespace ssh`` on such a codespace waits
for ``ready_at``, as gh waits for a codespace to start.

Every call appends ``{"argv": [...], "time": T, "pid": P}`` to the log (a
JSON-lines file) before anything else, so a call that hangs is logged too.
Other lines of the log are events: ``{"event": "started" | "created" |
"deleted" | "stopped" | "waited" | "relay-end", "name": ..., ...}``
(``waited``: ``gh codespace ssh`` waited for a codespace still starting).
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import pwd
import random
import shlex
import shutil
import signal
import socket
import string
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

__all__ = [
    "STATE_ENV",
    "FakeGh",
    "install_fake_gh",
    "main",
]

# The script runs under python3.8 too: PEP 585/604 forms only in annotations, which
# `from __future__ import annotations` leaves unevaluated.
if TYPE_CHECKING:
    Json = dict[str, Any]

STATE_ENV = "FAKE_GH_STATE"
"""The environment variable naming the state file."""

# What `gh` prints when no one is logged in (cli/cli cmd/gh: authHelp), exit status 4.
AUTH_HELP = (
    "To get started with GitHub CLI, please run:  gh auth login\n"
    "Alternatively, populate the GH_TOKEN environment variable with a GitHub API"
    " authentication token.\n"
)
EXIT_AUTH = 4
_API = "https://api.github.com"
_FIELDS = (
    "createdAt",
    "displayName",
    "gitStatus",
    "lastUsedAt",
    "machineName",
    "name",
    "owner",
    "repository",
    "state",
    "vscsTarget",
)
# gh starts a codespace in these states on `gh codespace ssh` (or waits for it to start).
_WAKEABLE = (
    "Shutdown",
    "ShuttingDown",
    "Starting",
    "Queued",
    "Provisioning",
    "Created",
    "Awaiting",
)
# ssh options that take a value (cli/cli internal/codespaces/ssh.go ParseSSHArgs).
_SSH_UNARY = "bcDeFIiLlmOopRSWw"
# How often `gh codespace ssh` looks again at a codespace that is still starting.
_POLL = 0.2
_NAME_CHARS = string.ascii_lowercase + string.digits


class GhExit(Exception):
    """Ends the fake gh with ``code`` after printing ``message`` (if any) to stderr."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- state file ------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(state_file: Path, exclusive: bool) -> Iterator[None]:
    """Hold the state's lock (a separate file: the state itself is replaced on write)."""
    lock_path = state_file.with_name(state_file.name + ".lock")
    fd = os.open(str(lock_path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _settle(state: Json) -> None:
    """Give every codespace whose ``ready_at`` has passed its ``final_state``."""
    now = time.time()
    for codespace in state.get("codespaces", []):
        ready_at = codespace.get("ready_at")
        if ready_at is not None and now >= float(ready_at):
            codespace["state"] = codespace.get("final_state") or "Available"
            codespace.pop("ready_at", None)
            codespace.pop("final_state", None)


def _read_state(state_file: Path) -> Json:
    """The state, with every pending state change that is due applied (not saved)."""
    with _locked(state_file, exclusive=False):
        state: Json = json.loads(state_file.read_text(encoding="utf-8"))
    _settle(state)
    return state


def _write_unlocked(state_file: Path, state: Json) -> None:
    temp = state_file.with_name(f"{state_file.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(str(temp), str(state_file))


def _update_state(state_file: Path, change: Callable[[Json], Any]) -> Any:
    """Apply ``change`` to the state under the lock and save it; returns what it returns."""
    with _locked(state_file, exclusive=True):
        state = json.loads(state_file.read_text(encoding="utf-8"))
        _settle(state)
        result = change(state)
        _write_unlocked(state_file, state)
        return result


def _append_log(log_file: str, entry: Json) -> None:
    line = json.dumps(entry, sort_keys=True) + "\n"
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # long lines from parallel calls must not interleave
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def _find(state: Json, name: str) -> Json | None:
    for codespace in state.get("codespaces", []):
        if codespace.get("name") == name:
            found: Json = codespace
            return found
    return None


# --- the script ------------------------------------------------------------------------


class _Args:
    """Parsed flags and positional words of one subcommand (cobra-like, interspersed)."""

    def __init__(self, argv: list[str], spec: dict[str, tuple[str, bool]]) -> None:
        """``spec`` maps each spelling (``-c``, ``--codespace``) to (key, takes a value)."""
        self.values: dict[str, Any] = {}
        self.positional: list[str] = []
        self.after_dashes: list[str] | None = None
        i = 0
        while i < len(argv):
            word = argv[i]
            i += 1
            if word == "--":
                self.after_dashes = argv[i:]
                break
            if not word.startswith("-") or word == "-":
                self.positional.append(word)
                continue
            flag, has_inline, inline = word.partition("=")
            if flag not in spec and not flag.startswith("--") and len(flag) > 2:
                # -cNAME: a short flag with its value attached.
                flag, inline, has_inline = word[:2], word[2:], "="
            if flag not in spec:
                if flag.startswith("--"):
                    raise GhExit(1, f"unknown flag: {flag}")
                raise GhExit(1, f"unknown shorthand flag: {flag[1:2]!r} in {word}")
            key, takes_value = spec[flag]
            if takes_value:
                if has_inline:
                    self.values[key] = inline
                elif i < len(argv):
                    self.values[key] = argv[i]
                    i += 1
                else:
                    raise GhExit(1, f"flag needs an argument: {flag}")
            else:
                self.values[key] = inline.lower() not in ("false", "0") if has_inline else True

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def words(self) -> list[str]:
        """Positional words, then everything after ``--``."""
        return self.positional + (self.after_dashes or [])


class _Gh:
    """One invocation of the fake gh."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.state = _read_state(state_file)

    # -- helpers

    def log_event(self, event: str, **fields: Any) -> None:
        entry: Json = {"event": event, "time": time.time(), "pid": os.getpid()}
        entry.update(fields)
        _append_log(self.state["log"], entry)

    def out(self, text: str) -> None:
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.buffer.flush()

    def update(self, change: Callable[[Json], Any]) -> Any:
        result = _update_state(self.state_file, change)
        self.state = _read_state(self.state_file)
        return result

    # -- dispatch

    def run(self, argv: list[str]) -> int:
        if argv[:1] in (["--version"], ["version"]):
            self.out("gh version 2.63.0 (fake session-sync sandbox)\n")
            return 0
        if not self.state.get("logged_in", True):
            if self.state.get("hang_when_logged_out"):
                while True:  # like a gh stuck waiting for credentials: until killed
                    time.sleep(3600)
            if argv[:1] == ["auth"]:
                raise GhExit(
                    1, "You are not logged into any GitHub hosts. To log in, run: gh auth login"
                )
            sys.stderr.write(AUTH_HELP)
            return EXIT_AUTH
        if not argv:
            raise GhExit(1, "usage: gh <command> <subcommand> [flags] (fake gh)")
        command, rest = argv[0], argv[1:]
        if command == "auth" and rest[:1] == ["status"]:
            return self.auth_status()
        if command in ("codespace", "cs"):
            if not rest:
                raise GhExit(1, 'usage: gh codespace <command> (fake gh: no "help")')
            sub, args = rest[0], rest[1:]
            handler = {
                "list": self.cs_list,
                "ls": self.cs_list,
                "ssh": self.cs_ssh,
                "create": self.cs_create,
                "delete": self.cs_delete,
                "stop": self.cs_stop,
            }.get(sub)
            if handler is None:
                raise GhExit(1, f'unknown command "{sub}" for "gh codespace"')
            return handler(args)
        raise GhExit(1, f'unknown command "{command}" for "gh"')

    # -- gh auth status

    def auth_status(self) -> int:
        user = self.state.get("ssh_user") or "sandbox"
        self.out(
            "github.com\n"
            f"  \u2713 Logged in to github.com account {user} (GH_TOKEN)\n"
            "  - Active account: true\n"
            "  - Git operations protocol: https\n"
            "  - Token: gho_************************************\n"
            "  - Token scopes: 'codespace', 'gist', 'read:org', 'repo'\n"
        )
        return 0

    # -- gh codespace list

    def cs_list(self, argv: list[str]) -> int:
        args = _Args(
            argv,
            {
                "--json": ("json", True),
                "-R": ("repo", True),
                "--repo": ("repo", True),
                "-L": ("limit", True),
                "--limit": ("limit", True),
                "-o": ("org", True),
                "--org": ("org", True),
                "-u": ("user", True),
                "--user": ("user", True),
                "-q": ("jq", True),
                "--jq": ("jq", True),
                "-t": ("template", True),
                "--template": ("template", True),
            },
        )
        if args.words():
            raise GhExit(1, "the command accepts no arguments")
        if args.get("jq") or args.get("template"):
            raise GhExit(1, "fake gh: --jq and --template are not supported")
        try:
            limit = int(args.get("limit", "30"))
        except ValueError:
            raise GhExit(1, f'invalid argument {args.get("limit")!r} for "-L, --limit"') from None
        if limit < 1:
            raise GhExit(1, f"invalid limit: {limit}")
        rows = list(self.state.get("codespaces", []))
        repo = args.get("repo")
        if repo:
            rows = [c for c in rows if str(c.get("repository", "")).lower() == repo.lower()]
        rows = rows[:limit]
        fields_arg = args.get("json")
        if fields_arg is None:
            for c in rows:
                cells = [
                    c["name"],
                    c.get("display_name", ""),
                    c.get("repository", ""),
                    c.get("branch", ""),
                    c.get("state", ""),
                    c.get("created_at", ""),
                ]
                self.out("\t".join(str(cell) for cell in cells) + "\n")
            return 0
        fields = [f.strip() for f in fields_arg.split(",") if f.strip()]
        if not fields:
            raise GhExit(
                1,
                "Specify one or more comma-separated fields for `--json`:\n  "
                + "\n  ".join(_FIELDS),
            )
        for field in fields:
            if field not in _FIELDS:
                raise GhExit(
                    1,
                    f'Unknown JSON field: "{field}"\nAvailable fields:\n  ' + "\n  ".join(_FIELDS),
                )
        exported = [self._export(c, fields) for c in rows]
        # Like gh (Go's encoder, no terminal): one line, keys sorted, no HTML escaping.
        self.out(json.dumps(exported, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
        self.out("\n")
        return 0

    def _export(self, c: Json, fields: list[str]) -> Json:
        data: Json = {}
        for field in fields:
            if field == "name":
                data[field] = c["name"]
            elif field == "displayName":
                data[field] = c.get("display_name", "")
            elif field == "repository":
                data[field] = c.get("repository", "")
            elif field == "state":
                data[field] = c.get("state", "")
            elif field == "owner":
                data[field] = self.state.get("ssh_user") or ""
            elif field == "gitStatus":
                data[field] = {
                    "ref": c.get("branch", ""),
                    "hasUnpushedChanges": False,
                    "hasUncommittedChanges": False,
                }
            elif field == "machineName":
                data[field] = c.get("machine", "")
            elif field == "createdAt":
                data[field] = c.get("created_at", "")
            elif field == "lastUsedAt":
                data[field] = c.get("last_used_at", "")
            # vscsTarget: gh leaves it out for production codespaces.
        return data

    # -- gh codespace ssh

    def cs_ssh(self, argv: list[str]) -> int:
        args = _Args(
            argv,
            {
                "-c": ("codespace", True),
                "--codespace": ("codespace", True),
                "--config": ("config", False),
                "--stdio": ("stdio", False),
                "--profile": ("profile", True),
                "--server-port": ("server_port", True),
                "-d": ("debug", False),
                "--debug": ("debug", False),
                "--debug-file": ("debug_file", True),
                "-R": ("repo", True),
                "--repo": ("repo", True),
                "--repo-owner": ("repo_owner", True),
            },
        )
        name = args.get("codespace")
        if args.get("stdio"):
            if not name:
                raise GhExit(1, "`--stdio` requires explicit `--codespace`")
            if args.get("config"):
                raise GhExit(1, "cannot use `--stdio` with `--config`")
        if args.get("config"):
            return self.ssh_config(name)
        if not name:
            raise GhExit(1, "fake gh: `gh codespace ssh` needs -c NAME (no interactive choice)")
        codespace = self._wake(name, prefix="")
        if args.get("stdio"):
            return self.ssh_stdio(codespace)
        return self.ssh_exec(codespace, args.words())

    def _wake(self, name: str, prefix: str) -> Json:
        """The codespace ``name``, started first if it is shut down (as gh does).

        A codespace still starting by itself (``ready_at`` ahead) is waited for,
        then taken as it ends up: ``Available`` goes ahead, ``Failed`` fails.
        """
        self._wait_until_ready(name)

        def change(state: Json) -> tuple[Json | None, str | None]:
            codespace = _find(state, name)
            if codespace is None:
                return None, None
            before = codespace.get("state", "")
            if before in _WAKEABLE:
                codespace["state"] = "Available"
                codespace.pop("ready_at", None)
                codespace.pop("final_state", None)
                codespace["last_used_at"] = _now_iso()
                return codespace, before
            return codespace, None

        codespace, woke_from = self.update(change)
        if codespace is None:
            raise GhExit(
                1,
                f"{prefix}getting full codespace details: HTTP 404: Not Found"
                f" ({_API}/user/codespaces/{name}?internal=true&refresh=true)",
            )
        if woke_from is not None:
            self.log_event("started", name=name, previous=woke_from)
        state = codespace.get("state", "")
        if state != "Available":
            raise GhExit(
                1,
                f"error connecting to codespace: error starting codespace: HTTP 409:"
                f" codespace {name} is {state} ({_API}/user/codespaces/{name}/start)",
            )
        found: Json = codespace
        return found

    def _wait_until_ready(self, name: str) -> None:
        """Sleep while ``name`` shows a starting state that changes at its ``ready_at``."""
        began = time.time()
        shown = None
        while True:
            self.state = _read_state(self.state_file)
            codespace = _find(self.state, name)
            if codespace is None or codespace.get("ready_at") is None:
                break
            if codespace.get("state") not in _WAKEABLE:
                break  # not starting (a test's odd choice): no waiting, as before
            shown = shown or str(codespace.get("state"))
            left = float(codespace["ready_at"]) - time.time()
            time.sleep(min(_POLL, max(left, 0.0)) or 0.01)
        if shown is not None:
            after = "" if codespace is None else str(codespace.get("state", ""))
            self.log_event(
                "waited",
                name=name,
                previous=shown,
                state=after,
                seconds=round(time.time() - began, 3),
            )

    def ssh_config(self, name: str | None) -> int:
        status = 0
        if name:
            targets = [self._wake(name, prefix="error getting codespace info: ")]
        else:
            targets = []
            for c in self.state.get("codespaces", []):
                if c.get("state") != "Available":
                    sys.stderr.write(f"skipping unavailable codespace {c['name']}: {c['state']}\n")
                    status = 1
                    continue
                targets.append(c)
        identity = self.state.get("identity_file") or os.path.join(
            os.path.expanduser("~"), ".ssh", "codespaces.auto"
        )
        gh = self.state.get("gh_path") or "gh"
        user = self.state.get("ssh_user") or "codespace"
        for c in targets:
            ref = str(c.get("branch", "")).replace("/", "-")
            # The template of cli/cli pkg/cmd/codespace/ssh.go printOpenSSHConfig, verbatim.
            self.out(
                f"Host cs.{c['name']}.{ref}\n"
                f"\tUser {user}\n"
                f"\tProxyCommand {gh} cs ssh -c {c['name']} --stdio -- -i {identity}\n"
                "\tUserKnownHostsFile=/dev/null\n"
                "\tStrictHostKeyChecking no\n"
                "\tLogLevel quiet\n"
                "\tControlMaster auto\n"
                f"\tIdentityFile {identity}\n"
                "\n"
            )
        return status

    def ssh_stdio(self, codespace: Json) -> int:
        override = self.state.get("proxy_port_override")
        port = int(override if override is not None else codespace["port"])
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError as exc:
            raise GhExit(1, f"error connecting to codespace: {exc}") from None
        sock.settimeout(None)
        counts = {"up": 0, "down": 0}
        done = threading.Event()
        reason = ["eof"]

        def up() -> None:
            # stdin -> sshd; at EOF pass the half-close on and keep reading the answer.
            try:
                while True:
                    data = os.read(0, 65536)
                    if not data:
                        break
                    sock.sendall(data)
                    counts["up"] += len(data)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
            except OSError:
                reason[0] = "error"
                done.set()

        def down() -> None:
            # sshd -> stdout; when sshd closes, the tunnel is over.
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    view = memoryview(data)
                    while view:
                        written = os.write(1, view)
                        view = view[written:]
                    counts["down"] += len(data)
            except OSError:
                reason[0] = "error"
            done.set()

        signalled: list[int] = []

        def on_signal(signum: int, frame: Any) -> None:
            # No locks here: the handler may interrupt the main thread inside done.wait(),
            # holding the Event's lock, and a second signal may interrupt the handler.
            signalled.append(signum)

        for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, on_signal)
        for target in (up, down):
            threading.Thread(target=target, daemon=True).start()
        while not done.wait(0.2) and not signalled:  # a timed wait lets the handler run
            pass
        if signalled and not done.is_set():
            # ssh sends its ProxyCommand SIGHUP when it is done: a normal end.
            reason[0] = "hangup" if signalled[0] == signal.SIGHUP else "killed"
        with contextlib.suppress(OSError):
            sock.close()
        self.log_event(
            "relay-end",
            name=codespace["name"],
            port=port,
            up=counts["up"],
            down=counts["down"],
            reason=reason[0],
        )
        sys.stdout.flush()
        # The stdin reader may still block in read(): leave without joining it.
        os._exit(0 if reason[0] in ("eof", "hangup") else 1)

    def ssh_exec(self, codespace: Json, words: list[str]) -> int:
        ssh_args, command = _split_ssh_args(words)
        user = self.state.get("ssh_user") or "codespace"
        identity = self.state.get("identity_file")
        argv = [shutil.which("ssh") or "/usr/bin/ssh"]
        if not command and not _asks_for_tty(ssh_args):
            # No command: the login shell. Without a terminal it reads stdin as a script,
            # and -T keeps ssh from warning that it allocates no pseudo-terminal.
            argv.append("-t" if os.isatty(0) else "-T")
        argv += ssh_args
        argv += ["-F", "/dev/null", "-p", str(codespace["port"])]
        if identity:
            argv += ["-i", identity, "-o", "IdentitiesOnly=yes"]
        argv += [
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=error",
            "-o",
            "BatchMode=yes",
            "-o",
            "PasswordAuthentication=no",
            "-C",  # gh asks for compression too
            f"{user}@127.0.0.1",
        ]
        if command:
            argv += ["--", *command]
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execv(argv[0], argv)
        except OSError as exc:
            raise GhExit(1, f"failed to create ssh command: failed to execute ssh: {exc}") from None
        return 127  # not reached

    # -- gh codespace create / delete / stop

    def cs_create(self, argv: list[str]) -> int:
        args = _Args(
            argv,
            {
                "-R": ("repo", True),
                "--repo": ("repo", True),
                "-r": ("repo", True),
                "-b": ("branch", True),
                "--branch": ("branch", True),
                "-m": ("machine", True),
                "--machine": ("machine", True),
                "-d": ("display_name", True),
                "--display-name": ("display_name", True),
                "--idle-timeout": ("idle_timeout", True),
                "--retention-period": ("retention", True),
                "--default-permissions": ("default_permissions", False),
                "-l": ("location", True),
                "--location": ("location", True),
                "--devcontainer-path": ("devcontainer", True),
                # gh waits for the post-create command with --status; the fake has none
                # to wait for and ignores it (create returns at once, whatever state).
                "-s": ("status", False),
                "--status": ("status", False),
                "-w": ("web", False),
                "--web": ("web", False),
            },
        )
        repo = args.get("repo")
        if not repo or "/" not in repo:
            raise GhExit(1, "fake gh: `gh codespace create` needs -R OWNER/REPO")
        if args.words():
            raise GhExit(1, "the command accepts no arguments")

        def change(state: Json) -> Json | None:
            spares = state.setdefault("spares", [])
            if not spares:
                return None
            spare = spares.pop(0)
            repo_name = repo.rsplit("/", 1)[-1]
            names = {c["name"] for c in state.get("codespaces", [])}
            rng = random.Random()
            while True:
                name = f"{repo_name}-" + "".join(rng.choice(_NAME_CHARS) for _ in range(6))
                if name not in names:
                    break
            now = _now_iso()
            outcome = state.get("create_outcome") or {}
            codespace: Json = {
                "name": name,
                "repository": repo,
                "state": str(outcome.get("state") or "Available"),
                "port": int(spare["port"]),
                "branch": args.get("branch") or "main",
                "display_name": args.get("display_name") or f"{repo_name} codespace",
                "machine": args.get("machine") or "basicLinux32gb",
                "created_at": now,
                "last_used_at": now,
            }
            ready_after = float(outcome.get("ready_after") or 0.0)
            if ready_after > 0:
                codespace["ready_at"] = time.time() + ready_after
                codespace["final_state"] = str(outcome.get("final_state") or "Available")
            state.setdefault("codespaces", []).append(codespace)
            state["next_id"] = int(state.get("next_id", 1)) + 1
            return codespace

        created = self.update(change)
        if created is None:
            raise GhExit(1, "error creating codespace: HTTP 503: no capacity (fake gh: no spares)")
        self.log_event(
            "created",
            name=created["name"],
            repository=repo,
            port=created["port"],
            state=created["state"],
        )
        self.out(created["name"] + "\n")
        return 0

    def cs_delete(self, argv: list[str]) -> int:
        args = _Args(
            argv,
            {
                "-c": ("codespace", True),
                "--codespace": ("codespace", True),
                "-f": ("force", False),
                "--force": ("force", False),
                "--all": ("all", False),
                "-r": ("repo", True),
                "--repo": ("repo", True),
                "--days": ("days", True),
            },
        )
        name = args.get("codespace")
        if not name:
            raise GhExit(1, "fake gh: `gh codespace delete` needs -c NAME")

        def change(state: Json) -> bool:
            before = len(state.get("codespaces", []))
            state["codespaces"] = [c for c in state.get("codespaces", []) if c["name"] != name]
            return len(state["codespaces"]) < before

        if not self.update(change):
            raise GhExit(
                1,
                "error fetching codespace information: HTTP 404: Not Found"
                f" ({_API}/user/codespaces/{name})",
            )
        self.log_event("deleted", name=name)
        return 0

    def cs_stop(self, argv: list[str]) -> int:
        args = _Args(
            argv,
            {
                "-c": ("codespace", True),
                "--codespace": ("codespace", True),
                "-R": ("repo", True),
                "--repo": ("repo", True),
                "-o": ("org", True),
                "--org": ("org", True),
                "-u": ("user", True),
                "--user": ("user", True),
            },
        )
        name = args.get("codespace")
        if not name:
            raise GhExit(1, "fake gh: `gh codespace stop` needs -c NAME")

        def change(state: Json) -> str | None:
            codespace = _find(state, name)
            if codespace is None:
                return None
            before = str(codespace.get("state", ""))
            if before == "Available":
                codespace["state"] = "Shutdown"
            return before

        before = self.update(change)
        if before is None:
            raise GhExit(
                1,
                "failed to get codespace: HTTP 404: Not Found"
                f" ({_API}/user/codespaces/{name}?internal=true&refresh=true)",
            )
        if before != "Available":
            raise GhExit(1, f"failed to stop codespace: codespace {name!r} is not running")
        self.log_event("stopped", name=name)
        return 0


def _split_ssh_args(words: list[str]) -> tuple[list[str], list[str]]:
    """(ssh options, command): options run up to the first word not starting with ``-``."""
    options: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("-"):
            return options, words[i:]
        options.append(word)
        if len(word) == 2 and word[1] in _SSH_UNARY:
            i += 1
            if i == len(words):
                raise GhExit(1, f"flag: {word} requires an argument")
            options.append(words[i])
        i += 1
    return options, []


def _asks_for_tty(ssh_args: list[str]) -> bool:
    """Whether the user's ssh options already say ``-t``, ``-T`` or ``RequestTTY``."""
    i = 0
    while i < len(ssh_args):
        word = ssh_args[i]
        i += 1
        if word.startswith("--") or len(word) < 2:
            continue
        for pos, flag in enumerate(word[1:], start=1):
            if flag in "tT":
                return True
            if flag in _SSH_UNARY:
                value = word[pos + 1 :]
                if not value and i < len(ssh_args):
                    value = ssh_args[i]
                    i += 1
                if flag == "o" and value.lower().replace(" ", "=").startswith("requesttty"):
                    return True
                break
    return False


def _current_user() -> str:
    # The effective user (what a sandbox sshd lets in), not whatever $USER says.
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return getpass.getuser()


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def main(argv: list[str] | None = None) -> int:
    """Run the fake gh on ``argv`` (default: the command line); returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    state_path = os.environ.get(STATE_ENV)
    if not state_path:
        sys.stderr.write(f"fake gh: {STATE_ENV} is not set\n")
        return 1
    try:
        gh = _Gh(Path(state_path))
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"fake gh: cannot read the state {state_path}: {exc}\n")
        return 1
    _append_log(gh.state["log"], {"argv": args, "time": time.time(), "pid": os.getpid()})
    delay = float(gh.state.get("delay") or 0.0)
    if delay > 0:
        time.sleep(delay)
    try:
        return gh.run(args)
    except GhExit as exc:
        if exc.message:
            sys.stderr.write(exc.message.rstrip("\n") + "\n")
        return exc.code


# --- the controller (used from tests and benchmarks) -----------------------------------


class FakeGh:
    """An installed fake ``gh``: where it is, and methods to change and read its state."""

    def __init__(self, bin_dir: Path, state_file: Path) -> None:
        self.bin_dir = Path(bin_dir)
        """The directory holding the ``gh`` wrapper (put it first on ``PATH``)."""
        self.gh = self.bin_dir / "gh"
        """The executable ``gh`` wrapper."""
        self.state_file = Path(state_file)
        """The JSON state (``FAKE_GH_STATE``)."""
        self.log_file = Path(self.state()["log"])
        """The JSON-lines log of every call and event."""

    def __repr__(self) -> str:
        return f"<FakeGh {self.gh}>"

    def state(self) -> Json:
        """A copy of the whole state (with the pending state changes that are due made)."""
        return _read_state(self.state_file)

    def _update(self, change: Callable[[Json], Any]) -> Any:
        return _update_state(self.state_file, change)

    def add_codespace(
        self,
        name: str,
        repository: str,
        *,
        port: int,
        state: str = "Available",
        branch: str = "main",
        display_name: str | None = None,
        machine: str = "basicLinux32gb",
    ) -> None:
        """Add a codespace served by the sshd on ``port``."""

        def change(s: Json) -> None:
            if _find(s, name) is not None:
                raise ValueError(f"codespace {name!r} already exists")
            now = _now_iso()
            s.setdefault("codespaces", []).append(
                {
                    "name": name,
                    "repository": repository,
                    "state": state,
                    "port": int(port),
                    "branch": branch,
                    "display_name": display_name or f"{repository.rsplit('/', 1)[-1]} codespace",
                    "machine": machine,
                    "created_at": now,
                    "last_used_at": now,
                }
            )

        self._update(change)

    def remove_codespace(self, name: str) -> None:
        """Forget a codespace (as if deleted elsewhere)."""

        def change(s: Json) -> None:
            s["codespaces"] = [c for c in s.get("codespaces", []) if c["name"] != name]

        self._update(change)

    def add_spare(self, port: int) -> None:
        """Offer the sshd on ``port`` to the next ``gh codespace create``."""
        self._update(lambda s: s.setdefault("spares", []).append({"port": int(port)}))

    def codespace(self, name: str) -> Json:
        """The stored record of a codespace (``KeyError`` if there is none).

        Its ``state`` is the one gh shows now; while a state set by
        ``set_create_outcome`` is pending, ``ready_at`` (a ``time.time()``) and
        ``final_state`` say when it changes and to what.
        """
        found = _find(self.state(), name)
        if found is None:
            raise KeyError(name)
        return found

    def codespace_names(self) -> list[str]:
        """Names of every codespace, in order."""
        return [c["name"] for c in self.state().get("codespaces", [])]

    def set_state(self, name: str, state: str) -> None:
        """Set a codespace's state (``Available``, ``Shutdown``, ``Starting``, ``Failed``...).

        The state stays: a pending change from ``set_create_outcome`` is dropped.
        A codespace set to a starting state here is started at once by
        ``gh codespace ssh``, not waited for.
        """

        def change(s: Json) -> None:
            codespace = _find(s, name)
            if codespace is None:
                raise KeyError(name)
            codespace["state"] = state
            codespace.pop("ready_at", None)
            codespace.pop("final_state", None)

        self._update(change)

    def set_create_outcome(
        self,
        state: str = "Available",
        *,
        ready_after: float = 0.0,
        final_state: str = "Available",
    ) -> None:
        """Say how the next ``gh codespace create`` calls (all of them, until changed) end.

        A new codespace shows ``state`` (``Starting``, ``Provisioning``...) in
        ``gh codespace list`` until ``ready_after`` seconds after its creation,
        then ``final_state`` (``Available``, or ``Failed`` for a creation that
        broke). ``gh codespace ssh`` waits for that moment, then goes on as
        with any codespace in ``final_state``: it connects to an ``Available``
        one and fails (exit 1) on a ``Failed`` one. With ``ready_after`` 0 the
        codespace shows ``state`` for good and ``final_state`` is unused; the
        defaults make codespaces that are ``Available`` at once.
        """
        if ready_after < 0:
            raise ValueError(f"ready_after must be >= 0, not {ready_after!r}")
        if not state or not final_state:
            raise ValueError("state and final_state must not be empty")
        outcome: Json = {
            "state": state,
            "ready_after": float(ready_after),
            "final_state": final_state,
        }
        self._update(lambda s: s.__setitem__("create_outcome", outcome))

    def state_of(self, name: str) -> str:
        """A codespace's state, as gh shows it now."""
        return str(self.codespace(name).get("state", ""))

    def set_port(self, name: str, port: int) -> None:
        """Point a codespace at another sshd (or relay) port."""

        def change(s: Json) -> None:
            codespace = _find(s, name)
            if codespace is None:
                raise KeyError(name)
            codespace["port"] = int(port)

        self._update(change)

    def set_delay(self, seconds: float) -> None:
        """Make every call sleep ``seconds`` first (after it is logged)."""
        self._update(lambda s: s.__setitem__("delay", float(seconds)))

    def set_logged_in(self, flag: bool, *, hang: bool = False) -> None:
        """Log in or out; logged out with ``hang``, every call hangs until killed."""

        def change(s: Json) -> None:
            s["logged_in"] = bool(flag)
            s["hang_when_logged_out"] = bool(hang)

        self._update(change)

    def set_proxy_port_override(self, port: int | None) -> None:
        """Send every ``--stdio`` tunnel to ``port`` (a relay, say) instead of the codespace's.

        ``gh codespace ssh -- CMD`` keeps using the codespace's own port, so a
        test can break one route and keep the other.
        """
        self._update(lambda s: s.__setitem__("proxy_port_override", port))

    def _log_lines(self) -> list[Json]:
        try:
            text = self.log_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def invocations(self) -> list[list[str]]:
        """The argv (after ``gh``) of every call so far, in order."""
        return [list(entry["argv"]) for entry in self._log_lines() if "argv" in entry]

    def events(self) -> list[Json]:
        """Every event so far (``started``, ``created``, ``relay-end``...), in order."""
        return [entry for entry in self._log_lines() if "event" in entry]

    def clear_log(self) -> None:
        """Forget the calls and events logged so far."""
        self.log_file.write_text("")

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: ``os.environ``) with this gh first on ``PATH`` and its state set."""
        env = dict(os.environ if base is None else base)
        path = env.get("PATH", os.defpath)
        env["PATH"] = os.pathsep.join([str(self.bin_dir), path]) if path else str(self.bin_dir)
        env[STATE_ENV] = str(self.state_file)
        return env


def install_fake_gh(
    bin_dir: Path,
    state_file: Path,
    *,
    identity_file: Path | str | None = None,
    ssh_user: str | None = None,
    log_file: Path | None = None,
) -> FakeGh:
    """Write an executable ``bin_dir/gh`` and a fresh state; returns its controller.

    ``identity_file`` is the key ``gh codespace ssh`` logs in with and that
    ``--config`` names (the sandbox client key; default gh's own
    ``~/.ssh/codespaces.auto``); ``ssh_user`` is the codespace login user
    (default: the current user, the only one a sandbox sshd lets in). The log
    defaults to ``<state_file without suffix>.log.jsonl``.
    """
    bin_dir = Path(bin_dir).absolute()
    state_file = Path(state_file).absolute()
    bin_dir.mkdir(parents=True, exist_ok=True)
    state_file.parent.mkdir(parents=True, exist_ok=True)
    log = Path(log_file).absolute() if log_file else state_file.with_suffix(".log.jsonl")
    gh = bin_dir / "gh"
    state: Json = {
        "logged_in": True,
        "hang_when_logged_out": False,
        "delay": 0.0,
        "log": str(log),
        "gh_path": str(gh),
        "ssh_user": ssh_user or _current_user(),
        "identity_file": str(Path(identity_file).absolute()) if identity_file else None,
        "proxy_port_override": None,
        "create_outcome": None,
        "codespaces": [],
        "spares": [],
        "next_id": 1,
    }
    with _locked(state_file, exclusive=True):
        _write_unlocked(state_file, state)
    log.write_text("")
    script = Path(__file__).resolve()
    # -I -S: the script needs only the stdlib, so skip site-packages (quicker to start).
    wrapper = (
        "#!/bin/sh\n"
        "# fake gh (session-sync sandbox)\n"
        f'if [ -z "${{{STATE_ENV}:-}}" ]; then\n'
        f"    {STATE_ENV}={shlex.quote(str(state_file))}\n"
        f"    export {STATE_ENV}\n"
        "fi\n"
        f'exec {shlex.quote(sys.executable)} -I -S {shlex.quote(str(script))} "$@"\n'
    )
    temp = gh.with_name(".gh.tmp")
    temp.write_text(wrapper)
    temp.chmod(0o755)
    os.replace(str(temp), str(gh))
    return FakeGh(bin_dir, state_file)


if __name__ == "__main__":
    sys.exit(main())
