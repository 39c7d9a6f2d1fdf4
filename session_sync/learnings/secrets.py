"""The secret scanner: what must not go into a committed ``learnings.md``.

Every rule is named, and each hit is masked before it is shown. The context-sync
plan's own patterns are kept in spirit and fixed where they would flag prose:

* its "API keys" ``[A-Za-z0-9_-]{20,}`` flags every long identifier or path; it
  is replaced by the ``high-entropy`` rule below;
* its ``bearer\\s+[A-Za-z0-9_-]+`` flags the phrase "Bearer token": a bearer
  credential must be 16 characters or more;
* added: a password in a URL (``postgres://app:PASSWORD@host``), in
  ``Authorization: Basic``, or after ``--password``; a number assigned to a
  ``token`` key is a count of LLM tokens (``max_tokens=4096``), not a secret;
  nor is a boolean, a file's path, or the value of a key about a secret
  (``secret_name``, ``token_file``, ``password_min_length``).

``high-entropy``: a run of 32 or more base64/url-safe characters whose Shannon
entropy is at least 4.2 bits per character and that mixes lower case, upper case
and at least two digits. So a 40-hex git sha, a sha256 in hex and a UUID pass (one
case only, and at most 4 bits per character), and so do long snake_case or
CamelCase names (few digits, lower entropy); a random 32+ character base62 or
base64 token is flagged (rarely one with fewer than two digits slips through: the
specific rules catch the common token kinds by their prefix).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

import attrs

__all__ = [
    "ENTROPY_BITS",
    "ENTROPY_MIN_LENGTH",
    "SecretHit",
    "mask",
    "scan_text",
    "shannon_entropy",
]

ENTROPY_MIN_LENGTH = 32
"""Shortest run the high-entropy rule looks at."""
ENTROPY_BITS = 4.2
"""Bits per character from which a long mixed run counts as random."""


@attrs.frozen
class SecretHit:
    """One line of text that holds what looks like a secret."""

    line_number: int
    """1-based line of the scanned text."""
    rule: str
    """The rule's name (``github-token``, ``password-assignment``...)."""
    masked_line: str
    """The line with every secret on it masked."""


@attrs.frozen
class _Rule:
    name: str
    pattern: re.Pattern[str]
    group: int = 0
    """The regex group that is the secret itself (masked)."""


_PLACEHOLDER = re.compile(
    r"^(?:\$|<|\{|%|\*+$|x+$|X+$|\.\.\.|os\.|process\.env|env\.|ENV\[|getenv|None$|null$|"
    r"true$|false$|str$|string$|bytes$|int$|Optional\[|\"\"$|''$)",
)

_RULES: tuple[_Rule, ...] = (
    _Rule("private-key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    _Rule(
        "github-token",
        re.compile(
            r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{40,255})"
        ),
    ),
    _Rule(
        "slack-token", re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9]{4,}-[A-Za-z0-9-]{6,}")
    ),
    _Rule("anthropic-key", re.compile(r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,}")),
    _Rule(
        "openai-key",
        re.compile(r"(?<![A-Za-z0-9_-])sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ),
    _Rule("aws-access-key-id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])")),
    _Rule(
        "aws-secret-key",
        re.compile(
            r"(?i)aws.{0,30}?(?:secret|private).{0,20}?[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
        ),
        group=1,
    ),
    _Rule(
        "jwt",
        re.compile(
            r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
        ),
    ),
    _Rule("bearer-token", re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)"), group=1),
    # scheme://user:PASSWORD@host (a DSN, a clone URL); not a placeholder ($VAR, <pw>, ***).
    _Rule(
        "url-credentials",
        re.compile(
            r"(?i)\b[a-z][a-z0-9+.-]{1,30}://[^\s/:@'\"`]+:"
            r"(?![$<{%*]|\.\.\.|x+@)([^\s/@'\"`]{3,200})@[A-Za-z0-9\[]"
        ),
        group=1,
    ),
    _Rule(
        "basic-auth",
        re.compile(r"(?i)\bauthorization:\s*basic\s+([A-Za-z0-9+/]{8,}={0,2})"),
        group=1,
    ),
    # ``--password VALUE`` on a command line: a value with a digit or a symbol (not prose).
    _Rule(
        "password-flag",
        re.compile(
            r"(?i)(?<![\w-])--?(?:password|passwd)(?:=|\s+)(?![$<{%*]|\.\.\.)"
            r"((?=[^\s'\"`]*[0-9!@#%^&*+=?~])[^\s'\"`]{4,200})"
        ),
        group=1,
    ),
)

_ASSIGNMENT = re.compile(
    r"(?i)\b([A-Za-z0-9_]*?(?:password|passwd|pwd|secret|token|api[_-]?key|apikey"
    r"|access[_-]?key|auth[_-]?key|client[_-]?secret)[A-Za-z0-9_]*)"
    r"[\"']?\s*(:|=)\s*(?:([\"'])([^\"'\n]{1,200}?)\3|([^\s\"'`,;)]+))"
)
_NUMBER = re.compile(r"[0-9][0-9_,.]*")
_PASSWORD_KEY = re.compile(r"(?i)password|passwd|pwd")
_NOT_A_COUNT = re.compile(r"(?i)password|passwd|pwd|secret|key")
_NOT_SECRET_WORDS = frozenset(
    [
        "true",
        "false",
        "none",
        "null",
        "nil",
        "yes",
        "no",
        "on",
        "off",
        "enabled",
        "disabled",
        "required",
        "optional",
    ]
)
_PATH = re.compile(r"(?:~|\.{1,2})?/[A-Za-z0-9_.\-/]+")
"""A file's place (``token_file=~/.config/gh/hosts.yml``), not its contents."""
_ABOUT_A_SECRET = re.compile(
    r"(?i)_(?:path|file|dir|name|type|ttl|url|uri|length|len|count|limit|size|format"
    r"|mode|required|enabled|header|prefix|field)$"
)
"""Key endings that name something about a secret, not the secret (``secret_name``)."""
_HIGH_ENTROPY_RUN = re.compile(rf"[A-Za-z0-9+/=_-]{{{ENTROPY_MIN_LENGTH},}}")


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` (0 for an empty one)."""
    if not text:
        return 0.0
    counts = Counter(text)
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


def _looks_random(run: str) -> bool:
    core = run.rstrip("=")
    digits = sum(c.isdigit() for c in core)
    return (
        len(core) >= ENTROPY_MIN_LENGTH
        and any(c.islower() for c in core)
        and any(c.isupper() for c in core)
        and digits >= 2
        and shannon_entropy(core) >= ENTROPY_BITS
    )


def _assignment_value_is_secret(key: str, separator: str, quote: str, value: str) -> bool:
    """Whether ``key<sep>value`` assigns a real value (not a placeholder, a type, a
    reference to where the value comes from, or a count of tokens)."""
    if len(value) < 4 or _PLACEHOLDER.match(value):
        return False
    if _NUMBER.fullmatch(value) and not _NOT_A_COUNT.search(key):
        return False  # ``max_tokens=4096``, ``token_count: 12000``: LLM tokens counted
    if value.casefold() in _NOT_SECRET_WORDS or _PATH.fullmatch(value):
        return False
    if _ABOUT_A_SECRET.search(key.rstrip("\"'")):
        return False
    if separator == ":" and not quote:
        # YAML, JSON or a type annotation. A dotted name, a type or a call is code
        # (``secret: settings.KEY``, ``token: Optional[str]``); a value with a digit
        # or a symbol is a value (``password: hunter22``); a plain word is one only
        # for a password, in lower case (``password: changeme``, not ``SecretStr``).
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*[.\[(].*", value):
            return False
        if re.search(r"[0-9!@#%^&*+=?~]", value):
            return True
        return bool(_PASSWORD_KEY.search(key)) and value.islower()
    # key=value: anything but a code reference (``secret=settings.SECRET_KEY``).
    return quote != "" or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(?:[.(\[][^\s]*)", value)


def _spans(line: str) -> list[tuple[int, int, str]]:
    """``(start, end, rule)`` of each secret on ``line``."""
    spans: list[tuple[int, int, str]] = []
    for rule in _RULES:
        for match in rule.pattern.finditer(line):
            spans.append((match.start(rule.group), match.end(rule.group), rule.name))
    named = list(spans)
    for match in _ASSIGNMENT.finditer(line):
        group = 4 if match.group(3) else 5
        value = match.group(group)
        start, end = match.span(group)
        secret = _assignment_value_is_secret(
            match.group(1), match.group(2), match.group(3) or "", value
        )
        # A value a named rule already caught is reported by that rule's name only.
        if secret and not any(s < end and start < e for s, e, _ in named):
            spans.append((start, end, "password-assignment"))
    named = list(spans)
    for match in _HIGH_ENTROPY_RUN.finditer(line):
        start, end = match.span()
        if _looks_random(match.group(0)) and not any(s < end and start < e for s, e, _ in named):
            spans.append((start, end, "high-entropy"))
    return sorted(spans)


def mask(secret: str) -> str:
    """A secret as it may be shown: at most its first 4 characters, then stars."""
    keep = 4 if len(secret) >= 16 else 0
    return secret[:keep] + "*" * 8


def _masked(line: str, spans: Iterable[tuple[int, int, str]]) -> str:
    out, at = [], 0
    for start, end, _ in spans:
        if end <= at:
            continue
        start = max(start, at)
        out.append(line[at:start])
        out.append(mask(line[start:end]))
        at = end
    out.append(line[at:])
    return "".join(out)


def scan_text(text: str) -> list[SecretHit]:
    """Every line of ``text`` that holds what looks like a secret, masked."""
    hits: list[SecretHit] = []
    for number, line in enumerate(text.split("\n"), start=1):
        spans = _spans(line)
        if spans:
            rules = sorted({rule for _, _, rule in spans})
            hits.append(SecretHit(number, ", ".join(rules), _masked(line, spans)))
    return hits
