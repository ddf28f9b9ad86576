"""Behind a TCP load balancer that passes TLS through: the balancer's PROXY protocol header
gives each client's address, and the per-address limits count that address
(relay/proxy_protocol.py). The header parser is tested on its own (and fuzzed); the relay
behind a small balancer of the test's own that sends v1 or v2 headers."""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import struct
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from endpoint.relay_link import open_link
from protocol import control
from protocol.errors import SessionEnded
from relay.limits import RateLimit
from relay.proxy_protocol import V2_SIGNATURE, ProxyHeader, ProxyHeaderError, parse_header
from tests.relay.conftest import receive
from tests.support.relay import running_relay


def v2(source: str, *, command: int = 1, extra: bytes = b"") -> bytes:
    address = ipaddress.ip_address(source)
    if address.version == 4:
        body = address.packed + bytes([10, 0, 0, 1]) + struct.pack("!HH", 50000, 8765)
        family = 0x11
    else:
        body = address.packed + bytes(15) + b"\x01" + struct.pack("!HH", 50000, 8765)
        family = 0x21
    body += extra
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


def v1(source: str) -> bytes:
    family = "TCP4" if ipaddress.ip_address(source).version == 4 else "TCP6"
    destination = "10.0.0.1" if family == "TCP4" else "::1"
    return f"PROXY {family} {source} {destination} 50000 8765\r\n".encode()


TLS_HELLO = b"\x16\x03\x01\x02\x00"


@pytest.mark.parametrize("source", ["203.0.113.7", "2001:db8::7"])
@pytest.mark.parametrize("make", [v1, v2], ids=["v1", "v2"])
def test_a_header_gives_the_client_address_and_its_exact_length(make, source) -> None:  # noqa: ANN001
    header = make(source)
    assert parse_header(header + TLS_HELLO) == ProxyHeader(source, len(header))
    for cut in range(1, len(header)):
        assert parse_header(header[:cut]) is None  # a beginning: more is needed


def test_health_checks_of_the_balancer_carry_no_address() -> None:
    assert parse_header(b"PROXY UNKNOWN\r\n") == ProxyHeader(None, 15)
    local = v2("203.0.113.7", command=0)
    assert parse_header(local) == ProxyHeader(None, len(local))


def test_tlvs_after_the_addresses_are_skipped() -> None:
    header = v2("203.0.113.7", extra=b"\x04\x00\x03abc")
    assert parse_header(header + TLS_HELLO) == ProxyHeader("203.0.113.7", len(header))


@pytest.mark.parametrize(
    "data",
    [
        TLS_HELLO,  # a client straight to the relay, past the balancer
        b"GET / HTTP/1.1\r\n",
        b"PROXY TCP4 203.0.113.7 10.0.0.1 50000\r\n",
        b"PROXY TCP4 2001:db8::7 10.0.0.1 50000 8765\r\n",
        b"PROXY TCP4 203.0.113.999 10.0.0.1 50000 8765\r\n",
        b"PROXY TCP4 203.0.113.7 10.0.0.1 50000 98765\r\n",
        b"PROXY TCP4 203.0.113.7 10.0.0.1 50000 8765\n",
        b"PROXY " + b"x" * 120,
        V2_SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12),  # version 3
        V2_SIGNATURE + b"\x21\x11\x00\x04" + bytes(4),  # IPv4 addresses cut short
        V2_SIGNATURE + b"\x21\x11\xff\xff",  # longer than the relay takes
    ],
)
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        parse_header(data)


@settings(max_examples=500)
@given(st.binary(max_size=80), st.sampled_from([b"", b"PROXY ", V2_SIGNATURE]))
def test_arbitrary_bytes_only_ever_give_a_header_none_or_the_error(data: bytes, prefix: bytes):
    with contextlib.suppress(ProxyHeaderError):
        found = parse_header(prefix + data)
        assert found is None or 0 < found.length <= len(prefix + data)


# the relay behind a balancer


class Balancer:
    """A TCP load balancer of one relay: each connection gets a PROXY header with the
    address the test chose for it, then the client's bytes (TLS) pass through."""

    def __init__(self, target_port: int, make_header) -> None:  # noqa: ANN001
        self._target_port = target_port
        self._make_header = make_header
        self.next_source = "203.0.113.7"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        up_writer.write(self._make_header(self.next_source))

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        pumps = [asyncio.create_task(pump(reader, up_writer)),
                 asyncio.create_task(pump(up_reader, writer))]  # fmt: skip
        self._tasks.update(pumps)
        await asyncio.gather(*pumps, return_exceptions=True)
        self._tasks.difference_update(pumps)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Balancer]:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.mark.parametrize("make", [v1, v2], ids=["v1", "v2"])
async def test_per_address_limits_count_the_address_the_balancer_passes(tmp_path, make) -> None:  # noqa: ANN001
    log = io.StringIO()
    async with (
        running_relay(tmp_path / "data", proxy_protocol=True, log_to=log,
                      register_per_ip=RateLimit(per_minute=1.0, burst=1)) as relay,
        Balancer(relay.port, make).running() as balancer,
    ):  # fmt: skip
        url = f"wss://127.0.0.1:{balancer.port}"

        async def register(source: str) -> control.Control:
            balancer.next_source = source
            link = await open_link(url, "/v1/host", fingerprint_pin=relay.fingerprint)
            try:
                await link.send_control(control.Register(version=1))
                return await receive(link)
            finally:
                await link.close()

        assert isinstance(await register("203.0.113.7"), control.Registered)
        with pytest.raises(SessionEnded, match="too many new sessions"):
            await register("203.0.113.7")  # the same customer again: limited
        assert isinstance(await register("2001:db8::8"), control.Registered)  # another one
    assert "ip=203.0.113.7" in log.getvalue() and "ip=2001:db8::8" in log.getvalue()
    assert "ip=127.0.0.1" not in log.getvalue()  # never the balancer's own address


async def test_a_connection_without_the_header_is_closed(tmp_path) -> None:  # noqa: ANN001
    async with running_relay(tmp_path / "data", proxy_protocol=True) as relay:
        with pytest.raises(Exception):  # noqa: B017,PT011 - the TLS handshake never starts
            await open_link(relay.url, "/v1/host", fingerprint_pin=relay.fingerprint)
        assert relay.relay.connection_count() == 0
