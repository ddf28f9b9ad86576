"""Flow control by the viewer's acks, and the adaptive quality that follows from it.

Sans-I/O and clock-free: the streaming task tells it what was sent and acked, and when.
At most FRAME_WINDOW frame updates are in flight; while the window is full nothing is
captured, and the next capture is compared with the last frame sent, so changes merge
instead of piling up. A slow link (a smoothed round trip over SLOW_RTT_SECONDS, or the
window staying full most of the time, which is how falling throughput shows) steps the
JPEG quality and frame rate down; a quick link steps them up again.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import ProtocolError

FRAME_WINDOW = 2
SLOW_RTT_SECONDS = 0.150
FAST_RTT_SECONDS = 0.080
ADAPT_HOLD_SECONDS = 1.0
STALL_SHARE_SLOW = 0.5  # window full for more than half of the last hold period
RTT_SMOOTHING = 0.3


@dataclass(frozen=True, slots=True)
class QualityStep:
    jpeg_quality: int
    frames_per_second: float

    @property
    def frame_interval_seconds(self) -> float:
        return 1.0 / self.frames_per_second


# The top step allows 60 updates/s: capture is driven by X DAMAGE, so a still screen costs
# nothing, and a log scrolling 50 lines/s needs at least 48 updates/s to show every line.
QUALITY_STEPS = (
    QualityStep(80, 60.0),
    QualityStep(70, 24.0),
    QualityStep(55, 15.0),
    QualityStep(40, 10.0),
    QualityStep(30, 5.0),
)


class FlowControl:
    def __init__(self, now: float) -> None:
        self.next_seq = 1
        self._in_flight: dict[int, tuple[float, int]] = {}
        self.rtt_seconds: float | None = None
        self.step_index = 0
        self._last_adapt = now
        self._stall_started: float | None = None
        self._stalled_seconds = 0.0
        self.bytes_sent = 0
        self.bytes_acked = 0
        self.frames_sent = 0

    @property
    def step(self) -> QualityStep:
        return QUALITY_STEPS[self.step_index]

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def can_send(self) -> bool:
        return len(self._in_flight) < FRAME_WINDOW

    def reset(self) -> None:
        """A new stream (resume, another monitor): updates in flight no longer matter."""
        self._in_flight.clear()
        self._stall_started = None

    def on_sent(self, size_bytes: int, now: float) -> int:
        """Record a frame update put on the wire; returns its sequence number."""
        if not self.can_send():
            raise ProtocolError("the frame window is full")
        seq = self.next_seq
        self.next_seq += 1
        self._in_flight[seq] = (now, size_bytes)
        self.bytes_sent += size_bytes
        self.frames_sent += 1
        if not self.can_send():
            self._stall_started = now
        return seq

    def on_ack(self, seq: int, now: float) -> None:
        """An Ack from the viewer; it acknowledges `seq` and everything before it."""
        if seq >= self.next_seq:
            raise ProtocolError(f"the viewer acknowledged frame update {seq}, never sent")
        for pending in [s for s in self._in_flight if s <= seq]:
            sent_at, size = self._in_flight.pop(pending)
            self.bytes_acked += size
            if pending == seq:
                sample = max(0.0, now - sent_at)
                self.rtt_seconds = (
                    sample
                    if self.rtt_seconds is None
                    else (1 - RTT_SMOOTHING) * self.rtt_seconds + RTT_SMOOTHING * sample
                )
        if self._stall_started is not None and self.can_send():
            self._stalled_seconds += now - self._stall_started
            self._stall_started = None
        self.adapt(now)

    def adapt(self, now: float) -> QualityStep:
        """Step quality down on a slow link, up on a fast one, at most once per hold period."""
        held = now - self._last_adapt
        if held < ADAPT_HOLD_SECONDS:
            return self.step
        stalled = self._stalled_seconds
        if self._stall_started is not None:
            stalled += now - self._stall_started
        slow = (self.rtt_seconds is not None and self.rtt_seconds > SLOW_RTT_SECONDS) or (
            stalled / held > STALL_SHARE_SLOW
        )
        fast = (
            self.rtt_seconds is not None
            and self.rtt_seconds < FAST_RTT_SECONDS
            and stalled / held < STALL_SHARE_SLOW / 2
        )
        if slow and self.step_index < len(QUALITY_STEPS) - 1:
            self.step_index += 1
        elif fast and self.step_index > 0:
            self.step_index -= 1
        self._last_adapt = now
        self._stalled_seconds = 0.0
        if self._stall_started is not None:
            self._stall_started = now
        return self.step
