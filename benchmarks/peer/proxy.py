"""A counting TCP proxy on loopback: what the viewer's connection to the relay carries.

The viewer connects to the proxy instead of the relay; the proxy forwards bytes untouched
(TLS and all, so certificate pinning still holds) and stamps every chunk. That is the
fernwartung equivalent of counting an RFB socket: bytes on the wire, TLS and WebSocket
framing included.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time

from .processes import LOOPBACK
from .records import WireChunk

CHUNK_BYTES = 256 * 1024
SELECT_TIMEOUT_SECONDS = 0.2
STOP_TIMEOUT_SECONDS = 5.0


class CountingProxy:
    """Listens on a free loopback port and forwards each connection to `upstream_port`."""

    def __init__(self, upstream_port: int, wire: list[WireChunk]) -> None:
        self.upstream_port = upstream_port
        self.wire = wire
        self.to_client_bytes = 0
        self._grew = threading.Condition()
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._peers: dict[socket.socket, tuple[socket.socket, bool]] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="counting-proxy", daemon=True)
        self._thread.start()

    def wait_to_client_bytes(self, at_least: int, timeout_seconds: float) -> bool:
        """Wait until `at_least` bytes in all have gone to the client (True) or time is up."""
        with self._grew:
            return self._grew.wait_for(lambda: self.to_client_bytes >= at_least, timeout_seconds)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(STOP_TIMEOUT_SECONDS)
        for sock in list(self._peers):
            sock.close()
        self._listener.close()
        self._selector.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select(SELECT_TIMEOUT_SECONDS):
                if key.fileobj is self._listener:
                    self._accept()
                else:
                    self._forward(key.fileobj)

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        upstream = socket.create_connection((LOOPBACK, self.upstream_port))
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._peers[client] = (upstream, False)
        self._peers[upstream] = (client, True)
        self._selector.register(client, selectors.EVENT_READ, None)
        self._selector.register(upstream, selectors.EVENT_READ, None)

    def _forward(self, source: socket.socket) -> None:
        if source not in self._peers:
            return  # its partner closed earlier in this same round of events
        target, toward_client = self._peers[source]
        try:
            data = source.recv(CHUNK_BYTES)
        except OSError:
            data = b""
        if not data:
            self._drop(source, target)
            return
        # blocking send: on loopback it only waits while the other side is slow, which is
        # the back-pressure a direct connection would have too
        try:
            target.sendall(data)
        except OSError:
            self._drop(source, target)
            return
        now = time.time()
        if toward_client:
            self.wire.append(WireChunk(now, len(data), 0))
            with self._grew:
                self.to_client_bytes += len(data)
                self._grew.notify_all()
        else:
            self.wire.append(WireChunk(now, 0, len(data)))

    def _drop(self, *socks: socket.socket) -> None:
        for sock in socks:
            if sock in self._peers:
                self._selector.unregister(sock)
                del self._peers[sock]
                sock.close()
