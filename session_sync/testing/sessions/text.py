"""The canned text generated sessions are made of: prompts, replies, commands, filler.

Choices among these are made by the caller's ``random.Random``, so reordering or
editing any tuple changes the bytes every seed gives.
"""

from __future__ import annotations

import random

__all__ = [
    "BRANCHES",
    "COMMANDS",
    "FILES",
    "MODELS",
    "PROMPTS",
    "SENTENCES",
    "SEPARATOR_TEXT",
    "filler",
]

MODELS = ("claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")
BRANCHES = ("main", "main", "dev", "feature/codespaces", "fix/mtime")

PROMPTS = (
    "Why does the sync skip sessions whose last line has no timestamp?",
    "Add a --dry-run flag to the push command and show what would be copied.",
    "The tests fail on macOS with 'Operation not permitted' — can you look?",
    "Refactor the SSH transport so it streams bytes instead of text.",
    "Résumé du plan : qu'est-ce qui reste avant la 0.2 ? ✅",
    "请检查一下 codespace 的路径编码是否正确。",
    "Rename `encode_path` to `encode_dir_name` everywhere and fix the imports.",
    "Explain why `str.splitlines()` breaks on U+2028 and how we avoid it.",
    "Write a benchmark for 500 sessions of about 50 KB each.",
    "Make the progress bar quieter when stdout isn't a TTY.",
    "Können wir die Größe der Datei vor dem Kopieren prüfen? 🤔",
    "continue",
)

SENTENCES = (
    "I'll start by reading the module that handles the transfer.",
    "The failing case is a session whose final line is `cost-state`, which has no timestamp.",
    'Splitting on b"\\n" only keeps U+2028 and U+2029 inside JSON strings intact.',
    "I've updated the function and added a regression test for it.",
    "Voilà — the café's naïve façade now renders correctly.",
    "日本語のテキストも正しく保存されます。",
    "This keeps the copy byte-identical, so `claude --resume` picks it up on the other machine.",
    "The mode bits are preserved: 0600 for transcripts, 0644 for metadata.",
    "Nothing else in the codebase depends on the old name. 🚀",
    "Let me run the test suite to confirm.",
    "All 42 tests pass now ✔ and mypy is clean.",
    "Ümlauts, ñ and ß survive the round trip.",
)

# Always present in the first reply so every session carries raw separators.
SEPARATOR_TEXT = (
    "Here is the tricky part:\u2028a LINE SEPARATOR sits right here,\u2029then a "
    "PARAGRAPH SEPARATOR, and a NEL\u0085too. Naive `splitlines()` would cut this "
    "line in three 🧵."
)

COMMANDS = (
    ("uv run pytest -q", "Run the test suite"),
    ("git status --short", "Show working tree status"),
    ("ls -la session_sync", "List package files"),
    ("uv run mypy --strict session_sync", "Type-check the package"),
    ("rg -n 'splitlines' session_sync", "Search for splitlines calls"),
)

FILES = ("session_sync/cli.py", "session_sync/transport.py", "README.md", "pyproject.toml")

_FILLER_WORDS = (
    "the", "session", "transcript", "is", "appended", "line", "by", "while", "client",
    "runs", "and", "each", "carries", "a", "uuid", "parent", "timestamp", "so", "picker",
    "can", "sort", "conversations", "their", "most", "recent", "activity", "sync", "engine",
    "compares", "byte", "prefixes", "hashes", "sizes", "modification", "times", "before",
    "it", "decides", "which", "copy", "wins",
)  # fmt: skip


def filler(rng: random.Random, n: int) -> str:
    """ASCII prose of exactly ``n`` chars, built from one repeated paragraph (fast)."""
    para = " ".join(rng.choice(_FILLER_WORDS) for _ in range(600)) + ".\n\n"
    return (para * (n // len(para) + 1))[:n]
