"""From what was recorded to the numbers in the table: rates, latencies, bytes, CPU.

Latency ("change -> client") pairs each change the workload made with the first frame
update that completed at the client after it and can contain it:
- RFB: the update has a pixel rectangle that overlaps the change's region;
- fernwartung: the update was captured at or after the change (its stats carry the host's
  capture time; host, viewer and workload share this machine's clock).
Changes with no such update within MAX_LATENCY_SECONDS (SHAPED_MAX_LATENCY_SECONDS on a
slow line) count as missed. When changes come faster than updates (30 fps video, 60 Hz
drag) several changes pair with the same update, as a person looking at the screen would
see it. (fernwartung's updates say where they changed the screen too, read from the
viewer's recording; where that is missing, the capture time alone decides.)

After a change that is followed by a still screen (a maximised window, the last frame of a
video: `SETTLING_KINDS`), two more figures:
- equal: the last update touching the change before the next change (or the tail's end):
  then the client's picture equals the host's (VNC's ZRLE is lossless, and fernwartung's
  last update there is its lossless follow-up of anything sent lossy). Not settled (None)
  when bytes were still arriving at the end of that time: an update was still under way;
- current: the first update that shows the change, if only lossy (fernwartung: captured at
  or after it and touching it). A VNC client's updates carry no capture time, and an update
  under way when the change happened may not show it: for VNC, current is equal.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .records import Capture, Change, Delivery, Region, WireChunk

MAX_LATENCY_SECONDS = 1.0
# On a slow line a change can wait seconds behind a video's backlog; it is still shown.
SHAPED_MAX_LATENCY_SECONDS = 5.0
SETTLING_KINDS = ("stop", "maximise")
# Not settled: more than QUIET_BYTES still reached the client in the last
# UNSETTLED_MARGIN_SECONDS before the next change (an update still under way, as a VNC
# server's picture of several seconds on a slow line).
UNSETTLED_MARGIN_SECONDS = 0.5
QUIET_BYTES = 4000


def max_latency_seconds(shaped: bool) -> float:
    return SHAPED_MAX_LATENCY_SECONDS if shaped else MAX_LATENCY_SECONDS


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear-interpolated percentile (fraction 0..1) of unsorted values; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def overlaps(a: Region, b: Region) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def can_contain(delivery: Delivery, change: Change) -> bool:
    """Whether this update can show this change (see the module docstring)."""
    if delivery.captured_at is not None and delivery.captured_at < change.at:
        return False
    return touches(delivery, change)


def touches(delivery: Delivery, change: Change) -> bool:
    """Whether this update changed the screen where `change` did (unknown: yes)."""
    if delivery.regions is None:
        return True
    return any(overlaps(region, change.region) for region in delivery.regions)


def change_latencies(
    changes: Sequence[Change],
    deliveries: Sequence[Delivery],
    max_latency: float = MAX_LATENCY_SECONDS,
) -> list[float]:
    """Seconds from each change to the first update that can show it (missed ones left out)."""
    ordered = sorted(deliveries, key=lambda delivery: delivery.completed_at)
    times = [delivery.completed_at for delivery in ordered]
    latencies = []
    for change in changes:
        index = bisect.bisect_right(times, change.at)
        while index < len(ordered) and times[index] - change.at <= max_latency:
            if can_contain(ordered[index], change):
                latencies.append(times[index] - change.at)
                break
            index += 1
    return latencies


@dataclass(frozen=True, slots=True)
class Window:
    """The measured interval, wall clock seconds."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def holds(self, at: float) -> bool:
        return self.start <= at < self.end


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1000.0 * seconds


@dataclass(frozen=True, slots=True)
class Settled:
    """How long after a settling change the client was current, and equal (None: never)."""

    current: float | None
    equal: float | None
    unsettled: bool  # updates touching it still came just before the next change


def settling(
    change: Change,
    later: Sequence[Change],
    deliveries: Sequence[Delivery],
    wire: Sequence[WireChunk],
    end: float,
) -> Settled:
    """The figures of one settling change; `later` are the changes after it, `wire` the
    bytes on their way to the client (the shaped line's, else the client connection's),
    `end` the time the records end. See the module docstring."""
    until = min([end, *(other.at for other in later if other.at > change.at)])
    touching = sorted(
        (d for d in deliveries if change.at < d.completed_at <= until and touches(d, change)),
        key=lambda delivery: delivery.completed_at,
    )
    late_bytes = sum(
        chunk.to_client for chunk in wire if until - UNSETTLED_MARGIN_SECONDS < chunk.at <= until
    )
    unsettled = late_bytes > QUIET_BYTES
    current = None
    if touching and touching[0].captured_at is not None:
        shown = [d for d in touching if d.captured_at is not None and d.captured_at >= change.at]
        current = shown[0].completed_at - change.at if shown else None
    if not touching or unsettled:
        return Settled(current, None, True)
    equal = touching[-1].completed_at - change.at
    return Settled(equal if touching[0].captured_at is None else current, equal, False)


def _settling_figures(
    changes: Sequence[Change], all_changes: Sequence[Change], deliveries: Sequence[Delivery],
    wire: Sequence[WireChunk], end: float,
) -> dict:  # fmt: skip
    figures: dict = {}
    for kind in SETTLING_KINDS:
        found = [
            settling(change, all_changes, deliveries, wire, end)
            for change in changes
            if change.kind == kind
        ]
        if not found:
            continue
        current = [s.current for s in found if s.current is not None]
        equal = [s.equal for s in found if s.equal is not None]
        figures[f"{kind}_events"] = len(found)
        figures[f"{kind}_current_ms"] = _ms(percentile(current, 0.5))
        figures[f"{kind}_equal_ms"] = _ms(percentile(equal, 0.5))
        figures[f"{kind}_equal_max_ms"] = _ms(max(equal)) if equal else None
        figures[f"{kind}_unsettled"] = sum(s.unsettled for s in found)
    return figures


def summarise(
    capture: Capture,
    window: Window,
    cpu_percent: dict[str, float],
    max_latency: float = MAX_LATENCY_SECONDS,
) -> dict:
    """The figures of one system on one scenario, as plain JSON-ready values."""
    changes = [change for change in capture.changes if window.holds(change.at)]
    deliveries = [d for d in capture.deliveries if window.holds(d.completed_at)]
    latencies = change_latencies(changes, capture.deliveries, max_latency)
    to_client = sum(chunk.to_client for chunk in capture.wire if window.holds(chunk.at))
    to_server = sum(chunk.to_server for chunk in capture.wire if window.holds(chunk.at))
    characters = sum(change.characters for change in changes)
    payload = sum(d.bytes for d in deliveries)
    pipeline = [d.completed_at - d.captured_at for d in deliveries if d.captured_at is not None]
    figures = {
        "seconds": window.seconds,
        "changes": len(changes),
        "changes_per_second": len(changes) / window.seconds,
        "updates": len(deliveries),
        "updates_per_second": len(deliveries) / window.seconds,
        "latency_matched": len(latencies),
        "latency_missed": len(changes) - len(latencies),
        "latency_p50_ms": _ms(percentile(latencies, 0.50)),
        "latency_p95_ms": _ms(percentile(latencies, 0.95)),
        "capture_to_receive_p50_ms": _ms(percentile(pipeline, 0.50)),
        "capture_to_receive_p95_ms": _ms(percentile(pipeline, 0.95)),
        "wire_bytes_to_client": to_client,
        "wire_bytes_to_server": to_server,
        "wire_kilobytes_per_second": to_client / window.seconds / 1000.0,
        "update_payload_kilobytes_per_second": payload / window.seconds / 1000.0,
        "wire_bytes_per_update": to_client / len(deliveries) if deliveries else None,
        "characters_typed": characters,
        "bytes_per_character": to_client / characters if characters else None,
        "payload_bytes_per_character": payload / characters if characters else None,
        "wire_source": capture.wire_source,
    }
    typed = [change for change in changes if change.kind == "typed"]
    if typed:
        typed_latencies = change_latencies(typed, capture.deliveries, max_latency)
        figures["typed_latency_p50_ms"] = _ms(percentile(typed_latencies, 0.50))
        figures["typed_latency_p95_ms"] = _ms(percentile(typed_latencies, 0.95))
        figures["typed_missed"] = len(typed) - len(typed_latencies)
    tail_end = window.end + max_latency  # when the records end
    sent = capture.line_up or capture.wire  # where an update still under way shows
    figures.update(_settling_figures(changes, capture.changes, capture.deliveries, sent, tail_end))
    figures.update({f"cpu_{role}_percent": value for role, value in cpu_percent.items()})
    server, x_server = cpu_percent.get("server"), cpu_percent.get("x_server")
    if server is not None:
        figures["cpu_total_percent"] = server + (x_server or 0.0)
    return figures
