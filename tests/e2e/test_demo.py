"""The newcomer's first command: `fernwartung demo` on a machine without a display."""

import json
import os
import subprocess
import sys

DEMO_TIMEOUT_SECONDS = 120


def test_demo_runs_a_whole_session_without_a_display_and_prints_its_summary():
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = subprocess.run(
        [sys.executable, "-m", "fernwartung", "demo", "--seconds", "2", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=DEMO_TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["screen"] == "synthetic"
    assert summary["frames_received"] > 10
    assert summary["frames_sent"] == summary["frames_received"] == summary["frames_recorded"]
    assert summary["recording_verified"] is True
    assert 0 < summary["latency_p50_ms"] <= summary["latency_p95_ms"]
    assert summary["fps"] > 0 and summary["bytes"] > 0
    # A session of a few seconds is one started minute: 1.40 EUR + 19 % VAT.
    assert summary["bill"] == {"minutes": "1", "net": "1.40", "vat": "0.27", "gross": "1.67"}
