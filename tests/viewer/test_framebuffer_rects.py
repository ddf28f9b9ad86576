"""Rects tiles (a background and solid rectangles on it): the wire form, exact round trip
from the host's encoder, strict refusal of bad bytes, and what they save on moving blocks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from host_agent.encode import MAX_SOLID_RECTS, solid_rects
from host_agent.pipeline import FramePipeline
from protocol import messages
from protocol.errors import ProtocolError
from tests.host_agent.screens import SetSource, rgb
from viewer.framebuffer import Framebuffer, decode_tile

# A dark 8x4 tile with one red 3x2 rectangle at (1, 1): background, then colour, x, y,
# width, height (u16, big-endian). Refused below: x + width > 8, y + height > 4, width 0,
# y far outside.
VECTOR = messages.Tile(
    0, 0, 8, 4, messages.Codec.RECTS, bytes.fromhex("102030ff00000001000100030002")
)


def test_the_vector_decodes_to_its_pixels_and_round_trips_on_the_wire():
    expected = np.zeros((4, 8, 3), dtype=np.uint8)
    expected[:, :] = (0x10, 0x20, 0x30)
    expected[1:3, 1:4] = (0xFF, 0, 0)
    assert np.array_equal(np.asarray(decode_tile(VECTOR)), expected)
    update = messages.FrameUpdate(1, 1714572000.0, 8, 4, (VECTOR,))
    assert messages.decode(messages.encode(update)) == update


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "a colour and"),
        (bytes(3 + 10), "a colour and"),
        (bytes(3) + bytes(11) * (messages.MAX_RECTS_PER_TILE + 1), "a colour and"),
    ],
)
def test_a_rects_tile_of_the_wrong_length_is_refused(data, why):
    with pytest.raises(ProtocolError, match=why):
        messages.Tile(0, 0, 8, 4, messages.Codec.RECTS, data)


@pytest.mark.parametrize(
    "entry", ["0007000000020001", "0000000300010002", "0000000000000001", "0000ffff00010001"]
)
def test_a_rectangle_outside_its_tile_or_empty_is_refused(entry):
    tile = messages.Tile(0, 0, 8, 4, messages.Codec.RECTS, bytes(6) + bytes.fromhex(entry))
    with pytest.raises(ProtocolError, match="outside the tile"):
        decode_tile(tile)


@given(st.integers(0, 4).flatmap(lambda n: st.binary(min_size=3 + 11 * n, max_size=3 + 11 * n)),
       st.integers(1, 40), st.integers(1, 40))  # fmt: skip
def test_any_rects_tile_decodes_to_its_size_or_is_refused(data, width, height):
    tile = messages.Tile(0, 0, width, height, messages.Codec.RECTS, data)
    try:
        image = decode_tile(tile)
    except ProtocolError:
        return
    assert image.size == (width, height)


@given(
    blocks=st.lists(
        st.tuples(st.integers(0, 70), st.integers(0, 40), st.integers(1, 40), st.integers(1, 30),
                  st.sampled_from((0xFFAA2020, 0xFF20AA20, 0xFF2020AA))),
        max_size=6,
    ),
)  # fmt: skip
def test_blocks_on_a_backdrop_decode_to_the_exact_pixels(blocks):
    picture = np.full((48, 96), 0xFF101820, dtype=np.uint32)
    for x, y, width, height, colour in blocks:
        picture[y : y + height, x : x + width] = colour
    frame = picture.view(np.uint8).reshape(48, 96, 4)
    data = solid_rects(picture)
    if data is None:  # more rectangles than a rects tile takes, or a palette is shorter
        assert len(blocks) > 1
        return
    tile = messages.Tile(0, 0, 96, 48, messages.Codec.RECTS, data)
    assert np.array_equal(np.asarray(decode_tile(tile)), frame[:, :, 2::-1])


def test_text_is_no_rects_tile():
    rng = np.random.default_rng(4)
    glyphs = np.where(rng.random((13, 60)) < 0.35, 0xFF000000, 0xFFFFFFFF).astype(np.uint32)
    assert solid_rects(glyphs) is None
    assert MAX_SOLID_RECTS < messages.MAX_RECTS_PER_TILE


def test_bouncing_blocks_go_as_one_rects_tile_each_and_the_viewer_matches():
    """The peer benchmark's animation in small: blocks moving over a dark backdrop cost a
    tile each (about 40 bytes), where the tile grid cut each into several palette tiles
    (about 110 bytes a block)."""
    height, width, backdrop = 480, 640, 0xFF101220
    screen = np.full((height, width), backdrop, dtype=np.uint32)
    rng = np.random.default_rng(8)
    blocks = [[int(rng.integers(0, 400)), int(rng.integers(0, 300)), 9, -7, 70] for _ in range(4)]
    colours = [0xFFC05050, 0xFF50C050, 0xFF5050C0, 0xFFC0C050]
    source = SetSource(screen.view(np.uint8).reshape(height, width, 4).copy())
    pipeline = FramePipeline(lambda: source)
    pipeline.open()
    pipeline.accept_capabilities(messages.RICH_CAPABILITIES)
    framebuffer = Framebuffer()
    framebuffer.apply(pipeline.produce(80, now=0.0).message(1))
    for step in range(1, 6):
        for block, colour in zip(blocks, colours, strict=True):
            x, y, dx, dy, size = block
            screen[y : y + size, x : x + size] = backdrop
            block[0], block[1] = x + dx, y + dy
            screen[y + dy : y + dy + size, x + dx : x + dx + size] = colour
        source.frame = screen.view(np.uint8).reshape(height, width, 4).copy()
        update = pipeline.produce(80, now=step / 30)
        message = messages.decode(messages.encode(update.message(step + 1)))
        assert {tile.codec for tile in message.tiles} == {messages.Codec.RECTS}
        assert len(message.tiles) <= len(blocks)
        assert sum(len(tile.data) for tile in message.tiles) <= len(blocks) * (3 + 2 * 11)
        framebuffer.apply(message)
        assert np.array_equal(np.asarray(framebuffer.snapshot()), rgb(source.frame))
