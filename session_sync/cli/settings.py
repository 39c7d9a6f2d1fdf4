"""The config file at the command line: its settings fill in the flags not given
(flags beat the file), and ``session-sync config`` shows what is in effect."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from session_sync.cli.vocabulary import add_flag
from session_sync.config import CONFIG_ENV, DEFAULTS, Settings, config_path
from session_sync.errors import UsageError

__all__ = ["add_config_parser", "apply_settings", "cmd_config"]

# The commands whose target the file's ``host =`` / ``codespace =`` default.
_TARGETED = ("sync", "status")


def _fill(args: argparse.Namespace, dest: str, value: Any) -> None:
    """Set ``dest`` when its flag exists for the command and was not given (None)."""
    if hasattr(args, dest) and getattr(args, dest) is None:
        setattr(args, dest, value)


def apply_settings(args: argparse.Namespace, settings: Settings) -> None:
    """Fill in what the flags left unsaid from ``settings`` (else the defaults)."""
    args.settings = settings
    _fill(args, "io_timeout", settings.get("io_timeout"))
    if args.command in _TARGETED:
        _fill(args, "days", settings.get("days"))
        if args.dir is None and args.host is None and args.codespace is None:
            args.host = settings.get("host")
            args.codespace = settings.get("codespace")
            if args.host is None and args.codespace is None:
                raise UsageError(
                    f"{args.command} needs the other machine: --dir, --host or --codespace"
                    f" (or host = / codespace = in {settings.path})"
                )
        # The file's false is a --no-... given, unless --memory / --history says not.
        for part in ("memory", "history"):
            flag = f"no_{part}"
            if hasattr(args, flag) and not settings.get(part) and not getattr(args, part, False):
                setattr(args, flag, True)
    if args.command == "learnings":
        from session_sync.learnings.llm import DEFAULT_LLM

        _fill(args, "llm", settings.get("learnings.command") or DEFAULT_LLM)
    target = getattr(args, "host", None) or getattr(args, "codespace", None)
    maps = settings.path_maps.get(target, {}) if target else {}
    args.path_maps = {os.path.expanduser(k): v for k, v in maps.items()}


def add_config_parser(sub: Any) -> None:
    """``session-sync config``."""
    config = sub.add_parser(
        "config",
        help="show the settings in effect and where each comes from",
        description=(
            "Show the settings of the config file (default ~/.config/session-sync/config.toml;"
            f" ${CONFIG_ENV} names another) as they take effect, each with where it comes from."
            " Flags given to a command beat the file."
        ),
    )
    add_flag(config, "--json")
    config.add_argument("--path", action="store_true", help="print the config file's path only")


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def cmd_config(args: argparse.Namespace) -> int:
    """``session-sync config``: the effective settings."""
    settings: Settings = args.settings  # read by the command line before any command
    out: TextIO = sys.stdout
    if args.path:
        out.write(f"{config_path()}\n")
        return 0
    if args.json:
        json.dump(
            {
                "path": str(settings.path),
                "exists": settings.exists,
                "settings": {
                    name: {"value": settings.get(name), "source": settings.source(name)}
                    for name in DEFAULTS
                },
                "path_maps": {
                    target: {"maps": dict(maps), "source": settings.source(f"path_maps.{target}")}
                    for target, maps in settings.path_maps.items()
                },
            },
            out,
            indent=2,
        )
        out.write("\n")
        return 0
    found = "" if settings.exists else " (not there: every setting is its default)"
    out.write(f"config file: {settings.path}{found}\n")
    width = max(len(name) for name in DEFAULTS)
    for name in DEFAULTS:
        value = _shown(settings.get(name))
        if name == "learnings.command" and settings.get(name) is None:
            value = "- (the learnings' own default, see learnings --help)"
        out.write(f"{name:<{width}} = {value}  ({settings.source(name)})\n")
    for target, maps in settings.path_maps.items():
        where = settings.source(f"path_maps.{target}")
        for local, remote in maps.items():
            out.write(f"path map for {target}: {local} -> {remote}  ({where})\n")
    return 0
