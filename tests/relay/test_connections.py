"""The relay's own connection layer: TLS ends with close_notify and copes with EOF, stalled
handshakes are dropped, large transfers survive TLS key updates byte for byte, and the
relay-wide keepalive pings idle clients and drops silent ones."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.uri import parse_uri

from protocol import control
from tests.relay.conftest import (
    WAIT_SECONDS,
    Streamer,
    insecure_context,
    pair,
    raw_connect,
    receive,
    wait_for,
)
from tests.support.relay import RelayInfo, add_technician, running_relay

PING_INTERVAL_SECONDS = 0.2
PING_TIMEOUT_SECONDS = 0.4
SSL_KEY_UPDATE_REQUESTED = 1


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayInfo]:
    async with running_relay(
        tmp_path / "data",
        open_timeout_seconds=0.5,
        ping_interval_seconds=PING_INTERVAL_SECONDS,
        ping_timeout_seconds=PING_TIMEOUT_SECONDS,
    ) as info:
        yield info


def read_until_closed(port: int) -> bytes:
    """A blocking TLS client asking for /healthz; raises SSLEOFError if the relay closes
    TCP without close_notify (ragged EOFs are not suppressed here)."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_SECONDS) as raw:
        tls = insecure_context().wrap_socket(raw, suppress_ragged_eofs=False)
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
        received = b""
        while chunk := tls.recv(4096):
            received += chunk
        return received


async def test_the_relay_ends_tls_with_close_notify(relay: RelayInfo) -> None:
    received = await asyncio.to_thread(read_until_closed, relay.port)
    assert received.startswith(b"HTTP/1.1 200") and received.endswith(b"ok\n")


async def test_a_client_ending_tls_without_a_close_frame_ends_its_side(
    relay: RelayInfo, token: str, bystander: Streamer
) -> None:
    session = await pair(relay, token)
    await session.host.send_control(control.Consent(level=control.ReportedConsent.VIEW))
    # close_notify then TCP close, without a WebSocket close frame first.
    session.viewer._websocket.transport.close()
    left = await receive(session.host)
    assert isinstance(left, control.PeerLeft) and "technician disconnected" in left.reason
    await bystander.progressed()
    await session.host.close()


@pytest.mark.parametrize("sent", [b"", b"\x16\x03\x01\x02\x00"], ids=["silent", "half_hello"])
async def test_a_handshake_that_never_completes_is_dropped(
    relay: RelayInfo, bystander: Streamer, sent: bytes
) -> None:
    before = relay.relay.connection_count()
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    writer.write(sent)
    await wait_for(lambda: relay.relay.connection_count() == before + 1, "connection accepted")
    async with asyncio.timeout(WAIT_SECONDS):
        with contextlib.suppress(ConnectionError):
            assert await reader.read() == b""
    await wait_for(lambda: relay.relay.connection_count() == before, "stalled handshake dropped")
    await bystander.progressed()
    writer.close()


async def test_handshakes_beyond_the_cap_wait_unread_until_one_finishes(tmp_path: Path) -> None:
    async with running_relay(tmp_path, max_tls_handshakes=2, open_timeout_seconds=60) as relay:
        silent = [await asyncio.open_connection("127.0.0.1", relay.port) for _ in range(2)]
        await wait_for(lambda: relay.relay.connection_count() == 2, "two handshakes waiting")
        token = add_technician(relay.data_dir, "Alice")
        pairing = asyncio.create_task(pair(relay, token))
        await wait_for(lambda: relay.relay.waiting_count() == 1, "the host waits in line")
        # Its TLS handshake has not begun: it is not a connection of the relay yet.
        assert relay.relay.connection_count() == 2 and not pairing.done()
        silent[0][1].close()  # a handshake slot frees: the host, then the viewer, go on
        async with asyncio.timeout(WAIT_SECONDS):
            session = await pairing
        await session.host.send_binary(b"after")
        assert await receive(session.viewer) == b"after"
        assert relay.relay.gauges()["waiting"]["closed"] == 0
        await session.close()
        silent[1][1].close()


async def test_one_address_cannot_hold_every_handshake_slot(tmp_path: Path) -> None:
    async with running_relay(
        tmp_path, max_tls_handshakes_per_ip=2, open_timeout_seconds=60
    ) as relay:
        silent = [await asyncio.open_connection("127.0.0.1", relay.port) for _ in range(2)]
        await wait_for(lambda: relay.relay.connection_count() == 2, "two handshakes waiting")
        third = await asyncio.open_connection("127.0.0.1", relay.port)
        await wait_for(lambda: relay.relay.waiting_count() == 1, "a third from that address waits")
        # Another address (all of 127/8 is loopback) gets in at once meanwhile.
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", relay.port, ssl=insecure_context(), server_hostname="relay",
            local_addr=("127.0.0.2", 0),
        )  # fmt: skip
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
        async with asyncio.timeout(WAIT_SECONDS):
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        writer.close()
        assert relay.relay.waiting_count() == 1
        silent[0][1].close()  # the third gets the slot: its handshake begins
        await wait_for(lambda: relay.relay.waiting_count() == 0, "the third's turn")
        for _, silent_writer in [silent[1], third]:
            silent_writer.close()
        await wait_for(lambda: relay.relay.connection_count() == 0, "silent ones gone")
        token = add_technician(relay.data_dir, "Alice")
        session = await pair(relay, token)  # and the first address again, once they are gone
        await session.close()


async def test_a_waiting_connection_is_closed_at_its_deadline_and_a_full_line_at_once(
    tmp_path: Path,
) -> None:
    async with running_relay(
        tmp_path,
        max_tls_handshakes_per_ip=1,
        max_waiting_per_ip=1,
        open_timeout_seconds=60,
        waiting_timeout_seconds=0.3,
    ) as relay:
        silent = await asyncio.open_connection("127.0.0.1", relay.port)
        await wait_for(lambda: relay.relay.connection_count() == 1, "one handshake waiting")
        waiting = await asyncio.open_connection("127.0.0.1", relay.port)
        await wait_for(lambda: relay.relay.waiting_count() == 1, "the second waits")
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        async with asyncio.timeout(WAIT_SECONDS):
            with contextlib.suppress(ConnectionError):
                assert await reader.read() == b""  # the line of that address is full
        async with asyncio.timeout(WAIT_SECONDS):
            with contextlib.suppress(ConnectionError):
                assert await waiting[0].read() == b""  # closed when its wait was over
        counters = relay.relay.gauges()["waiting"]
        assert (counters["waited"], counters["expired"], counters["closed"]) == (1, 1, 1)
        for end in (silent[1], waiting[1], writer):
            end.close()


UPGRADE = (
    b"GET /v1/host HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def test_tls_renegotiation_is_refused(relay: RelayInfo, bystander: Streamer) -> None:
    """A TLS 1.2 client asking to renegotiate (each costs the relay a new handshake) is
    refused; openssl s_client asks, as a hostile client would, since Python's ssl cannot."""
    client = await asyncio.create_subprocess_exec(
        "openssl", "s_client", "-tls1_2", "-connect", f"127.0.0.1:{relay.port}",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert client.stdin is not None and client.stdout is not None
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            client.stdin.write(UPGRADE)
            while b"101 Switching Protocols" not in await client.stdout.readline():
                pass
            client.stdin.write(b"R\n")  # s_client's command: renegotiate
            rest = await client.stdout.read()
        assert b"RENEGOTIATING" in rest and b"no renegotiation" in rest
    finally:
        if client.returncode is None:
            client.kill()
        await client.wait()
    await bystander.progressed()


def request_key_update(link: object) -> None:
    """Make the client's TLS send a KeyUpdate that asks the relay to update its key too."""
    ssl_object = link._websocket.transport.get_extra_info("ssl_object")  # type: ignore[attr-defined]
    assert ssl_object.version() == "TLSv1.3"
    # CPython's _ssl._SSLSocket: PyObject_HEAD, a weakref to the socket, then SSL *ssl.
    address = ctypes.c_void_p.from_address(id(ssl_object._sslobj) + 2 * 8 + 8).value
    libssl = ctypes.CDLL("libssl.so.3")
    libssl.SSL_key_update.argtypes = [ctypes.c_void_p, ctypes.c_int]
    assert libssl.SSL_key_update(address, SSL_KEY_UPDATE_REQUESTED) == 1


async def test_large_transfers_both_ways_survive_key_updates_byte_exact(
    relay: RelayInfo, token: str, bystander: Streamer
) -> None:
    session = await pair(relay, token)
    await session.host.send_control(control.Consent(level=control.ReportedConsent.VIEW))
    messages = [os.urandom(1024 * 1024 + n) for n in range(12)]

    async def send(link: object, key_updates: bool) -> None:
        for message in messages:
            if key_updates:
                request_key_update(link)
            await link.send_binary(message)  # type: ignore[attr-defined]

    async def digest(link: object) -> list[bytes]:
        return [
            hashlib.sha256(await receive(link)).digest()  # type: ignore[arg-type]
            for _ in messages
        ]

    expected = [hashlib.sha256(message).digest() for message in messages]
    async with asyncio.TaskGroup() as group:
        group.create_task(send(session.host, key_updates=True))
        group.create_task(send(session.viewer, key_updates=True))
        at_viewer = group.create_task(digest(session.viewer))
        at_host = group.create_task(digest(session.host))
    assert at_viewer.result() == expected and at_host.result() == expected
    await bystander.progressed()
    await session.close()


class SilentHost:
    """A host speaking WebSocket through websockets' Sans-I/O client, so the test decides
    whether pings get their pong."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = ClientProtocol(parse_uri("wss://127.0.0.1/v1/host"))
        self.answer_pings = True

    @classmethod
    async def connect(cls, relay: RelayInfo) -> SilentHost:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", relay.port, ssl=insecure_context()
        )
        host = cls(reader, writer)
        host.protocol.send_request(host.protocol.connect())
        host.flush()
        await host.next_frame()  # the handshake response (no frame yet)
        host.protocol.send_text(control.encode(control.Register(version=1)).encode())
        host.flush()
        return host

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.writer.write(data)

    async def next_frame(self) -> object:
        """The next event from the relay; pongs are sent only while `answer_pings`."""
        while True:
            events = self.protocol.events_received()
            if events:
                if self.answer_pings:
                    self.flush()
                else:
                    self.protocol.data_to_send()  # the pong is dropped
                return events[0]
            async with asyncio.timeout(WAIT_SECONDS):
                data = await self.reader.read(65536)
            if not data:
                self.protocol.receive_eof()
                return None
            self.protocol.receive_data(data)


async def test_keepalive_pings_reach_idle_clients_and_a_silent_one_is_dropped(
    relay: RelayInfo, bystander: Streamer
) -> None:
    host = await SilentHost.connect(relay)
    pings = 0
    while pings < 3:  # answered: the connection stays
        frame = await host.next_frame()
        assert frame is not None and frame.opcode in (Opcode.TEXT, Opcode.PING)
        pings += frame.opcode is Opcode.PING
    host.answer_pings = False
    while (frame := await host.next_frame()) is not None and frame.opcode is Opcode.PING:
        pass
    assert frame is not None and frame.opcode is Opcode.CLOSE
    assert host.protocol.close_rcvd is not None and host.protocol.close_rcvd.code == 1011
    await bystander.progressed()  # its clients answer pings
    host.writer.close()
    await wait_for(
        lambda: any(row["end_reason"] == "host_left" for row in relay.relay.ledger.session_rows()),
        "the silent host's session ended",
    )


async def test_per_message_compression_is_never_agreed(relay: RelayInfo, token: str) -> None:
    """The payload is ciphertext: compression would gain nothing and open the door to
    compression bombs, so an offer of permessage-deflate is declined."""
    viewer = await raw_connect(relay, "/v1/viewer", token, compression="deflate")
    assert viewer.request is not None and viewer.response is not None
    assert "permessage-deflate" in viewer.request.headers.get("Sec-WebSocket-Extensions", "")
    assert viewer.response.headers.get("Sec-WebSocket-Extensions") is None
    await viewer.close()
