"""The agent's payload (``session_sync.bundle``): deterministic, checked by digest,
run from memory on the far side.

The real runs start ``python3 -c BOOTSTRAP NONCE`` through ``LocalProcessTransport``
and talk to it with ``AgentConnection``, as every sync does.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from session_sync import bundle
from session_sync.agent import loader
from session_sync.agent.protocol import BOOTSTRAP, PROTOCOL_VERSION, READY_MARKER, FrameWriter
from session_sync.errors import ProtocolError
from session_sync.transports.base import AgentStream, agent_command
from session_sync.transports.connection import AgentConnection
from session_sync.transports.local import LocalProcessTransport, ProcessStream

REPO_ROOT = Path(__file__).resolve().parent.parent
AGENT_DIR = REPO_ROOT / "session_sync" / "agent"


def python3() -> str:
    """The far side's ``python3`` (this venv's, first on PATH under ``uv run``)."""
    return shutil.which("python3") or sys.executable


def payload_modules(payload: bytes) -> dict[str, str]:
    """The ``AGENT_MODULES = {...}`` literal of a payload, keys in payload order."""
    tree = ast.parse(payload.decode("utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["AGENT_MODULES"]
            and isinstance(node.value, ast.Dict)
        ):
            modules = ast.literal_eval(node.value)
            assert isinstance(modules, dict)
            return {str(k): str(v) for k, v in modules.items()}
    pytest.fail("the payload binds no AGENT_MODULES dict literal", pytrace=False)


# --- What the payload is -------------------------------------------------------------


def test_payload_is_deterministic() -> None:
    # Past the per-process caches: build it again from the files.
    assert bundle.payload_source.__wrapped__() == bundle.payload_source.__wrapped__()
    first = bundle.build_payload.__wrapped__()
    second = bundle.build_payload.__wrapped__()
    assert first == second
    assert bundle.build_payload() == first


def test_payload_fits_a_pipe_buffer() -> None:
    """The controller writes the payload before it reads the stray output of a login
    shell; a payload over a pipe's 64 KiB could block that write while the shell
    blocks printing (tests/test_transport.py's chatty prelude shows it)."""
    assert len(bundle.build_payload()) < 64 * 1024
    assert bundle.agent_modules.__wrapped__() == bundle.agent_modules()


def test_payload_is_the_same_in_another_process() -> None:
    code = (
        "import hashlib, sys\n"
        "from session_sync.bundle import build_payload, payload_sha256\n"
        "print(hashlib.sha256(build_payload()).hexdigest(), payload_sha256())\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    there = done.stdout.split()
    here = [hashlib.sha256(bundle.build_payload()).hexdigest(), bundle.payload_sha256()]
    assert there == here


def test_payload_carries_every_agent_module_but_the_loader_in_sorted_order() -> None:
    modules = bundle.agent_modules()
    on_disk = {p.stem for p in AGENT_DIR.glob("*.py")}
    assert "loader" in on_disk
    assert "loader" not in modules, "the loader is stage 2 itself, not one of the modules"
    assert set(modules) == on_disk - {"loader"}, (
        f"missing: {sorted(on_disk - {'loader'} - set(modules))},"
        f" extra: {sorted(set(modules) - on_disk)}"
    )
    assert list(modules) == sorted(modules)
    for name, source in modules.items():
        assert source == (AGENT_DIR / f"{name}.py").read_text(encoding="utf-8"), name

    payload = zlib.decompress(bundle.build_payload())
    assert payload.decode("utf-8") == bundle.payload_source()
    carried = payload_modules(payload)
    assert list(carried) == sorted(carried), "the payload's modules are not in sorted order"
    assert carried == modules
    loader_source = (AGENT_DIR / "loader.py").read_text(encoding="utf-8")
    assert payload.decode("utf-8").startswith(loader_source.rstrip("\n"))


def test_digest_is_the_loaders_over_the_modules() -> None:
    modules = bundle.agent_modules()
    assert loader.payload_digest(modules) == bundle.payload_sha256()
    # As documented: each sorted name, NUL, its source, NUL.
    digest = hashlib.sha256()
    for name in sorted(modules):
        digest.update(name.encode() + b"\0" + modules[name].encode() + b"\0")
    assert bundle.payload_sha256() == digest.hexdigest()


def test_transports_start_the_bootstrap() -> None:
    assert agent_command("python3", "abc") == ["python3", "-c", BOOTSTRAP, "abc"]


# --- Running it for real -----------------------------------------------------------------


def test_real_agent_says_the_payloads_digest(tmp_path: Path) -> None:
    far = tmp_path / "far"
    far.mkdir()
    connection = AgentConnection(LocalProcessTransport(far, python=python3()))
    try:
        hello = connection.hello
    finally:
        connection.close()
    assert hello.get("agent_sha256") == bundle.payload_sha256()
    assert hello.get("protocol") == PROTOCOL_VERSION
    assert hello.get("config_dir") == str(far)


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root``: a file's bytes, None for anything else."""
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return out


def test_agent_writes_nothing_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    far, home, cwd, tmp = (tmp_path / n for n in ("far", "home", "cwd", "tmp"))
    for path in (far, home, cwd, tmp):
        path.mkdir()
    (far / "settings.json").write_text("{}\n")
    (home / ".profile").write_text("# nothing\n")
    # The agent inherits these: everywhere it could write is watched, and
    # bytecode writing is left on (the default), so a cached module would show.
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    monkeypatch.chdir(cwd)
    before = {str(p): tree(p) for p in (far, home, cwd, tmp)}

    connection = AgentConnection(LocalProcessTransport(far, python=python3()))
    connection.close()

    after = {str(p): tree(p) for p in (far, home, cwd, tmp)}
    module_names = set(bundle.agent_modules()) | {"loader", loader.PACKAGE}
    appeared = sorted(
        f"{root}/{rel}" for root in after for rel in set(after[root]) - set(before[root])
    )
    suspicious = [
        p
        for p in appeared
        if "__pycache__" in p or any(Path(p).stem.split(".")[0] == m for m in module_names)
    ]
    assert not suspicious, f"the agent wrote its modules to disk: {suspicious}"
    assert not appeared, f"the agent wrote files to run: {appeared}"
    assert after == before, "the agent changed files it only had to start next to"


# --- A hello with another digest is refused ----------------------------------------------

FAKE_AGENT = r"""
import json, struct, sys

nonce, marker, digest, protocol = sys.argv[1:5]
stdin = sys.stdin.buffer
out = sys.stdout.buffer
stdin.read(int(stdin.readline()))  # the payload, set aside
out.write(b"a chatty login shell\n" + marker.encode() + b" " + nonce.encode() + b"\n")
hello = {
    "protocol": int(protocol),
    "config_dir": "/nowhere",
    "hostname": "fake",
    "python": "3.8.0",
    "home": "/nowhere",
    "agent_sha256": digest,
}
if digest == "-":  # an agent that says no digest at all
    del hello["agent_sha256"]
body = json.dumps(hello).encode()
out.write(b"SS" + b"J" + struct.pack(">I", len(body)) + body)
out.flush()
stdin.read()  # until the controller closes the stream
"""


class FakeAgentTransport:
    """Starts a script that reads the payload, prints the ready line and a hello
    saying ``digest``, then waits for the stream to close."""

    def __init__(self, digest: str) -> None:
        self.digest = digest
        self.streams: list[ProcessStream] = []

    @property
    def description(self) -> str:
        return "fake agent"

    def open(self, nonce: str) -> AgentStream:
        argv = [sys.executable, "-c", FAKE_AGENT, nonce, READY_MARKER.decode()]
        process = subprocess.Popen(
            [*argv, self.digest, str(PROTOCOL_VERSION)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stream = ProcessStream(process)
        self.streams.append(stream)
        return stream


def test_fake_agent_with_the_right_digest_is_accepted() -> None:
    """The fake is a good agent but for its digest (so the refusal below is about it)."""
    transport = FakeAgentTransport(bundle.payload_sha256())
    connection = AgentConnection(transport)
    try:
        assert connection.hello["agent_sha256"] == bundle.payload_sha256()
        assert connection.stray_output == b"a chatty login shell\n"
    finally:
        connection.close()


def test_hello_with_another_digest_is_refused() -> None:
    wrong = hashlib.sha256(b"some other agent").hexdigest()
    assert wrong != bundle.payload_sha256()
    transport = FakeAgentTransport(wrong)
    with pytest.raises(ProtocolError, match="runs other code than was sent") as caught:
        AgentConnection(transport)
    assert caught.value.where == "fake agent"
    [stream] = transport.streams
    assert stream.process.poll() is not None, "the refused agent's stream was left open"


def test_hello_without_a_digest_is_refused() -> None:
    transport = FakeAgentTransport("-")
    with pytest.raises(ProtocolError, match="runs other code than was sent"):
        AgentConnection(transport)


def test_fake_agent_frame_is_the_protocols() -> None:
    """The hand-built frame is what ``FrameWriter`` would write."""
    body = {"agent_sha256": "x"}
    buffer = io.BytesIO()
    FrameWriter(buffer).json(b"J", body)
    data = json.dumps(body, separators=(",", ":")).encode()
    assert buffer.getvalue() == b"SSJ" + len(data).to_bytes(4, "big") + data
