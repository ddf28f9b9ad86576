"""The one place every end-to-end message of a side passes (docs/session-contract.md,
point 9), the same for the host agent and the viewer.

Sent messages are recorded first (what cannot be recorded is not sent), then shown to
the side's observer, sealed and put on the link, all under one lock, so sealing order
is recording order is sending order. Received messages are recorded before the side
acts on them. A checkpoint is recorded, its message sealed next, its report given to
the relay and the file made durable.

A message sealed while the link is down (`PeerSession.seal_plaintext` returns None) is
kept by the session and sent again after a resume; a link that drops while a frame is
put on it is reported through `dropped` (the frame was counted: a resume sends it again).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from endpoint.evidence import SessionEvidence
from endpoint.relay_link import RelayLink
from protocol import messages
from protocol.errors import ConnectionLost, FernwartungError
from protocol.padding import pad
from protocol.session import PeerSession, Received, SessionState

# (message, plaintext): the side's own observer of every message (a test's tap, a recorder).
Observer = Callable[[messages.Message, bytes], None]
LinkDropped = Callable[[RelayLink, FernwartungError], None]


def _ignore(message: messages.Message, plaintext: bytes) -> None:
    pass


def _drop_quietly(link: RelayLink, error: FernwartungError) -> None:
    pass  # the reader of the link notices the drop too


class SessionWire:
    """Record, observe, seal and send; `session` and `link` are set by the side."""

    def __init__(
        self,
        evidence: SessionEvidence | None,
        *,
        sent: Observer = _ignore,
        received: Observer = _ignore,
        dropped: LinkDropped = _drop_quietly,
        send_timeout_seconds: float,
    ) -> None:
        self.evidence = evidence
        self.session: PeerSession | None = None
        self.link: RelayLink | None = None
        self.lock = asyncio.Lock()
        self._sent = sent
        self._received = received
        self._dropped = dropped
        self._timeout = send_timeout_seconds
        self._closing = False
        # The peer's Hello announced that it reads padded messages (protocol/padding.py).
        self.pad_for_peer = False

    def close_after_bye(self) -> None:
        """The side is ending: from now on only its Bye still goes out."""
        self._closing = True

    async def send(self, message: messages.Message) -> None:
        """Seal and send one message (nothing while no session is established)."""
        if self.session is None:
            return
        async with self.lock:
            session = self.session
            if session is None:
                return
            if self._closing and not isinstance(message, messages.Bye):
                return  # after the final checkpoint only the Bye goes out
            plaintext = messages.encode(message)
            if self.pad_for_peer:
                plaintext = pad(message, plaintext)
            evidence = self.evidence
            if evidence is not None and evidence.started:
                evidence.sent(plaintext)  # first: raises RecordingFailed once writing failed
            self._sent(message, plaintext)
            await self._put_on_wire(session.seal_plaintext(plaintext))

    async def send_raw(self, data: bytes) -> None:
        """A handshake frame (not a session message: neither recorded nor sealed here)."""
        assert self.link is not None
        async with asyncio.timeout(self._timeout):
            await self.link.send_binary(data)

    def note_received(self, event: Received) -> int:
        """Every received message passes here before it is acted on; its index in the
        peer's direction (-1: not recorded). A received Checkpoint that disagrees with the
        recording raises ProtocolError."""
        self._received(event.message, event.plaintext)
        evidence = self.evidence
        if evidence is not None and evidence.started:
            return evidence.received(event.plaintext)  # raises once writing failed
        return -1

    async def checkpoint(self, *, final: bool = False) -> None:
        """Record a checkpoint, send its message next, report it to the relay, fsync.

        Skipped while the session is not open (the link is down or resuming: the relay
        could not take the report; the next checkpoint comes after the resume), and for a
        second final one."""
        evidence, session, link = self.evidence, self.session, self.link
        if evidence is None or not evidence.recording or session is None or link is None:
            return
        if final and evidence.final_checkpoint_sent:
            return
        if session.state is not SessionState.OPEN:
            return
        async with self.lock:
            written = evidence.checkpoint(final=final)
            self._sent(written.message, written.plaintext)
            data = session.seal_plaintext(written.plaintext)
            if data is None:
                return
            await self._put_on_wire(data)
        with contextlib.suppress(ConnectionLost):  # the reader notices the drop
            async with asyncio.timeout(self._timeout):
                await link.send_control(evidence.report(written))
        await evidence.sync()

    async def _put_on_wire(self, data: bytes | None) -> None:
        link = self.link
        if data is None or link is None:
            return  # kept by the session, sent after a resume
        try:
            async with asyncio.timeout(self._timeout):
                await link.send_binary(data)
        except ConnectionLost as error:
            self._dropped(link, error)
