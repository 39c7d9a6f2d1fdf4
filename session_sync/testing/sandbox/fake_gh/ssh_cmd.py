"""The ``gh codespace ssh`` subcommand of the fake gh.

``-c NAME -- CMD`` runs ssh to the codespace's sandbox sshd (exec, so the
exit status is ssh's); with no command it runs the login shell, with ``-T``
when stdin is not a terminal and ``-t`` when it is (real gh adds neither).
``--stdio`` is the tunnel a ProxyCommand uses: stdin and stdout relayed to the
sshd, ending in a ``relay-end`` event. ``--config`` prints real gh's template.
A shut-down codespace is started first, and one still starting is waited for.

Standard library only, Python 3.8+: the script imports this module.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from .args import Args, GhExit
from .invocation import API, Invocation
from .state import find_codespace, now_iso, read_state

if TYPE_CHECKING:
    from .state import Json

__all__ = ["SshCommand", "asks_for_tty", "split_ssh_args"]

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


class SshCommand(Invocation):
    """``gh codespace ssh``: a command, a login shell, ``--stdio`` or ``--config``."""

    def cs_ssh(self, argv: list[str]) -> int:
        args = Args(
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
            codespace = find_codespace(state, name)
            if codespace is None:
                return None, None
            before = codespace.get("state", "")
            if before in _WAKEABLE:
                codespace["state"] = "Available"
                codespace.pop("ready_at", None)
                codespace.pop("final_state", None)
                codespace["last_used_at"] = now_iso()
                return codespace, before
            return codespace, None

        codespace, woke_from = self.update(change)
        if codespace is None:
            raise GhExit(
                1,
                f"{prefix}getting full codespace details: HTTP 404: Not Found"
                f" ({API}/user/codespaces/{name}?internal=true&refresh=true)",
            )
        if woke_from is not None:
            self.log_event("started", name=name, previous=woke_from)
        state = codespace.get("state", "")
        if state != "Available":
            raise GhExit(
                1,
                f"error connecting to codespace: error starting codespace: HTTP 409:"
                f" codespace {name} is {state} ({API}/user/codespaces/{name}/start)",
            )
        found: Json = codespace
        return found

    def _wait_until_ready(self, name: str) -> None:
        """Sleep while ``name`` shows a starting state that changes at its ``ready_at``."""
        began = time.time()
        shown = None
        while True:
            self.state = read_state(self.state_file)
            codespace = find_codespace(self.state, name)
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
        ssh_args, command = split_ssh_args(words)
        user = self.state.get("ssh_user") or "codespace"
        identity = self.state.get("identity_file")
        argv = [shutil.which("ssh") or "/usr/bin/ssh"]
        if not command and not asks_for_tty(ssh_args):
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


def split_ssh_args(words: list[str]) -> tuple[list[str], list[str]]:
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


def asks_for_tty(ssh_args: list[str]) -> bool:
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
