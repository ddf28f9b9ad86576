"""One side's end-to-end session over the relay's binary frames, without any I/O.

The whole host/viewer flow built on it: docs/session-contract.md (CONTRACT_PLACEHOLDER).

    session = PeerSession(Role.HOST, code)
    send(session.start())
    for event in session.receive(frame):   # Send | Established | Received
        ...
    send(session.seal(Chat("hallo")))

It runs the handshake, then seals and opens messages with the channel. Any error ends
the session for good: a wrong code, a tampered frame or a malformed message.

Resuming after a dropped connection (protocol/resume.py):

    OPEN --detach()--> DETACHED --switch_epoch(n)--> RESUMING --peer's state--> OPEN
    OPEN --switch_epoch(n)--> RESUMING      (the relay says `resumed` while this side's
                                             link stayed up)

While DETACHED or RESUMING, `seal_plaintext` keeps the message (it is counted and logged)
and returns None: it goes out with the resend once the peer's `ResumeState` says what it
is missing. `switch_epoch` returns this side's own `ResumeState`, the first frame of the
new epoch. Messages the peer sent before the resume and that arrive after it are
`Received(..., redelivered=True)`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocol import messages
from protocol.channel import Channel
from protocol.codes import Code
from protocol.errors import FernwartungError, ProtocolError
from protocol.handshake import Handshake, Role, SessionKeys
from protocol.resume import (
    ResumeState,
    SentLog,
    epoch_channel,
    resume_secret,
    verifier_for,
)


class SessionState(enum.Enum):
    NEW = "new"
    HANDSHAKE = "handshake"
    OPEN = "open"
    DETACHED = "detached"  # the link is down or the peer is reconnecting: messages are kept
    RESUMING = "resuming"  # switched to a new epoch, waiting for the peer's resume state
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
    # Sent by the peer before a resume, delivered after it (late: inputs are not injected).
    redelivered: bool = False


@dataclass(frozen=True, slots=True)
class Resumed:
    """The peer's resume state arrived: the session is open again in `epoch`; the Send
    events that follow carry the `resent` messages the peer had not received."""

    epoch: int
    resent: int
    redelivered: int  # how many of the peer's messages are still on their way to us


Event = Send | Established | Received | Resumed

_SENDING = (SessionState.OPEN,)
_KEEPING = (SessionState.DETACHED, SessionState.RESUMING)


class PeerSession:
    def __init__(self, role: Role, code: Code) -> None:
        self.role = role
        self.session_number = code.session
        self.state = SessionState.NEW
        self._handshake = Handshake(role, code.secret, code.session)
        self._channel: Channel | None = None
        self.keys: SessionKeys | None = None
        self.epoch = 0
        self.received_total = 0
        self._sent = SentLog()
        self._redelivered_until = 0

    @property
    def sent_total(self) -> int:
        return self._sent.total

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
        if self._channel is None or self.state not in (*_SENDING, *_KEEPING):
            raise ProtocolError(f"no message can be received in state '{self.state.value}'")
        plaintext = self._guard(self._channel.open, data)
        if self.state is SessionState.RESUMING:
            return self._guard(self._peer_resumed, plaintext)
        message = self._guard(messages.decode, plaintext)
        redelivered = self.received_total < self._redelivered_until
        self.received_total += 1
        return [Received(message, plaintext, redelivered)]

    def seal(self, message: messages.Message) -> bytes | None:
        """The binary frame that carries `message` to the peer (None: kept for a resume)."""
        return self.seal_plaintext(messages.encode(message))

    def seal_plaintext(self, plaintext: bytes) -> bytes | None:
        """The frame to send now; None while detached or resuming: the message is kept and
        goes out after the resume."""
        if self._channel is None or self.state not in (*_SENDING, *_KEEPING):
            raise ProtocolError(f"no message can be sent in state '{self.state.value}'")
        self._sent.append(plaintext)
        if self.state is not SessionState.OPEN:
            return None
        return self._guard(self._channel.seal, plaintext)

    # -- resuming ---------------------------------------------------------------------

    def resume_secret(self) -> bytes:
        """What this side presents to the relay to resume from the current epoch."""
        return resume_secret(self._keys(), self.role, self.epoch)

    def resume_verifier(self) -> bytes:
        """What this side gives the relay for the current epoch (the secret's hash)."""
        return verifier_for(self.resume_secret())

    def _keys(self) -> SessionKeys:
        if self.keys is None:
            raise ProtocolError("a session resumes only after the handshake")
        return self.keys

    def detach(self) -> None:
        """The link to the relay is down, or the peer is reconnecting: keep what is sent."""
        if self.state is SessionState.OPEN:
            self.state = SessionState.DETACHED
        elif self.state not in _KEEPING:
            raise ProtocolError(f"a session cannot be detached in state '{self.state.value}'")

    def switch_epoch(self, epoch: int) -> bytes:
        """The relay said `resumed`: use the channel of `epoch` from now on. Returns this
        side's resume state, to send as the first binary frame of the new epoch."""
        if self.state not in (*_SENDING, *_KEEPING):
            raise ProtocolError(f"a session cannot resume in state '{self.state.value}'")
        if epoch <= self.epoch:
            raise ProtocolError("the relay asked to resume into an epoch already used")
        self._channel = self._guard(epoch_channel, self._keys(), epoch)
        self.epoch = epoch
        self.state = SessionState.RESUMING
        state = ResumeState(received=self.received_total, sent=self._sent.total)
        return self._channel.seal(state.encode())

    def _peer_resumed(self, plaintext: bytes) -> list[Event]:
        assert self._channel is not None
        peer = ResumeState.decode(plaintext)
        if peer.sent < self.received_total:
            raise ProtocolError("after the resume the peer claims fewer messages than arrived")
        missing = self._sent.since(peer.received)
        self.state = SessionState.OPEN
        self._redelivered_until = peer.sent
        events: list[Event] = [Resumed(self.epoch, len(missing), peer.sent - self.received_total)]
        events.extend(Send(self._channel.seal(plaintext)) for plaintext in missing)
        return events

    def close(self) -> None:
        self.state = SessionState.CLOSED
        self._channel = None
