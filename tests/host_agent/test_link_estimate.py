"""The link estimate (sans I/O): rate, round trip and the budget of bytes under way, driven
by a simulated line (a bottleneck of given rate and delay, acks coming back over the same
delay), with simulated time: nothing here waits or measures the machine."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import pytest

from host_agent.link_estimate import (
    INITIAL_BUDGET_BYTES,
    INTERACTIVE_RESERVE_BYTES,
    LinkEstimate,
)
from protocol.errors import ProtocolError

FRAME_SECONDS = 1 / 30
DSL_UP_BYTES_PER_SECOND = 125_000  # 1 Mbit/s
DSL_DELAY_SECONDS = 0.025


@dataclass
class Line:
    """A bottleneck: bytes leave at `rate` one update after another, arrive `delay` later;
    the viewer's ack takes `delay` back."""

    rate: float
    delay: float
    free_at: float = 0.0
    acks: list[tuple[float, int]] = field(default_factory=list)  # heap of (time, seq)
    arrivals: dict[int, float] = field(default_factory=dict)

    def send(self, seq: int, size: int, now: float) -> None:
        self.free_at = max(now, self.free_at) + size / self.rate
        arrived = self.free_at + self.delay
        self.arrivals[seq] = arrived
        heapq.heappush(self.acks, (arrived + self.delay, seq))


def stream(
    estimate: LinkEstimate, line: Line, seconds: float, update_bytes: int,
    typed_every_frames: int = 0, start: float = 0.0, seq: int = 0,
):  # fmt: skip
    """The agent's loop: every frame interval, a picture of `update_bytes` is captured and
    sent if the budget has room; every `typed_every_frames` a typed character's update
    (100 bytes) goes if the interactive allowance lets it. Returns the typed characters'
    one-way delays, the most bytes ever under way, and the last sequence number."""
    typed: dict[int, float] = {}
    most_under_way = 0
    frames = round(seconds / FRAME_SECONDS)
    for frame in range(frames):
        now = start + frame * FRAME_SECONDS
        while line.acks and line.acks[0][0] <= now:
            at, acked = heapq.heappop(line.acks)
            estimate.on_ack(acked, at)
        if typed_every_frames and frame % typed_every_frames == 0:
            assert estimate.allows_interactive(100, now)
            seq += 1
            estimate.on_sent(seq, 100, now)
            line.send(seq, 100, now)
            typed[seq] = now
        if estimate.has_room(now):
            seq += 1
            estimate.on_sent(seq, update_bytes, now)
            line.send(seq, update_bytes, now)
        most_under_way = max(most_under_way, estimate.in_flight_bytes)
    delays = [line.arrivals[number] - sent for number, sent in typed.items()]
    return delays, most_under_way, seq


def test_on_a_dsl_uplink_the_estimate_finds_the_rate_and_the_round_trip():
    estimate = LinkEstimate(0.0)
    line = Line(DSL_UP_BYTES_PER_SECOND, DSL_DELAY_SECONDS)
    assert estimate.budget_bytes() == INITIAL_BUDGET_BYTES
    stream(estimate, line, seconds=6.0, update_bytes=20_000)  # a video that wants 600 KB/s
    rate, rtt = estimate.rate_bytes_per_second, estimate.rtt_seconds
    assert rate == pytest.approx(DSL_UP_BYTES_PER_SECOND, rel=0.15)
    # The line's round trip: both delays, without the updates' own transmission.
    assert rtt == pytest.approx(2 * DSL_DELAY_SECONDS, rel=0.15)
    assert estimate.video_bits_per_second() == pytest.approx(0.7 * 8 * rate)


def test_the_bytes_under_way_stay_near_the_line_and_a_typed_character_waits_briefly():
    # Pictures of 4 kB, 30 a second, want 120 KB/s of a 125 KB/s line: the budget lets
    # them through (simulated: 29.7 a second, the line 95 % busy) and keeps the queue
    # short, so a typed character arrives within the line's own delay and a little queue
    # (issue 25: one-way delay + 30 ms; simulated: 25.8 ms).
    estimate = LinkEstimate(0.0)
    line = Line(DSL_UP_BYTES_PER_SECOND, DSL_DELAY_SECONDS)
    _, _, seq = stream(estimate, line, seconds=3.0, update_bytes=4_000)
    delays, most_under_way, _ = stream(
        estimate, line, seconds=5.0, update_bytes=4_000, typed_every_frames=3, start=3.0,
        seq=seq,
    )  # fmt: skip
    assert most_under_way <= estimate.budget_bytes() + 4_000 + INTERACTIVE_RESERVE_BYTES
    assert sorted(delays)[len(delays) // 2] <= DSL_DELAY_SECONDS + 0.030


def test_large_pictures_are_not_captured_while_the_line_is_full():
    # Pictures of 20 kB, 30 a second, want 600 KB/s: only what the line carries goes (6 a
    # second), so what is sent is always the newest picture and the queue stays within the
    # budget; but a picture holds the line 160 ms, and a typed character waits behind up
    # to two (simulated: 344 ms, at most 425): the encoder must make pictures the size
    # LinkEstimate.largest_update_bytes says.
    estimate = LinkEstimate(0.0)
    line = Line(DSL_UP_BYTES_PER_SECOND, DSL_DELAY_SECONDS)
    _, _, seq = stream(estimate, line, seconds=3.0, update_bytes=20_000)
    before = seq
    delays, most_under_way, seq = stream(
        estimate, line, seconds=4.0, update_bytes=20_000, typed_every_frames=6, start=3.0,
        seq=seq,
    )  # fmt: skip
    pictures = seq - before - len(delays)
    assert pictures / 4.0 <= DSL_UP_BYTES_PER_SECOND / 20_000 * 1.2  # not 30 a second
    assert most_under_way <= estimate.budget_bytes() + 20_000 + INTERACTIVE_RESERVE_BYTES
    # A typed character waits at most for the picture on the line and the budget's queue.
    bound = DSL_DELAY_SECONDS + (estimate.budget_bytes() + 20_000) / DSL_UP_BYTES_PER_SECOND
    assert max(delays) <= bound


def test_the_estimate_follows_a_line_that_becomes_slower():
    estimate = LinkEstimate(0.0)
    fast = Line(2_000_000, DSL_DELAY_SECONDS)
    _, _, seq = stream(estimate, fast, seconds=3.0, update_bytes=20_000)
    assert estimate.rate_bytes_per_second > 500_000
    slow = Line(DSL_UP_BYTES_PER_SECOND, DSL_DELAY_SECONDS)
    estimate.reset(3.0)  # as after a reconnect over another network
    stream(estimate, slow, seconds=7.0, update_bytes=20_000, start=3.0, seq=seq)
    assert estimate.rate_bytes_per_second == pytest.approx(DSL_UP_BYTES_PER_SECOND, rel=0.15)


def test_a_queue_shows_as_delay_beyond_the_round_trip_and_small_updates_still_go():
    estimate = LinkEstimate(0.0)
    line = Line(DSL_UP_BYTES_PER_SECOND, DSL_DELAY_SECONDS)
    _, _, seq = stream(estimate, line, seconds=3.0, update_bytes=20_000)
    while line.acks:  # the video stops: everything under way arrives
        at, acked = heapq.heappop(line.acks)
        estimate.on_ack(acked, at)
    assert estimate.in_flight_bytes == 0 and estimate.queue_delay_seconds() == 0.0
    rate, rtt = estimate.rate_bytes_per_second, estimate.rtt_seconds
    for number in range(1, 4):  # three pictures at once: the line, the next, and a queue
        assert estimate.has_room(10.0)
        estimate.on_sent(seq + number, 20_000, 10.0)
    assert estimate.queue_delay_seconds() == pytest.approx((60_000 - rate * rtt) / rate)
    assert not estimate.has_room(10.0)
    # Small updates overtake (bulk is not captured) until the reserve for them is spent.
    sent = 0
    while estimate.allows_interactive(100, 10.0):
        sent += 1
        estimate.on_sent(seq + 3 + sent, 100, 10.0)
    assert sent == INTERACTIVE_RESERVE_BYTES // 100


def test_acks_must_be_for_updates_sent_and_sends_in_order():
    estimate = LinkEstimate(0.0)
    estimate.on_sent(1, 1000, 0.0)
    with pytest.raises(ProtocolError):
        estimate.on_ack(2, 0.1)
    with pytest.raises(ProtocolError):
        estimate.on_sent(1, 1000, 0.1)
    assert estimate.on_ack(1, 0.1) is not None
    assert estimate.on_ack(1, 0.2) is None  # cumulative: already acked
    assert estimate.in_flight_bytes == 0 and estimate.has_room(0.2)


def test_a_video_that_never_pauses_still_finds_the_lines_round_trip():
    # Every ack delay of pictures sent back to back includes the queue in front of them;
    # once every RTT_WINDOW_SECONDS the line is let empty, so the round trip stays the
    # line's and the budget does not grow with its own queue.
    estimate = LinkEstimate(0.0)
    line = Line(DSL_UP_BYTES_PER_SECOND, DSL_DELAY_SECONDS)
    stream(estimate, line, seconds=25.0, update_bytes=8_000)
    assert estimate.rtt_seconds == pytest.approx(2 * DSL_DELAY_SECONDS, rel=0.15)
