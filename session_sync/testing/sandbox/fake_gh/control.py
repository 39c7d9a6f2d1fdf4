"""The controller side of the fake gh: ``install_fake_gh`` and ``FakeGh``, used from tests.

``install_fake_gh`` writes an executable ``gh`` wrapper and a fresh state;
``FakeGh`` changes that state (codespaces, spares, delays, login, how
``create`` ends) and reads back the log of calls and events.
"""

from __future__ import annotations

import getpass
import json
import os
import pwd
import shlex
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .state import (
    STATE_ENV,
    find_codespace,
    locked,
    now_iso,
    read_state,
    update_state,
    write_unlocked,
)

if TYPE_CHECKING:
    from .state import Json

__all__ = ["FakeGh", "current_user", "install_fake_gh"]


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
        return read_state(self.state_file)

    def _update(self, change: Callable[[Json], Any]) -> Any:
        return update_state(self.state_file, change)

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
            if find_codespace(s, name) is not None:
                raise ValueError(f"codespace {name!r} already exists")
            now = now_iso()
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
        found = find_codespace(self.state(), name)
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
            codespace = find_codespace(s, name)
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

    def stop_after_lists(self, name: str, lists: int = 1) -> None:
        """Shut ``name`` down right after the ``lists``-th ``gh codespace list`` from
        now has printed it (as if it timed out just then, between a caller's
        list and its ``gh codespace ssh``); logs a ``stopped`` event."""
        if lists < 1:
            raise ValueError(f"lists must be >= 1, not {lists!r}")

        def change(s: Json) -> None:
            if find_codespace(s, name) is None:
                raise KeyError(name)
            s.setdefault("stop_after_lists", {})[name] = int(lists)

        self._update(change)

    def state_of(self, name: str) -> str:
        """A codespace's state, as gh shows it now."""
        return str(self.codespace(name).get("state", ""))

    def set_port(self, name: str, port: int) -> None:
        """Point a codespace at another sshd (or relay) port."""

        def change(s: Json) -> None:
            codespace = find_codespace(s, name)
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
        "ssh_user": ssh_user or current_user(),
        "identity_file": str(Path(identity_file).absolute()) if identity_file else None,
        "proxy_port_override": None,
        "create_outcome": None,
        "codespaces": [],
        "spares": [],
        "next_id": 1,
    }
    with locked(state_file, exclusive=True):
        write_unlocked(state_file, state)
    log.write_text("")
    # -I -S: the script needs only the stdlib, so skip site-packages (quicker to start).
    # Then session_sync cannot be imported (its __init__ needs site-packages): the script
    # imports this package under its bare name, from the directory named after the code.
    package = Path(__file__).resolve().parent
    launcher = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); "
        f"from {package.name}.script import main; sys.exit(main())"
    )
    wrapper = (
        "#!/bin/sh\n"
        "# fake gh (session-sync sandbox)\n"
        f'if [ -z "${{{STATE_ENV}:-}}" ]; then\n'
        f"    {STATE_ENV}={shlex.quote(str(state_file))}\n"
        f"    export {STATE_ENV}\n"
        "fi\n"
        f"exec {shlex.quote(sys.executable)} -I -S -c {shlex.quote(launcher)}"
        f' {shlex.quote(str(package.parent))} "$@"\n'
    )
    temp = gh.with_name(".gh.tmp")
    temp.write_text(wrapper)
    temp.chmod(0o755)
    os.replace(str(temp), str(gh))
    return FakeGh(bin_dir, state_file)


def current_user() -> str:
    """The login name of the effective user."""
    # The effective user (what a sandbox sshd lets in), not whatever $USER says.
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return getpass.getuser()
