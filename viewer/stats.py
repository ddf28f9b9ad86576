"""Measurements of received frame updates: the `--stats` file and the live status figures.

`--stats FILE.jsonl` gets one JSON object per received frame update (DESIGN.md):
``{"seq": 7, "capture_ts": 1700000000.123, "recv_ts": 1700000000.141, "bytes": 5123,
"tiles": 4, "padding": 0}`` where `capture_ts` is the host's wall clock at capture,
`recv_ts` the viewer's wall clock when the update arrived, `bytes` the update's plaintext
size, and `padding` how many of those bytes are padding (protocol/padding.py).
"""

from __future__ import annotations

import collections
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

LIVE_WINDOW_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class FrameStat:
    """What the viewer knows about one received frame update."""

    seq: int
    capture_ts: float
    recv_ts: float
    bytes: int
    tiles: int
    padding: int = 0

    @property
    def latency_seconds(self) -> float:
        """Capture on the host to arrival here (meaningful when both clocks agree)."""
        return self.recv_ts - self.capture_ts


class StatsFile:
    """Appends one JSON line per frame update; flushed on close."""

    def __init__(self, path: Path) -> None:
        self._file: TextIO = path.open("w", encoding="utf-8")

    def write(self, stat: FrameStat) -> None:
        self._file.write(json.dumps(asdict(stat), separators=(",", ":")) + "\n")

    def close(self) -> None:
        self._file.close()


def read_stats(path: Path) -> list[FrameStat]:
    """The lines of a stats file, for tests and benchmarks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [FrameStat(**json.loads(line)) for line in lines if line.strip()]


@dataclass(frozen=True, slots=True)
class LiveFigures:
    frames_per_second: float
    latency_ms: float | None


class LiveMeter:
    """Frames per second and median latency over the last few seconds, for the status bar."""

    def __init__(self, window_seconds: float = LIVE_WINDOW_SECONDS) -> None:
        self._window_seconds = window_seconds
        self._recent: collections.deque[FrameStat] = collections.deque()

    def add(self, stat: FrameStat) -> None:
        self._recent.append(stat)

    def figures(self, now: float) -> LiveFigures:
        while self._recent and self._recent[0].recv_ts < now - self._window_seconds:
            self._recent.popleft()
        if not self._recent:
            return LiveFigures(0.0, None)
        latencies = sorted(stat.latency_seconds for stat in self._recent)
        median = latencies[len(latencies) // 2]
        return LiveFigures(len(self._recent) / self._window_seconds, max(median, 0.0) * 1000)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]
