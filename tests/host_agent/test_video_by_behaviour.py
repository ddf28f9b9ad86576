"""Video recognised by how a region behaves, whatever it shows (issue 25).

A large region that changes in most captures, that no copy explains and whose tiles would
cost more than H.264 goes to H.264: a photo-like clip, a test pattern of flat bars with
sharp edges, a screen recording of text scrolling by fractions of a pixel. What costs
little as tiles stays lossless tiles (a flat cartoon), and what must stay exact stays
exact: characters strewn over a terminal, typing, scrolling text. Pipeline-level, through
encoding, the wire format and the viewer's framebuffer; nothing is timed (the capture
times are given).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.clips import CLIP_HEIGHT, CLIP_WIDTH, CLIPS
from protocol import messages
from tests.host_agent.screens import SetSource, psnr, rgb, strewn_terminal, terminal, text_lines
from tests.host_agent.test_video import Link, desktop_with, packets_of

CLIP_LEFT, CLIP_TOP = 320, 180
FRAME_SECONDS = 1 / 30
# Issue 25: any 1280x720 video at 30 frames/s in at most 700 KB/s.
BUDGET_BYTES_PER_PICTURE = 700_000 / 30
FOUND_WITHIN_CAPTURES = 8
# Measured at the stream's cap: photo 36 dB, test pattern 39 dB, screen recording 21-30 dB
# (sharp text moving; lossless again once still).
MIN_PSNR_DB = {"photo": 35.0, "pattern": 35.0, "screencast": 20.0}


@pytest.fixture(scope="module")
def clips() -> dict[str, list[np.ndarray]]:
    return {name: make() for name, make in CLIPS.items()}


def play(link: Link, source: SetSource, frames: list[np.ndarray], captures: int,
         seconds_per_capture: float = FRAME_SECONDS):  # fmt: skip
    """Show the clip on the desktop, one frame per capture; the updates, in order."""
    updates = []
    for step in range(1, captures + 1):
        source.frame = desktop_with(frames[step % len(frames)], CLIP_LEFT, CLIP_TOP)
        updates.append(link.step(step * seconds_per_capture))
    return updates


@pytest.mark.parametrize("name", ["photo", "pattern", "screencast"])
def test_a_clip_that_costs_more_as_tiles_than_as_h264_goes_to_h264_whatever_it_shows(name, clips):
    frames = clips[name]
    source = SetSource(desktop_with(frames[0], CLIP_LEFT, CLIP_TOP))
    link = Link(source)
    link.step(0.0)
    updates = play(link, source, frames, 45)
    with_video = [index for index, update in enumerate(updates) if packets_of(update)]
    assert with_video and with_video[0] < FOUND_WITHIN_CAPTURES
    assert with_video == list(range(with_video[0], len(updates)))  # then every capture
    packets = [packet for update in updates for packet in packets_of(update)]
    # One stream, inside the clip (the test pattern's box crossing the bars changes each
    # tile it passes in a few captures only: that part goes as tiles, fill and rects).
    ((x, y, width, height),) = {(p.x, p.y, p.width, p.height) for p in packets}
    assert x >= CLIP_LEFT and x + width <= CLIP_LEFT + CLIP_WIDTH
    assert y >= CLIP_TOP and y + height <= CLIP_TOP + CLIP_HEIGHT
    assert width * height >= CLIP_WIDTH * CLIP_HEIGHT // 8
    assert [p.keyframe for p in packets].count(True) == 1
    later = [len(messages.encode(update)) for update in updates[with_video[0] + 1 :]]
    assert sum(later) / len(later) <= BUDGET_BYTES_PER_PICTURE
    shown = link.screen()[CLIP_TOP : CLIP_TOP + CLIP_HEIGHT, CLIP_LEFT : CLIP_LEFT + CLIP_WIDTH]
    assert psnr(shown, rgb(frames[len(updates) % len(frames)])) >= MIN_PSNR_DB[name]
    assert np.array_equal(link.screen()[:CLIP_TOP], rgb(source.frame)[:CLIP_TOP])


def test_a_flat_cartoon_that_costs_little_as_tiles_stays_lossless_within_the_budget(clips):
    # Flat layers panning change few pixels (their edges): as palette tiles 3.6 kB a
    # picture, as H.264 3.0 kB; H.264 would lose exactness to save a fifth.
    frames = clips["cartoon"]
    source = SetSource(desktop_with(frames[0], CLIP_LEFT, CLIP_TOP))
    link = Link(source)
    link.step(0.0)
    for step in range(1, 46):
        source.frame = desktop_with(frames[step % len(frames)], CLIP_LEFT, CLIP_TOP)
        update = link.step(step * FRAME_SECONDS)
        assert update is not None and not packets_of(update)
        assert len(messages.encode(update)) <= BUDGET_BYTES_PER_PICTURE
        assert np.array_equal(link.screen(), rgb(source.frame))


def test_characters_strewn_over_a_terminal_stay_lossless_in_every_update():
    # 200 characters at random places 30 times a second: every tile changes in every
    # capture, but as tiles it costs about what H.264 would, and text must stay exact.
    frames = strewn_terminal(60)
    source = SetSource(frames[0])
    link = Link(source)
    link.step(0.0)
    for step, frame in enumerate(frames[1:], start=1):
        source.frame = frame
        update = link.step(step * FRAME_SECONDS)
        assert not packets_of(update)
        assert np.array_equal(link.screen(), rgb(frame))


def test_typing_and_scrolling_text_stay_lossless():
    lines = text_lines(120)
    source = SetSource(terminal(lines, 0))
    link = Link(source)
    link.step(0.0)
    step = 0
    for first in range(60):  # a log scrolling a line a capture
        step += 1
        source.frame = terminal(lines, first)
        assert not packets_of(link.step(step * FRAME_SECONDS))
        assert np.array_equal(link.screen(), rgb(source.frame))
    typed = terminal(lines, 60)
    for column in range(60):  # then a character a capture at the end of a line
        step += 1
        typed = typed.copy()
        typed[700:710, 40 + 6 * column : 45 + 6 * column, :3] = 30
        source.frame = typed
        assert not packets_of(link.step(step * FRAME_SECONDS))
        assert np.array_equal(link.screen(), rgb(typed))


def test_a_clip_is_found_when_a_slow_link_lets_two_captures_a_second_through(clips):
    frames = clips["photo"]
    source = SetSource(desktop_with(frames[0], CLIP_LEFT, CLIP_TOP))
    link = Link(source)
    link.step(0.0)
    updates = play(link, source, frames, 8, seconds_per_capture=0.5)
    assert any(packets_of(update) for update in updates[:6])


def test_a_region_that_changes_once_a_second_is_not_video(clips):
    # A slideshow, a clock, a status page refreshing: however costly as tiles, a change a
    # second is not a moving picture.
    frames = clips["photo"]
    source = SetSource(desktop_with(frames[0], CLIP_LEFT, CLIP_TOP))
    link = Link(source)
    link.step(0.0)
    updates = play(link, source, frames[::7], 8, seconds_per_capture=1.0)
    assert not any(packets_of(update) for update in updates)
