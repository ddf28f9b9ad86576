"""A relay killed and started again under a live session, with real processes: how long
until frames flow again, and what the customer read meanwhile (issue 20, point 15).

Used by tests/e2e/test_relay_restart.py (the race, several times) and
benchmarks/relay_restart.py (the time, median of several runs).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.relay import add_technician, start_relay_process, stop_relay_process
from tests.viewer.processes import host_process, start_viewer

WAIT_SECONDS = 30.0
POLL_SECONDS = 0.02
RESTORED = "Connection restored"


@dataclass(frozen=True)
class Restart:
    seconds_to_frames: float  # from the new relay's LISTENING line to the next frame
    restored_lines: int  # how often the customer read that the connection was restored
    host_lines: list[str]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def frames_after(stats: Path, moment: float) -> float | None:
    """The receive time of the first frame update after `moment` (wall clock), if any."""
    if not stats.exists():
        return None
    for line in stats.read_text().splitlines():
        with contextlib.suppress(ValueError):
            received = json.loads(line)["recv_ts"]
            if received > moment:
                return float(received)
    return None


def wait_for_frames(stats: Path, moment: float) -> float:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = frames_after(stats, moment)
        if found is not None:
            return found
        time.sleep(POLL_SECONDS)  # polling a file another process writes, bounded above
    raise TimeoutError(f"no frame update after {moment} in {stats}")


def restart_under_a_session(work: Path, down_seconds: float) -> Restart:
    """A session streaming through a relay that is killed (SIGKILL), left down for
    `down_seconds` (the outage being measured, not a wait for an event) and started again
    on the same address and data folder."""
    data_dir, port = work / "relay", free_port()
    relay, url, fingerprint = start_relay_process(data_dir, port=port)
    stats = work / "stats.jsonl"
    viewer = None
    try:
        with host_process(url, fingerprint, {}, screen="synthetic") as host:
            code = host.code()
            token = add_technician(data_dir, "Erika Muster")
            viewer, _ = start_viewer(
                url, code, token, "--fingerprint", fingerprint or "", "--ui", "headless",
                "--seconds", "120", "--stats", str(stats), "--no-record",
            )  # fmt: skip
            host.answer("v")
            wait_for_frames(stats, 0.0)
            relay.kill()
            relay.wait()
            host.output.wait_for(lambda line: "Reconnecting" in line)
            time.sleep(down_seconds)  # the relay is down this long: the scenario itself
            relay, url, _ = start_relay_process(data_dir, port=port)
            listening = time.time()
            received = wait_for_frames(stats, listening)
            host.output.wait_for(lambda line: RESTORED in line)
            # Anything printed twice is printed within the next moments: the session is
            # ended by its customer, and its last lines read.
            host.send_line("q")
            with contextlib.suppress(EOFError, TimeoutError):
                host.output.wait_for(lambda line: False, timeout=10.0)
            lines = list(host.output.lines)
    finally:
        if viewer is not None and viewer.poll() is None:
            viewer.kill()
            viewer.wait()
        stop_relay_process(relay)
    return Restart(received - listening, sum(RESTORED in line for line in lines), lines)
