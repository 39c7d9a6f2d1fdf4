"""The ``gh codespace list/create/delete/stop`` subcommands of the fake gh.

``list`` prints what real gh prints when its stdout is not a terminal:
tab-separated rows and no header, or with ``--json`` compact JSON with sorted
keys on one line. ``create`` takes the next spare sshd (``FakeGh.add_spare``)
and prints the new name; a new codespace can show a starting state until its
``ready_at`` (``FakeGh.set_create_outcome``). A codespace set to stop after a
number of ``list`` calls (``FakeGh.stop_after_lists``) is shut down once the
last of them has printed it as it was. ``delete`` and ``stop`` print
nothing.

Standard library only, Python 3.8+: the script imports this module.
"""

from __future__ import annotations

import json
import random
import string
import time
from typing import TYPE_CHECKING

from .args import Args, GhExit
from .invocation import API, Invocation
from .state import find_codespace, now_iso

if TYPE_CHECKING:
    from .state import Json

__all__ = ["FIELDS", "CodespaceCommands"]

FIELDS = (
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
"""The fields that ``gh codespace list --json`` knows."""
_NAME_CHARS = string.ascii_lowercase + string.digits


class CodespaceCommands(Invocation):
    """``gh codespace list``, ``create``, ``delete`` and ``stop``."""

    # -- gh codespace list

    def cs_list(self, argv: list[str]) -> int:
        args = Args(
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
            self._stop_after_list()
            return 0
        fields = [f.strip() for f in fields_arg.split(",") if f.strip()]
        if not fields:
            raise GhExit(
                1,
                "Specify one or more comma-separated fields for `--json`:\n  "
                + "\n  ".join(FIELDS),
            )
        for field in fields:
            if field not in FIELDS:
                raise GhExit(
                    1,
                    f'Unknown JSON field: "{field}"\nAvailable fields:\n  ' + "\n  ".join(FIELDS),
                )
        exported = [self._export(c, fields) for c in rows]
        # Like gh (Go's encoder, no terminal): one line, keys sorted, no HTML escaping.
        self.out(json.dumps(exported, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
        self.out("\n")
        self._stop_after_list()
        return 0

    def _stop_after_list(self) -> None:
        """Shut down the codespaces set to stop after this many lists
        (``FakeGh.stop_after_lists``): this list showed them as they were."""

        def change(state: Json) -> list[str]:
            pending = state.get("stop_after_lists") or {}
            stopped = []
            for name, left in list(pending.items()):
                if int(left) > 1:
                    pending[name] = int(left) - 1
                    continue
                del pending[name]
                codespace = find_codespace(state, name)
                if codespace is not None:
                    codespace["state"] = "Shutdown"
                    stopped.append(name)
            state["stop_after_lists"] = pending
            return stopped

        if not self.state.get("stop_after_lists"):
            return
        for name in self.update(change):
            self.log_event("stopped", name=name, after="list")

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

    # -- gh codespace create / delete / stop

    def cs_create(self, argv: list[str]) -> int:
        args = Args(
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
            now = now_iso()
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
        args = Args(
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
                f" ({API}/user/codespaces/{name})",
            )
        self.log_event("deleted", name=name)
        return 0

    def cs_stop(self, argv: list[str]) -> int:
        args = Args(
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
            codespace = find_codespace(state, name)
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
                f" ({API}/user/codespaces/{name}?internal=true&refresh=true)",
            )
        if before != "Available":
            raise GhExit(1, f"failed to stop codespace: codespace {name!r} is not running")
        self.log_event("stopped", name=name)
        return 0
