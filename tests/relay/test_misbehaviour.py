"""Hostile or broken clients get a clear close reason, and another session on the same relay
keeps streaming meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from protocol import control
from protocol.errors import ProtocolError, SessionEnded
from tests.relay.conftest import (
    Streamer,
    closed_with,
    pair,
    raw_connect,
    receive,
    register,
    wait_for,
)
from tests.support.relay import RelayInfo, add_technician, running_relay

MAX_MESSAGE_BYTES = 2 * 1024 * 1024


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayInfo]:
    async with running_relay(
        tmp_path / "data",
        max_message_bytes=MAX_MESSAGE_BYTES,
        send_stall_timeout_seconds=0.5,
        handshake_timeout_seconds=0.5,
    ) as info:
        yield info


async def error_then_close(websocket) -> tuple[control.Error, int | None, str | None]:  # noqa: ANN001
    async with asyncio.timeout(10):
        error = control.decode(await websocket.recv())
    assert isinstance(error, control.Error)
    code, reason = await closed_with(websocket)
    return error, code, reason


async def test_malformed_json_is_a_bad_message(relay: RelayInfo, bystander: Streamer) -> None:
    websocket = await raw_connect(relay, "/v1/host")
    await websocket.send('{"type": "register", "version": 1')
    error, code, reason = await error_then_close(websocket)
    assert error.code is control.ErrorCode.BAD_MESSAGE and "JSON" in error.message
    assert (code, reason) == (1008, "bad message")
    await bystander.progressed()


async def test_malformed_json_mid_session_ends_it_and_tells_the_other_side(
    relay: RelayInfo, token: str, bystander: Streamer
) -> None:
    session = await pair(relay, token)
    await session.host.send_control(control.Consent(level=control.ReportedConsent.VIEW))
    await session.viewer._websocket.send('{"type": "checkpoint", "records": -1}')
    with pytest.raises(Exception, match="missing field|between"):
        await receive(session.viewer)
    left = await receive(session.host)
    assert isinstance(left, control.PeerLeft) and "broke the protocol" in left.reason
    await bystander.progressed()
    await session.host.close()


async def test_binary_before_pairing_is_refused(relay: RelayInfo, bystander: Streamer) -> None:
    host, _ = await register(relay)
    await host.send_binary(b"\x00" * 100)
    with pytest.raises(Exception, match="only forwarded after"):
        await receive(host)
    assert (await closed_with(host._websocket))[0] == 1008
    websocket = await raw_connect(relay, "/v1/host")
    await websocket.send(b"no register first")
    error, code, _ = await error_then_close(websocket)
    assert error.code is control.ErrorCode.BAD_MESSAGE and code == 1008
    await bystander.progressed()


async def test_an_oversize_first_message_is_refused_with_1009(
    relay: RelayInfo, bystander: Streamer
) -> None:
    """Before admission the relay takes no more than a first message's worth
    (tests/relay/test_strangers.py shows it is refused on its header, unread)."""
    websocket = await raw_connect(relay, "/v1/host")
    await websocket.send('{"type": "register", "version": 1, "x": "' + "a" * 5000 + '"}')
    code, reason = await closed_with(websocket)
    assert code == 1009 and reason is not None and "4096" in reason
    await bystander.progressed()


async def test_an_oversize_control_message_is_too_large(
    relay: RelayInfo, token: str, bystander: Streamer
) -> None:
    session = await pair(relay, token)
    await session.host._websocket.send('{"type": "checkpoint", "x": "' + "a" * 5000 + '"}')
    with pytest.raises(ProtocolError, match="at most 4096 bytes"):
        await receive(session.host)
    assert (await closed_with(session.host._websocket))[0] == 1009
    await bystander.progressed()
    await session.viewer.close()


async def test_an_oversize_binary_message_closes_with_1009(
    relay: RelayInfo, token: str, bystander: Streamer
) -> None:
    session = await pair(relay, token)
    await session.host.send_binary(b"\x01" * (MAX_MESSAGE_BYTES + 1))
    with pytest.raises(SessionEnded):
        await receive(session.host)
    assert (await closed_with(session.host._websocket))[0] == 1009
    left = await receive(session.viewer)
    assert isinstance(left, control.PeerLeft) and "too large" in left.reason
    await bystander.progressed()
    await session.viewer.close()


async def test_a_client_that_never_sends_register_times_out(
    relay: RelayInfo, bystander: Streamer
) -> None:
    websocket = await raw_connect(relay, "/v1/host")
    error, code, _ = await error_then_close(websocket)
    assert error.code is control.ErrorCode.TIMEOUT and code == 1008
    await bystander.progressed()


async def test_a_viewer_that_never_reads_is_dropped(
    relay: RelayInfo, token: str, bystander: Streamer
) -> None:
    host, session = await register(relay)
    lazy = await raw_connect(relay, "/v1/viewer", token, max_queue=1)
    await lazy.send(control.encode(control.Join(session=session, version=1)))
    assert isinstance(await receive(host), control.PeerJoined)
    await host.send_control(control.Consent(level=control.ReportedConsent.VIEW))
    chunk = os.urandom(1024 * 1024)

    async def flood() -> None:
        while True:
            await host.send_binary(chunk)

    flooding = asyncio.create_task(flood())
    try:
        left = await receive(host)
    finally:
        flooding.cancel()
        with contextlib.suppress(asyncio.CancelledError, SessionEnded):
            await flooding
    assert isinstance(left, control.PeerLeft) and "stalled" in left.reason
    # Only the bystander's two connections and this host remain.
    await wait_for(lambda: relay.relay.connection_count() == 3, "stalled viewer dropped")
    await bystander.progressed()
    await host.close()
    rows = relay.relay.ledger.session_rows()
    assert any(row["end_reason"] == "viewer_not_reading" for row in rows)


async def test_a_client_vanishing_mid_message_ends_its_session_only(
    relay: RelayInfo, token: str, bystander: Streamer
) -> None:
    session = await pair(relay, token)
    await session.host.send_control(control.Consent(level=control.ReportedConsent.VIEW))
    transport = session.viewer._websocket.transport
    # A masked binary frame header announcing 1 MB, then only 1000 bytes of it.
    header = bytes([0x82, 0x80 | 127]) + (1_000_000).to_bytes(8, "big") + os.urandom(4)
    transport.write(header + os.urandom(1000))
    transport.abort()
    left = await receive(session.host)
    assert isinstance(left, control.PeerLeft) and "technician disconnected" in left.reason
    await bystander.progressed()
    await session.host.close()


async def test_idle_sessions_time_out(tmp_path: Path) -> None:
    async with running_relay(tmp_path, idle_timeout_seconds=0.3) as relay:
        token = add_technician(tmp_path, "Alice")
        session = await pair(relay, token)
        for link in (session.host, session.viewer):
            with pytest.raises(SessionEnded, match="idle"):
                await receive(link)
        assert relay.relay.ledger.session_rows()[0]["end_reason"] == "idle"
