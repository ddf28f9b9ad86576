"""Large regions of few colours go as palette tiles; a moving block is one rectangle."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from host_agent import encode
from host_agent.damage.tiles import Rect, changed_pixels, rectangles, tiles_of
from host_agent.encode import (
    FEW_COLOURS,
    decode_tile,
    encode_rect,
    encode_region,
    few_colour_palette,
)
from protocol.messages import Codec

BACKDROP = (32, 18, 16, 255)  # BGRA, the peer benchmark's animation backdrop


def backdrop(height: int, width: int) -> np.ndarray:
    frame = np.empty((height, width, 4), dtype=np.uint8)
    frame[:] = BACKDROP
    return frame


def rgb_of(bgra: np.ndarray) -> np.ndarray:
    return bgra[:, :, 2::-1]


def test_blocks_on_a_backdrop_are_a_small_lossless_palette_tile() -> None:
    frame = backdrop(300, 400)
    frame[40:220, 30:210, :3] = (200, 90, 250)
    frame[100:260, 150:330, :3] = (200, 250, 120)  # overlapping: three colours in all
    tile = encode_rect(frame, Rect(0, 0, 400, 300), 80, palette=True)
    assert tile.codec is Codec.PALETTE
    webp = encode_region(frame, Codec.WEBP_LOSSLESS, 80)
    assert len(tile.data) < len(webp) / 2
    assert np.array_equal(decode_tile(tile), rgb_of(frame))
    # A viewer without palette tiles still gets lossless WebP.
    assert encode_rect(frame, Rect(0, 0, 400, 300), 80).codec is Codec.WEBP_LOSSLESS


def test_a_colour_the_sample_misses_is_still_found() -> None:
    frame = backdrop(256, 256)
    frame[0:128, :, :3] = (255, 255, 255)
    frame[201, 202, :3] = (0, 0, 255)  # one pixel: not in the sample (every 13th pixel)
    assert few_colour_palette(frame) is None
    tile = encode_rect(frame, Rect(0, 0, 256, 256), 80, palette=True)
    assert tile.codec is Codec.WEBP_LOSSLESS
    assert np.array_equal(decode_tile(tile), rgb_of(frame))


def test_more_colours_than_few_are_left_to_other_codecs() -> None:
    frame = backdrop(64, 512)
    for index in range(FEW_COLOURS + 1):
        frame[:, index * 100 : index * 100 + 50, :3] = (index * 40, 255, 0)
    assert few_colour_palette(frame) is None


def test_two_colour_text_is_a_palette_no_larger_than_webp() -> None:
    image = Image.new("1", (512, 128), 1)  # one bit: two colours, as xterm's bitmap font
    draw = ImageDraw.Draw(image)
    for row in range(8):
        draw.text((4, row * 16), "def encode_tiles(frame): return 42  # xyz", fill=0)
    rgb = np.asarray(image.convert("RGB"))
    frame = np.empty((128, 512, 4), dtype=np.uint8)
    frame[:, :, :3] = rgb[:, :, ::-1]
    frame[:, :, 3] = 255
    tile = encode_rect(frame, Rect(0, 0, 512, 128), 80, palette=True)
    assert tile.codec is Codec.PALETTE
    assert len(tile.data) <= len(encode_region(frame, Codec.WEBP_LOSSLESS, 80))
    assert np.array_equal(decode_tile(tile), rgb_of(frame))


def test_a_moved_block_is_stacked_across_tile_rows() -> None:
    old, new = backdrop(400, 400), backdrop(400, 400)
    old[50:230, 60:240, :3] = (200, 90, 250)
    new[58:238, 70:250, :3] = (200, 90, 250)  # moved by (10, 8) across four tile rows
    mask = changed_pixels(new, old)
    rects = rectangles(tiles_of(mask), 400, 400, mask)
    # Top edge, the left and right edges (each one rectangle over the middle tile rows,
    # not one per row: eight rectangles without stacking), bottom edge.
    assert rects == [
        Rect(60, 50, 190, 14),
        Rect(60, 64, 10, 128),
        Rect(240, 64, 10, 128),
        Rect(60, 192, 190, 46),
    ]


def test_stacked_rectangles_still_cover_every_changed_pixel_and_nothing_twice() -> None:
    rng = np.random.default_rng(7)
    old, new = backdrop(320, 320), backdrop(320, 320)
    for _ in range(12):
        y, x = rng.integers(0, 280, 2)
        height, width = rng.integers(1, 120, 2)
        new[y : y + height, x : x + width, :3] = rng.integers(0, 256, 3)
    mask = changed_pixels(new, old)
    covered = np.zeros(mask.shape, dtype=np.int32)
    for rect in rectangles(tiles_of(mask), 320, 320, mask):
        covered[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width] += 1
    assert not (mask & (covered == 0)).any()
    assert covered.max() == 1


def test_a_large_stipple_is_a_palette_not_a_jpeg() -> None:
    frame = backdrop(128, 256)
    frame[::2, ::2, :3] = (255, 255, 255)
    frame[1::2, 1::2, :3] = (255, 255, 255)  # a checkerboard: no pixel equals its neighbour
    tile = encode_rect(frame, Rect(0, 0, 256, 128), 80, palette=True)
    assert tile.codec is Codec.PALETTE
    assert np.array_equal(decode_tile(tile), rgb_of(frame))
    assert encode_rect(frame, Rect(0, 0, 256, 128), 80).codec is Codec.JPEG  # without palettes


@given(
    height=st.integers(1, 80),
    width=st.integers(1, 80),
    blocks=st.lists(
        st.tuples(st.integers(0, 79), st.integers(0, 79), st.integers(1, 40), st.integers(1, 40),
                  st.sampled_from((0xFFAA2020, 0xFF20AA20, 0xFF2020AA, 0xFFEEEEEE, 0x00101820))),
        max_size=8,
    ),
)  # fmt: skip
def test_the_palette_a_rects_tile_is_weighed_against_is_the_few_colour_palette(
    height, width, blocks
):
    """solid_rects keeps a rects tile only if it is shorter than the region as a palette.
    That palette is built from the rectangles found, without comparing every pixel with
    every colour; it must be the very palette few_colour_palette builds from the pixels,
    also when the sample misses a tiny block's colour (then neither has one). The last
    colour differs from the backdrop only in the alpha byte, which is not a colour."""
    picture = np.full((height, width), 0xFF101820, dtype=np.uint32)
    for x, y, block_width, block_height, colour in blocks:
        picture[y : y + block_height, x : x + block_width] = colour
    found = encode._solid_rects(picture)
    assume(found is not None)
    frame = picture.view(np.uint8).reshape(height, width, 4)
    assert found.palette() == few_colour_palette(frame)
