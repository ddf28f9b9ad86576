"""The real screen pipeline on a real X server (Xvfb 1280x720), through the real relay."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from host_agent import pipeline
from host_agent.capture import MssSource
from host_agent.flow import FRAME_WINDOW
from host_agent.inject import NoInjectionBackend
from protocol.messages import Cursor
from tests.conftest import Display
from tests.host_agent.conftest import mouse_location, move_mouse
from tests.host_agent.harness import host_session

# JPEG tolerance: on photo-like regions (JPEG q80, a gradient with +-6 noise) the mean
# absolute error per channel is at most 6 levels of 255; flat regions (fill, lossless WebP) match exactly, and once the
# screen has been still for LOSSLESS_AFTER_SECONDS the JPEG regions are re-sent losslessly.
JPEG_MEAN_ERROR_LEVELS = 6.0
NO_FRAME_WAIT_SECONDS = 2.0
# Longer than the test: a pointer position that arrives came with an event, not a check.
NO_POINTER_CHECK_SECONDS = 3600.0


def draw_pattern(path: Path) -> np.ndarray:
    """Colour blocks, 'text' stripes and a noisy photo-like area, 1280x720 RGB."""
    rng = np.random.default_rng(4)
    picture = np.full((720, 1280, 3), 255, dtype=np.uint8)
    picture[0:200, 0:300] = (200, 30, 30)
    picture[0:200, 300:600] = (30, 160, 40)
    for row in range(240, 420, 16):
        words = rng.integers(0, 2, size=100).repeat(8).astype(bool)
        picture[row : row + 9, 20:820][:, words] = (20, 20, 20)
    y, x = np.mgrid[0:256, 0:384]
    photo = np.stack([(x + y) % 256, (x * 2) % 256, (255 - y) % 256], axis=-1)
    photo = photo + rng.integers(-6, 6, size=photo.shape)
    picture[440:696, 860:1244] = np.clip(photo, 0, 255).astype(np.uint8)
    Image.fromarray(picture).save(path)
    return picture


def screen_now() -> np.ndarray:
    source = MssSource(1)
    try:
        return source.grab()[:, :, 2::-1].copy()  # BGRA -> RGB
    finally:
        source.close()


MAX_UPDATES_UNTIL_EXACT = 4


async def test_pattern_arrives_pixel_close_then_exact(relay, x_client, tmp_path):
    expected = draw_pattern(tmp_path / "pattern.png")
    x_client("image", str(tmp_path / "pattern.png"))
    on_screen = await asyncio.to_thread(screen_now)
    assert np.array_equal(on_screen, expected), "the X client did not draw the pattern"
    async with host_session(relay, lambda: MssSource(1), NoInjectionBackend) as running:
        viewer = running.viewer
        first = await viewer.next_frame()
        assert (first.screen_width, first.screen_height) == (1280, 720)
        received = viewer.framebuffer.astype(np.int16)
        error = np.abs(received - expected.astype(np.int16))
        photo = (slice(440, 696), slice(860, 1244))
        assert error[photo].mean() <= JPEG_MEAN_ERROR_LEVELS
        # Rectangles that hold part of the photo are JPEG as a whole (256x64 rectangles).
        outside = error.copy()
        outside[384:720, 768:1280] = 0
        assert outside.max() == 0, "flat regions must arrive exactly"
        codecs = {tile.codec.value for tile in first.tiles}
        assert {"fill", "webp", "jpeg"} <= codecs
        # The still JPEG region is re-sent losslessly: the picture ends exact. (A refresh of
        # the JPEG region may come first when the damage-driven capture sees it again.)
        for _ in range(MAX_UPDATES_UNTIL_EXACT):
            update = await viewer.next_frame()
            if np.array_equal(viewer.framebuffer, expected):
                break
        assert np.array_equal(viewer.framebuffer, expected)
        assert all(tile.codec.value != "jpeg" for tile in update.tiles)


async def test_still_screen_sends_no_frames(relay, x_client, tmp_path):
    picture = np.full((720, 1280, 3), 240, dtype=np.uint8)
    picture[100:300, 100:500] = (10, 80, 200)
    Image.fromarray(picture).save(tmp_path / "still.png")
    x_client("image", str(tmp_path / "still.png"))
    on_screen = await asyncio.to_thread(screen_now)
    assert np.array_equal(on_screen, picture), "the X client did not draw the picture"
    async with host_session(relay, lambda: MssSource(1), NoInjectionBackend) as running:
        viewer = running.viewer
        await viewer.next_frame()
        with pytest.raises(TimeoutError):
            await viewer.next_frame(timeout=NO_FRAME_WAIT_SECONDS)
        assert running.agent.frames_sent == 1


def move_mouse_by(display: Display, dx: int, dy: int) -> None:
    """A relative move through XTEST, as a mouse's would come (xdotool mousemove warps)."""
    subprocess.run(
        ["xdotool", "mousemove_relative", str(dx), str(dy)],
        env=display.env(),
        check=True,
        timeout=10,
    )


async def test_pointer_moves_reach_the_viewer_without_polling(relay, on_display, monkeypatch):
    monkeypatch.setattr(pipeline, "POINTER_CHECK_SECONDS", NO_POINTER_CHECK_SECONDS)
    await asyncio.to_thread(move_mouse, on_display, 300, 200)
    async with host_session(relay, lambda: MssSource(1), NoInjectionBackend) as running:
        viewer = running.viewer
        await viewer.next_frame()
        for _ in range(3):
            await asyncio.to_thread(move_mouse_by, on_display, 25, 15)
            where = await asyncio.to_thread(mouse_location, on_display)
            async with asyncio.timeout(NO_FRAME_WAIT_SECONDS * 5):
                while await viewer.next_of(Cursor) != Cursor(*where, visible=True):
                    pass  # a position on the way there


def resident_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_viewer_that_stops_acking_gets_no_backlog(relay, x_client):
    x_client("animate")
    async with host_session(relay, lambda: MssSource(1), NoInjectionBackend) as running:
        viewer = running.viewer
        viewer.acking = False
        for _ in range(FRAME_WINDOW):
            await viewer.next_frame()
        before = resident_bytes()
        with pytest.raises(TimeoutError):
            await viewer.next_frame(timeout=NO_FRAME_WAIT_SECONDS)
        assert running.agent.frames_sent == FRAME_WINDOW
        assert running.agent.flow.in_flight == FRAME_WINDOW
        assert resident_bytes() - before < 20 * 1024 * 1024
        # Acks resume: a fresh frame comes, not the backlog of the stalled seconds.
        viewer.acking = True
        from protocol.messages import Ack

        await viewer.send(Ack(FRAME_WINDOW))
        fresh = await viewer.next_frame()
        assert fresh.seq == FRAME_WINDOW + 1
        assert fresh.capture_time > 0
