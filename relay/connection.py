"""One client connection of the relay: websockets' Sans-I/O `ServerProtocol` driven by an
`asyncio.Protocol`, without a task or a timer of its own while idle.

Binary messages go to the owner synchronously from `data_received` (forwarding is a
write on the other side's transport). Everything that may wait (the HTTP handshake's token
check, control messages, the end of the connection) runs as a short coroutine of the
owner, one at a time per connection and in arrival order: while one runs, later messages
wait in a backlog and reading pauses. Deadlines (opening, first message, closing,
keepalive) are checked by the owner's relay-wide sweep through `check_deadlines`.

Until it is admitted (the relay puts it into a session: its register, join or resume was
accepted) a connection may send one message of at most `max_first_message_bytes`: a larger
frame is refused on its header, before its payload is read. Once admitted it may send
messages of up to `max_message_bytes`. The owner counts connections not yet admitted per
address (`slot_address`, relay/admission.py).
"""

from __future__ import annotations

import asyncio
import collections
import enum
import http
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from websockets.frames import Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from relay.limits import Limits

if TYPE_CHECKING:
    from relay.pairing import RelaySession, Side

LOGGER = logging.getLogger("relay.connection")
WEBSOCKETS_LOGGER = logging.getLogger("websockets.server")
CLOSE_PING_TIMEOUT = 1011
NEVER = float("inf")


class Paused(enum.IntFlag):
    """Why reading is paused (reading resumes when no reason is left)."""

    BACKLOG = 1  # a coroutine of this connection is running
    PEER = 2  # the other side's transport is above its high-water mark
    WAITING = 4  # its address has no slot free for another connection not yet admitted


class Event(enum.Enum):
    REQUEST = "request"
    TEXT = "text"
    BINARY = "binary"
    LOST = "lost"


class ConnectionOwner(Protocol):
    """What a connection reports to, and asks of, the relay that owns it (`Relay`)."""

    limits: Limits

    def now(self) -> float: ...

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]: ...

    def connection_opened(self, connection: Connection) -> None: ...

    def connection_closed(self, connection: Connection) -> None: ...

    def connection_admitted(self, connection: Connection) -> None: ...

    def backpressure(self, receiver: Connection, *, on: bool) -> None: ...

    def client_ip(self, connection: Connection, request: Request) -> str: ...

    async def process_request(
        self, connection: Connection, request: Request
    ) -> Response | None: ...

    def on_open(self, connection: Connection, path: str) -> None: ...

    def on_text(self, connection: Connection, data: bytes) -> Coroutine[Any, Any, None]: ...

    def on_binary(
        self, connection: Connection, data: bytes
    ) -> Coroutine[Any, Any, None] | None: ...

    def on_lost(self, connection: Connection) -> Coroutine[Any, Any, None]: ...

    def first_message_late(self, connection: Connection) -> None: ...


class Connection(asyncio.Protocol):
    """A connection's WebSocket state and its place in a session (`session`, `side`)."""

    __slots__ = (
        "owner", "transport", "ws", "ip", "technician", "_session", "side", "slot_address",
        "deadline", "ping_sent_at", "write_paused_at", "lost", "_paused", "_partial", "_task",
        "_backlog",
    )  # fmt: skip

    def __init__(self, owner: ConnectionOwner, slot_address: str | None = None) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        limits = owner.limits
        self.ws = ServerProtocol(max_size=limits.max_first_message_bytes, logger=WEBSOCKETS_LOGGER)
        self.ip = "unknown"
        self.technician: Any = None  # set by the gatekeeper for a viewer
        self._session: RelaySession | None = None
        self.side: Side | None = None
        # The address whose slot for a connection not yet admitted this one holds (given
        # back by the owner at admission or loss); None once admitted, or before it has one.
        self.slot_address = slot_address
        self.deadline = owner.now() + owner.limits.open_timeout_seconds
        self.ping_sent_at = 0.0  # 0: no ping unanswered
        self.write_paused_at = 0.0  # 0: the transport takes more
        self.lost = False
        self._paused = Paused(0)
        self._partial: list[Any] | None = None  # [opcode, fragments...] of a fragmented message
        self._task: asyncio.Task[None] | None = None
        self._backlog: collections.deque[tuple[Event, Any]] | None = None

    @property
    def session(self) -> RelaySession | None:
        return self._session

    @session.setter
    def session(self, session: RelaySession | None) -> None:
        """Putting a connection into a session admits it: from then on it may send
        messages of full size."""
        admitted = self._session is None and session is not None
        self._session = session
        if admitted:
            allow_messages_of(self.ws, self.owner.limits.max_message_bytes)
            self.owner.connection_admitted(self)

    # sending

    @property
    def is_open(self) -> bool:
        return self.ws.state is State.OPEN and not self.lost

    @property
    def left_by_relay(self) -> bool:
        """The relay closed (or failed) this connection: what the client sent since is
        not looked at. Messages that came before a client's own close still count."""
        ws = self.ws
        return ws.close_sent is not None and not ws.close_rcvd_then_sent

    def send_text(self, text: str) -> bool:
        if not self.is_open:
            return False
        self.ws.send_text(text.encode())
        self._flush()
        return True

    def send_binary(self, data: bytes) -> bool:
        if not self.is_open:
            return False
        self.ws.send_binary(data)
        self._flush()
        return True

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake (the client has `close_timeout_seconds` to answer)."""
        if self.lost or self.transport is None:
            return
        if self.ws.state is State.CONNECTING:
            self.transport.abort()
        elif self.ws.state is State.OPEN:
            self.deadline = self.owner.now() + self.owner.limits.close_timeout_seconds
            self.ws.send_close(code, reason)
            self._flush()

    def abort(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.abort()

    def respond(self, status: http.HTTPStatus, text: str) -> Response:
        """A plain HTTP response instead of the upgrade (for the gatekeeper)."""
        return self.ws.reject(status, text)

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for data in self.ws.data_to_send():
            if data:
                transport.write(data)
                continue
            if transport.can_write_eof():
                transport.write_eof()  # the client closes; the sweep aborts if it does not
            else:
                transport.close()
            self.deadline = self.owner.now() + self.owner.limits.close_timeout_seconds

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.owner.limits.write_limit_bytes)
        self.owner.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        self._take_events()

    def eof_received(self) -> bool:
        self.ws.receive_eof()
        self._take_events()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.owner.connection_closed(self)
        self._submit(Event.LOST, None)

    def pause_writing(self) -> None:
        self.write_paused_at = self.owner.now()
        self.owner.backpressure(self, on=True)

    def resume_writing(self) -> None:
        self.write_paused_at = 0.0
        self.owner.backpressure(self, on=False)

    # reading

    def pause_reading(self, reason: Paused) -> None:
        if not self._paused and self.transport is not None and not self.lost:
            self.transport.pause_reading()
        self._paused |= reason

    def resume_reading(self, reason: Paused) -> None:
        if not self._paused & reason:
            return
        self._paused &= ~reason
        if not self._paused and self.transport is not None and not self.lost:
            self.transport.resume_reading()

    def pause_reading_for_peer(self) -> None:
        """The other side of the session does not take more: stop reading this side."""
        self.pause_reading(Paused.PEER)

    def resume_reading_for_peer(self) -> None:
        """The other side of the session drained or left: this side may send again."""
        if self._paused & Paused.PEER:
            self.ping_sent_at = 0.0  # a pong may have waited unread meanwhile
        self.resume_reading(Paused.PEER)

    def _take_events(self) -> None:
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self._submit(Event.REQUEST, event)
                continue
            self.ping_sent_at = 0.0  # any frame shows the client is there
            opcode = event.opcode
            if opcode is Opcode.BINARY or opcode is Opcode.TEXT:
                if event.fin:
                    self._message(opcode, event.data)
                else:
                    self._partial = [opcode, event.data]
            elif opcode is Opcode.CONT and self._partial is not None:
                self._partial.append(event.data)
                if event.fin:
                    opcode, *fragments = self._partial
                    self._partial = None
                    self._message(opcode, b"".join(fragments))
        self._flush()

    def _message(self, opcode: Opcode, data: bytes) -> None:
        self._submit(Event.TEXT if opcode is Opcode.TEXT else Event.BINARY, data)

    # one coroutine at a time, in arrival order

    def _submit(self, event: Event, payload: Any) -> None:
        if self._backlog is not None:
            self._backlog.append((event, payload))
            self.pause_reading(Paused.BACKLOG)
            return
        self._start(self._coroutine(event, payload))

    def _coroutine(self, event: Event, payload: Any) -> Coroutine[Any, Any, None] | None:
        if event is Event.REQUEST:
            return self._handshake(payload)
        if event is Event.TEXT:
            return self.owner.on_text(self, payload)
        if event is Event.BINARY:
            return self.owner.on_binary(self, payload)
        return self.owner.on_lost(self)

    def _start(self, coroutine: Coroutine[Any, Any, None] | None) -> None:
        if coroutine is None:
            return
        self._backlog = collections.deque()
        self._task = self.owner.spawn(coroutine)
        self._task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._task = None
        if not task.cancelled() and task.exception() is not None:
            LOGGER.error("connection handler failed", exc_info=task.exception())
            self.abort()
        backlog = self._backlog
        self._backlog = None
        while backlog:
            event, payload = backlog.popleft()
            self._start(self._coroutine(event, payload))
            if self._backlog is not None:
                self._backlog.extend(backlog)
                return
        self.resume_reading(Paused.BACKLOG)

    async def _handshake(self, request: Request) -> None:
        ws = self.ws
        self.ip = self.owner.client_ip(self, request)
        response = await self.owner.process_request(self, request)
        if response is None:
            response = ws.accept(request)
        if not self.lost:
            ws.send_response(response)
            self._flush()
        # An idle session should not keep the handshake (~5 KiB per session).
        request.headers.clear()
        response.headers.clear()
        if ws.state is State.OPEN and not self.lost:
            self.deadline = self.owner.now() + self.owner.limits.handshake_timeout_seconds
            self.owner.on_open(self, request.path)

    # deadlines, from the relay-wide sweep

    def check_deadlines(self, now: float, ping_round: bool) -> None:
        limits = self.owner.limits
        if self.lost:
            return
        state = self.ws.state
        if now >= self.deadline:
            if state is State.OPEN and self.session is None:
                self.deadline = NEVER
                self.owner.first_message_late(self)
            else:
                self.abort()  # opening or closing took too long
            return
        if state is not State.OPEN or self._paused & Paused.PEER:
            return  # (a side not read for its peer's sake is watched by the stall timeout)
        timeout = limits.ping_timeout_seconds
        if self.ping_sent_at and timeout is not None and now - self.ping_sent_at > timeout:
            self.ws.fail(CLOSE_PING_TIMEOUT, "keepalive ping timeout")
            self._flush()
        elif ping_round and not self.ping_sent_at:
            self.ping_sent_at = now
            self.ws.send_ping(b"")
            self._flush()


def allow_messages_of(ws: ServerProtocol, size: int) -> None:
    """Change the largest message `ws` accepts; it applies from the next frame's header."""
    if hasattr(ws, "max_message_size"):  # websockets >= 15
        ws.max_message_size = size
    else:
        ws.max_size = size  # type: ignore[attr-defined]
