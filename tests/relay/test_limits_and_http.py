"""Rate limits, capacity, health, metrics and shutdown of the in-process relay."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import pytest

from endpoint.relay_link import RelayLink, open_link
from protocol import control
from protocol.errors import NotAuthorised, RelayUnreachable, SessionEnded
from relay.ledger import Ledger
from relay.limits import RateLimit
from tests.relay.conftest import (
    WAIT_SECONDS,
    insecure_context,
    pair,
    receive,
    register,
    viewer_link,
)
from tests.support.relay import RelayInfo, add_technician, running_relay


async def http_get(relay: RelayInfo, path: str) -> tuple[int, dict[str, str], str]:
    async with asyncio.timeout(WAIT_SECONDS):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", relay.port, ssl=insecure_context() if relay.fingerprint else None
        )
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            name.lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        body = (await reader.readexactly(int(headers["content-length"]))).decode()
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()
    return status, headers, body


async def test_healthz_and_metrics(relay: RelayInfo, token: str) -> None:
    status, _, body = await http_get(relay, "/healthz")
    assert (status, body) == (200, "ok\n")
    session = await pair(relay, token)
    await session.host.send_binary(b"x" * 1234)
    assert await receive(session.viewer) == b"x" * 1234
    refused = await viewer_link(relay, token)
    await refused.send_control(control.Join(session="111111", version=1))
    with pytest.raises(Exception, match="no session"):
        await receive(refused)
    status, headers, body = await http_get(relay, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'fernwartung_relay_sessions{state="paired"} 1' in body
    assert 'fernwartung_relay_bytes_forwarded_total{direction="host_to_viewer"} 1234' in body
    assert 'fernwartung_relay_joins_refused_total{reason="unknown_session"} 1' in body
    assert "# TYPE fernwartung_relay_bytes_forwarded_total counter" in body
    assert (await http_get(relay, "/nothing"))[0] == 404
    await session.close()


async def test_register_is_rate_limited_per_address(tmp_path: Path) -> None:
    async with running_relay(tmp_path, register_per_ip=RateLimit(per_minute=1, burst=2)) as relay:
        hosts = [(await register(relay))[0] for _ in range(2)]
        host = await relay_host(relay)
        await host.send_control(control.Register(version=1))
        with pytest.raises(SessionEnded, match="too many"):
            await receive(host)
        assert relay.relay.metrics.registers_refused["rate_limited"] == 1
        for link in hosts:
            await link.close()


async def relay_host(relay: RelayInfo) -> RelayLink:
    return await open_link(relay.url, "/v1/host", fingerprint_pin=relay.fingerprint)


async def test_join_is_rate_limited_per_token(tmp_path: Path) -> None:
    async with running_relay(tmp_path, join_per_token=RateLimit(per_minute=1, burst=3)) as relay:
        token = add_technician(tmp_path, "Alice")
        for _ in range(3):
            viewer = await viewer_link(relay, token)
            await viewer.send_control(control.Join(session="111111", version=1))
            with pytest.raises(Exception, match="no session"):
                await receive(viewer)
        viewer = await viewer_link(relay, token)
        await viewer.send_control(control.Join(session="111111", version=1))
        with pytest.raises(SessionEnded, match="too many joins"):
            await receive(viewer)
        # Another technician from the same address is not affected.
        other = await viewer_link(relay, add_technician(tmp_path, "Bob"))
        await other.send_control(control.Join(session="111111", version=1))
        with pytest.raises(Exception, match="no session"):
            await receive(other)


async def test_repeated_bad_tokens_are_blocked_before_checking(tmp_path: Path) -> None:
    async with running_relay(
        tmp_path, auth_failures_per_ip=RateLimit(per_minute=1, burst=2)
    ) as relay:
        token = add_technician(tmp_path, "Alice")
        for _ in range(3):
            with pytest.raises(NotAuthorised):
                await viewer_link(relay, "wrong")
        # Now even a good token waits for the back-off to pass.
        with pytest.raises(RelayUnreachable, match="429"):
            await viewer_link(relay, token)


async def test_a_full_relay_refuses_new_sessions(tmp_path: Path) -> None:
    async with running_relay(tmp_path, max_sessions=1) as relay:
        first, _ = await register(relay)
        host = await relay_host(relay)
        await host.send_control(control.Register(version=1))
        with pytest.raises(SessionEnded, match="full"):
            await receive(host)
        await first.close()


async def test_stopping_tells_peers_and_closes_ledger_rows(tmp_path: Path) -> None:
    async with running_relay(tmp_path) as relay:
        token = add_technician(tmp_path, "Alice")
        session = await pair(relay, token)
        waiting, _ = await register(relay)
        await relay.relay.stop()
        for link in (session.host, session.viewer, waiting):
            with pytest.raises(SessionEnded, match="shutting down"):
                await receive(link)
    ledger = Ledger(tmp_path)
    try:
        rows = ledger.session_rows()
    finally:
        ledger.close()
    assert [row["end_reason"] for row in rows] == ["shutting_down", "shutting_down"]
    assert all(row["ended"] is not None for row in rows)
