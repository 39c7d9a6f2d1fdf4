"""The fake gh's command line: flag parsing, and ``GhExit`` to end a call with an error.

Standard library only, Python 3.8+: the script imports this module.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Args", "GhExit"]


class GhExit(Exception):
    """Ends the fake gh with ``code`` after printing ``message`` (if any) to stderr."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Args:
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
