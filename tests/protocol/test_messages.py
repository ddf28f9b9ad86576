import contextlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import messages as m
from protocol.errors import ProtocolError, UnsupportedVersion

coordinate = st.integers(0, m.MAX_SCREEN_PIXELS - 1)


@st.composite
def frame_updates(draw):
    width = draw(st.integers(1, 4000))
    height = draw(st.integers(1, 4000))
    tiles = []
    for _ in range(draw(st.integers(0, m.MAX_TILE_AREA_SCREENS))):  # each up to a screen
        x, y = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
        codec = draw(st.sampled_from(m.Codec))
        if codec is m.Codec.FILL:
            data = draw(st.binary(min_size=3, max_size=3))
        elif codec is m.Codec.RECTS:
            rects = draw(st.integers(0, 3))
            size = m.RECTS_BACKGROUND_BYTES + rects * m.RECTS_ENTRY_BYTES
            data = draw(st.binary(min_size=size, max_size=size))
        else:
            data = draw(st.binary(max_size=64))
        tiles.append(
            m.Tile(
                x, y, draw(st.integers(1, width - x)), draw(st.integers(1, height - y)), codec, data
            )
        )
    return m.FrameUpdate(
        seq=draw(st.integers(0, m.MAX_SEQUENCE)),
        capture_time=draw(st.floats(0, m.MAX_TIMESTAMP)),
        screen_width=width,
        screen_height=height,
        tiles=tuple(tiles),
    )


any_message = st.one_of(
    st.builds(
        m.Hello,
        versions=st.lists(st.integers(1, 255), max_size=3).map(tuple),
        capabilities=st.lists(st.from_regex(r"[a-z0-9_.-]{1,10}", fullmatch=True), max_size=3).map(
            tuple
        ),
        screen_width=st.integers(0, 4000),
        screen_height=st.integers(0, 4000),
    ),
    frame_updates(),
    st.builds(m.Cursor, x=coordinate, y=coordinate, visible=st.booleans()),
    st.builds(m.PointerMove, x=coordinate, y=coordinate),
    st.builds(
        m.PointerButton,
        x=coordinate,
        y=coordinate,
        button=st.sampled_from(m.Button),
        pressed=st.booleans(),
    ),
    st.builds(
        m.Scroll, x=coordinate, y=coordinate, dx=st.integers(-100, 100), dy=st.integers(-100, 100)
    ),
    st.builds(
        m.Key, key=st.sampled_from(["a", "ä", "Return", "F5", "Shift_L"]), pressed=st.booleans()
    ),
    st.builds(m.Ack, seq=st.integers(0, m.MAX_SEQUENCE)),
    st.builds(m.ConsentState, level=st.sampled_from(m.ConsentLevel)),
    st.just(m.Pause()),
    st.just(m.Resume()),
    st.builds(m.Chat, text=st.text(max_size=50)),
    st.builds(
        m.Checkpoint, records=st.integers(0, 10**9), head=st.binary(min_size=32, max_size=32)
    ),
    st.builds(m.Bye, reason=st.text(max_size=50)),
    st.just(m.RefreshRequest()),
    st.just(m.ControlRequest()),
)


@given(any_message)
def test_every_message_survives_encode_and_decode(message):
    assert m.decode(m.encode(message)) == message


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_ever_raise_protocol_error(data):
    with contextlib.suppress(ProtocolError):
        m.decode(data)


@settings(max_examples=300)
@given(
    st.lists(
        st.one_of(
            st.integers(-(2**63), 2**64 - 1),
            st.floats(allow_nan=True),
            st.booleans(),
            st.none(),
            st.text(max_size=10),
            st.binary(max_size=10),
            st.lists(st.integers(-(2**63), 2**64 - 1), max_size=3),
        ),
        max_size=8,
    )
)
def test_well_formed_msgpack_with_wrong_fields_only_raises_protocol_error(values):
    with contextlib.suppress(ProtocolError):
        m.decode(msgpack.packb(values, use_bin_type=True))


def packed(*values):
    return msgpack.packb(list(values), use_bin_type=True)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (packed(99), "unknown message type 99"),
        (packed(8, "7"), "field 'seq' must be a whole number"),
        (packed(8, -1), "field 'seq' must be between"),
        (packed(8, True), "whole number"),
        (packed(8), "must have 1 fields"),
        (packed(4, 1, 2, 3), "must have 2 fields"),
        (packed(7, "rm -rf", True), "not in the expected form"),
        (packed(9, "owner"), "must be one of"),
        (packed(13, 1, b"short"), "exactly 32 bytes"),
        (packed(2, 1, float("nan"), 10, 10, []), "finite number"),
        (packed(2, 1, 1.0, 10, 10, [[5, 5, 10, 10, "fill", b"abc"]]), "outside the screen"),
        (packed(2, 1, 1.0, 10, 10, [[0, 0, 1, 1, "fill", b"ab"]]), "exactly 3 bytes"),
        (msgpack.packb({"type": 8}), "well-formed msgpack"),
        (b"\xc1", "well-formed msgpack"),
        (packed(8, 1) + b"\x01", "not padding"),
        (packed(8, 1) + bytes(1025), "not padding"),
        (b"", "well-formed msgpack"),
    ],
)
def test_bad_messages_get_a_readable_reason(data, reason):
    with pytest.raises(ProtocolError, match=reason):
        m.decode(data)


def test_oversize_message_is_refused_before_parsing():
    with pytest.raises(ProtocolError, match="larger than"):
        m.decode(b"\x00" * (m.MAX_MESSAGE_BYTES + 1))


def test_oversize_message_is_refused_when_encoding():
    big = m.Tile(0, 0, 1, 1, m.Codec.PNG, b"x" * m.MAX_MESSAGE_BYTES)
    with pytest.raises(ProtocolError, match="larger than"):
        m.encode(m.FrameUpdate(1, 1.0, 10, 10, (big,)))


def test_invalid_messages_cannot_even_be_built():
    with pytest.raises(ProtocolError):
        m.PointerMove(x=-1, y=0)
    with pytest.raises(ProtocolError):
        m.Key(key="\n", pressed=True)


def test_nested_parts_are_checked_as_built_without_being_rebuilt():
    # A message's tiles checked themselves when built; the message checks that its parts
    # are tiles (a list of fields is not one), that there are not too many, and blobs'
    # sizes, with a ProtocolError naming the field.
    tile = m.Tile(0, 0, 8, 8, m.Codec.FILL, b"\x00\x00\x00")
    with pytest.raises(ProtocolError, match=r"field 'tiles\[1\]' must be a Tile"):
        m.FrameUpdate(1, 1.0, 10, 10, (tile, [0, 0, 8, 8, "fill", b"\x00\x00\x00"]))  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="more than"):
        m.FrameUpdate(1, 1.0, 10, 10, (tile,) * (m.MAX_TILES_PER_UPDATE + 1))
    with pytest.raises(ProtocolError, match="binary data"):
        m.Tile(0, 0, 8, 8, m.Codec.FILL, "000")  # type: ignore[arg-type]
    update = m.FrameUpdate(1, 1.0, 10, 10, (tile,))
    assert update.tiles[0] is tile
    assert m.decode(m.encode(update)) == update


def test_version_negotiation_picks_the_highest_common_version():
    assert m.negotiate_version((1, 2), (2, 3)) == 2
    with pytest.raises(UnsupportedVersion, match="update the older side"):
        m.negotiate_version((1,), (7,))


def test_a_typed_key_message_is_small():
    assert len(m.encode(m.Key("a", True))) <= 6


def test_a_frame_update_that_would_allocate_gigabytes_is_refused_before_any_pixel():
    # Issue 20, point 8: 133 bytes, six FILL tiles of 16384x16384, took a viewer from 51 MiB
    # to 2.1 GB. Refused while decoding the message, before any picture exists.
    def update(width: int, height: int, tiles: list[list[object]]) -> bytes:
        return msgpack.packb([2, 1, 1.0, width, height, tiles], use_bin_type=True)

    whole = [0, 0, m.MAX_SCREEN_PIXELS, m.MAX_SCREEN_PIXELS, "fill", b"\xff\x00\x00"]
    bomb = update(m.MAX_SCREEN_PIXELS, m.MAX_SCREEN_PIXELS, [whole] * 6)
    assert len(bomb) < 200
    with pytest.raises(ProtocolError, match="larger than the largest supported"):
        m.decode(bomb)
    # A screen of a real size, its tiles covering it six times over.
    screen = [0, 0, 1920, 1080, "fill", b"\xff\x00\x00"]
    with pytest.raises(ProtocolError, match="cover the screen more than twice"):
        m.decode(update(1920, 1080, [screen] * 6))
    assert m.decode(update(1920, 1080, [screen] * 2))  # a full refresh and a bit is fine
    # Copies that together move 64 screens of pixels.
    copy = m.CopyRect(0, 0, 0, 1, 1920, 1079)
    with pytest.raises(ProtocolError, match="move too many pixels"):
        m.ExtendedFrameUpdate(1, 1.0, 1920, 1080, (), (copy,) * 64, ())
