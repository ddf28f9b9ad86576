"""From what was recorded to the numbers in the table: rates, latencies, bytes, CPU.

Latency ("change -> client") pairs each change the workload made with the first frame
update that completed at the client after it and can contain it:
- RFB: the update has a pixel rectangle that overlaps the change's region;
- fernwartung: the update was captured at or after the change (its stats carry the host's
  capture time; host, viewer and workload share this machine's clock).
Changes with no such update within MAX_LATENCY_SECONDS count as missed. When changes come
faster than updates (30 fps video, 60 Hz drag) several changes pair with the same update,
as a person looking at the screen would see it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .records import Capture, Change, Delivery, Region

MAX_LATENCY_SECONDS = 1.0


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
    if delivery.regions is not None:
        return any(overlaps(region, change.region) for region in delivery.regions)
    return True


def change_latencies(changes: Sequence[Change], deliveries: Sequence[Delivery]) -> list[float]:
    """Seconds from each change to the first update that can show it (missed ones left out)."""
    ordered = sorted(deliveries, key=lambda delivery: delivery.completed_at)
    times = [delivery.completed_at for delivery in ordered]
    latencies = []
    for change in changes:
        index = bisect.bisect_right(times, change.at)
        while index < len(ordered) and times[index] - change.at <= MAX_LATENCY_SECONDS:
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


def summarise(capture: Capture, window: Window, cpu_percent: dict[str, float]) -> dict:
    """The figures of one system on one scenario, as plain JSON-ready values."""
    changes = [change for change in capture.changes if window.holds(change.at)]
    deliveries = [d for d in capture.deliveries if window.holds(d.completed_at)]
    latencies = change_latencies(changes, capture.deliveries)
    to_client = sum(chunk.to_client for chunk in capture.wire if window.holds(chunk.at))
    to_server = sum(chunk.to_server for chunk in capture.wire if window.holds(chunk.at))
    characters = sum(change.characters for change in changes)
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
        "update_payload_kilobytes_per_second": sum(d.bytes for d in deliveries)
        / window.seconds
        / 1000.0,
        "wire_bytes_per_update": to_client / len(deliveries) if deliveries else None,
        "characters_typed": characters,
        "bytes_per_character": to_client / characters if characters else None,
        "wire_source": capture.wire_source,
    }
    figures.update({f"cpu_{role}_percent": value for role, value in cpu_percent.items()})
    server, x_server = cpu_percent.get("server"), cpu_percent.get("x_server")
    if server is not None:
        figures["cpu_total_percent"] = server + (x_server or 0.0)
    return figures
