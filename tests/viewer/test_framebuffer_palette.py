"""Palette tiles: exact round trip from the host's encoder, strict refusal of bad bytes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from host_agent.damage.tiles import Rect
from host_agent.encode import encode_rect
from protocol import messages
from protocol.errors import ProtocolError
from viewer.framebuffer import decode_tile


@given(
    colours=st.integers(2, 16),
    width=st.integers(1, 64),
    height=st.integers(1, 64),
    seed=st.integers(0, 2**32 - 1),
)
def test_palette_tiles_decode_to_the_exact_pixels(colours, width, height, seed):
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 2**24, colours, dtype=np.uint32) | np.uint32(0xFF000000)
    frame = palette[rng.integers(0, colours, (height, width))].view(np.uint8)
    frame = frame.reshape(height, width, 4)
    tile = encode_rect(frame, Rect(0, 0, width, height), 80, palette=True)
    assert np.array_equal(np.asarray(decode_tile(tile)), frame[:, :, 2::-1])


@given(st.binary(max_size=80), st.integers(1, 20), st.integers(1, 20))
def test_garbage_palette_tiles_raise_protocol_errors(data, width, height):
    tile = messages.Tile(0, 0, width, height, messages.Codec.PALETTE, data)
    try:
        image = decode_tile(tile)
    except ProtocolError:
        return
    assert image.size == (width, height)


def test_a_palette_index_beyond_its_colours_is_refused():
    # 3 colours -> 2 bits per index; index 3 names no colour.
    data = bytes((2,)) + bytes(9) + bytes((0b11000000,))
    with pytest.raises(ProtocolError, match="does not name"):
        decode_tile(messages.Tile(0, 0, 1, 1, messages.Codec.PALETTE, data))
