"""One build of a project's handoff: read the sessions, build, render, save, log."""

from __future__ import annotations

from collections.abc import Collection

import attrs

from session_sync.handoff.handoff import DEFAULT_SESSIONS, Handoff, build_handoff
from session_sync.handoff.render import DEFAULT_BUDGET, render_handoff
from session_sync.handoff.sessions import project_sessions
from session_sync.handoff.store import BuildMetrics, HandoffStore

__all__ = ["Built", "build"]


@attrs.frozen
class Built:
    """A build's result."""

    handoff: Handoff
    """The handoff."""
    text: str
    """It rendered within the budget."""
    metrics: BuildMetrics
    """What the metrics log records of it."""
    store: HandoffStore
    """Where it is (or would be) kept."""


def build(
    config: str,
    project: str,
    repo: str | None,
    *,
    budget: int = DEFAULT_BUDGET,
    save: bool = True,
    source: str = "cli",
    exclude: Collection[str] = (),
    limit: int = DEFAULT_SESSIONS,
) -> Built:
    """Build the handoff of ``project`` (its path here) from this machine's sessions.

    ``exclude``: session ids left out (the hook leaves out the session starting).
    With ``save`` the three handoff files are written and the metrics log gets
    its line; without it nothing is written but the summary cache.
    """
    sessions = [s for s in project_sessions(config, project, repo) if s.id not in exclude]
    handoff = build_handoff(project, sessions, limit=limit)
    text = render_handoff(handoff, budget)
    store = HandoffStore(config, project)
    saved = store.saved_hashes()
    metrics = store.metrics_for(handoff, saved, source, len(text.encode("utf-8")))
    if save:
        store.save(handoff)
        store.append_metrics(metrics)
    return Built(handoff, text, metrics, store)
