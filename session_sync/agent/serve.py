"""Serving: the agent's request loop over stdin/stdout, and ``exchange`` (apply
what came, then send what was asked for).
"""

from __future__ import annotations

import os
import socket
import sys
from typing import IO, Dict, Optional, Sequence, Union, cast

from .faults import fault_point
from .hashcache import HashCache
from .listing import PROJECTS_LIMIT, list_projects
from .messages import ExchangeRequest, Hello, ScanAnswer, ScanManyAnswer, ScanRequest
from .paths import claude_config_dir, op_base, op_target
from .protocol import (
    JSON,
    PROTOCOL_VERSION,
    READY_MARKER,
    ZLIB,
    FrameReader,
    FrameWriter,
    Refusal,
    agree_compression,
)
from .reading import send_below
from .scan import scan
from .shared import shared_listings

__all__ = [
    "exchange",
    "main",
    "serve",
]


def exchange(
    config: str, request: ExchangeRequest, reader: FrameReader, writer: FrameWriter
) -> None:
    """Serve an ``exchange``: apply ``request["apply"]`` from the stream, answer
    with the results, then send the data of ``request["send"]``."""
    # Imported when first asked for: an agent that only scans (a no-op, status)
    # starts without compiling what writes.
    from .apply import apply_batch
    from .backups import DEFAULT_BACKUP_RETENTION_DAYS
    from .knowledge import add_knowledge, apply_knowledge

    paranoid = request.get("paranoid", False)
    if not isinstance(paranoid, bool):
        # Refused before anything is applied: the X frame answers the exchange.
        raise Refusal("bad exchange request: paranoid must be true or false, not %r" % paranoid)
    answer = apply_batch(
        config,
        list(request.get("apply") or []),
        reader.data,
        str(request.get("label", "sync")),
        float(request.get("backup_retention_days", DEFAULT_BACKUP_RETENTION_DAYS)),
        paranoid,
    )
    landed = apply_knowledge(
        config, request.get("memory"), request.get("history"), str(request.get("label", "sync"))
    )
    add_knowledge(answer, landed)
    writer.json(b"J", answer)
    for op in request.get("send") or []:
        try:
            op_target(config, op)  # the names are checked; the read follows no link
            base = op_base(config, op)
        except Refusal as exc:
            writer.json(b"E", {"ok": False, "error": str(exc)})
            continue
        send_below(
            writer,
            base,
            str(op["rel"]),
            int(op["offset"]),
            int(op["length"]),
            lambda _sent: fault_point("send.chunk", config),
        )
    writer.flush()


def scan_many(config: str, request: JSON) -> ScanManyAnswer:
    """Several scans in one request (``--all``): a scan that fails is an error
    entry in its place, the others go on."""
    scans = request.get("scans")
    if not isinstance(scans, list) or len(scans) > PROJECTS_LIMIT:
        raise Refusal("scan_many: scans must be a list of at most %d" % PROJECTS_LIMIT)
    if not all(isinstance(one, dict) for one in scans):
        raise Refusal("scan_many: each scan must be an object")
    # One hash cache for all: loaded once, saved once (each scan's own would be
    # read and written whole per project).
    cache = HashCache(config)
    with shared_listings():
        answers = [_scan_or_why(config, cast(ScanRequest, one), cache) for one in scans]
    cache.finish()  # read-only scans too: the cache is the agent's own state
    return {"answers": answers}


def _scan_or_why(
    config: str, request: ScanRequest, cache: HashCache
) -> Union[ScanAnswer, Dict[str, str]]:
    try:
        return scan(config, request, cache=cache)
    except Refusal as exc:
        return {"error": str(exc)}
    except (OSError, ValueError) as exc:
        return {"error": "%s: %s" % (type(exc).__name__, exc)}


def serve(
    inp: IO[bytes],
    out: IO[bytes],
    nonce: str,
    config: Optional[str] = None,
    payload_sha256: Optional[str] = None,
) -> int:
    """Answer requests on ``inp``/``out`` until the controller closes the stream.

    ``payload_sha256``: the digest of the agent modules this agent runs (the
    loader's), said in the hello so the controller knows the code arrived whole."""
    config = config or claude_config_dir()
    out.write(b"\n" + READY_MARKER + b" " + nonce.encode("ascii") + b"\n")
    reader = FrameReader(inp)
    writer = FrameWriter(out)
    hello: Hello = {
        "protocol": PROTOCOL_VERSION,
        "config_dir": config,
        "hostname": socket.gethostname(),
        "python": sys.version.split()[0],
        "home": os.path.expanduser("~"),
        "agent_sha256": payload_sha256,
        "compression": [ZLIB],
    }
    writer.json(b"J", hello)
    writer.flush()
    while True:
        try:
            request = reader.json()
        except EOFError:
            return 0
        op = request.get("op")
        if op == "compress":  # a notice: no answer
            agree_compression(request.get("mode"), [ZLIB], reader, writer)
            continue
        try:
            if op == "scan":
                with shared_listings():  # for its pause of the collector
                    writer.json(b"J", scan(config, cast(ScanRequest, request)))
            elif op == "scan_many":
                writer.json(b"J", scan_many(config, request))
            elif op == "list_projects":
                writer.json(b"J", list_projects(config, float(request.get("days", 7))))
            elif op == "exchange":
                exchange(config, cast(ExchangeRequest, request), reader, writer)
            elif op == "backups":
                from .backups import list_backups

                writer.json(b"J", {"backups": list_backups(config)})
            elif op == "checkpoint":
                from .checkpoint import serve_checkpoint

                serve_checkpoint(request, writer)
            elif op == "restore":
                from .restore import restore_request

                writer.json(b"J", restore_request(config, request))
            else:
                writer.json(b"X", {"error": "unknown request %r" % op})
        except EOFError:
            return 1
        except Refusal as exc:
            writer.json(b"X", {"error": str(exc)})  # already in words
        except (OSError, ValueError) as exc:
            writer.json(b"X", {"error": "%s: %s" % (type(exc).__name__, exc)})
        writer.flush()


def main(argv: Optional[Sequence[str]] = None, payload_sha256: Optional[str] = None) -> int:
    """The agent process: serve stdin/stdout (``argv[1]``: the nonce of the ready line)."""
    argv = sys.argv if argv is None else argv
    nonce = argv[1] if len(argv) > 1 else "-"
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    # Anything else that prints must not corrupt the frames.
    sys.stdout = sys.stderr
    try:
        return serve(inp, out, nonce, payload_sha256=payload_sha256)
    except BrokenPipeError:
        return 1
    except ValueError as exc:  # out of step: nothing sensible left to say
        sys.stderr.write("session-sync agent: %s\n" % exc)
        return 2
