"""A TCP relay on 127.0.0.1 for putting network faults between a client and a server.

``TcpRelay(target_port)`` listens on a random port and forwards every
connection to ``127.0.0.1:target_port``, counting bytes. Its settings are
plain attributes, read when a connection is accepted, so a test can change
them between connections:

- ``cut_after`` / ``cut_direction``: forward exactly that many bytes (counted
  client->server, server->client, or both together, per connection), then
  shut both sockets down: a connection dropped mid-transfer;
- ``refuse``: close each connection as soon as it is accepted;
- ``blackhole``: accept and never answer nor read (a host that hangs);
- ``rate``: forward at most that many bytes per second each way, per
  connection (a slow link, for benchmarks).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Literal

__all__ = ["CutDirection", "TcpRelay"]

CutDirection = Literal["up", "down", "both"]
"""Which bytes count towards ``cut_after``: client->server, server->client, or all."""

_CHUNK = 65536


def _nodelay(sock: socket.socket) -> None:
    # SSH writes small packets; Nagle plus delayed ACKs would add 40 ms stalls per hop.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Link:
    """One relayed connection: two sockets and the two threads pumping between them."""

    def __init__(
        self,
        relay: TcpRelay,
        client: socket.socket,
        server: socket.socket,
        cut_after: int | None,
        cut_direction: CutDirection,
        rate: float | None = None,
    ) -> None:
        self.relay = relay
        self.rate = rate
        self.client = client
        self.server = server
        self.limit = cut_after
        self.direction = cut_direction
        self.counted = 0
        self.hit = False
        self.lock = threading.Lock()
        self.pumps_left = 2

    def start(self) -> None:
        for src, dst, direction in (
            (self.client, self.server, "up"),
            (self.server, self.client, "down"),
        ):
            threading.Thread(
                target=self._pump,
                args=(src, dst, direction),
                name=f"relay-{self.relay.port}-{direction}",
                daemon=True,
            ).start()

    def abort(self) -> None:
        """Shut both sockets down now (the pumps wake up and close them)."""
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        started = time.monotonic()
        forwarded = 0
        try:
            while True:
                data = src.recv(_CHUNK)
                if not data:
                    # Pass the half-close on: the other direction may still be busy.
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    break
                with self.lock:
                    counts = self.limit is not None and self.direction in (direction, "both")
                    allowed = len(data)
                    hit_now = False
                    if counts and self.limit is not None:
                        allowed = max(0, min(allowed, self.limit - self.counted))
                        self.counted += allowed
                        if not self.hit and self.counted >= self.limit:
                            self.hit = hit_now = True
                    already_cut = self.hit and not hit_now
                if allowed and not already_cut:
                    if self.rate is not None:
                        # Not before the link's rate would have carried it (the bytes
                        # wait in the socket buffers, as on a slow network); an idle
                        # link saves up no credit.
                        now = time.monotonic()
                        if started + forwarded / self.rate < now - 0.05:
                            started, forwarded = now, 0
                        forwarded += allowed
                        time.sleep(max(0.0, started + forwarded / self.rate - now))
                    dst.sendall(data[:allowed])
                    self.relay._count(direction, allowed)
                if hit_now:
                    # Only the thread that reached the limit cuts, after its last bytes are
                    # sent, so exactly cut_after bytes get through.
                    self.abort()
                    break
                if already_cut:
                    break  # the other direction is cutting the connection
        except OSError:
            self.abort()
        finally:
            self._pump_done()

    def _pump_done(self) -> None:
        with self.lock:
            self.pumps_left -= 1
            last = self.pumps_left == 0
        if last:
            for sock in (self.client, self.server):
                with contextlib.suppress(OSError):
                    sock.close()
            self.relay._link_done(self)


class TcpRelay:
    """Forwards connections on ``127.0.0.1:port`` to ``target_host:target_port``.

    A context manager; ``close()`` stops it and drops every connection. Counts
    are totals over all connections since the start or ``reset_counts()``.
    """

    host = "127.0.0.1"
    """The address the relay listens on."""

    def __init__(
        self,
        target_port: int,
        *,
        target_host: str = "127.0.0.1",
        cut_after: int | None = None,
        cut_direction: CutDirection = "both",
        refuse: bool = False,
        blackhole: bool = False,
        connect_timeout: float = 5.0,
        rate: float | None = None,
    ) -> None:
        self.target_port = target_port
        """Where connections go (read at each accept: may be changed)."""
        self.target_host = target_host
        """The target's address."""
        self.cut_after: int | None = cut_after
        """Bytes each connection forwards before it is cut; ``None``: never cut."""
        self.cut_direction: CutDirection = cut_direction
        """Which bytes count towards ``cut_after``."""
        self.refuse = refuse
        """Close every new connection at once."""
        self.blackhole = blackhole
        """Hold every new connection open without reading or answering (until ``close``)."""
        self.connect_timeout = connect_timeout
        """Seconds to reach the target before the client's connection is closed."""
        self.rate: float | None = rate
        """Bytes per second each way, per connection; ``None``: as fast as it goes."""
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._connections = 0
        self._bytes_up = 0
        self._bytes_down = 0
        self._links: set[_Link] = set()
        self._pending = 0  # accepted, still connecting to the target
        self._held: list[socket.socket] = []
        self._closed = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, 0))
        self._listener.listen(128)
        # A timeout lets the accept loop notice close() (closing alone may not wake accept).
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        """The port clients connect to."""
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"relay-{self.port}", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"<TcpRelay {self.host}:{self.port} -> {self.target_host}:{self.target_port}>"

    def __enter__(self) -> TcpRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connections(self) -> int:
        """Connections accepted (refused and blackholed ones included)."""
        with self._lock:
            return self._connections

    @property
    def bytes_up(self) -> int:
        """Bytes forwarded client -> server."""
        with self._lock:
            return self._bytes_up

    @property
    def bytes_down(self) -> int:
        """Bytes forwarded server -> client."""
        with self._lock:
            return self._bytes_down

    @property
    def active_connections(self) -> int:
        """Connections being forwarded (or connecting to the target) right now."""
        with self._lock:
            return len(self._links) + self._pending

    def reset_counts(self) -> None:
        """Set ``connections``, ``bytes_up`` and ``bytes_down`` back to 0."""
        with self._lock:
            self._connections = self._bytes_up = self._bytes_down = 0

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no connection is being forwarded (so the counts are final)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._links or self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def drop_all(self) -> None:
        """Cut every open connection now (blackholed ones included); keep listening."""
        with self._lock:
            links = list(self._links)
            held, self._held = self._held, []
        for link in links:
            link.abort()
        for sock in held:
            _close_now(sock)

    def close(self) -> None:
        """Stop listening and drop every connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._thread.join(timeout=2.0)
        with contextlib.suppress(OSError):
            self._listener.close()
        self.drop_all()
        self.wait_idle(timeout=2.0)

    # -- internals

    def _count(self, direction: str, n: int) -> None:
        with self._lock:
            if direction == "up":
                self._bytes_up += n
            else:
                self._bytes_down += n

    def _link_done(self, link: _Link) -> None:
        with self._idle:
            self._links.discard(link)
            self._idle.notify_all()

    def _accept_loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                self._connections += 1
            # Settings are read once per connection, so a test may change them between.
            if self.refuse:
                _close_now(client)
                continue
            if self.blackhole:
                with self._lock:
                    self._held.append(client)
                continue
            cut_after, cut_direction = self.cut_after, self.cut_direction
            if cut_after is not None and cut_after <= 0:
                _close_now(client)
                continue
            with self._lock:
                self._pending += 1
            threading.Thread(
                target=self._connect,
                args=(client, cut_after, cut_direction, self.rate),
                name=f"relay-{self.port}-connect",
                daemon=True,
            ).start()

    def _connect(
        self,
        client: socket.socket,
        cut_after: int | None,
        cut_direction: CutDirection,
        rate: float | None,
    ) -> None:
        link: _Link | None = None
        try:
            server = socket.create_connection(
                (self.target_host, self.target_port), timeout=self.connect_timeout
            )
        except OSError:
            _close_now(client)  # like a host that is down: the client sees the close
        else:
            server.settimeout(None)
            _nodelay(client)
            _nodelay(server)
            link = _Link(self, client, server, cut_after, cut_direction, rate)
        with self._idle:
            self._pending -= 1
            if link is not None and self._closed:
                _close_now(client)
                _close_now(server)
                link = None
            if link is not None:
                self._links.add(link)
            self._idle.notify_all()
        if link is not None:
            link.start()


def _close_now(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
