"""A relay killed under a live session and started again: the session goes on without a
new code, and the customer reads once that the connection was restored (issue 20, point
15; the time it takes is benchmarks/relay_restart.py's). Real processes, several times."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.relay_restart import restart_under_a_session

RUNS = 3


@pytest.mark.parametrize("run", range(RUNS))
def test_after_a_relay_restart_frames_flow_again_and_restored_is_said_once(
    tmp_path: Path, run: int
) -> None:
    restart = restart_under_a_session(tmp_path, down_seconds=1.0)
    assert restart.seconds_to_frames > 0
    # Before: "Connection restored; sharing is as before" twice in the terminal.
    assert restart.restored_lines == 1, restart.host_lines[-12:]
