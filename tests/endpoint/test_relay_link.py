"""Opening the link to the relay (issue 20, point 17): a refused connection is tried
again with back-off for a bounded time; a refused token or a certificate that does not
match is final at the first try. Real relay, real TLS, a TCP proxy in front that refuses
connections on demand and counts them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from endpoint.relay_link import open_link
from protocol import control
from protocol.errors import CertificateMismatch, NotAuthorised, RelayUnreachable
from tests.support.relay import RelayInfo, add_technician, running_relay
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

WAIT_SECONDS = 10.0


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayInfo]:
    async with running_relay(tmp_path) as info:
        yield info


@pytest.fixture
async def proxy(relay: RelayInfo) -> AsyncIterator[TcpProxy]:
    async with tcp_proxy(relay.port) as front:
        yield front


async def test_a_refused_connection_is_tried_again(relay: RelayInfo, proxy: TcpProxy) -> None:
    proxy.refuse_next(3)
    async with asyncio.timeout(WAIT_SECONDS):
        link = await open_link(proxy.url("wss"), "/v1/host", fingerprint_pin=relay.fingerprint)
    await link.send_control(control.Register(version=1))
    async with asyncio.timeout(WAIT_SECONDS):
        assert isinstance(await link.receive(), control.Registered)
    assert (proxy.refused, proxy.connections) == (3, 1)
    await link.close()


async def test_tries_end_after_the_retry_time(relay: RelayInfo, proxy: TcpProxy) -> None:
    proxy.refuse()
    with pytest.raises(RelayUnreachable, match="cannot reach the relay"):
        await open_link(
            proxy.url("wss"), "/v1/host", fingerprint_pin=relay.fingerprint, retry_for_seconds=0.5
        )
    assert proxy.refused >= 2 and proxy.connections == 0


async def test_a_busy_relay_is_tried_again(tmp_path: Path) -> None:
    async with running_relay(tmp_path, max_connections=0) as relay:  # every upgrade: 503
        with pytest.raises(RelayUnreachable, match="HTTP 503"):
            await open_link(
                relay.url, "/v1/host", fingerprint_pin=relay.fingerprint, retry_for_seconds=0.5
            )
        assert relay.relay.metrics.connections_refused_http["503"] >= 2


async def test_a_refused_token_and_a_wrong_certificate_are_not_tried_again(
    relay: RelayInfo, proxy: TcpProxy
) -> None:
    with pytest.raises(NotAuthorised):
        await open_link(
            proxy.url("wss"), "/v1/viewer", fingerprint_pin=relay.fingerprint, token="wrong"
        )
    assert proxy.connections == 1
    with pytest.raises(CertificateMismatch):
        await open_link(proxy.url("wss"), "/v1/host", fingerprint_pin="ab" * 32)
    assert proxy.connections == 2
    with pytest.raises(CertificateMismatch, match="not trusted"):
        await open_link(proxy.url("wss"), "/v1/host")  # self-signed, not pinned
    assert proxy.connections == 3
    token = add_technician(relay.data_dir, "Alice")
    link = await open_link(
        proxy.url("wss"), "/v1/viewer", fingerprint_pin=relay.fingerprint, token=token
    )
    await link.close()
    assert (proxy.connections, proxy.refused) == (4, 0)
