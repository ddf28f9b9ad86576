"""The relay's TLS connections share one read buffer per thread instead of 256 KiB each."""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path

import pytest

from relay import tls

CONNECTIONS = 20
BYTES_EACH = 300_000  # larger than the buffer, so every connection needs many reads


class Echo(asyncio.Protocol):
    def __init__(self, transports: list[asyncio.Transport]) -> None:
        self._transports = transports

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._transports.append(transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


@pytest.fixture
def shared_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    """share_tls_read_buffers() for this test only (it changes asyncio for the process)."""
    for name in ("_ssl_buffer", "_ssl_buffer_view"):
        monkeypatch.setattr(asyncio.sslproto.SSLProtocol, name, None, raising=False)
    tls.share_tls_read_buffers()


async def test_interleaved_tls_connections_through_one_shared_buffer_stay_byte_exact(
    tmp_path: Path, shared_buffers: None
) -> None:
    cert, key = tls.ensure_self_signed(tmp_path)
    transports: list[asyncio.Transport] = []
    server = await asyncio.get_running_loop().create_server(
        lambda: Echo(transports), "127.0.0.1", 0, ssl=tls.server_context(cert, key)
    )
    port = server.sockets[0].getsockname()[1]
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.load_verify_locations(cert)

    async def round_trip() -> bool:
        payload = os.urandom(BYTES_EACH)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context, server_hostname="localhost"
        )

        async def send() -> None:
            for start in range(0, BYTES_EACH, 7_001):  # odd chunks interleave with the others
                writer.write(payload[start : start + 7_001])
                await writer.drain()

        sending = asyncio.create_task(send())
        echoed = await asyncio.wait_for(reader.readexactly(BYTES_EACH), timeout=30)
        await sending
        writer.close()
        await writer.wait_closed()
        return echoed == payload

    try:
        results = await asyncio.gather(*(round_trip() for _ in range(CONNECTIONS)))
        assert all(results)
        buffers = {id(transport._ssl_protocol._ssl_buffer) for transport in transports}
    finally:
        server.close()
        await server.wait_closed()
    # Every server-side TLS connection (and client: same process, same loop) read through
    # the one buffer of this thread.
    assert len(transports) == CONNECTIONS
    assert len(buffers) == 1
