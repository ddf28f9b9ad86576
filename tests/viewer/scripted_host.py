"""A small host driven by tests: the real relay link and the real PeerSession, no capture.

It speaks the session contract from the host's side so the viewer can be tested before
(and apart from) the real host agent:

    host = await ScriptedHost.register(relay)          # -> host.code
    await host.accept(messages.ConsentLevel.CONTROL)   # join, handshake, hello, consent
    seq = await host.send_frame([tile, ...], (64, 48))
    assert await host.next_message() == messages.Ack(seq)
"""

from __future__ import annotations

import asyncio
import time

from endpoint.relay_link import RelayLink, open_link
from protocol import SUPPORTED_VERSIONS, control, messages
from protocol.codes import Code, new_code
from protocol.handshake import Role
from protocol.session import Established, PeerSession, Received, Send
from tests.support.relay import RelayInfo

WAIT_SECONDS = 10.0


class ScriptedHost:
    def __init__(self, link: RelayLink, code: Code) -> None:
        self.link = link
        self.code = code
        self.session: PeerSession | None = None
        self.seq = 0
        self.technician = ""

    @classmethod
    async def register(cls, relay: RelayInfo) -> ScriptedHost:
        link = await open_link(relay.url, "/v1/host", fingerprint_pin=relay.fingerprint)
        await link.send_control(control.Register(version=1))
        async with asyncio.timeout(WAIT_SECONDS):
            registered = await link.receive()
        assert isinstance(registered, control.Registered)
        return cls(link, new_code(registered.session))

    async def handshake(self) -> None:
        """Wait for the viewer, run the PAKE; raises WrongCode like the real host."""
        async with asyncio.timeout(WAIT_SECONDS):
            joined = await self.link.receive()
            assert isinstance(joined, control.PeerJoined)
            self.technician = joined.technician
            session = PeerSession(Role.HOST, self.code)
            await self.link.send_binary(session.start())
            while session.keys is None:
                frame = await self.link.receive()
                assert isinstance(frame, bytes)
                for event in session.receive(frame):
                    if isinstance(event, Send):
                        await self.link.send_binary(event.data)
                    elif isinstance(event, Established):
                        self.session = session
        await self.send(messages.Hello(SUPPORTED_VERSIONS, ("tiles",), 64, 48))
        hello = await self.next_message()
        assert isinstance(hello, messages.Hello)

    async def accept(self, level: messages.ConsentLevel) -> None:
        await self.handshake()
        await self.set_consent(level)

    async def set_consent(self, level: messages.ConsentLevel) -> None:
        await self.send(messages.ConsentState(level))
        await self.link.send_control(control.Consent(level=control.ReportedConsent(level.value)))

    async def send(self, message: messages.Message) -> None:
        assert self.session is not None
        await self.link.send_binary(self.session.seal(message))

    async def send_frame(self, tiles: list[messages.Tile], size: tuple[int, int]) -> int:
        self.seq += 1
        await self.send(messages.FrameUpdate(self.seq, time.time(), size[0], size[1], tuple(tiles)))
        return self.seq

    async def next_message(self) -> messages.Message:
        """The next end-to-end message from the viewer (relay control is skipped)."""
        assert self.session is not None
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                frame = await self.link.receive()
                if isinstance(frame, bytes):
                    (event,) = self.session.receive(frame)
                    assert isinstance(event, Received)
                    return event.message

    async def close(self, reason: str = "the customer ended the session") -> None:
        if self.session is not None:
            await self.send(messages.Bye(reason))
        await self.link.close(reason)
