"""A stand-in for the Anthropic Messages API on 127.0.0.1, for running the real client.

``StandInApi`` is a stdlib HTTP server in a thread on an ephemeral port (use it as a
context manager). ``POST /v1/messages`` gets a text reply: streamed as server-sent
events when the request says ``"stream": true``, one JSON message otherwise.
``/v1/messages/count_tokens`` gets a token count; every other path gets an empty JSON
object (the client's side calls must not fail). Each request is logged, its body parsed
as JSON, in ``requests``, so a test can read which history the client sent.

The reply text comes from ``queue_reply`` (first in, first out) and else from ``reply``:
a string, or a callable given the logged request.
"""

from __future__ import annotations

import collections
import gzip
import itertools
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import attrs

__all__ = ["DEFAULT_REPLY", "LoggedRequest", "ReplyFn", "StandInApi", "sse_events"]

DEFAULT_REPLY = "Hello from the stand-in API."
"""The reply text when none is queued or configured."""


def _text_of(content: Any) -> Iterator[str]:
    """Every text found in a message's ``content`` (a string or a list of blocks)."""
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for block in content:
            if isinstance(block, dict):
                if isinstance(block.get("text"), str):
                    yield block["text"]
                if "content" in block:  # tool_result blocks nest their content
                    yield from _text_of(block["content"])


@attrs.frozen
class LoggedRequest:
    """One request the stand-in received."""

    method: str
    path: str
    """The path with its query string (``/v1/messages?beta=true``)."""
    headers: Mapping[str, str]
    body: Any
    """The body parsed as JSON; ``None`` when empty or not JSON."""

    @property
    def route(self) -> str:
        """The path without its query string."""
        return self.path.split("?", 1)[0]

    @property
    def is_message(self) -> bool:
        """A ``POST /v1/messages`` (a model turn)."""
        return self.method == "POST" and self.route == "/v1/messages"

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The ``messages`` list of a Messages API body (empty for other requests)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("messages"), list):
            return [m for m in self.body["messages"] if isinstance(m, dict)]
        return []

    @property
    def messages_text(self) -> str:
        """All text of all ``messages``, one block per line (for ``in`` checks)."""
        return "\n".join(t for m in self.messages for t in _text_of(m.get("content")))

    def user_texts(self) -> list[str]:
        """Each user message's text, in order (tool results included)."""
        return [
            "\n".join(_text_of(m.get("content"))) for m in self.messages if m.get("role") == "user"
        ]


ReplyFn = Callable[[LoggedRequest], str]
"""Gives the reply text for a logged ``/v1/messages`` request."""


def _message(text: str, model: str, msg_id: str) -> dict[str, Any]:
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": max(1, len(text.split()))},
    }


def sse_events(text: str, model: str, msg_id: str) -> bytes:
    """A whole streamed Messages API reply holding ``text``, as SSE bytes."""
    start = _message("", model, msg_id)
    start.update(content=[], stop_reason=None)
    start["usage"] = {"input_tokens": 10, "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    pieces = [text[i : i + 16] for i in range(0, len(text), 16)] or [""]
    for piece in pieces:
        delta = {"type": "text_delta", "text": piece}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": max(1, len(text.split()))},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding", "").lower() == "gzip" and raw:
            raw = gzip.decompress(raw)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("request-id", "req_stand_in")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _handle(self) -> None:
        body = self._read_body() if self.command in ("POST", "PUT", "PATCH") else None
        logged = LoggedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        api = self.server.api
        api._log(logged)
        if logged.is_message:
            text = api._next_reply(logged)
            model = str(body.get("model", "claude-stand-in")) if isinstance(body, dict) else "x"
            msg_id = f"msg_stand_in_{api._next_id()}"
            if isinstance(body, dict) and body.get("stream"):
                self._send(200, "text/event-stream", sse_events(text, model, msg_id))
            else:
                payload = json.dumps(_message(text, model, msg_id)).encode()
                self._send(200, "application/json", payload)
        elif logged.route == "/v1/messages/count_tokens":
            self._send(200, "application/json", b'{"input_tokens": 100}')
        else:
            self._send(200, "application/json", b"{}")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, api: StandInApi) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api


class StandInApi:
    """The stand-in server; ``with StandInApi() as api: ... api.base_url ...``."""

    def __init__(self, reply: str | ReplyFn = DEFAULT_REPLY) -> None:
        self.reply = reply
        """The reply text when none is queued: a string or a callable."""
        self._lock = threading.Lock()
        self._requests: list[LoggedRequest] = []
        self._queued: collections.deque[str] = collections.deque()
        self._ids = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- what tests read ---

    @property
    def port(self) -> int:
        """The port it listens on (started only)."""
        assert self._server is not None, "StandInApi is not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the value for ``ANTHROPIC_BASE_URL``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def message_requests(self) -> list[LoggedRequest]:
        """The ``POST /v1/messages`` requests so far."""
        return [r for r in self.requests if r.is_message]

    def requests_containing(self, marker: str) -> list[LoggedRequest]:
        """The ``/v1/messages`` requests whose messages' text contains ``marker``."""
        return [r for r in self.message_requests() if marker in r.messages_text]

    def clear(self) -> None:
        """Forget the logged requests."""
        with self._lock:
            self._requests.clear()

    def queue_reply(self, *texts: str) -> None:
        """Answer the next ``/v1/messages`` requests with ``texts``, in order."""
        with self._lock:
            self._queued.extend(texts)

    # --- server side ---

    def _log(self, request: LoggedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def _next_reply(self, request: LoggedRequest) -> str:
        with self._lock:
            if self._queued:
                return self._queued.popleft()
        return self.reply if isinstance(self.reply, str) else self.reply(request)

    def start(self) -> StandInApi:
        """Listen and serve in a daemon thread."""
        if self._server is None:
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="stand-in-api", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> StandInApi:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
