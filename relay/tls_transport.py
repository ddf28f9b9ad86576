"""TLS for the relay's connections without asyncio's TLS layer: a non-blocking
`ssl.SSLSocket` that OpenSSL reads and writes itself, driven by the event loop's
add_reader/add_writer, offering the part of `asyncio.Transport` the relay uses.

Why: asyncio's TLS layer keeps two memory BIOs, an SSLProtocol with a large attribute dict
and buffers per connection; an idle paired session paid ~20 KiB more for it than for the
SSL object itself. Here every connection reads through one buffer per process (a read
lives from `recv_into` to the protocol's copy, inside one callback).

Timeouts are not kept here: the connection's owner aborts a transport whose handshake or
closing takes too long (relay/connection.py). `TlsServer` caps the handshakes in progress
and the connections not yet admitted per address; those over a cap wait unread. Behind a
TCP load balancer that passes TLS through, the server reads the balancer's PROXY protocol
header first (relay/proxy_protocol.py); the client's address it gives is the transport's
`client_ip` and counts for the per-address caps.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import socket
import ssl
from typing import Any

from relay.admission import AddressSlots, WaitingLine
from relay.proxy_protocol import read_header

READ_BUFFER_BYTES = 256 * 1024
TLS_RECORD_BYTES = 16 * 1024
READS_PER_CALLBACK = 64  # then other connections get their turn
DEFAULT_HIGH_WATER_BYTES = 64 * 1024
LISTEN_BACKLOG = 1024
DEFAULT_WAITING_SECONDS = 10.0

_read_buffer = memoryview(bytearray(READ_BUFFER_BYTES))
_AGAIN = (BlockingIOError, InterruptedError)


class Phase(enum.Enum):
    HANDSHAKING = "handshaking"
    OPEN = "open"
    CLOSING = "closing"  # output is flushed, then close_notify
    SHUTTING_DOWN = "shutting down"  # close_notify sent, waiting for the peer's
    CLOSED = "closed"


class TlsTransport(asyncio.Transport):
    """One accepted TLS connection; `protocol.connection_made` is called at accept (the
    handshake runs after it, the first `data_received` follows it)."""

    __slots__ = (
        "_loop", "_server", "_sock", "_fd", "_protocol", "_phase", "_out", "_out_offset",
        "_out_bytes", "_high", "_low", "_writing_paused", "_reading", "_reader_on", "_writer_on",
        "_read_wants_write", "_write_wants_read", "_ip",
    )  # fmt: skip

    def __init__(
        self, server: TlsServer, sock: ssl.SSLSocket, protocol: asyncio.Protocol, ip: str
    ) -> None:
        self._loop = server.loop
        self._server = server
        self._ip = ip
        self._sock: ssl.SSLSocket | None = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._phase = Phase.HANDSHAKING
        self._out: collections.deque[bytes | memoryview] | None = None
        self._out_offset = 0  # bytes of the queue's head already sent
        self._out_bytes = 0
        self._high = DEFAULT_HIGH_WATER_BYTES
        self._low = DEFAULT_HIGH_WATER_BYTES // 4
        self._writing_paused = False
        self._reading = True
        self._reader_on = False
        self._writer_on = False
        self._read_wants_write = False  # a read or the handshake waits for writability
        self._write_wants_read = False  # a write waits for the peer's bytes
        protocol.connection_made(self)
        self._update_interest()

    # asyncio.Transport, the part the relay uses

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        sock = self._sock
        if sock is None:
            return default
        try:
            if name == "peername":
                return sock.getpeername()
            if name == "sockname":
                return sock.getsockname()
        except OSError:
            return default
        if name in ("ssl_object", "socket"):
            return sock
        if name == "client_ip":  # the peer's, or the one a PROXY protocol header gave
            return self._ip
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = DEFAULT_HIGH_WATER_BYTES if high is None else high
        self._low = self._high // 4 if low is None else low

    def get_write_buffer_size(self) -> int:
        return self._out_bytes

    def can_write_eof(self) -> bool:
        return False  # TLS cannot half-close

    def is_closing(self) -> bool:
        return self._phase not in (Phase.HANDSHAKING, Phase.OPEN)

    def is_reading(self) -> bool:
        return self._reading

    def pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._update_interest()

    def resume_reading(self) -> None:
        if not self._reading:
            self._reading = True
            self._update_interest()
            if self._phase is Phase.OPEN:
                self._loop.call_soon(self._on_readable)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._phase not in (Phase.HANDSHAKING, Phase.OPEN) or not data:
            return
        view = memoryview(data)
        sent = 0
        if self._out is None and self._phase is Phase.OPEN and not self._write_wants_read:
            sent = self._send(view)
            if sent is None or sent == len(view):
                return
        # bytes cannot change under us: keep a view of the rest rather than a copy
        rest = view[sent:] if isinstance(data, bytes) else bytes(view[sent:])
        if self._out is None:
            self._out = collections.deque()
        self._out.append(rest)
        self._out_bytes += len(rest)
        if not self._writing_paused and self._out_bytes > self._high:
            self._writing_paused = True
            self._protocol.pause_writing()
        self._update_interest()

    def _send(self, view: memoryview) -> int | None:
        """Send what the socket takes, one TLS record at a time; the count sent, or None
        after a fatal error. One record per call keeps OpenSSL from holding a half-written
        multi-record write across a key update (which it then refuses with "bad length");
        after a "want", the same bytes are offered again."""
        sock = self._sock
        assert sock is not None
        sent = 0
        try:
            while sent < len(view):
                sent += sock.send(view[sent : sent + TLS_RECORD_BYTES])
        except ssl.SSLWantReadError:
            self._write_wants_read = True
        except (ssl.SSLWantWriteError, *_AGAIN):
            pass
        except (OSError, ssl.SSLError) as error:
            self._finish(error)
            return None
        return sent

    def close(self) -> None:
        """Flush what is queued, send close_notify, then close (the peer's close_notify is
        awaited until the owner aborts)."""
        if self._phase is Phase.HANDSHAKING:
            self.abort()
        elif self._phase is Phase.OPEN:
            self._phase = Phase.CLOSING
            if self._out is None:
                self._loop.call_soon(self._shut_down)

    def abort(self) -> None:
        self._finish(None)

    # event loop callbacks

    def _update_interest(self) -> None:
        phase = self._phase
        want_reader = self._write_wants_read or phase is Phase.SHUTTING_DOWN
        want_reader = want_reader or phase is Phase.HANDSHAKING
        want_reader = want_reader or (phase is Phase.OPEN and self._may_read())
        want_writer = self._read_wants_write or (
            self._out is not None and phase is not Phase.HANDSHAKING
        )
        if phase is Phase.CLOSED:
            want_reader = want_writer = False
        if want_reader != self._reader_on:
            self._reader_on = want_reader
            if want_reader:
                self._loop.add_reader(self._fd, self._on_readable)
            else:
                self._loop.remove_reader(self._fd)
        if want_writer != self._writer_on:
            self._writer_on = want_writer
            if want_writer:
                self._loop.add_writer(self._fd, self._on_writable)
            else:
                self._loop.remove_writer(self._fd)

    def _on_readable(self) -> None:
        if self._write_wants_read:
            self._write_wants_read = False
            self._flush()
        if self._phase is Phase.SHUTTING_DOWN:
            self._shut_down()
        elif not self._read_wants_write:
            self._advance()
        self._update_interest()

    def _on_writable(self) -> None:
        if self._read_wants_write:
            self._read_wants_write = False
            self._advance()
        self._flush()
        self._update_interest()

    def _advance(self) -> None:
        """Move the handshake on, then read while the protocol wants data."""
        sock = self._sock
        if sock is None:
            return
        try:
            if self._phase is Phase.HANDSHAKING:
                sock.do_handshake()
                self._phase = Phase.OPEN
                self._server.handshake_done(self._ip)
                if self._out is not None:
                    self._flush()
            for _ in range(READS_PER_CALLBACK):
                if self._phase is not Phase.OPEN or not self._may_read():
                    return
                count = sock.recv_into(_read_buffer)
                if not count:
                    self._on_eof()
                    return
                self._protocol.data_received(_read_buffer[:count])  # type: ignore[arg-type]
            if sock.pending():
                self._loop.call_soon(self._on_readable)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLWantWriteError:
            self._read_wants_write = True  # a key update or a handshake message to send
        except _AGAIN:
            pass
        except (OSError, ssl.SSLError) as error:
            self._finish(error)

    def _may_read(self) -> bool:
        """Reading waits while a write is half done: OpenSSL 3.0 fails a read that must
        answer a key update while a record of ours is still partly unsent ("bad length")."""
        return self._reading and (self._out is None or self._write_wants_read)

    def _on_eof(self) -> None:
        """The peer sent close_notify or closed TCP: no more data can come."""
        keep_open = self._protocol.eof_received()
        if not keep_open:
            self.close()

    def _flush(self) -> None:
        out = self._out
        if out is None or self._sock is None or self._phase is Phase.HANDSHAKING:
            return
        while out:
            head = out[0]
            sent = self._send(memoryview(head)[self._out_offset :])
            if sent is None:
                return
            self._out_bytes -= sent
            self._out_offset += sent
            if self._out_offset < len(head):
                break
            out.popleft()
            self._out_offset = 0
        if not out:
            self._out = None
        if self._writing_paused and self._out_bytes <= self._low:
            self._writing_paused = False
            self._protocol.resume_writing()
        if self._out is None and self._phase is Phase.CLOSING:
            self._shut_down()

    def _shut_down(self) -> None:
        """Send close_notify (first call) and wait for the peer's; data that still comes
        is discarded by OpenSSL meanwhile."""
        sock = self._sock
        if sock is None:
            return
        self._phase = Phase.SHUTTING_DOWN
        try:
            sock.unwrap()
        except ssl.SSLWantReadError:
            self._update_interest()
            return
        except (ssl.SSLWantWriteError, OSError, ssl.SSLError, ValueError):
            pass
        self._finish(None)

    def _finish(self, error: Exception | None) -> None:
        """Close at once, dropping what is queued; the protocol learns of it next."""
        sock = self._sock
        if sock is None:
            return
        was_open = self._phase is not Phase.HANDSHAKING
        if not was_open:
            self._server.handshake_done(self._ip)
        self._phase = Phase.CLOSED
        self._update_interest()
        self._sock = None
        self._out = None
        self._out_offset = 0
        self._out_bytes = 0
        sock.close()
        self._loop.call_soon(self._protocol.connection_lost, error)


class TlsServer:
    """A listening socket whose accepted connections are `TlsTransport`s.

    At most `max_handshakes` TLS handshakes run at once and at most `max_handshakes_per_ip`
    from one address; with `slots`, one address also has at most `slots.per_address`
    connections not yet admitted (the relay gives a slot back when it admits or loses such a
    connection, and calls `slot_freed`). A connection over a cap is not closed: it waits in
    `line`, accepted but unread (no TLS started, no buffer of ours), until a slot frees or its
    deadline passes (`drop_overdue`, from the relay's sweep). Only a connection that finds its
    address's line full is closed at accept; while the whole line is full, accepting pauses
    and new connections wait in the kernel's listen backlog. So one address holding
    connections open cannot lock everyone else out, and a burst from one address is served
    in turn instead of refused.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        listener: socket.socket,
        context: ssl.SSLContext,
        protocol_factory: Any,
        max_handshakes: int,
        max_handshakes_per_ip: int,
        *,
        slots: AddressSlots | None = None,
        line: WaitingLine[socket.socket] | None = None,
        waiting_seconds: float = DEFAULT_WAITING_SECONDS,
        proxy_header_seconds: float | None = None,
    ) -> None:
        """`proxy_header_seconds`: read a PROXY protocol header first, for at most this
        long (None: no header comes)."""
        self.loop = loop
        self._proxy_header_seconds = proxy_header_seconds
        self._reading_headers = 0
        self.sockets = [listener]
        self._listener: socket.socket | None = listener
        self._context = context
        self._protocol_factory = protocol_factory
        self._max_handshakes = max_handshakes
        self._max_handshakes_per_ip = max_handshakes_per_ip
        self._slots = slots
        self.line = line if line is not None else WaitingLine(LISTEN_BACKLOG, LISTEN_BACKLOG)
        self._waiting_seconds = waiting_seconds
        self.handshakes = 0
        self._handshakes_by_ip: dict[str, int] = {}
        self._accepting = True
        self.waited = 0  # connections that had to wait for a slot, since the start
        self.expired = 0  # ... and were closed at their deadline
        self.closed_at_accept = 0  # connections closed at once: their address's line was full
        loop.add_reader(listener.fileno(), self._accept)

    def handshake_done(self, ip: str) -> None:
        was_full = self.handshakes >= self._max_handshakes
        self.handshakes -= 1
        left = self._handshakes_by_ip.pop(ip) - 1
        if left:
            self._handshakes_by_ip[ip] = left
        if was_full:
            self._start_waiting()  # any address may go on
        else:
            self._start_waiting_of(ip)

    def slot_freed(self, ip: str) -> None:
        """A connection from `ip` not yet admitted was admitted or lost."""
        self._start_waiting_of(ip)

    def drop_overdue(self, now: float) -> None:
        """Close the connections that waited past their deadline."""
        for sock in self.line.overdue(now):
            self.expired += 1
            sock.close()
        self._resume_accepting()

    def _accept(self) -> None:
        listener = self._listener
        if listener is None:
            return
        line = self.line
        for _ in range(LISTEN_BACKLOG):
            if line.full:
                self._pause_accepting()
                return
            try:
                sock, address = listener.accept()
            except _AGAIN:
                return
            except OSError:
                return  # out of descriptors, or a connection reset before accept
            ip = str(address[0])
            if self._proxy_header_seconds is None:
                self._admit(sock, ip)
            elif self._reading_headers + self.handshakes >= self._max_handshakes:
                sock.close()
            else:
                sock.setblocking(False)
                self._reading_headers += 1
                read_header(self.loop, sock, ip, self._proxy_header_seconds, self._admit,
                            self._header_read)  # fmt: skip

    def _header_read(self) -> None:
        self._reading_headers -= 1

    def _admit(self, sock: socket.socket, ip: str) -> None:
        """A connection from `ip` (behind a balancer, the address its PROXY header gave):
        its TLS handshake starts if the caps allow; else it waits in line, unread."""
        line = self.line
        if not line.has_waiting(ip) and self._may_start(ip):
            self._start(sock, ip)
        elif line.add(ip, sock, self.loop.time() + self._waiting_seconds) is not None:
            self.waited += 1
        else:
            self.closed_at_accept += 1
            sock.close()

    def _may_start(self, ip: str) -> bool:
        return (
            self.handshakes < self._max_handshakes
            and self._handshakes_by_ip.get(ip, 0) < self._max_handshakes_per_ip
            and (self._slots is None or self._slots.has_room(ip))
        )

    def _start(self, sock: socket.socket, ip: str) -> None:
        """Begin the TLS handshake of an accepted connection."""
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except (OSError, ssl.SSLError):
            sock.close()  # (gone while it waited)
            return
        self.handshakes += 1
        self._handshakes_by_ip[ip] = self._handshakes_by_ip.get(ip, 0) + 1
        slot_address = None
        if self._slots is not None:
            self._slots.take(ip)
            slot_address = ip
        TlsTransport(self, tls, self._protocol_factory(slot_address), ip)

    def _start_waiting_of(self, ip: str) -> None:
        line = self.line
        while line.has_waiting(ip) and self._may_start(ip):
            sock = line.next_of(ip)
            assert sock is not None
            self._start(sock, ip)
        self._resume_accepting()

    def _start_waiting(self) -> None:
        """A handshake slot of the whole server freed: addresses take turns."""
        line = self.line
        for ip in line.addresses():
            if self.handshakes >= self._max_handshakes:
                break
            if self._may_start(ip):
                sock = line.next_of(ip)
                assert sock is not None
                self._start(sock, ip)
                line.to_the_back(ip)
        self._resume_accepting()

    def _pause_accepting(self) -> None:
        if self._accepting and self._listener is not None:
            self._accepting = False
            self.loop.remove_reader(self._listener.fileno())

    def _resume_accepting(self) -> None:
        if not self._accepting and self._listener is not None and not self.line.full:
            self._accepting = True
            self.loop.add_reader(self._listener.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting and close the connections still waiting (connections already
        started stay)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            if self._accepting:
                self.loop.remove_reader(listener.fileno())
            listener.close()
        for sock in self.line.overdue(float("inf")):
            sock.close()


def start_tls_server(
    protocol_factory: Any,
    host: str,
    port: int,
    context: ssl.SSLContext,
    *,
    max_handshakes: int,
    max_handshakes_per_ip: int,
    slots: AddressSlots | None = None,
    line: WaitingLine[socket.socket] | None = None,
    waiting_seconds: float = DEFAULT_WAITING_SECONDS,
    proxy_header_seconds: float | None = None,
) -> TlsServer:
    """`protocol_factory(slot_address)` makes the protocol of a connection whose TLS
    handshake begins; `slot_address` is the address whose slot in `slots` it holds (None
    without `slots`)."""
    listener = socket.create_server((host, port), backlog=LISTEN_BACKLOG)
    listener.setblocking(False)
    return TlsServer(
        asyncio.get_running_loop(),
        listener,
        context,
        protocol_factory,
        max_handshakes,
        max_handshakes_per_ip,
        slots=slots,
        line=line,
        waiting_seconds=waiting_seconds,
        proxy_header_seconds=proxy_header_seconds,
    )
