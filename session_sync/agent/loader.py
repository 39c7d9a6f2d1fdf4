"""Stage 2 of starting the agent: serve the agent's modules from memory, then run it.

The controller sends this file's source followed by one line that binds
``AGENT_MODULES`` (``{module name: source}``, sorted) and one that calls
``run``; ``BOOTSTRAP`` execs the whole payload. ``run`` installs a meta-path
finder that answers for ``PACKAGE`` and its modules from that dict, so the
modules import each other as they do at home and nothing is written to the
far side's disk (no zipimport: on 3.8 it needs an archive file). Standard
library only, Python 3.8+; it is not itself one of the modules it carries.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.util
import linecache
import sys
from typing import Any, Dict, Mapping, Optional, Sequence

PACKAGE = "session_sync_agent"
"""The agent package's name on the far side (its modules import each other relatively)."""

__all__ = ["PACKAGE", "SourceFinder", "payload_digest", "run"]


def payload_digest(sources: Mapping[str, str]) -> str:
    """sha256 of the modules carried: each sorted name, NUL, its source, NUL."""
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode("utf-8") + b"\0" + sources[name].encode("utf-8") + b"\0")
    return digest.hexdigest()


class SourceFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and loads ``package`` and ``package.<name>`` from in-memory sources."""

    def __init__(self, package: str, sources: Dict[str, str]) -> None:
        self.package = package
        self.sources = sources

    def _short_name(self, fullname: str) -> Optional[str]:
        if fullname == self.package:
            return "__init__"
        prefix = self.package + "."
        short = fullname[len(prefix) :] if fullname.startswith(prefix) else None
        if short is None or short == "__init__" or short not in self.sources:
            return None
        return short

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        short = self._short_name(fullname)
        if short is None:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=short == "__init__")

    def create_module(self, spec: Any) -> None:
        return None  # the default module object

    def exec_module(self, module: Any) -> None:
        short = self._short_name(module.__name__)
        assert short is not None
        source = self.sources.get(short, "")
        filename = "<session-sync agent>/%s.py" % short
        # Tracebacks that the traceback module formats show the lines (an entry
        # without an mtime is never evicted); the interpreter's own show the names.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), module.__dict__)


def run(sources: Dict[str, str], argv: Optional[Sequence[str]] = None) -> int:
    """Serve ``sources`` as ``PACKAGE`` and run the agent's ``serve.main``."""
    sys.meta_path.insert(0, SourceFinder(PACKAGE, sources))
    serve = importlib.import_module(PACKAGE + ".serve")
    status: int = serve.main(argv, payload_sha256=payload_digest(sources))
    return status
