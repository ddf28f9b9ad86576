"""What the link to the viewer carries, estimated from the agent's own sends and the viewer's
acks, and how many bytes may be under way so that no queue builds in front of it.

Sans-I/O and clock-free, like flow.py, which it is meant to serve (issue 25, to be adopted
by the streaming task once the endpoint restructuring of issue 19 has landed): the
streaming task says what it sent and what was acked, and when; it asks whether there is
room for the next update.

Every byte of a frame update the viewer has not acked yet is somewhere between the agent
and the viewer: in the agent's socket buffer, in a router's queue in front of the slow
uplink, on the line, in the relay. Only the bytes on the line itself do any good; the
rest is queue, and a typed character sent now waits behind all of it. So:

- delivery rate: as BBR measures it. Each update remembers how much had been delivered
  (acked) and when, at the moment it was sent; its ack gives a sample: the bytes
  delivered since, over the time since. The estimate is the largest sample of the last
  RATE_WINDOW_SECONDS (a sample taken while the agent had little to send is low, not
  wrong: the maximum ignores it). While the agent sends less than the line carries (a
  few typed characters) the estimate is only that much: the budget's floor
  (MIN_BUDGET_BYTES) lets such traffic through, and the first pictures of a video show
  what the line really carries.
- round trip: the smallest ack delay of the last RTT_WINDOW_SECONDS, each less its own
  update's transmission at the estimated rate (what is left is the line's delay and the
  viewer's work). While pictures follow each other without a pause, every ack delay also
  holds the queue in front of them, and the smallest would grow with it: so when no update
  has been sent onto an empty line for RTT_WINDOW_SECONDS, nothing more is captured until
  everything under way is acked (as BBR's ProbeRTT; a round trip's pause every 10 s).
- the budget of bytes under way: the bandwidth-delay product (rate x round trip) times
  BUDGET_GAIN (acks come one per update, not per packet: a little queue keeps the line
  busy between them), and at least the BDP plus the last picture (a picture larger than
  the BDP would otherwise leave the line idle while its ack comes back), at least
  MIN_BUDGET_BYTES; INITIAL_BUDGET_BYTES until the first samples. A queue of
  (BUDGET_GAIN - 1) x BDP means (BUDGET_GAIN - 1) x round trip of waiting for whatever is
  sent next: 25 ms on a DSL line of 1 Mbit/s and 25 ms each way; a queue of one picture,
  that picture's time on the line: pictures the size of the BDP or less keep it short.
- room: a frame update is captured only while the bytes under way are below the budget
  (capture late: what is sent is always the newest picture; nothing waits to be
  replaced). A small update (at most INTERACTIVE_MAX_BYTES: a typed character's) goes
  whatever the budget says, as long as small updates under way stay within
  INTERACTIVE_RESERVE_BYTES: it overtakes bulk that is not yet captured, and waits only
  behind the short queue the budget allows. (The pointer and chat lines are not acked and
  not counted: they are a few bytes.)
- video: the bit rate the link leaves a stream (VIDEO_LINK_SHARE of the estimate), for the
  encoder's cap; and the largest update that leaves the line free for a typed character
  within the queue the budget allows.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from protocol.errors import ProtocolError

RATE_WINDOW_SECONDS = 5.0
RTT_WINDOW_SECONDS = 10.0
# Measured with a simulated DSL uplink (1 Mbit/s, 25 ms): 1.25 kept the line 64 % busy with
# 4 kB pictures at 30 a second (acks come per update, not per packet), 1.5 96 %; a typed
# character arrived after 25.8 ms either way.
BUDGET_GAIN = 1.5
# Pictures that may be under way beyond the BDP: one on the line and the next one ready,
# or the line idles while acks come back (and a line never filled is never measured).
PICTURES_AHEAD = 2
MIN_BUDGET_BYTES = 4 * 1024  # below this a round trip's worth of bytes is noise
INITIAL_BUDGET_BYTES = 64 * 1024  # before the first ack: about 0.5 s of a 1 Mbit/s line
INTERACTIVE_RESERVE_BYTES = 4 * 1024
INTERACTIVE_MAX_BYTES = 2 * 1024  # a typed character's update is 40-110 bytes
VIDEO_LINK_SHARE = 0.7  # the rest: typed characters, the pointer, lossless follow-ups


@dataclass(frozen=True, slots=True)
class _Sent:
    size: int
    sent_at: float
    delivered_then: int  # bytes acked when this update was sent
    delivered_at_then: float  # when the last of those was acked
    onto_empty_line: bool  # nothing was under way: its ack delay holds no queue


@dataclass(frozen=True, slots=True)
class Sample:
    """One ack's measurement: what was delivered per second, and the ack's delay."""

    at: float
    rate_bytes_per_second: float
    ack_delay_seconds: float
    size: int


class LinkEstimate:
    """Delivery rate, round trip and the budget of bytes under way, from sends and acks."""

    def __init__(self, now: float) -> None:
        self._sent: collections.OrderedDict[int, _Sent] = collections.OrderedDict()
        self._last_seq = 0
        self.in_flight_bytes = 0
        self.interactive_in_flight_bytes = 0
        self._last_picture_bytes = 0
        self.delivered_bytes = 0
        self._delivered_at = now
        self._rates: collections.deque[tuple[float, float]] = collections.deque()
        # (when, ack delay, bytes): the delay less the update's transmission is computed
        # when asked, at the rate known then (early samples, taken while the rate was not
        # yet known, would otherwise be corrected too much or too little for good).
        self._rtts: collections.deque[tuple[float, float, int]] = collections.deque()
        self._clean_rtt_at: float | None = None  # the last ack of an update sent onto an empty line

    # -- what happened ------------------------------------------------------------------

    def on_sent(self, seq: int, size_bytes: int, now: float) -> None:
        """An update (or any acked message) of `size_bytes` was handed to the link."""
        if seq <= self._last_seq:
            raise ProtocolError(f"update {seq} sent after update {self._last_seq}")
        empty = not self._sent
        if empty:
            # Nothing was under way: the time since the last ack was idle, not delivery.
            self._delivered_at = now
        self._last_seq = seq
        self._sent[seq] = _Sent(size_bytes, now, self.delivered_bytes, self._delivered_at, empty)
        self.in_flight_bytes += size_bytes
        if size_bytes <= INTERACTIVE_MAX_BYTES:
            self.interactive_in_flight_bytes += size_bytes
        else:
            self._last_picture_bytes = size_bytes

    def on_ack(self, seq: int, now: float) -> Sample | None:
        """The viewer acked `seq` and everything before it; the sample it gave, if any."""
        if seq > self._last_seq:
            raise ProtocolError(f"the viewer acknowledged update {seq}, never sent")
        acked = [number for number in self._sent if number <= seq]
        if not acked:
            return None  # acked before (acks are cumulative)
        for number in acked:
            size = self._sent[number].size
            self.delivered_bytes += size
            self.in_flight_bytes -= size
            if size <= INTERACTIVE_MAX_BYTES:
                self.interactive_in_flight_bytes -= size
        sent = self._sent[acked[-1]]
        for number in acked:
            del self._sent[number]
        self._delivered_at = now
        elapsed = now - sent.delivered_at_then
        if elapsed <= 0:
            return None
        rate = (self.delivered_bytes - sent.delivered_then) / elapsed
        self._rates.append((now, rate))
        self._forget(now)
        delay = max(0.0, now - sent.sent_at)
        self._rtts.append((now, delay, sent.size))
        if sent.onto_empty_line:
            self._clean_rtt_at = now
        return Sample(now, rate, delay, sent.size)

    def reset(self, now: float) -> None:
        """A new link (a resume): nothing is under way; the estimates are kept."""
        self._sent.clear()
        self.in_flight_bytes = self.interactive_in_flight_bytes = 0
        self._delivered_at = now

    # -- what follows ---------------------------------------------------------------------

    @property
    def rate_bytes_per_second(self) -> float | None:
        """The link's delivery rate (None: no ack yet)."""
        return max((rate for _, rate in self._rates), default=None)

    @property
    def rtt_seconds(self) -> float | None:
        """The line's round trip without any update's own transmission (None: no ack yet)."""
        rate = self.rate_bytes_per_second
        if rate is None or rate <= 0:
            return None
        return min((max(0.0, delay - size / rate) for _, delay, size in self._rtts), default=None)

    def budget_bytes(self) -> int:
        """How many bytes may be under way without building a queue."""
        rate, rtt = self.rate_bytes_per_second, self.rtt_seconds
        if rate is None or rtt is None:
            return INITIAL_BUDGET_BYTES
        bdp = rate * rtt
        return round(
            max(
                MIN_BUDGET_BYTES, bdp * BUDGET_GAIN, bdp + PICTURES_AHEAD * self._last_picture_bytes
            )
        )

    def has_room(self, now: float) -> bool:
        """Whether the next frame update may be captured now (nothing under way: always)."""
        if self.in_flight_bytes == 0:
            return True
        if self._draining(now):
            return False
        return self.in_flight_bytes < self.budget_bytes()

    def _draining(self, now: float) -> bool:
        """Whether the line should empty so that an ack shows its delay without a queue."""
        if not self._rtts:
            return False  # nothing measured yet: the first acks come first
        last = self._clean_rtt_at if self._clean_rtt_at is not None else self._rtts[0][0]
        return now - last > RTT_WINDOW_SECONDS

    def allows_interactive(self, size_bytes: int, now: float) -> bool:
        """Whether a small update may go now, ahead of bulk not yet captured (a larger
        one waits for room like any other)."""
        if size_bytes > INTERACTIVE_MAX_BYTES:
            return self.has_room(now)
        return self.interactive_in_flight_bytes + size_bytes <= INTERACTIVE_RESERVE_BYTES

    def queue_delay_seconds(self) -> float:
        """How long something sent now waits behind what is under way (beyond the line's
        own round trip): 0 while the link is unknown."""
        rate, rtt = self.rate_bytes_per_second, self.rtt_seconds
        if rate is None or rtt is None or rate <= 0:
            return 0.0
        return max(0.0, self.in_flight_bytes - rate * rtt) / rate

    def video_bits_per_second(self) -> int | None:
        """The bit rate a video stream may take (None: no estimate yet)."""
        rate = self.rate_bytes_per_second
        return None if rate is None else round(rate * 8 * VIDEO_LINK_SHARE)

    def largest_update_bytes(self) -> int:
        """The largest picture that holds the line no longer than the budget's own queue
        does ((BUDGET_GAIN - 1) x BDP): what a picture should stay under so a typed
        character is not stuck behind it."""
        rate, rtt = self.rate_bytes_per_second, self.rtt_seconds
        if rate is None or rtt is None:
            return INITIAL_BUDGET_BYTES
        return round(max(MIN_BUDGET_BYTES, rate * rtt * (BUDGET_GAIN - 1)))

    def _forget(self, now: float) -> None:
        while self._rates and now - self._rates[0][0] > RATE_WINDOW_SECONDS:
            self._rates.popleft()
        while self._rtts and now - self._rtts[0][0] > RTT_WINDOW_SECONDS:
            self._rtts.popleft()
