"""Damage-driven capture on a real X server: an idle screen costs nothing, a key costs bytes,
and pointer moves arrive as events, not by polling."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from host_agent import pipeline as pipeline_module
from host_agent.capture import MssSource
from host_agent.damage.tiles import Rect
from host_agent.damage.xdamage import DamageWatcher
from host_agent.pipeline import FramePipeline
from host_agent.updates import Change, Pointer, PreparedUpdate
from protocol import messages
from tests.conftest import Display
from tests.host_agent.conftest import X_CLIENT, mouse_location
from viewer.framebuffer import Framebuffer

IDLE_SECONDS = 3.0
WAIT_SECONDS = 10.0
# Longer than any test: a pointer position that arrives came with an event, not a check.
NO_POINTER_CHECK_SECONDS = 3600.0
QUICK_POINTER_CHECK_SECONDS = 0.2
# On a still screen the capture thread wakes for the pointer check only: IDLE_SECONDS of
# it are about IDLE_SECONDS / POINTER_CHECK_SECONDS wakeups (polling every 50 ms were 60).
IDLE_WAKEUPS_ALLOWED = int(IDLE_SECONDS / pipeline_module.POINTER_CHECK_SECONDS) + 2
# One typed character in xterm's default bitmap font: the glyph's 6x13 cell and the cursor
# block moving to the next cell, one 12x13 box of two colours: 1 header byte + 2 colours
# (6 bytes) + 13 rows of 2 bytes of 1-bit indices = 33 bytes. Allow 48 for a third colour.
TYPED_TILE_MAX_BYTES = 48
# The whole frame update around it: msgpack array, type, seq, 8-byte capture time, screen
# size, the tile's position, size and codec name: 35 bytes measured; allow 100 in all.
TYPED_UPDATE_MAX_BYTES = 100


class Counting(MssSource):
    """The real capture, remembered so the test can count its grabs and wakeups."""

    made: list[Counting] = []

    def __init__(self) -> None:
        super().__init__(1)
        self.watcher: DamageWatcher | None = None
        self.grabbed: list[Rect] = []
        Counting.made.append(self)

    def grab_region(self, rect: Rect) -> np.ndarray:
        self.grabbed.append(rect)
        return super().grab_region(rect)

    def damage_watcher(self) -> DamageWatcher | None:
        self.watcher = super().damage_watcher()
        return self.watcher


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


def test_an_idle_screen_wakes_the_capture_thread_only_for_the_pointer_check(pipeline):
    framebuffer = Framebuffer()
    settle(pipeline, framebuffer)
    (source,) = Counting.made
    assert source.watcher is not None and source.watcher.pointer_events
    shown = pipeline.pointer()
    grabs_before, wakeups_before = source.grabs, source.watcher.wakeups
    # As the agent waits: until something is to be sent; here nothing is, for IDLE_SECONDS.
    change = pipeline.next_change(80, shown, timeout_seconds=IDLE_SECONDS)
    assert change == Change(None, shown)
    assert source.grabs == grabs_before
    assert source.watcher.wakeups - wakeups_before <= IDLE_WAKEUPS_ALLOWED


def next_pointer(pipe: FramePipeline, shown: Pointer) -> Pointer:
    """Wait as the agent does until the pipeline reports a pointer other than `shown`."""
    deadline = time.monotonic() + WAIT_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        change = pipe.next_change(80, shown, timeout_seconds=left)
        if change.pointer != shown:
            return change.pointer
    raise AssertionError(f"no pointer move reached the pipeline within {WAIT_SECONDS} s")


def xdotool(display: Display, *args: str) -> None:
    subprocess.run(["xdotool", *args], env=display.env(), check=True, timeout=WAIT_SECONDS)


def test_pointer_moves_made_with_xdotool_reach_the_pipeline_as_events(
    pipeline, fresh_xvfb, monkeypatch
):
    monkeypatch.setattr(pipeline_module, "POINTER_CHECK_SECONDS", NO_POINTER_CHECK_SECONDS)
    settle(pipeline, Framebuffer())
    (source,) = Counting.made
    assert source.watcher is not None and source.watcher.pointer_events  # not polled
    shown = pipeline.pointer()
    # Relative moves go through XTEST, as a mouse's (and the agent's own injection) do:
    # XInput 2 raw motion.
    for _ in range(3):
        xdotool(fresh_xvfb, "mousemove_relative", "37", "21")
        shown = next_pointer(pipeline, shown)
        assert shown == mouse_location(fresh_xvfb)
    # A warp onto the root window (nothing else is on this screen): XInput 2 motion there.
    xdotool(fresh_xvfb, "mousemove", "900", "500")
    assert next_pointer(pipeline, shown) == (900, 500)


def test_a_warp_that_raises_no_event_is_found_by_the_pointer_check(
    pipeline, fresh_xvfb, monkeypatch
):
    # A full-screen Tk window takes motion events itself, so a warp over it reaches no
    # other client: only the occasional check finds it.
    monkeypatch.setattr(pipeline_module, "POINTER_CHECK_SECONDS", QUICK_POINTER_CHECK_SECONDS)
    window = subprocess.Popen(
        [sys.executable, str(X_CLIENT), "entry"], env=fresh_xvfb.env(), stdout=subprocess.PIPE
    )
    try:
        assert window.stdout is not None and window.stdout.readline().strip() == b"ready"
        settle(pipeline, Framebuffer())
        shown = pipeline.pointer()
        target = (640, 360) if shown != (640, 360) else (641, 361)
        xdotool(fresh_xvfb, "mousemove", str(target[0]), str(target[1]))
        assert next_pointer(pipeline, shown) == target
    finally:
        window.kill()
        window.wait(WAIT_SECONDS)


def test_wake_ends_a_wait_that_has_no_time_limit(pipeline, monkeypatch):
    monkeypatch.setattr(pipeline_module, "POINTER_CHECK_SECONDS", NO_POINTER_CHECK_SECONDS)
    settle(pipeline, Framebuffer())
    shown = pipeline.pointer()
    results: list[Change] = []
    waiting = threading.Thread(
        target=lambda: results.append(pipeline.next_change(80, shown)), daemon=True
    )
    waiting.start()
    pipeline.wake()  # before or during the wait: either way it ends
    waiting.join(WAIT_SECONDS)
    assert results == [Change(None, shown)]
    pipeline.close()
    pipeline.wake()  # after close: nothing to wake, and no error


@contextlib.contextmanager
def xterm_with_cat(display: Display) -> Iterator[dict[str, str]]:
    """An xterm running `cat`, at the top left, focused; yields its environment."""
    env = display.env()
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
        yield env
    finally:
        terminal.kill()
        terminal.wait(WAIT_SECONDS)


def next_update(pipe: FramePipeline) -> PreparedUpdate | None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        update = pipe.produce(80)
        if update is not None:
            return update
    return None


def shows_the_screen(framebuffer: Framebuffer) -> bool:
    (source,) = Counting.made
    screen = source.grab()[:, :, 2::-1]
    return np.array_equal(np.asarray(framebuffer.snapshot()), screen)


def test_a_character_typed_into_xterm_is_one_small_update(pipeline, fresh_xvfb):
    with xterm_with_cat(fresh_xvfb) as env:
        framebuffer = Framebuffer()
        settle(pipeline, framebuffer)
        subprocess.run(["xdotool", "type", "x"], env=env, check=True, timeout=WAIT_SECONDS)
        updates = [next_update(pipeline)]
        updates += [None] * settle(pipeline, framebuffer)
        assert len(updates) == 1, "one key press should be one frame update"
        (update,) = updates
        assert update is not None
        (tile,) = update.tiles
        assert tile.codec is messages.Codec.PALETTE
        assert len(tile.data) <= TYPED_TILE_MAX_BYTES
        assert len(messages.encode(update.message(1))) <= TYPED_UPDATE_MAX_BYTES
        # And what the viewer shows is the screen, pixel for pixel.
        framebuffer.apply(update.message(2))
        assert shows_the_screen(framebuffer)


def test_the_same_spot_drawn_again_and_again_is_seen_each_time(pipeline, fresh_xvfb):
    # DAMAGE reports a growing bounding box once; the watcher empties it after each wait,
    # or a change inside the box already reported would never be seen again.
    with xterm_with_cat(fresh_xvfb) as env:
        framebuffer = Framebuffer()
        settle(pipeline, framebuffer)
        for number, key in enumerate(["x", "BackSpace"] * 3):
            subprocess.run(["xdotool", "key", key], env=env, check=True, timeout=WAIT_SECONDS)
            update = next_update(pipeline)
            assert update is not None, f"key {number} ({key}) was not seen"
            framebuffer.apply(update.message(number + 1))
            settle(pipeline, framebuffer)
            assert shows_the_screen(framebuffer)


BLOCK_PIXELS = 48


def test_blocks_drawn_far_apart_are_grabbed_each_on_its_own(pipeline, fresh_xvfb):
    """Blocks drawn in separate places (each one further out, so the box around them grows
    with every block) are grabbed and compared each on its own, not the screen between
    them: the watcher asks X for the damaged rectangles (an XFixes region) instead of the
    bounding box DAMAGE reports."""
    from Xlib import X
    from Xlib import display as xdisplay

    framebuffer = Framebuffer()
    settle(pipeline, framebuffer)
    (source,) = Counting.made
    source.grabbed.clear()
    step_x = (fresh_xvfb.width - 2 * BLOCK_PIXELS) // 4
    step_y = (fresh_xvfb.height - 2 * BLOCK_PIXELS) // 4
    blocks = [(40 + step * step_x, 40 + step * step_y) for step in range(5)]
    client = xdisplay.Display(fresh_xvfb.name)
    try:
        root = client.screen().root
        pen = root.create_gc(foreground=0xC83214, subwindow_mode=X.IncludeInferiors)
        for x, y in blocks:
            root.fill_rectangle(pen, x, y, BLOCK_PIXELS, BLOCK_PIXELS)
        client.sync()  # all in one go: one wait sees them all
    finally:
        client.close()
    update = next_update(pipeline)
    assert update is not None
    assert settle(pipeline, framebuffer) == 0, "the blocks came in one update"
    grabbed = list(source.grabbed)
    framebuffer.apply(update.message(1))
    assert shows_the_screen(framebuffer)
    assert len(grabbed) == len(blocks)
    for rect, (x, y) in zip(sorted(grabbed, key=lambda r: (r.y, r.x)), blocks, strict=True):
        assert rect.x <= x and x + BLOCK_PIXELS <= rect.x + rect.width
        assert rect.y <= y and y + BLOCK_PIXELS <= rect.y + rect.height
        assert rect.area <= (BLOCK_PIXELS + 2 * pipeline_module.DAMAGE_CELL_PIXELS) ** 2
