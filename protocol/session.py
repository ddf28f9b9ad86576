"""One side's end-to-end session over the relay's binary frames, without any I/O.

The whole host/viewer flow built on it: docs/session-contract.md (CONTRACT_PLACEHOLDER).

    session = PeerSession(Role.HOST, code)
    send(session.start())
    for event in session.receive(frame):   # Send | Established | Received
        ...
    send(session.seal(Chat("hallo")))

It runs the handshake, then seals and opens messages with the channel. Any error ends
the session for good: a wrong code, a tampered frame or a malformed message.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocol import messages
from protocol.channel import Channel
from protocol.codes import Code
from protocol.errors import FernwartungError, ProtocolError
from protocol.handshake import Handshake, Role, SessionKeys


class SessionState(enum.Enum):
    NEW = "new"
    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Send:
    """Bytes to put on the wire as one binary frame."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Established:
    """The peer proved it knows the same code; messages may flow."""

    keys: SessionKeys


@dataclass(frozen=True, slots=True)
class Received:
    """A message from the peer, with its plaintext exactly as it arrived."""

    message: messages.Message
    plaintext: bytes


Event = Send | Established | Received


class PeerSession:
    def __init__(self, role: Role, code: Code) -> None:
        self.role = role
        self.session_number = code.session
        self.state = SessionState.NEW
        self._handshake = Handshake(role, code.secret, code.session)
        self._channel: Channel | None = None
        self.keys: SessionKeys | None = None

    def start(self) -> bytes:
        if self.state is not SessionState.NEW:
            raise ProtocolError(f"session already started (state: {self.state.value})")
        self.state = SessionState.HANDSHAKE
        return self._guard(self._handshake.start)

    def _guard(self, action, *args):  # type: ignore[no-untyped-def]
        try:
            return action(*args)
        except FernwartungError:
            self.state = SessionState.CLOSED
            raise

    def receive(self, data: bytes) -> list[Event]:
        """Feed one binary frame from the peer."""
        if self.state is SessionState.HANDSHAKE:
            step = self._guard(self._handshake.receive, data)
            events: list[Event] = []
            if step.outgoing is not None:
                events.append(Send(step.outgoing))
            if step.keys is not None:
                self.keys = step.keys
                self._channel = step.keys.channel()
                self.state = SessionState.OPEN
                events.append(Established(step.keys))
            return events
        if self.state is not SessionState.OPEN or self._channel is None:
            raise ProtocolError(f"no message can be received in state '{self.state.value}'")
        plaintext = self._guard(self._channel.open, data)
        return [Received(self._guard(messages.decode, plaintext), plaintext)]

    def seal(self, message: messages.Message) -> bytes:
        """The binary frame that carries `message` to the peer."""
        return self.seal_plaintext(messages.encode(message))

    def seal_plaintext(self, plaintext: bytes) -> bytes:
        if self.state is not SessionState.OPEN or self._channel is None:
            raise ProtocolError(f"no message can be sent in state '{self.state.value}'")
        return self._guard(self._channel.seal, plaintext)

    def close(self) -> None:
        self.state = SessionState.CLOSED
        self._channel = None
