"""The move stage: a block that moved in any direction is found and verified pixel for
pixel; a near miss never becomes a copy."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from host_agent.damage import move
from host_agent.damage.tiles import Rect
from host_agent.picture import LOSSLESS_AFTER_SECONDS, copy_within
from host_agent.pipeline import FramePipeline
from protocol import messages
from tests.host_agent.screens import SetSource, rgb, text_lines
from viewer.framebuffer import Framebuffer

HEIGHT, WIDTH = 480, 800
WINDOW_HEIGHT, WINDOW_WIDTH = 200, 260
BLACK, WHITE, GREY = 0xFF000000, 0xFFFFFFFF, 0xFF808080


def stipple(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A checked background like Xvfb's root window: it matches itself at many offsets."""
    y, x = np.mgrid[0:height, 0:width]
    return np.where((x + y) % 2 == 0, BLACK, WHITE).astype(np.uint32)


def text_window(seed: int = 3) -> np.ndarray:
    """A terminal-like window: a border and lines of made-up text."""
    window = np.full((WINDOW_HEIGHT, WINDOW_WIDTH), WHITE, dtype=np.uint32)
    window[:2] = window[-2:] = window[:, :2] = window[:, -2:] = BLACK
    for row, glyphs in enumerate(text_lines(14, seed)):
        y = 6 + row * 13
        glyphs = glyphs[:, : WINDOW_WIDTH - 10]
        window[y : y + 10, 5 : 5 + glyphs.shape[1]][glyphs] = BLACK
    return window


def screen_with(window: np.ndarray, x: int, y: int) -> np.ndarray:
    screen = stipple()
    screen[y : y + window.shape[0], x : x + window.shape[1]] = window
    return screen


def changed_box(old: np.ndarray, new: np.ndarray) -> Rect:
    rows, columns = np.nonzero(old != new)
    top, left = int(rows.min()), int(columns.min())
    return Rect(left, top, int(columns.max()) - left + 1, int(rows.max()) - top + 1)


def pixels(picture: np.ndarray, rect: Rect) -> np.ndarray:
    return picture[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width]


def assert_exact(found: move.Move, old: np.ndarray, new: np.ndarray) -> None:
    assert np.array_equal(pixels(new, found.destination), pixels(old, found.source))


def test_a_window_moved_right_and_down_is_one_exact_move_covering_it():
    window = text_window()
    old, new = screen_with(window, 200, 100), screen_with(window, 208, 103)
    found = move.find_copy(old, new, changed_box(old, new))
    assert found is not None
    assert (found.x - found.src_x, found.y - found.src_y) == (8, 3)
    assert_exact(found, old, new)
    # The whole window (it may take some background along where the stipple agrees).
    destination = found.destination
    assert destination.x <= 208 and destination.x + destination.width >= 208 + WINDOW_WIDTH
    assert destination.y <= 103 and destination.y + destination.height >= 103 + WINDOW_HEIGHT


def test_moves_in_every_direction_are_found():
    window = text_window(seed=8)
    for dx, dy in [(-16, -9), (24, 0), (-5, 37), (1, -1), (120, 60)]:
        old, new = screen_with(window, 300, 150), screen_with(window, 300 + dx, 150 + dy)
        found = move.find_copy(old, new, changed_box(old, new))
        assert found is not None, (dx, dy)
        assert (found.x - found.src_x, found.y - found.src_y) == (dx, dy)
        assert_exact(found, old, new)
        assert found.width >= WINDOW_WIDTH and found.height >= WINDOW_HEIGHT


def test_a_vertical_scroll_is_still_the_scroll_stage_s_copy():
    window = text_window(seed=4)
    old = screen_with(window, 100, 100)
    new = old.copy()
    new[110:290, 100 : 100 + WINDOW_WIDTH] = old[123:303, 100 : 100 + WINDOW_WIDTH]  # one line up
    found = move.find_copy(old, new, changed_box(old, new))
    assert found is not None and (found.src_x, found.src_y - found.y) == (found.x, 13)
    assert_exact(found, old, new)


def test_while_a_window_is_dragged_no_row_is_hashed_for_a_scroll(monkeypatch):
    """The first step of a drag is searched for as a scroll too; once a copy has gone
    sideways, the search in any direction goes first, and the scroll search (which hashes
    every row of both pictures) is not needed while that explains the change. A scroll
    after the drag is found again."""
    from host_agent.damage import scroll

    hashed = []
    real_row_hashes = scroll.row_hashes
    monkeypatch.setattr(
        scroll, "row_hashes", lambda block: hashed.append(1) or real_row_hashes(block)
    )
    window, memory = text_window(seed=6), scroll.ShiftMemory()
    steps = [(100, 100), (108, 102), (116, 103), (124, 103), (132, 101)]
    for number, ((x, y), (new_x, new_y)) in enumerate(itertools.pairwise(steps)):
        old, new = screen_with(window, x, y), screen_with(window, new_x, new_y)
        found = move.find_copy(old, new, changed_box(old, new), memory)
        assert found is not None and (found.x - found.src_x, found.y - found.src_y) == (
            new_x - x,
            new_y - y,
        )
        assert_exact(found, old, new)
        assert bool(hashed) == (number == 0), number
        hashed.clear()
    old = screen_with(window, 132, 101)
    new = old.copy()
    new[111:291, 132 : 132 + WINDOW_WIDTH] = old[124:304, 132 : 132 + WINDOW_WIDTH]  # a scroll
    found = move.find_copy(old, new, changed_box(old, new), memory)
    assert found is not None and (found.src_x, found.src_y - found.y) == (found.x, 13)
    assert_exact(found, old, new)


def test_a_near_miss_with_one_differing_pixel_is_not_copied_over_that_pixel():
    window = text_window(seed=5)
    old = screen_with(window, 200, 100)
    new = screen_with(window, 212, 105)
    new[105 + 120, 212 + 130] = GREY  # the moved window differs in one pixel
    box = changed_box(old, new)
    # The block at exactly the window's offset: what differs is cut away, never copied.
    explained = move.moved_block(old, new, box, pixels(new, box) != pixels(old, box), (-12, -5))
    assert explained is not None
    found, _ = explained
    assert not contains(found.destination, 212 + 130, 105 + 120)
    assert_exact(found, old, new)
    best = move.find_copy(old, new, box)
    assert best is not None and not contains(best.destination, 212 + 130, 105 + 120)
    assert_exact(best, old, new)


def test_a_clean_rectangle_keeps_no_differing_pixel():
    match = np.ones((40, 60), dtype=bool)
    match[:, :3] = False  # an exposed strip
    match[25, 30] = False  # one pixel inside
    block = move.clean_rectangle(match, 0, 40, 0, 60)
    assert block is not None
    row_start, row_end, column_start, column_end = block
    assert match[row_start:row_end, column_start:column_end].all()
    assert (row_end - row_start) * (column_end - column_start) >= 24 * 57


def test_a_flat_block_or_a_pattern_proposes_no_anchor():
    flat = np.full((64, 200), GREY, dtype=np.uint32)
    assert move.anchors(flat, np.ones_like(flat, dtype=bool)) == []
    pattern = stipple(64, 200)
    assert move.anchors(pattern, np.ones_like(pattern, dtype=bool)) == []


def contains(rect: Rect, x: int, y: int) -> bool:
    return rect.x <= x < rect.x + rect.width and rect.y <= y < rect.y + rect.height


@settings(max_examples=60, deadline=None)
@given(
    dx=st.integers(-40, 40),
    dy=st.integers(-40, 40),
    seed=st.integers(0, 2**16),
    noise=st.lists(st.tuples(st.integers(0, HEIGHT - 1), st.integers(0, WIDTH - 1)), max_size=5),
)
def test_a_found_move_is_always_exact(dx, dy, seed, noise):
    window = text_window(seed=seed)
    old = screen_with(window, 300, 150)
    new = screen_with(window, 300 + dx, 150 + dy)
    for y, x in noise:
        new[y, x] = GREY
    if not (old != new).any():
        return
    found = move.find_copy(old, new, changed_box(old, new))
    if found is not None:
        assert_exact(found, old, new)


def bgra(picture: np.ndarray) -> np.ndarray:
    """A uint32 picture as the BGRA frame a screen source delivers."""
    return np.ascontiguousarray(picture).view(np.uint8).reshape(*picture.shape, 4)


def test_a_dragged_window_travels_as_copies_and_the_viewer_matches_pixel_for_pixel():
    window = text_window(seed=6)
    source = SetSource(bgra(screen_with(window, 100, 120)))
    pipeline = FramePipeline(lambda: source)
    pipeline.open()
    pipeline.accept_capabilities(messages.RICH_CAPABILITIES)
    framebuffer = Framebuffer()
    framebuffer.apply(pipeline.produce(80, now=0.0).message(1))
    # Whatever went lossy in the full update goes again losslessly once still (the stipple
    # goes as a palette at once).
    start = LOSSLESS_AFTER_SECONDS + 0.1
    follow_up = pipeline.produce(80, now=start)
    if follow_up is not None:
        framebuffer.apply(follow_up.message(2))
    assert np.array_equal(np.asarray(framebuffer.snapshot()), rgb(source.frame))
    x, y = 100, 120
    for step in range(1, 8):
        x, y = x + 8, y + (step % 3) - 1
        source.frame = bgra(screen_with(window, x, y))
        update = pipeline.produce(80, now=start + step / 30)
        assert update is not None
        message = messages.decode(messages.encode(update.message(step + 2)))
        assert isinstance(message, messages.ExtendedFrameUpdate)
        (copy,) = message.copies
        assert (copy.x - copy.src_x, copy.y - copy.src_y) == (8, (step % 3) - 1)
        # Only the exposed strips of background go as pixels: a few hundred bytes, where
        # the window's text as tiles were several kilobytes.
        assert sum(len(tile.data) for tile in message.tiles) < 600
        framebuffer.apply(message)
        assert np.array_equal(np.asarray(framebuffer.snapshot()), rgb(source.frame))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(-70, 70),
    st.integers(-70, 70),
    st.integers(1, 90),
    st.integers(1, 60),
    st.integers(0, 2**32 - 1),
)
def test_applying_a_move_in_place_equals_copying_the_source_aside(dx, dy, height, width, seed):
    # The reference applies copies in place, in blocks where source and destination
    # overlap: the result must be that of a copy through a separate buffer, for any shift.
    picture = np.random.default_rng(seed).integers(0, 2**32, size=(240, 220), dtype=np.uint32)
    src_x, src_y = 80, 80
    moved = move.Move(src_x, src_y, src_x + dx, src_y + dy, width, height)
    expected = picture.copy()
    expected[moved.y : moved.y + height, moved.x : moved.x + width] = picture[
        src_y : src_y + height, src_x : src_x + width
    ].copy()
    copy_within(picture, moved)
    assert np.array_equal(picture, expected)
