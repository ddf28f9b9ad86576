"""The customer switches the shared monitor; the viewer follows and input is bounded by it.

Xvfb offers one monitor (mss reads RandR CRTCs, and Xvfb has one), so a stand-in source
with two monitors of different sizes takes the place of the screen here. The agent, the
relay, the channel and the test viewer are the real ones.
"""

from __future__ import annotations

import time

import numpy as np

from host_agent import events as ui
from host_agent.capture import CaptureError, Monitor
from host_agent.inject import Bounds, NoInjectionBackend, Verdict
from host_agent.synthetic import SyntheticSource
from protocol.messages import ConsentLevel, PointerMove
from tests.host_agent.harness import host_session

MONITORS = {1: Bounds(0, 0, 1280, 720), 2: Bounds(1280, 0, 800, 600)}
SHADES = {1: 200, 2: 40}


class TwoMonitors(SyntheticSource):
    """Two still monitors side by side, each a flat shade of its own."""

    def monitors(self) -> list[Monitor]:
        return [Monitor(number, bounds) for number, bounds in MONITORS.items()]

    def select(self, number: int) -> Monitor:
        if number not in MONITORS:
            raise CaptureError(f"there is no monitor {number} (this PC has {len(MONITORS)})")
        self._monitor = Monitor(number, MONITORS[number])
        return self._monitor

    def grab(self) -> np.ndarray:
        bounds = self._monitor.bounds
        return np.full((bounds.height, bounds.width, 4), SHADES[self._monitor.number], np.uint8)


async def test_the_customer_switches_the_shared_monitor_and_the_viewer_follows(relay):
    async with host_session(
        relay, lambda: TwoMonitors(1), NoInjectionBackend, answer=ConsentLevel.CONTROL
    ) as running:
        first = await running.viewer.next_frame()
        assert (first.screen_width, first.screen_height) == (1280, 720)
        running.agent.command(ui.SelectMonitor(2))
        switched = await running.viewer.next_frame()
        assert (switched.screen_width, switched.screen_height) == (800, 600)
        assert {tile.data for tile in switched.tiles} == {bytes([SHADES[2]] * 3)}
        gate = running.agent.gate
        assert gate is not None
        # Inputs are in the shared monitor's coordinates: x = 1000 was on monitor 1 only.
        assert gate.submit(PointerMove(1000, 10), time.monotonic()) is Verdict.INVALID
        assert gate.submit(PointerMove(799, 599), time.monotonic()) is Verdict.QUEUED
        sharing = await running.ui.wait_for(ui.SharingChanged)
        assert sharing.monitor == 2 and sharing.monitors == 2
        running.agent.command(ui.SelectMonitor(3))
        line = await running.ui.wait_for(ui.ActivityLine)
        while "monitor 3" not in line.text:
            line = await running.ui.wait_for(ui.ActivityLine)
        assert gate.submit(PointerMove(1000, 10), time.monotonic()) is Verdict.INVALID
