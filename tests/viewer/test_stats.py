"""Stats lines and the live figures of the status bar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from viewer.stats import FrameStat, LiveMeter, StatsFile, percentile, read_stats


def test_stats_file_has_one_json_line_per_frame_with_the_contract_fields(tmp_path: Path) -> None:
    path = tmp_path / "stats.jsonl"
    stats = StatsFile(path)
    stats.write(FrameStat(1, 100.0, 100.01, 5000, 3))
    stats.write(FrameStat(2, 100.1, 100.12, 70, 1))
    stats.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    # The contract's fields, and the padding (an extension: the payload before it is
    # bytes - padding).
    assert set(first) == {"seq", "capture_ts", "recv_ts", "bytes", "tiles", "padding"}
    assert read_stats(path)[1] == FrameStat(2, 100.1, 100.12, 70, 1)


def test_live_meter_counts_frames_in_its_window_and_takes_the_median_latency() -> None:
    meter = LiveMeter(window_seconds=2.0)
    for index in range(10):
        meter.add(FrameStat(index + 1, 10.0 + index * 0.1, 10.0 + index * 0.1 + 0.02, 1, 1))
    figures = meter.figures(now=11.0)
    assert figures.frames_per_second == pytest.approx(5.0)
    assert figures.latency_ms == pytest.approx(20.0)
    assert meter.figures(now=100.0).latency_ms is None


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    with pytest.raises(ValueError):
        percentile([], 0.5)
