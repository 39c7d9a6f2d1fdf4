"""The layered handoff: what happened in the project's sessions on every machine,
as a stable prefix and a fast-changing delta, for a new session to start from.

Kept light to import: the session-start hook runs through it, so nothing here
pulls in paramiko, fabric or rich.
"""

from __future__ import annotations

__all__: list[str] = []
