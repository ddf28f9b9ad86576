"""The benchmarks' link shaper: a line's rate, delay and queue, first as arithmetic (the
sans-I/O LinkQueue), then measured through real loopback sockets.

The measured tests bound the figures generously (rate within 25 %, delay at least the
configured one and less than twice it, as a median of probes): they check that the shaper
does what it says, not how fast this machine is.
"""

from __future__ import annotations

import asyncio
import statistics

import pytest

from benchmarks.shaper import LINES, PACKET_BYTES, Direction, LinkQueue, Shaper

WAIT_SECONDS = 30.0


def test_bytes_leave_at_the_rate_in_packets_and_arrive_after_the_delay():
    queue = LinkQueue(Direction(rate_bits_per_second=8000, delay_seconds=0.5, queue_bytes=10_000))
    queue.accept(b"x" * (PACKET_BYTES + 552), now=10.0)  # two packets: 1448 and 552 bytes
    # 1000 bytes a second: the first packet has left after 1.448 s, the second 0.552 s later.
    assert queue.room_grows_at() == pytest.approx(11.448)
    assert queue.next_arrival() == pytest.approx(11.948)
    assert queue.take_arrived(11.9) == b""
    assert queue.take_arrived(11.95) == b"x" * PACKET_BYTES
    assert queue.next_arrival() == pytest.approx(12.5)
    assert queue.take_arrived(13.0) == b"x" * 552
    assert queue.next_arrival() is None


def test_a_small_message_waits_only_for_the_packets_ahead_of_it():
    queue = LinkQueue(Direction(rate_bits_per_second=8000, delay_seconds=0.0, queue_bytes=10_000))
    queue.accept(b"a" * 2000, now=0.0)
    queue.accept(b"b" * 10, now=0.5)  # behind 2000 bytes: they leave at 2.0 s
    assert queue.take_arrived(2.0) == b"a" * 2000
    assert queue.take_arrived(2.009) == b""
    assert queue.take_arrived(2.010) == b"b" * 10
    # An idle line sends at once.
    queue.accept(b"c", now=5.0)
    assert queue.next_arrival() == pytest.approx(5.001)


def test_the_queue_takes_only_what_fits_and_makes_room_as_packets_leave():
    queue = LinkQueue(Direction(rate_bits_per_second=8000, delay_seconds=1.0, queue_bytes=3000))
    assert queue.room(0.0) == 3000
    queue.accept(b"x" * 3000, now=0.0)
    assert queue.room(0.0) == 0
    with pytest.raises(ValueError):
        queue.accept(b"y", now=0.0)
    assert queue.room(1.447) == 0
    assert queue.room(1.448) == PACKET_BYTES  # the first packet left; it is on the line now
    assert queue.room(3.0) == 3000
    assert queue.most_queued_bytes == 3000


def test_the_lines_of_issue_25():
    dsl, mobile = LINES["dsl"], LINES["mobile"]
    assert (dsl.up.rate_bits_per_second, dsl.down.rate_bits_per_second) == (1e6, 16e6)
    assert dsl.up.delay_seconds == dsl.down.delay_seconds == 0.025
    assert mobile.up.rate_bits_per_second == mobile.down.rate_bits_per_second == 3e6
    assert mobile.up.delay_seconds == mobile.down.delay_seconds == 0.040


class Ends:
    """A target server and a client through the shaper; each end keeps what it received
    with the loop time it arrived."""

    def __init__(self) -> None:
        self.at_target: list[tuple[float, bytes]] = []
        self.at_client: list[tuple[float, bytes]] = []
        self.target_writer: asyncio.StreamWriter | None = None
        self.target_connected = asyncio.Event()
        self.grew = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.target_writer = writer
        self.target_connected.set()
        await self.collect(reader, self.at_target)

    async def collect(self, reader: asyncio.StreamReader, into: list) -> None:
        loop = asyncio.get_running_loop()
        while data := await reader.read(65536):
            into.append((loop.time(), data))
            self.grew.set()

    async def wait_for(self, into: list, total: int) -> None:
        async with asyncio.timeout(WAIT_SECONDS):
            while sum(len(data) for _, data in into) < total:
                self.grew.clear()
                await self.grew.wait()


def received_rate(arrivals: list[tuple[float, bytes]]) -> float:
    """Bits per second from the first arrival to the last (the first chunk's bytes left
    before the clock started)."""
    first, last = arrivals[0][0], arrivals[-1][0]
    later_bytes = sum(len(data) for _, data in arrivals[1:])
    return later_bytes * 8 / (last - first)


@pytest.mark.parametrize("toward_target", [True, False], ids=["toward target", "back"])
async def test_bulk_crosses_at_the_configured_rate_intact_and_the_queue_stays_bounded(
    toward_target,
):
    toward = Direction(rate_bits_per_second=2e6, delay_seconds=0.030, queue_bytes=20_000)
    back = Direction(rate_bits_per_second=4e6, delay_seconds=0.030, queue_bytes=30_000)
    ends = Ends()
    server = await asyncio.start_server(ends.serve, "127.0.0.1", 0)
    shaper = Shaper(server.sockets[0].getsockname()[1], toward, back)
    await shaper.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", shaper.port)
        collecting = asyncio.create_task(ends.collect(reader, ends.at_client))
        async with asyncio.timeout(WAIT_SECONDS):
            await ends.target_connected.wait()
        payload = bytes(range(256)) * 1200  # 307,200 bytes: about 1.2 s at 2 Mbit/s
        sender = writer if toward_target else ends.target_writer
        assert sender is not None
        sender.write(payload)
        await sender.drain()
        arrivals = ends.at_target if toward_target else ends.at_client
        await ends.wait_for(arrivals, len(payload))
        assert b"".join(data for _, data in arrivals) == payload
        direction = toward if toward_target else back
        rate = received_rate(arrivals)
        assert (
            0.75 * direction.rate_bits_per_second <= rate <= 1.25 * direction.rate_bits_per_second
        )
        (queues,) = shaper.queues
        queue = queues[0] if toward_target else queues[1]
        assert queue.bytes_accepted == len(payload)
        assert queue.most_queued_bytes <= direction.queue_bytes
        assert queue.most_queued_bytes > direction.queue_bytes // 2  # it was the bottleneck
        writer.close()
        collecting.cancel()
    finally:
        await shaper.close()
        server.close()
        await server.wait_closed()


async def test_a_message_on_an_idle_line_arrives_after_the_configured_delay():
    toward = Direction(rate_bits_per_second=1e6, delay_seconds=0.060, queue_bytes=20_000)
    back = Direction(rate_bits_per_second=1e6, delay_seconds=0.090, queue_bytes=20_000)
    ends = Ends()
    server = await asyncio.start_server(ends.serve, "127.0.0.1", 0)
    shaper = Shaper(server.sockets[0].getsockname()[1], toward, back)
    await shaper.start()
    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", shaper.port)
        collecting = asyncio.create_task(ends.collect(reader, ends.at_client))
        async with asyncio.timeout(WAIT_SECONDS):
            await ends.target_connected.wait()
        assert ends.target_writer is not None
        delays: dict[str, list[float]] = {"toward": [], "back": []}
        for probe in range(5):
            for name, sender, arrivals in (
                ("toward", writer, ends.at_target),
                ("back", ends.target_writer, ends.at_client),
            ):
                count = len(arrivals)
                sent_at = loop.time()
                sender.write(b"probe %d" % probe)
                await ends.wait_for(arrivals, 7 * (probe + 1))
                delays[name].append(arrivals[count][0] - sent_at)
        for name, direction in (("toward", toward), ("back", back)):
            assert min(delays[name]) >= direction.delay_seconds
            assert statistics.median(delays[name]) < 2 * direction.delay_seconds
        writer.close()
        collecting.cancel()
    finally:
        await shaper.close()
        server.close()
        await server.wait_closed()
