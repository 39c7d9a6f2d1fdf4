"""The secret scanner: each rule flags its kind of secret (masked when shown), and a
near miss of each (what a learning may well say) passes."""

from __future__ import annotations

import hashlib
import string
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from session_sync.learnings.secrets import scan_text

# Built from pieces, so that no scanner of this repository flags this file itself.
B62 = "a1B2c3D4e5F6g7H8i9J0kLmN"
RANDOM40 = "Zq8Xv3Lm0Pn7Rt2Ws5Yk9Hb4Jd6Fg1Cx" + "3Vq7Nz0A"
HEX40 = hashlib.sha1(b"a commit").hexdigest()

HITS = [
    ("private-key", "The deploy key starts -----BEGIN OPENSSH " + "PRIVATE KEY-----"),
    ("private-key", "-----BEGIN " + "PRIVATE KEY-----"),
    ("github-token", "CI uses ghp_" + B62 + "xY9zW8vU7tS6"),
    ("github-token", "token gho_" + B62 + "xY9zW8vU7tS6"),
    ("github-token", "github_pat_11ABCDEFG0" + B62 + "_" + B62 + "Qq"),
    ("slack-token", "The bot posts with xoxb-" + "1234567890-0987654321-" + B62),
    ("anthropic-key", "The key sk-ant-" + "api03-" + B62 + "-" + B62),
    ("openai-key", "OPENAI key sk-" + B62 + "T3BlbkFJ"),
    ("openai-key", "the project key sk-proj-" + B62 + "_" + B62),
    ("aws-access-key-id", "The role uses AKIA" + "IOSFODNN7EXAMPLE"),
    ("aws-access-key-id", "temporary ASIA" + "Y34FZKBOKMUTVV7A creds"),
    ("aws-secret-key", "aws_secret_access_key = " + RANDOM40),
    (
        "jwt",
        "the session cookie is eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
        ".dozjgNryP4J3jVmNHl0w5N",
    ),
    ("bearer-token", "curl -H 'Authorization: Bearer " + "abc123def456ghi789jkl'"),
    ("password-assignment", "connect with password=" + "hunter22"),
    ("password-assignment", 'DB_PASSWORD="' + 'correct horse"'),
    ("password-assignment", '"api_key": "' + 'k-123456"'),
    ("password-assignment", "client_secret: " + "9f8e7d6c5b"),
    ("password-assignment", "the admin login is password=" + "/Tr0ub4dor&3"),
    ("password-assignment", "SECRET_KEY_BASE=" + "9f8e7d6c5b4a"),
    # YAML: a value led by letters is still a value.
    ("password-assignment", "config/db.yml has  password: " + "hunter22"),
    ("password-assignment", "the fixture's token: " + "abc123def456 works"),
    ("password-assignment", "staging.yml says password: " + "correcthorsebattery"),
    ("high-entropy", "the signing salt is " + RANDOM40),
    ("url-credentials", "staging runs on postgres://app:" + "Tr0ub4dor@db.internal:5432/app"),
    ("url-credentials", "DATABASE_URL=mysql://root:" + "rootpass@127.0.0.1/shop"),
    ("url-credentials", "the mirror is https://deploy:" + "hunter22@git.example.com/x.git"),
    ("basic-auth", "curl -H 'Authorization: Basic " + "YWRtaW46aHVudGVyMg=='"),
    ("password-flag", "log in with `psql --password " + "hunter2x`"),
]

NEAR_MISSES = [
    # private-key: a public key, or the header named in prose.
    "Keys are PEM: -----BEGIN PUBLIC KEY----- blocks go in config/keys/.",
    "Never commit a file with a BEGIN PRIVATE KEY header.",
    # github: the prefix named, a short or a made-up one.
    "GitHub tokens start with ghp_ or github_pat_; store them in the keychain.",
    "the `ghp_abc123` placeholder in the tests is fake",
    # slack: the prefix alone.
    "Slack bot tokens (xoxb-...) come from the app's OAuth page.",
    # anthropic/openai: prefixes and words that merely contain sk-.
    "Anthropic keys look like sk-ant-...; set ANTHROPIC_API_KEY instead.",
    "the `task-scheduler-configuration-options` flag turns it on",
    "run the desk-booking-service-integration-tests suite first",
    # aws: too short, lower case, or named without a value.
    "IAM key ids start with AKIA followed by 16 characters.",
    "akiaiosfodnn7example is not a key (lower case)",
    "Set AWS_SECRET_ACCESS_KEY in the environment, never in code.",
    # jwt: the header alone.
    "JWT headers always begin eyJhbGciOi (base64 of '{\"alg\"').",
    # bearer: the phrase.
    "Send a Bearer token in the Authorization header.",
    # assignments: placeholders, references, types, prose.
    "set password=$DB_PASSWORD in the unit file",
    "token = os.environ['GITHUB_TOKEN'] reads it at start-up",
    "secret_key=settings.SECRET_KEY comes from the settings module",
    "the `token: str` field of the request",
    "the `password=` and `token=` assignments are scanned",
    "use api_key=<your key> in the template",
    "password: ******** in the masked logs",
    # high entropy: hashes, uuids and long names are not secrets.
    f"The fix landed in commit {HEX40}.",
    f"sha256 {hashlib.sha256(b'x').hexdigest()} of the release tarball",
    f"session {uuid.UUID(int=123456789123456789)} resumed on the laptop",
    "the test_a_second_work_run_changes_nothing_even_after_a_rebuild test",
    "MyVeryLongClassNameForHandling2FAAuthentication wraps it",
    "/usr/lib/x86_64-linux-gnu/libstdc++.so.6 must be on the image",
    "a_really_long_snake_case_function_name_that_goes_on_and_on",
    # token counts are numbers, not tokens (an LLM project's learnings say them often).
    "call the API with max_tokens=4096 or the answer is cut",
    "token_count=12345 per call is the budget",
    "tokens: 12000 fit one call",
    "the reader keeps token_limit=100_000",
    # a URL with a user, a port or a placeholder password, not a password.
    "clone with ssh://git@github.com:22/me/app.git",
    "use postgres://app:${DB_PASSWORD}@localhost/app in the unit file",
    "the DSN is postgres://user:<password>@host:5432/db",
    "see https://user@example.com:8443/path for the docs",
    "the API wants Basic authentication, and Authorization: Basic headers are logged",
    "docker login --password-stdin reads it; use --password when prompted",
    # booleans, paths and names of keys that hold no secret themselves.
    "pass include_secrets=True to the dumper; verify_token=False skips the check",
    "token_file=~/.config/gh/hosts.yml and key_path=./certs/dev.pem are read at start",
    "the password file is pwd_file=/etc/app/pass",
    "set tokenizer_path=models/tok.json and token_type=bearer",
    "Use secret_name=prod-db-creds in AWS Secrets Manager",
    "PASSWORD_MIN_LENGTH=12 is enforced by the form",
    "declare password: SecretStr (the pydantic type) in the model",
    "the schema marks password: required for sign-up",
    "token: Optional[str] = None is the default",
    "set secret: settings.SECRET_KEY in the app",
]


@pytest.mark.parametrize(("rule", "line"), HITS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(HITS)])
def test_each_rule_flags_its_secret_and_masks_it(rule: str, line: str) -> None:
    (hit,) = scan_text(f"- first line\n{line}\n")

    assert hit.line_number == 2
    assert hit.rule == rule
    assert "********" in hit.masked_line
    # What is left around the mask is the line's own start and end: the rest is gone.
    head, _, tail = hit.masked_line.partition("********")
    assert line.startswith(head)
    assert line.endswith(tail)
    assert len(line) - len(head) - len(tail) >= 8 or rule == "private-key"


@pytest.mark.parametrize("line", NEAR_MISSES)
def test_a_near_miss_passes(line: str) -> None:
    assert scan_text(line) == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789abcdef", min_size=1, max_size=128))
def test_lower_case_hex_of_any_length_is_never_a_secret(digest: str) -> None:
    assert scan_text(f"see {digest} for the change") == []


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=string.ascii_letters + string.digits, min_size=36, max_size=80),
    st.sampled_from(["ghp_", "gho_", "ghs_"]),
)
def test_a_github_token_is_always_flagged_and_never_shown(body: str, prefix: str) -> None:
    token = prefix + body
    hits = scan_text(f"the token is {token} here")

    assert [h.rule for h in hits] == ["github-token"]
    assert token not in hits[0].masked_line
    assert body[:8] not in hits[0].masked_line
