"""The flags that leave Claude's memory or the prompt history out of a sync."""

from __future__ import annotations

import argparse

__all__ = [
    "add_knowledge_flags",
]


def add_knowledge_flags(parser: argparse.ArgumentParser) -> None:
    """``--no-memory`` and ``--no-history`` (both synced by default)."""
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help=(
            "leave Claude's auto memory (<config>/projects/<project>/memory/) alone; by default"
            " MEMORY.md is merged by line both ways and topic files are copied (both kept when"
            " both changed), and the report lists every memory change that came in"
        ),
    )
    parser.add_argument(
        "--no-history",
        action="store_true",
        help=(
            "leave the prompt history (<config>/history.jsonl) alone; by default this"
            " project's prompts typed on either machine are added to the other's"
        ),
    )
