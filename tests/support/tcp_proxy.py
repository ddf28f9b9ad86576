"""A small TCP proxy on 127.0.0.1 for tests that cut live connections.

It forwards bytes (TLS included, it never looks inside) between its clients and a target
port. `cut()` aborts every connection it carries, as a dropped Wi-Fi would; `refuse()`
makes it close new connections at once (the network stays down) until `accept()`;
`refuse_next(n)` refuses only the next n.

    async with tcp_proxy(relay.port) as proxy:
        url = proxy.url("wss")        # give this to the side whose link is to be cut
        ...
        await proxy.cut()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

CHUNK_BYTES = 64 * 1024
HOST = "127.0.0.1"


class TcpProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()
        self._refusing = False
        self._refuse_next = 0
        self.connections = 0  # accepted and forwarded so far
        self.refused = 0  # closed at once while refusing

    def url(self, scheme: str) -> str:
        return f"{scheme}://{HOST}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Abort every connection now (both directions, no goodbye)."""
        self.cuts += 1
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def refuse(self) -> None:
        self._refusing = True

    def accept(self) -> None:
        self._refusing = False

    def refuse_next(self, count: int) -> None:
        self._refuse_next = count

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.cut()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing or self._refuse_next:
            self._refuse_next = max(0, self._refuse_next - 1)
            self.refused += 1
            writer.transport.abort()
            return
        try:
            target_reader, target_writer = await asyncio.open_connection(HOST, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((writer, target_writer))
        pumps = [
            asyncio.create_task(self._pump(reader, target_writer)),
            asyncio.create_task(self._pump(target_reader, writer)),
        ]
        self._pumps.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._pumps.difference_update(pumps)
            for end in (writer, target_writer):
                self._writers.discard(end)
                end.transport.abort()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(CHUNK_BYTES):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


@contextlib.asynccontextmanager
async def tcp_proxy(target_port: int) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(target_port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
