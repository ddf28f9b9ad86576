"""Any sequence of screen changes (scrolls, moved windows, filled boxes, new text) reaches
the viewer pixel for pixel, update after update: the pipeline's picture of what the viewer
has (its reference) never drifts, however copies, fills and tiles mix in one update."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_agent.pipeline import FramePipeline
from protocol import messages
from tests.host_agent.screens import DamagedSource, SetSource, rgb, text_lines
from viewer.framebuffer import Framebuffer

HEIGHT, WIDTH = 256, 384
WHITE, BLACK = 0xFFFFFFFF, 0xFF000000
COLOURS = (0xFF1E3C5A, 0xFFC8C8C8, 0xFF204080, 0xFFF0E0D0)
GLYPHS = text_lines(40, seed=11)


def bgra(picture: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(picture).view(np.uint8).reshape(*picture.shape, 4)


def write_text(screen: np.ndarray, line: int, x: int, y: int) -> None:
    glyphs = GLYPHS[line % len(GLYPHS)][:, : WIDTH - x]
    glyphs = glyphs[: HEIGHT - y]
    screen[y : y + glyphs.shape[0], x : x + glyphs.shape[1]][glyphs] = BLACK


def scroll(screen: np.ndarray, top: int, bottom: int, rows: int, line: int) -> None:
    """Rows [top, bottom) move up by `rows`; the strip uncovered gets a new line of text."""
    screen[top : bottom - rows] = screen[top + rows : bottom].copy()
    screen[bottom - rows : bottom] = WHITE
    write_text(screen, line, 4, max(top, bottom - rows))


def move(screen: np.ndarray, x: int, y: int, width: int, height: int, dx: int, dy: int) -> None:
    """A window at (x, y) moves by (dx, dy) over a plain background (clipped to the screen)."""
    window = screen[y : y + height, x : x + width].copy()
    screen[y : y + height, x : x + width] = COLOURS[1]
    new_x, new_y = min(max(0, x + dx), WIDTH - width), min(max(0, y + dy), HEIGHT - height)
    screen[new_y : new_y + height, new_x : new_x + width] = window


changes = st.one_of(
    st.tuples(st.just("scroll"), st.integers(0, 100), st.integers(120, HEIGHT),
              st.integers(1, 40), st.integers(0, 99)),
    st.tuples(st.just("move"), st.integers(0, 200), st.integers(0, 120), st.integers(64, 180),
              st.integers(40, 130), st.integers(-40, 40), st.integers(-30, 30)),
    st.tuples(st.just("fill"), st.integers(0, WIDTH - 1), st.integers(0, HEIGHT - 1),
              st.integers(1, 200), st.integers(1, 200), st.sampled_from(COLOURS)),
    st.tuples(st.just("text"), st.integers(0, 99), st.integers(0, WIDTH - 20),
              st.integers(0, HEIGHT - 10)),
)  # fmt: skip


def apply(screen: np.ndarray, change: tuple) -> None:
    kind, *args = change
    if kind == "scroll":
        top, bottom, rows, line = args
        scroll(screen, top, bottom, min(rows, bottom - top - 1), line)
    elif kind == "move":
        x, y, width, height, dx, dy = args
        move(screen, x, y, min(width, WIDTH - x), min(height, HEIGHT - y), dx, dy)
    elif kind == "fill":
        x, y, width, height, colour = args
        screen[y : y + height, x : x + width] = colour
    else:
        line, x, y = args
        write_text(screen, line, x, y)


# Polled (the whole screen compared), or driven by damage reported as rectangles that do
# not overlap (the XFixes region the watcher asks for): then changes in separate places
# are grabbed and compared each on its own (pipeline._damaged).
SOURCES = {
    "polled": SetSource,
    "damage rectangles": lambda frame: DamagedSource(frame, cells=8),
}


@pytest.mark.parametrize("source_kind", SOURCES)
@settings(max_examples=60, deadline=None)
@given(updates=st.lists(st.lists(changes, min_size=1, max_size=3), min_size=1, max_size=8))
def test_every_update_leaves_the_viewer_with_the_host_s_pixels(source_kind, updates):
    screen = np.full((HEIGHT, WIDTH), WHITE, dtype=np.uint32)
    for row in range(12):
        write_text(screen, row, 4, 4 + row * 20)
    screen[:, 300:] = COLOURS[0]
    source = SOURCES[source_kind](bgra(screen))
    pipeline = FramePipeline(lambda: source)
    pipeline.open()
    pipeline.accept_capabilities(messages.RICH_CAPABILITIES)
    framebuffer = Framebuffer()
    framebuffer.apply(pipeline.produce(80, now=0.0).message(1))
    assert np.array_equal(np.asarray(framebuffer.snapshot()), rgb(source.frame))
    for number, batch in enumerate(updates, start=2):
        for change in batch:
            apply(screen, change)
        source.frame = bgra(screen)
        update = pipeline.produce(80, now=number / 30, timeout_seconds=0.0)
        if update is not None:
            framebuffer.apply(messages.decode(messages.encode(update.message(number))))
        assert np.array_equal(np.asarray(framebuffer.snapshot()), rgb(source.frame)), number


# A log that keeps scrolling by the same rows ("again") in a terminal at the left, among
# changes beside it ("elsewhere", far enough that no copy search reads the scroll) and
# inside it ("near"), with damage-driven grabs of only the changed box: the pipeline then
# takes the remembered scroll before comparing anything and, when the viewer has the
# whole frame, swaps the frame and its reference instead of copying pixels
# (pipeline._settle_scroll); a later grab elsewhere mends the frame where the swap left
# the viewer's older picture.
STEADY_WIDTH, TERMINAL_WIDTH, ELSEWHERE_X = 768, 256, 420
steady = st.one_of(
    st.tuples(st.just("again"), st.integers(0, 99)),
    st.tuples(st.just("again"), st.integers(0, 99)),
    st.tuples(st.just("elsewhere"), st.integers(0, 99), st.integers(ELSEWHERE_X, 700),
              st.integers(0, HEIGHT - 10)),
    st.tuples(st.just("fill"), st.integers(ELSEWHERE_X, STEADY_WIDTH - 1),
              st.integers(0, HEIGHT - 1), st.integers(1, 200), st.integers(1, 200),
              st.sampled_from(COLOURS)),
    st.tuples(st.just("near"), st.integers(0, 99), st.integers(0, TERMINAL_WIDTH - 40),
              st.integers(0, HEIGHT - 10)),
)  # fmt: skip


@pytest.mark.parametrize("cells", [None, 8], ids=["damage box", "damage rectangles"])
@settings(max_examples=60, deadline=None)
@given(
    top=st.integers(0, 60),
    bottom=st.integers(150, HEIGHT),
    rows=st.integers(1, 30),
    updates=st.lists(st.lists(steady, min_size=1, max_size=2), min_size=1, max_size=12),
)
def test_a_steady_scroll_among_other_changes_leaves_viewer_and_frame_exact(
    cells, top, bottom, rows, updates
):
    screen = np.full((HEIGHT, STEADY_WIDTH), WHITE, dtype=np.uint32)
    screen[:, ELSEWHERE_X:] = COLOURS[3]
    for row in range(12):
        write_text(screen, row, 4, 4 + row * 20)
    source = DamagedSource(bgra(screen), cells)
    pipeline = FramePipeline(lambda: source)
    pipeline.open()
    # Without video: a region changing update after update would become a (lossy) stream.
    pipeline.accept_capabilities(
        (messages.CAPABILITY_PALETTE, messages.CAPABILITY_RECTS, messages.CAPABILITY_COPY)
    )
    framebuffer = Framebuffer()
    framebuffer.apply(pipeline.produce(80, now=0.0).message(1))
    rows = min(rows, bottom - top - 1)
    terminal = screen[:, :TERMINAL_WIDTH]
    for number, batch in enumerate(updates, start=2):
        for kind, *args in batch:
            if kind == "again":
                scroll(terminal, top, bottom, rows, args[0])
            elif kind in ("elsewhere", "near"):
                line, x, y = args
                screen[y : y + 10, x : x + 60] = screen[y, x]
                write_text(screen, line, x, y)
            else:
                x, y, width, height, colour = args
                screen[y : y + height, x : x + width] = colour
        source.frame = bgra(screen)
        update = pipeline.produce(80, now=number / 30, timeout_seconds=0.0)
        if update is not None:
            framebuffer.apply(messages.decode(messages.encode(update.message(number))))
        assert np.array_equal(np.asarray(framebuffer.snapshot()), rgb(source.frame)), number
        # The frame is the screen as last grabbed, but where a swap left the viewer's
        # older picture, which the next grab covers or mends (white-box: this invariant
        # is what makes the swap safe).
        grabbed = np.ascontiguousarray(pipeline._frame).view(np.uint32)[..., 0].copy()
        stale = pipeline._stale
        if stale is not None:
            window = (slice(stale.y, stale.y + stale.height), slice(stale.x, stale.x + stale.width))
            grabbed[window] = screen[window]
        assert np.array_equal(grabbed, screen), number
