"""Damage-driven capture on a real X server: an idle screen costs nothing, a key costs bytes."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest

from host_agent.capture import MssSource
from host_agent.pipeline import FramePipeline
from protocol import messages
from viewer.framebuffer import Framebuffer

IDLE_SECONDS = 3.0
WAIT_SECONDS = 10.0
# One typed character in xterm's default bitmap font: the glyph's 6x13 cell and the cursor
# block moving to the next cell, one 12x13 box of two colours: 1 header byte + 2 colours
# (6 bytes) + 13 rows of 2 bytes of 1-bit indices = 33 bytes. Allow 48 for a third colour.
TYPED_TILE_MAX_BYTES = 48
# The whole frame update around it: msgpack array, type, seq, 8-byte capture time, screen
# size, the tile's position, size and codec name: 35 bytes measured; allow 100 in all.
TYPED_UPDATE_MAX_BYTES = 100


class Counting(MssSource):
    """The real capture, remembered so the test can count its grabs."""

    made: list[Counting] = []

    def __init__(self) -> None:
        super().__init__(1)
        Counting.made.append(self)


@pytest.fixture
def pipeline(fresh_xvfb, monkeypatch):
    monkeypatch.setenv("DISPLAY", fresh_xvfb.name)
    Counting.made.clear()
    pipe = FramePipeline(Counting)
    pipe.open()
    pipe.accept_capabilities(messages.RICH_CAPABILITIES)
    try:
        yield pipe
    finally:
        pipe.close()


def settle(pipe: FramePipeline, framebuffer: Framebuffer) -> int:
    """Send updates until a whole DAMAGE wait passes with none; returns how many."""
    sent = 0
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        update = pipe.produce(80)
        if update is None:
            return sent
        framebuffer.apply(update.message(sent + 1))
        sent += 1
    raise AssertionError("the screen never became still")


def test_an_idle_screen_sends_nothing_and_grabs_nothing_for_three_seconds(pipeline):
    assert pipeline.damage_driven
    framebuffer = Framebuffer()
    settle(pipeline, framebuffer)
    (source,) = Counting.made
    grabs_before = source.grabs
    updates = 0
    end = time.monotonic() + IDLE_SECONDS
    while time.monotonic() < end:  # a measured interval, as the agent's loop runs it
        updates += pipeline.produce(80) is not None
    assert updates == 0
    assert source.grabs == grabs_before


def test_a_character_typed_into_xterm_is_one_small_update(pipeline, fresh_xvfb):
    env = fresh_xvfb.env()
    terminal = subprocess.Popen(
        ["xterm", "-geometry", "80x24+0+0", "-title", "typing", "-e", "cat"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        subprocess.run(
            ["xdotool", "search", "--sync", "--onlyvisible", "--name", "typing"],
            env=env,
            check=True,
            capture_output=True,
            timeout=WAIT_SECONDS,
        )
        # No window manager gives the focus: the pointer over the window does.
        subprocess.run(["xdotool", "mousemove", "200", "100"], env=env, check=True)
        framebuffer = Framebuffer()
        settle(pipeline, framebuffer)
        subprocess.run(["xdotool", "type", "x"], env=env, check=True, timeout=WAIT_SECONDS)
        updates = []
        deadline = time.monotonic() + WAIT_SECONDS
        while not updates and time.monotonic() < deadline:
            update = pipeline.produce(80)
            if update is not None:
                updates.append(update)
        updates += [None] * settle(pipeline, framebuffer)
        assert len(updates) == 1, "one key press should be one frame update"
        (update,) = updates
        (tile,) = update.tiles
        assert tile.codec is messages.Codec.PALETTE
        assert len(tile.data) <= TYPED_TILE_MAX_BYTES
        assert len(messages.encode(update.message(1))) <= TYPED_UPDATE_MAX_BYTES
        # And what the viewer shows is the screen, pixel for pixel.
        framebuffer.apply(update.message(2))
        (source,) = Counting.made
        screen = source.grab()[:, :, 2::-1]
        assert np.array_equal(np.asarray(framebuffer.snapshot()), screen)
    finally:
        terminal.kill()
        terminal.wait(WAIT_SECONDS)
