"""A small headless viewer for the host agent's tests, speaking the real protocol.

It connects with `endpoint.relay_link.open_link` and runs a real `PeerSession`; it applies frame
updates to an RGB framebuffer, acks them (unless told not to) and sends input.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import numpy as np

from endpoint.relay_link import RelayLink, open_link
from host_agent.encode import decode_tile
from protocol import PROTOCOL_VERSION, SUPPORTED_VERSIONS, control, messages
from protocol.codes import parse_code
from protocol.errors import FernwartungError
from protocol.handshake import Role
from protocol.session import Established, PeerSession, Received, Send

WAIT_SECONDS = 15.0


@dataclass
class TestViewer:
    __test__ = False  # a helper, not a test class

    link: RelayLink
    session: PeerSession
    acking: bool = True
    frames: asyncio.Queue[messages.FrameUpdate] = field(default_factory=asyncio.Queue)
    others: asyncio.Queue[messages.Message] = field(default_factory=asyncio.Queue)
    established: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    framebuffer: np.ndarray | None = None
    frames_received: int = 0
    bytes_received: int = 0
    error: BaseException | None = None
    _task: asyncio.Task[None] | None = None

    @classmethod
    async def join(
        cls, url: str, fingerprint: str | None, token: str, code_text: str
    ) -> TestViewer:
        code = parse_code(code_text)
        link = await open_link(url, "/v1/viewer", fingerprint_pin=fingerprint, token=token)
        await link.send_control(control.Join(session=code.session, version=PROTOCOL_VERSION))
        async with asyncio.timeout(WAIT_SECONDS):
            reply = await link.receive()
        assert isinstance(reply, control.Joined), reply
        viewer = cls(link, PeerSession(Role.VIEWER, code))
        await link.send_binary(viewer.session.start())
        viewer._task = asyncio.create_task(viewer._read())
        return viewer

    async def _read(self) -> None:
        try:
            while True:
                frame = await self.link.receive()
                if not isinstance(frame, bytes):
                    await self.others.put(frame)  # type: ignore[arg-type]
                    continue
                self.bytes_received += len(frame)
                for event in self.session.receive(frame):
                    if isinstance(event, Send):
                        await self.link.send_binary(event.data)
                    elif isinstance(event, Established):
                        self.established.set()
                        await self.send(messages.Hello(SUPPORTED_VERSIONS, (), 0, 0))
                    elif isinstance(event, Received):
                        await self._message(event.message)
        except FernwartungError as error:
            self.error = error
        finally:
            self.closed.set()

    async def _message(self, message: messages.Message) -> None:
        if isinstance(message, messages.FrameUpdate):
            self._apply(message)
            self.frames_received += 1
            await self.frames.put(message)
            if self.acking:
                await self.send(messages.Ack(message.seq))
        else:
            await self.others.put(message)

    def _apply(self, update: messages.FrameUpdate) -> None:
        shape = (update.screen_height, update.screen_width, 3)
        if self.framebuffer is None or self.framebuffer.shape != shape:
            self.framebuffer = np.zeros(shape, dtype=np.uint8)
        for tile in update.tiles:
            self.framebuffer[tile.y : tile.y + tile.height, tile.x : tile.x + tile.width] = (
                decode_tile(tile)
            )

    async def send(self, message: messages.Message) -> None:
        await self.link.send_binary(self.session.seal(message))

    async def next_frame(self, timeout: float = WAIT_SECONDS) -> messages.FrameUpdate:
        async with asyncio.timeout(timeout):
            return await self.frames.get()

    async def next_of(self, kind: type, timeout: float = WAIT_SECONDS):  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout):
            while True:
                message = await self.others.get()
                if isinstance(message, kind):
                    return message

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(FernwartungError, TimeoutError):
            async with asyncio.timeout(2):
                await self.link.close()
