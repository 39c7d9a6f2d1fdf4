"""The config file, ``~/.config/session-sync/config.toml``: defaults for the flags.

``$SESSION_SYNC_CONFIG`` names another file; else ``$XDG_CONFIG_HOME`` (default
``~/.config``) holds ``session-sync/config.toml``. A missing file is no settings.
Flags beat the file; the file beats the built-in defaults. What it may say::

    host = "devbox"            # the default target of sync and status
    # codespace = "NAME"       #   (one of the two)
    days = 14
    io_timeout = 120
    memory = false             # like --no-memory
    history = false            # like --no-history

    [learnings]
    command = "claude -p"      # the LLM command of `learnings` (--llm)

    [path_maps.devbox]         # per host alias (or codespace name)
    "~/src" = "~/code"         # a project under ~/src here is under ~/code there

A malformed file is one ``ConfigError`` line naming the file, the line and the key.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from session_sync.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "DEFAULTS",
    "Settings",
    "config_path",
    "load_settings",
]

CONFIG_ENV = "SESSION_SYNC_CONFIG"

DEFAULTS: Mapping[str, Any] = {
    "host": None,
    "codespace": None,
    "days": 7.0,
    "io_timeout": 60.0,
    "memory": True,
    "history": True,
    "learnings.command": None,  # the learnings' own default (``--llm``)
}
"""Every setting but the path maps, with its built-in default."""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value > 0 and math.isfinite(value) else None


def _boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


_CHECKS: Mapping[str, tuple[Callable[[Any], Any], str]] = {
    "host": (_text, "a host name (a string)"),
    "codespace": (_text, "a codespace name (a string)"),
    "days": (_positive, "a number above 0"),
    "io_timeout": (_positive, "a number of seconds above 0"),
    "memory": (_boolean, "true or false"),
    "history": (_boolean, "true or false"),
    "learnings.command": (_text, "a command (a string)"),
}


@attrs.frozen
class Settings:
    """What the config file says (only what it says: defaults are ``DEFAULTS``)."""

    path: Path
    """The file read (or that would be: it may not exist)."""
    exists: bool
    """Whether there is such a file."""
    values: Mapping[str, Any] = attrs.field(factory=dict)
    """Setting name (``learnings.command`` for a table's key) -> its value."""
    lines: Mapping[str, int] = attrs.field(factory=dict)
    """Setting name (or ``path_maps.TARGET``) -> the line it is on."""
    path_maps: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    """Target (host alias or codespace name) -> {local prefix: remote prefix}."""

    def get(self, name: str) -> Any:
        """The setting's value: the file's, else the built-in default."""
        return self.values.get(name, DEFAULTS[name])

    def source(self, name: str) -> str:
        """Where ``get(name)`` comes from, in words."""
        if name in self.values or name in self.lines:
            return f"{self.path} line {self.lines.get(name, 1)}"
        return "default"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The config file's path (``$SESSION_SYNC_CONFIG``, else the XDG place)."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "session-sync" / "config.toml"


def _line_of(text: str, key: str, section: str | None = None) -> int:
    """The line ``key = ...`` is on (in ``[section]`` when given), else 1."""
    lines = text.splitlines()
    start = 0
    if section is not None:
        header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(map(_key_pattern, section.split("."))))
        start = next((i for i, line in enumerate(lines) if header.match(line)), 0)
        if key == "":
            return start + 1
    pattern = re.compile(r"^\s*" + _key_pattern(key) + r"\s*=")
    for i in range(start, len(lines)):
        if pattern.match(lines[i]):
            return i + 1
    return start + 1


def _key_pattern(key: str) -> str:
    quoted = re.escape(key)
    return rf"(?:{quoted}|\"{quoted}\"|'{quoted}')"


def _toml(text: str, path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the 3.10 interpreter
        import tomli as tomllib
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        line = found.group(1) if found else "?"
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
        raise ConfigError(f"{path}: line {line}: {message} (not TOML)") from None
    return data


def _path_maps(
    data: Any, text: str, path: Path, lines: dict[str, int]
) -> dict[str, dict[str, str]]:
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: line {_line_of(text, 'path_maps')}: path_maps: must be tables"
            ' ([path_maps.HOST] with "LOCAL PREFIX" = "REMOTE PREFIX")'
        )
    maps: dict[str, dict[str, str]] = {}
    for target, table in data.items():
        where = _line_of(text, "", f"path_maps.{target}")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: line {where}: path_maps.{target}: must be a table")
        for local, remote in table.items():
            if not (isinstance(remote, str) and remote.startswith(("/", "~"))) or not (
                local.startswith(("/", "~"))
            ):
                line = _line_of(text, local, f"path_maps.{target}")
                raise ConfigError(
                    f"{path}: line {line}: path_maps.{target}: {local!r}: both prefixes must be"
                    " absolute paths or start with ~"
                )
        maps[str(target)] = {str(k): str(v) for k, v in table.items()}
        lines[f"path_maps.{target}"] = where
    return maps


def load_settings(path: Path | None = None) -> Settings:
    """Read the config file (``config_path()`` by default); raises ``ConfigError``."""
    path = config_path() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(path, exists=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    data = _toml(text, path)
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    maps: dict[str, dict[str, str]] = {}
    flat: list[tuple[str, Any, int]] = []
    for key, value in data.items():
        if key == "path_maps":
            maps = _path_maps(value, text, path, lines)
        elif key == "learnings" and isinstance(value, dict):
            flat += [
                (f"learnings.{k}", v, _line_of(text, k, "learnings")) for k, v in value.items()
            ]
        else:
            flat.append((key, value, _line_of(text, key)))
    for name, value, line in flat:
        if name not in _CHECKS:
            known = ", ".join([*_CHECKS, "path_maps"])
            raise ConfigError(f"{path}: line {line}: {name}: not a setting (known: {known})")
        check, wanted = _CHECKS[name]
        checked = check(value)
        if checked is None:
            raise ConfigError(f"{path}: line {line}: {name}: must be {wanted}, not {value!r}")
        values[name] = checked
        lines[name] = line
    if "host" in values and "codespace" in values:
        raise ConfigError(
            f"{path}: line {lines['codespace']}: codespace: host is set too; the default"
            " target is one of them"
        )
    return Settings(path, exists=True, values=values, lines=lines, path_maps=maps)
