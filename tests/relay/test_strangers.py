"""Connections not yet admitted (issue 20, point 1): a first message larger than
`max_first_message_bytes` is refused on its header, before its payload is read; one
address has at most `max_unadmitted_per_ip` such connections at once, and those over the
cap wait unread for their turn, with TLS at accept and behind a proxy at the HTTP request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from protocol import control
from relay.core import RelayConfig
from relay.limits import MAX_FIRST_MESSAGE_BYTES
from relay.server import Relay
from tests.relay.conftest import WAIT_SECONDS, pair, raw_connect, wait_for
from tests.support.relay import (
    RelayInfo,
    add_technician,
    limits_for_tests,
    running_relay,
    start_relay_process,
    stop_relay_process,
)
from tests.support.strangers import send_large_first_message, send_large_first_messages

ATTACKERS = 40
ANNOUNCED_BYTES = 16 * 1024 * 1024  # what the relay allows an admitted side's message
# The relay's peak memory may grow by this much under the attack; buffering the attack's
# first messages would take ATTACKERS x ANNOUNCED_BYTES (640 MiB).
ATTACK_PEAK_GROWTH_LIMIT_MIB = 32


def peak_and_resident_mib(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


async def test_a_large_first_message_is_refused_on_its_header_before_its_payload(
    tmp_path: Path,
) -> None:
    """The relay answers a frame header announcing 16 MiB with 1009 while almost none of
    the payload has been sent: it cannot have read it. (A relay that reads first messages
    of any size waits for the rest and closes for the first-message timeout instead.)"""
    async with running_relay(tmp_path, handshake_timeout_seconds=2.0) as relay:
        outcome = await asyncio.to_thread(send_large_first_message, relay.port, ANNOUNCED_BYTES)
        assert outcome.upgraded
        assert outcome.close_code == 1009 and outcome.texts == 0
        assert outcome.payload_sent < ANNOUNCED_BYTES // 2


async def test_many_strangers_sending_large_first_messages_do_not_grow_the_relay(
    tmp_path: Path,
) -> None:
    """The attack of issue 20 on a relay process: 40 unauthenticated connections from one
    address, each announcing a 16 MiB first message and sending it (but its last byte) as
    fast as the relay takes it. Every one is refused with 1009, and the relay's peak memory
    (VmHWM, which no timing can hide) stays within a few MiB."""
    process, _url, _ = start_relay_process(tmp_path, "--handshake-timeout-seconds", "3")
    try:
        port = int(_url.rsplit(":", 1)[1])
        peak_before, _ = peak_and_resident_mib(process.pid)
        outcomes = await asyncio.to_thread(
            send_large_first_messages, port, ATTACKERS, ANNOUNCED_BYTES
        )
        peak_after, resident = peak_and_resident_mib(process.pid)
    finally:
        stop_relay_process(process)
    codes = sorted({outcome.close_code for outcome in outcomes}, key=str)
    assert codes == [1009], codes
    growth = peak_after - peak_before
    assert growth < ATTACK_PEAK_GROWTH_LIMIT_MIB, (
        f"the relay's peak memory grew by {growth:.1f} MiB under the attack "
        f"({peak_before:.1f} -> {peak_after:.1f} MiB, resident now {resident:.1f})"
    )


async def test_strangers_over_the_per_address_cap_wait_unread_until_one_is_admitted(
    tmp_path: Path,
) -> None:
    async with running_relay(
        tmp_path, max_unadmitted_per_ip=2, open_timeout_seconds=60, handshake_timeout_seconds=60
    ) as relay:
        strangers = [await raw_connect(relay, "/v1/host") for _ in range(2)]
        third = asyncio.create_task(raw_connect(relay, "/v1/host"))
        await wait_for(lambda: relay.relay.waiting_count() == 1, "the third waits")
        gauges = relay.relay.gauges()
        assert gauges["connections"]["unadmitted"] == 2 and gauges["connections"]["open"] == 2
        metrics = relay.relay.metrics.render(relay.relay.gauges)
        assert "fernwartung_relay_connections_waiting 1\n" in metrics
        assert 'fernwartung_relay_connections_waited_total{outcome="waited"} 1\n' in metrics
        assert not third.done()  # its TLS handshake has not begun
        # Another address is not held up by this one's strangers.
        other = await raw_connect(relay, "/v1/host", local_addr=("127.0.0.2", 0))
        await other.send(control.encode(control.Register(version=1)))
        assert isinstance(control.decode(await recv(other)), control.Registered)
        # One of the first two is admitted: its slot goes to the third.
        await strangers[0].send(control.encode(control.Register(version=1)))
        assert isinstance(control.decode(await recv(strangers[0])), control.Registered)
        async with asyncio.timeout(WAIT_SECONDS):
            late = await third
        await late.send(control.encode(control.Register(version=1)))
        assert isinstance(control.decode(await recv(late)), control.Registered)
        assert relay.relay.gauges()["connections"]["unadmitted"] == 1
        for websocket in (*strangers, late, other):
            await websocket.close()


async def recv(websocket) -> str:  # noqa: ANN001
    async with asyncio.timeout(WAIT_SECONDS):
        return await websocket.recv()


async def test_an_admitted_side_may_send_full_size_messages(relay: RelayInfo, token: str) -> None:
    session = await pair(relay, token)
    await session.host.send_control(control.Consent(level=control.ReportedConsent.VIEW))
    message = b"\x07" * (4 * MAX_FIRST_MESSAGE_BYTES)
    await session.viewer.send_binary(message)
    async with asyncio.timeout(WAIT_SECONDS):
        assert await session.host.receive() == message
    await session.close()


@pytest.fixture
async def relay_behind_proxy(tmp_path: Path) -> AsyncIterator[RelayInfo]:
    """The relay without TLS behind a proxy: addresses come from X-Forwarded-For."""
    config = RelayConfig(
        data_dir=tmp_path,
        port=0,
        behind_proxy=True,
        limits=limits_for_tests(
            max_unadmitted_per_ip=1,
            max_waiting_per_ip=1,
            open_timeout_seconds=60,
            handshake_timeout_seconds=60,
        ),
    )
    relay = Relay(config)
    await relay.start()
    try:
        yield RelayInfo(f"ws://127.0.0.1:{relay.port}", None, tmp_path, relay)
    finally:
        await relay.stop()


async def forwarded_for(relay: RelayInfo, address: str) -> ClientConnection:
    """A host's connection as the proxy passes it on, from `address`."""
    return await connect(
        relay.url + "/v1/host",
        additional_headers={"X-Forwarded-For": address},
        compression=None,
    )


async def test_behind_a_proxy_strangers_wait_by_the_forwarded_address(
    relay_behind_proxy: RelayInfo,
) -> None:
    relay = relay_behind_proxy
    first = await forwarded_for(relay, "203.0.113.7")
    second = asyncio.create_task(forwarded_for(relay, "203.0.113.7"))
    await wait_for(lambda: relay.relay.waiting_count() == 1, "the second waits")
    assert not second.done()  # its upgrade is not answered
    other = await forwarded_for(relay, "203.0.113.8")  # another customer behind the proxy
    with pytest.raises(InvalidStatus, match="503"):
        await forwarded_for(relay, "203.0.113.7")  # the line of that address is full
    await first.send(control.encode(control.Register(version=1)))
    assert isinstance(control.decode(await recv(first)), control.Registered)
    async with asyncio.timeout(WAIT_SECONDS):
        late = await second
    await late.send(control.encode(control.Register(version=1)))
    assert isinstance(control.decode(await recv(late)), control.Registered)
    counters = relay.relay.gauges()["waiting"]
    assert (counters["waited"], counters["closed"]) == (1, 1)
    for websocket in (first, late, other):
        with contextlib.suppress(Exception):
            await websocket.close()


async def test_after_the_attack_sessions_are_served(tmp_path: Path) -> None:
    async with running_relay(tmp_path) as relay:
        outcomes = await asyncio.to_thread(
            send_large_first_messages, relay.port, 20, ANNOUNCED_BYTES
        )
        assert {outcome.close_code for outcome in outcomes} == {1009}
        await wait_for(lambda: relay.relay.gauges()["connections"]["unadmitted"] == 0, "gone")
        session = await pair(relay, add_technician(relay.data_dir, "Alice"))
        await session.close()


def test_the_limit_flags_reach_the_limits() -> None:
    from fernwartung.cli import build_parser
    from relay.main import limits_from

    args = build_parser().parse_args(
        ["relay", "--max-first-message-bytes", "1024", "--max-unadmitted-per-ip", "4",
         "--max-waiting-per-ip", "8", "--max-waiting-connections", "64",
         "--waiting-timeout-seconds", "2.5"]
    )  # fmt: skip
    limits = limits_from(args)
    assert (limits.max_first_message_bytes, limits.max_unadmitted_per_ip) == (1024, 4)
    assert (limits.max_waiting_per_ip, limits.max_waiting_connections) == (8, 64)
    assert limits.waiting_timeout_seconds == 2.5
