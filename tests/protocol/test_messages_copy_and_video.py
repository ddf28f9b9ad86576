"""Copies (scroll) and video packets: the extended frame update, its vectors and strictness."""

from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import messages as m
from protocol.errors import ProtocolError

# One update with a palette tile, a copy and a video packet, as the wire carries it.
VECTOR = m.ExtendedFrameUpdate(
    seq=7,
    capture_time=1714572000.5,
    screen_width=1280,
    screen_height=720,
    tiles=(m.Tile(40, 704, 12, 13, m.Codec.PALETTE, bytes.fromhex("01ffffff1e1e1e") + bytes(26)),),
    copies=(m.CopyRect(40, 48, 40, 32, 888, 672),),
    video=(m.VideoPacket(3, 320, 128, 640, 384, True, b"\x00\x00\x00\x01\x67"),),
)
VECTOR_HEX = (
    "981107cb41d98c92b8200000cd0500cd02d0919628cd02c00c0da770616c65747465c42101ffffff1e1e1e"
    "0000000000000000000000000000000000000000000000000000919628302820cd0378cd02a0919703cd01"
    "40cc80cd0280cd0180c3c4050000000167"
)


def test_the_vector_encodes_and_decodes_exactly():
    assert m.encode(VECTOR).hex() == VECTOR_HEX
    assert m.decode(bytes.fromhex(VECTOR_HEX)) == VECTOR


def test_an_extended_update_is_a_frame_update_with_its_own_type_number():
    assert m.ExtendedFrameUpdate.TYPE == 17
    assert m.MESSAGE_TYPES[17] is m.ExtendedFrameUpdate
    assert isinstance(VECTOR, m.FrameUpdate)  # same seq, ack and flow control
    assert m.FrameUpdate.TYPE == 2 and m.MESSAGE_TYPES[2] is m.FrameUpdate


def fields_with(index: int, value):
    values = msgpack.unpackb(bytes.fromhex(VECTOR_HEX), raw=False)
    values[index] = value
    return msgpack.packb(values, use_bin_type=True)


COPY = 6
VIDEO = 7


@pytest.mark.parametrize(
    ("index", "value", "why"),
    [
        (COPY, [[40, 48, 40, 48, 10, 10]], "somewhere else"),
        (COPY, [[40, 700, 40, 32, 888, 672]], "outside the screen"),
        (COPY, [[40, 48, 40, 32, 888]], "6 fields"),
        (COPY, [[40, 48, 40, 32, 888, 672]] * (m.MAX_COPIES_PER_UPDATE + 1), "more than"),
        (VIDEO, [[3, 320, 128, 641, 384, True, b"\x01"]], "even"),
        (VIDEO, [[3, 320, 128, 640, 384, True, b""]], "at least one byte"),
        (VIDEO, [[3, 1000, 128, 640, 384, True, b"\x01"]], "outside the screen"),
        (VIDEO, [[256, 320, 128, 640, 384, True, b"\x01"]], "between"),
        (VIDEO, [[3, 320, 128, 640, 384, 1, b"\x01"]], "true or false"),
        (
            VIDEO,
            [[3, 0, 0, 64, 64, True, b"\x01"], [3, 64, 0, 64, 64, True, b"\x01"]],
            "one packet",
        ),
        (VIDEO, "not a list", "a list"),
    ],
)
def test_malformed_copies_and_video_packets_are_refused(index, value, why):
    with pytest.raises(ProtocolError, match=why):
        m.decode(fields_with(index, value))


def test_a_palette_tile_is_a_tile_codec_of_its_own():
    assert m.Codec("palette") is m.Codec.PALETTE
    assert set(m.RICH_CAPABILITIES) == {"tiles.palette", "tiles.rects", "copy", "video.h264"}


@st.composite
def extended_updates(draw):
    width, height = draw(st.integers(2, 2000)), draw(st.integers(2, 2000))
    copies = []
    for _ in range(draw(st.integers(0, 3))):
        w, h = draw(st.integers(1, width)), draw(st.integers(1, height))
        src = (draw(st.integers(0, width - w)), draw(st.integers(0, height - h)))
        dst = (draw(st.integers(0, width - w)), draw(st.integers(0, height - h)))
        if src != dst:
            copies.append(m.CopyRect(*src, *dst, w, h))
    video = []
    for stream in range(draw(st.integers(0, 2))):
        w, h = 2 * draw(st.integers(1, width // 2)), 2 * draw(st.integers(1, height // 2))
        x, y = draw(st.integers(0, width - w)), draw(st.integers(0, height - h))
        data = draw(st.binary(min_size=1, max_size=32))
        video.append(m.VideoPacket(stream, x, y, w, h, draw(st.booleans()), data))
    return m.ExtendedFrameUpdate(
        draw(st.integers(0, m.MAX_SEQUENCE)),
        draw(st.floats(0, m.MAX_TIMESTAMP)),
        width,
        height,
        (),
        tuple(copies),
        tuple(video),
    )


@given(extended_updates())
def test_extended_updates_round_trip(update):
    assert m.decode(m.encode(update)) == update


@given(st.binary(max_size=200))
def test_garbage_after_the_type_number_is_a_protocol_error_or_a_message(garbage):
    data = b"\x98\x11" + garbage
    with contextlib.suppress(ProtocolError):
        m.decode(data)
