"""A window dragged on a real X server (no window manager, as the peer benchmark's drag)
travels as one copy, and the viewer's screen matches the host's pixel for pixel."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import numpy as np
import pytest

from host_agent.capture import MssSource
from host_agent.picture import LOSSLESS_AFTER_SECONDS
from host_agent.pipeline import FramePipeline
from host_agent.updates import PreparedUpdate
from protocol import messages
from tests.conftest import Display
from viewer.framebuffer import Framebuffer

WAIT_SECONDS = 10.0
TITLE = "drag-me"
# Quiet this long (no update) counts as still; beyond DAMAGE's coalescing of a move.
STILL_SECONDS = 0.3
# The 60x20 terminal's text as palette tiles is 2.6-2.9 KB per move (measured); a copy
# leaves only the exposed strips of the black root window, a few fill tiles at most.
MOVED_TILE_MAX_BYTES = 200


@pytest.fixture
def terminal(fresh_xvfb: Display, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """An xterm with a page of text on the display; yields its window id."""
    monkeypatch.setenv("DISPLAY", fresh_xvfb.name)
    process = subprocess.Popen(
        [
            "xterm", "-geometry", "60x20+100+120", "-T", TITLE, "-bg", "white", "-fg", "black",
            "-e", "sh", "-c", "ls -l /usr/bin | head -n 30; exec cat > /dev/null",
        ],
        env=fresh_xvfb.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        found = subprocess.run(
            ["xdotool", "search", "--sync", "--onlyvisible", "--name", TITLE],
            env=fresh_xvfb.env(),
            capture_output=True,
            text=True,
            check=True,
            timeout=WAIT_SECONDS,
        )
        yield int(found.stdout.split()[0])
    finally:
        process.kill()
        process.wait(WAIT_SECONDS)


def updates_until_still(pipeline: FramePipeline, framebuffer: Framebuffer) -> list[PreparedUpdate]:
    """Apply updates as the viewer would (through the wire encoding) until none came for
    STILL_SECONDS."""
    sent: list[PreparedUpdate] = []
    quiet_from = time.monotonic()
    deadline = quiet_from + WAIT_SECONDS
    while time.monotonic() - quiet_from < STILL_SECONDS:
        assert time.monotonic() < deadline, "the screen never became still"
        update = pipeline.produce(80)
        if update is not None:
            sent.append(update)
            wire = messages.encode(update.message(len(sent)))
            framebuffer.apply(messages.decode(wire))
            quiet_from = time.monotonic()
    return sent


def host_screen() -> np.ndarray:
    source = MssSource(1)
    try:
        return source.grab()[:, :, 2::-1]
    finally:
        source.close()


def test_a_window_moved_by_dx_and_dy_travels_as_one_copy(terminal):
    from Xlib import display as xdisplay

    pipeline = FramePipeline(lambda: MssSource(1))
    pipeline.open()
    pipeline.accept_capabilities(messages.RICH_CAPABILITIES)
    x_display = xdisplay.Display(os.environ["DISPLAY"])
    try:
        framebuffer = Framebuffer()
        # The full update, the text drawn, and any JPEG part of it again losslessly.
        deadline = time.monotonic() + WAIT_SECONDS + LOSSLESS_AFTER_SECONDS
        while not np.array_equal(np.asarray(framebuffer.snapshot()), host_screen()):
            assert time.monotonic() < deadline, "the viewer never showed the host's screen"
            updates_until_still(pipeline, framebuffer)
        window = x_display.create_resource_object("window", terminal)
        geometry = window.get_geometry()
        x, y = geometry.x, geometry.y
        for dx, dy in [(24, 10), (-8, 3), (40, -17)]:
            x, y = x + dx, y + dy
            window.configure(x=x, y=y)
            x_display.sync()
            moved = updates_until_still(pipeline, framebuffer)
            copies = [copy for update in moved for copy in update.copies]
            assert [(c.x - c.src_x, c.y - c.src_y) for c in copies] == [(dx, dy)]
            (copy,) = copies
            assert copy.width >= geometry.width and copy.height >= geometry.height
            tile_bytes = sum(len(tile.data) for update in moved for tile in update.tiles)
            assert tile_bytes <= MOVED_TILE_MAX_BYTES
            assert np.array_equal(np.asarray(framebuffer.snapshot()), host_screen())
    finally:
        x_display.close()
        pipeline.close()
