"""The pipeline's copies, palette tiles and video, applied by the viewer's framebuffer."""

from __future__ import annotations

import numpy as np

from host_agent import pipeline
from host_agent.damage import scroll
from host_agent.damage.tiles import Rect
from host_agent.pipeline import FramePipeline
from protocol import messages
from tests.host_agent.screens import (
    HEIGHT,
    LINE_PIXELS,
    WIDTH,
    SetSource,
    psnr,
    rgb,
    smooth_video,
    terminal,
    text_lines,
)
from viewer.framebuffer import Framebuffer

# H.264 at the top quality step (CRF 26) on soft moving pictures measured 40-41 dB here.
VIDEO_MIN_PSNR_DB = 35.0
FRAME_SECONDS = 1 / 30


class Link:
    """Pipeline -> wire bytes -> framebuffer, as agent and viewer do it."""

    def __init__(self, source: SetSource, capabilities=messages.RICH_CAPABILITIES) -> None:
        self.pipeline = FramePipeline(lambda: source)
        self.pipeline.open()
        self.pipeline.accept_capabilities(capabilities)
        self.framebuffer = Framebuffer()
        self.seq = 0
        self.sent: list[messages.FrameUpdate] = []

    def step(self, now: float) -> messages.FrameUpdate | None:
        update = self.pipeline.produce(80, now=now)
        if update is None:
            return None
        self.seq += 1
        message = messages.decode(messages.encode(update.message(self.seq)))
        self.framebuffer.apply(message)
        self.sent.append(message)
        return message

    def screen(self) -> np.ndarray:
        return np.asarray(self.framebuffer.snapshot())


def test_a_scrolled_terminal_travels_as_a_copy_and_matches_pixel_for_pixel():
    lines = text_lines(80)
    source = SetSource(terminal(lines, 0))
    link = Link(source)
    link.step(0.0)
    assert np.array_equal(link.screen(), rgb(source.frame))
    for first in range(1, 6):
        source.frame = terminal(lines, first)
        update = link.step(first * FRAME_SECONDS)
        assert isinstance(update, messages.ExtendedFrameUpdate)
        (copy,) = update.copies
        assert copy.src_y - copy.y == LINE_PIXELS  # the text moved up by one line
        assert copy.height >= HEIGHT // 2
        # Only the newly exposed line travels as pixels, and losslessly.
        assert all(tile.codec is not messages.Codec.JPEG for tile in update.tiles)
        assert sum(len(tile.data) for tile in update.tiles) < 1500
        assert np.array_equal(link.screen(), rgb(source.frame))


def test_a_scroll_by_several_lines_at_once_is_one_copy():
    lines = text_lines(80, seed=9)
    source = SetSource(terminal(lines, 0))
    link = Link(source)
    link.step(0.0)
    source.frame = terminal(lines, 3)
    update = link.step(FRAME_SECONDS)
    assert isinstance(update, messages.ExtendedFrameUpdate)
    assert [c.src_y - c.y for c in update.copies] == [3 * LINE_PIXELS]
    assert np.array_equal(link.screen(), rgb(source.frame))


def test_a_steady_scroll_is_taken_from_the_last_shift_without_hashing_rows(monkeypatch):
    hashed = []
    real_row_hashes = scroll.row_hashes
    monkeypatch.setattr(
        scroll, "row_hashes", lambda block: hashed.append(1) or real_row_hashes(block)
    )
    lines = text_lines(80, seed=4)
    source = SetSource(terminal(lines, 0))
    link = Link(source)
    link.step(0.0)
    shifts = []
    for first in range(1, 8):
        source.frame = terminal(lines, first)
        update = link.step(first * FRAME_SECONDS)
        assert isinstance(update, messages.ExtendedFrameUpdate)
        shifts += [copy.src_y - copy.y for copy in update.copies]
        assert np.array_equal(link.screen(), rgb(source.frame))
        if first == 1:
            assert hashed, "the first scroll is searched for"
            hashed.clear()
    assert shifts == [LINE_PIXELS] * 7
    assert not hashed, "later scrolls by the same shift hash no row"


def test_a_steady_scroll_compares_the_rows_it_moved_only_under_the_shift(monkeypatch):
    """The last scroll is tried again before the changed pixels are looked for, so the
    rows it moved are not also compared with the reference as it was."""
    compared = []
    real_changed_mask = pipeline._changed_mask

    def changed_mask(frame, reference, box, parts, equal):
        compared.append((box, equal))
        return real_changed_mask(frame, reference, box, parts, equal)

    monkeypatch.setattr(pipeline, "_changed_mask", changed_mask)
    lines = text_lines(80, seed=5)
    source = SetSource(terminal(lines, 0))
    link = Link(source)
    link.step(0.0)
    for first in range(1, 6):
        source.frame = terminal(lines, first)
        link.step(first * FRAME_SECONDS)
        assert np.array_equal(link.screen(), rgb(source.frame))
    (_, first_equal), *later = compared
    assert first_equal is None  # the first scroll is found from the changed pixels
    for box, equal in later:
        assert equal is not None and equal.height >= box.height // 2


def test_a_scroll_that_stopped_is_forgotten_so_what_follows_pays_its_check_once(monkeypatch):
    checked = []
    real_move_by = scroll._move_by
    monkeypatch.setattr(scroll, "_move_by", lambda *args: checked.append(1) or real_move_by(*args))
    lines = text_lines(80, seed=7)
    source = SetSource(terminal(lines, 0))
    link = Link(source)
    link.step(0.0)
    for first in (1, 2):
        source.frame = terminal(lines, first)
        link.step(first * FRAME_SECONDS)
    checked.clear()
    # Blocks of colour change all over the terminal, frame after frame: no scroll.
    for step in range(3, 9):
        frame = terminal(lines, 2)
        for block in range(6):
            y, x = 60 + 90 * block, 100 + 150 * ((block + step) % 6)
            frame[y : y + 60, x : x + 120, :3] = (step * 40 % 256, 90, 200)
        source.frame = frame
        link.step(step * FRAME_SECONDS)
        assert np.array_equal(link.screen(), rgb(source.frame))
    assert len(checked) == 1


def test_a_scroll_that_changes_its_stride_is_found_anew():
    lines = text_lines(80, seed=6)
    source = SetSource(terminal(lines, 0))
    link = Link(source)
    link.step(0.0)
    first, shifts = 0, []
    for step, lines_moved in enumerate([1, 1, 3, 3, 1, 2], start=1):
        first += lines_moved
        source.frame = terminal(lines, first)
        update = link.step(step * FRAME_SECONDS)
        shifts += [copy.src_y - copy.y for copy in update.copies]
        assert np.array_equal(link.screen(), rgb(source.frame))
    assert shifts == [n * LINE_PIXELS for n in [1, 1, 3, 3, 1, 2]]


def test_blank_rows_equal_under_the_last_shift_do_not_hide_the_real_scroll():
    """A text block scrolled by 3 lines above a blank area, and a status line below that
    changed: under the last shift (1 line) the blank rows are equal and fill most of the
    box, but they explain nothing; the search finds the 3-line scroll."""
    lines = text_lines(40, seed=8)
    old = np.full((HEIGHT, WIDTH), 0xFFFFFFFF, dtype=np.uint32)
    new = old.copy()
    for row in range(12):
        for picture, line in ((old, row), (new, row + 3)):
            glyphs = lines[line]
            y = row * LINE_PIXELS
            picture[y : y + 10, 40 : 40 + glyphs.shape[1]][glyphs] = 0xFF1E1E1E
    new[600:610, 40:400] = 0xFF1E1E1E  # the status line
    box = Rect(0, 0, WIDTH, 610)
    memory = scroll.ShiftMemory()
    memory.last = scroll.Move(0, LINE_PIXELS, 0, WIDTH, 200)
    found = scroll.find_move(old, new, box, memory)
    assert found is not None and found.src_y - found.dst_y == 3 * LINE_PIXELS
    assert memory.last == found


def test_a_viewer_without_the_capabilities_gets_plain_frame_updates_that_match():
    lines = text_lines(80)
    source = SetSource(terminal(lines, 0))
    link = Link(source, capabilities=())
    link.step(0.0)
    source.frame = terminal(lines, 2)
    update = link.step(FRAME_SECONDS)
    assert type(update) is messages.FrameUpdate
    assert all(tile.codec is not messages.Codec.PALETTE for tile in update.tiles)
    assert np.array_equal(link.screen(), rgb(source.frame))


def test_a_still_polled_screen_sends_nothing():
    source = SetSource(terminal(text_lines(40), 0))
    link = Link(source)
    link.step(0.0)
    assert all(link.step(i * FRAME_SECONDS) is None for i in range(1, 20))


def video_screen(step: int) -> np.ndarray:
    frame = terminal(text_lines(40), 0)
    frame[128:512, 320:960] = smooth_video(step, 640, 384)
    return frame


def test_a_playing_video_region_goes_as_h264_and_decodes_above_35_db():
    source = SetSource(video_screen(0))
    link = Link(source)
    link.step(0.0)
    packets = []
    for step in range(1, 45):
        source.frame = video_screen(step)
        update = link.step(step * FRAME_SECONDS)
        assert update is not None
        if isinstance(update, messages.ExtendedFrameUpdate) and update.video:
            (packet,) = update.video
            packets.append(packet)
            box = (
                slice(packet.y, packet.y + packet.height),
                slice(packet.x, packet.x + packet.width),
            )
            shown, expected = link.screen()[box], rgb(source.frame)[box]
            assert psnr(shown, expected) >= VIDEO_MIN_PSNR_DB
    assert len(packets) >= 30, "the video region was not detected within half a second"
    assert packets[0].keyframe and not any(p.keyframe for p in packets[1:])
    first = packets[0]
    assert (first.x, first.y) == (320, 128) and (first.width, first.height) >= (640, 384)
    # Outside the video everything is exact.
    outside = np.ones((HEIGHT, WIDTH), dtype=bool)
    outside[first.y : first.y + first.height, first.x : first.x + first.width] = False
    assert np.array_equal(link.screen()[outside], rgb(source.frame)[outside])
    video_bytes = sum(len(p.data) for p in packets)
    assert video_bytes / len(packets) < 40_000  # far below JPEG's ~100 KB per 640x384 picture


def test_inside_a_playing_video_only_video_travels_while_a_scroll_beside_it_is_a_copy():
    lines = text_lines(80, seed=3)

    def screen(step: int) -> np.ndarray:
        frame = terminal(lines, step)  # text up to x=220, left of the video
        frame[128:512, 320:960] = smooth_video(step, 640, 384)
        return frame

    source = SetSource(screen(0))
    link = Link(source)
    link.step(0.0)
    with_video = 0
    for step in range(1, 30):
        source.frame = screen(step)
        update = link.step(step * FRAME_SECONDS)
        assert isinstance(update, messages.ExtendedFrameUpdate)
        if not update.video:
            continue  # the region is not hot yet
        with_video += 1
        (packet,) = update.video
        for tile in update.tiles:  # nothing inside the video region goes twice
            assert (
                tile.x >= packet.x + packet.width
                or tile.x + tile.width <= packet.x
                or tile.y >= packet.y + packet.height
                or tile.y + tile.height <= packet.y
            )
        assert [c.src_y - c.y for c in update.copies] == [LINE_PIXELS]
        # The text is exact. (Tiles of the first, full update that touch the video are
        # JPEG; their artefacts go when the video ends, as the refresh test shows.)
        assert np.array_equal(link.screen()[:, :256], rgb(source.frame)[:, :256])
    assert with_video >= 15


def test_a_refresh_restarts_the_video_with_a_key_frame_and_a_still_video_ends_lossless():
    source = SetSource(video_screen(0))
    link = Link(source)
    link.step(0.0)
    step = 0
    for step in range(1, 20):
        source.frame = video_screen(step)
        link.step(step * FRAME_SECONDS)
    link.pipeline.request_full()
    link.step(20 * FRAME_SECONDS)  # the full refresh
    source.frame = video_screen(21)
    update = link.step(21 * FRAME_SECONDS)
    assert isinstance(update, messages.ExtendedFrameUpdate) and update.video[0].keyframe
    # The video stops: once still for the lossless delay the screen is exact again.
    for later in (1.2, 2.5, 3.8):
        link.step(21 * FRAME_SECONDS + later)
    assert np.array_equal(link.screen(), rgb(source.frame))
