"""The payload the controller sends to start the agent on the other machine.

``BOOTSTRAP`` (run as ``python3 -c BOOTSTRAP NONCE``) reads ``<length>\\n`` and
that many bytes, decompresses them (zlib) and execs the result: the source of
``agent/loader.py``, then ``AGENT_MODULES = {name: source}`` with every other
``agent/*.py`` in sorted order, then a call of ``loader.run``. It is built from
the files on disk once per process and is the same bytes every time; the agent
says the modules' digest back in its hello, where it is checked.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from session_sync.agent import loader

__all__ = ["AGENT_DIR", "agent_modules", "build_payload", "payload_sha256", "payload_source"]

AGENT_DIR = Path(__file__).resolve().parent / "agent"
"""Where the agent's modules live in this checkout or installation."""

_LOADER = "loader"


@functools.cache
def agent_modules() -> Mapping[str, str]:
    """``{module name: source}`` of every agent module the loader carries, sorted
    (read-only: the payload and its digest are made from this one mapping)."""
    sources = {
        path.stem: path.read_text(encoding="utf-8")
        for path in sorted(AGENT_DIR.glob("*.py"))
        if path.stem != _LOADER
    }
    return MappingProxyType(dict(sorted(sources.items())))


@functools.cache
def payload_sha256() -> str:
    """The digest the agent reports as ``agent_sha256`` when it runs this payload."""
    return loader.payload_digest(agent_modules())


@functools.cache
def payload_source() -> str:
    """The program the far side runs: the loader, the modules, the call (deterministic)."""
    loader_source = (AGENT_DIR / f"{_LOADER}.py").read_text(encoding="utf-8")
    text = (
        loader_source.rstrip("\n")
        + "\n\n\nAGENT_MODULES = "
        + repr(dict(agent_modules()))
        + "\nsys.exit(run(AGENT_MODULES))\n"
    )
    return text


@functools.cache
def build_payload() -> bytes:
    """The bytes sent after ``BOOTSTRAP`` starts: ``payload_source`` compressed
    (zlib level 9: deterministic for the same source)."""
    return zlib.compress(payload_source().encode("utf-8"), 9)
