"""The peer benchmark's RFB 3.8 parser: it must find every message boundary the server sends."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.peer import rfb
from benchmarks.peer import rfb_wire as wire

PIXEL_FORMAT = struct.pack(">BBBBHHHBBBxxx", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)


def rect(x: int, y: int, width: int, height: int, encoding: int) -> bytes:
    return struct.pack(">HHHHi", x, y, width, height, encoding)


HANDSHAKE = (
    b"RFB 003.008\n"
    + bytes([1, wire.SECURITY_TYPE_NONE])
    + struct.pack(">I", 0)
    + struct.pack(">HH", 1920, 1080)
    + PIXEL_FORMAT
    + struct.pack(">I", 4)
    + b"test"
)
ZRLE_DATA = b"\x78\x9c\x01\x02\x03"
UPDATE_OF_THREE = (
    b"\x00\x00" + struct.pack(">H", 3)
    + rect(0, 0, 64, 64, wire.ENCODING_ZRLE) + struct.pack(">I", len(ZRLE_DATA)) + ZRLE_DATA
    + rect(10, 10, 20, 20, wire.ENCODING_COPY_RECT) + struct.pack(">HH", 0, 0)
    + rect(0, 0, 2, 2, wire.ENCODING_RAW) + bytes(2 * 2 * 4)
)  # fmt: skip
BELL = b"\x02"
COLOUR_MAP = b"\x01\x00" + struct.pack(">HH", 0, 2) + bytes(12)
CUT_TEXT = b"\x03\x00\x00\x00" + struct.pack(">I", 5) + b"hello"
CURSOR_THEN_LAST_RECT = (
    b"\x00\x00" + struct.pack(">H", 0xFFFF)
    + rect(0, 0, 8, 2, wire.ENCODING_CURSOR) + bytes(8 * 2 * 4 + 1 * 2)
    + rect(0, 0, 0, 0, wire.ENCODING_LAST_RECT)
)  # fmt: skip
EMPTY_UPDATE = b"\x00\x00" + struct.pack(">H", 0)
SESSION = (
    HANDSHAKE + UPDATE_OF_THREE + BELL + COLOUR_MAP + CUT_TEXT + CURSOR_THEN_LAST_RECT
    + EMPTY_UPDATE
)  # fmt: skip

EXPECTED = [
    rfb.ServerReady(1920, 1080, 32, "test"),
    rfb.UpdateCompleted(
        (
            rfb.Rect(0, 0, 64, 64, wire.ENCODING_ZRLE, 4 + len(ZRLE_DATA)),
            rfb.Rect(10, 10, 20, 20, wire.ENCODING_COPY_RECT, 4),
            rfb.Rect(0, 0, 2, 2, wire.ENCODING_RAW, 16),
        ),
        len(UPDATE_OF_THREE),
    ),
    rfb.OtherMessage("bell", 1),
    rfb.OtherMessage("colour map", len(COLOUR_MAP)),
    rfb.OtherMessage("cut text", len(CUT_TEXT)),
    rfb.UpdateCompleted(
        (rfb.Rect(0, 0, 8, 2, wire.ENCODING_CURSOR, 66),), len(CURSOR_THEN_LAST_RECT)
    ),
    rfb.UpdateCompleted((), len(EMPTY_UPDATE)),
]


def feed(chunks: list[bytes]) -> tuple[list[rfb.Event], bytes]:
    client = rfb.RfbClient()
    events: list[rfb.Event] = []
    sent = b""
    for chunk in chunks:
        events += client.receive(chunk)
        sent += client.take_outgoing()
    return events, sent


def test_a_whole_session_yields_every_message_with_its_byte_count() -> None:
    events, sent = feed([SESSION])
    assert events == EXPECTED
    assert sent == wire.PROTOCOL_VERSION + bytes([wire.SECURITY_TYPE_NONE]) + b"\x01"
    assert sum(event.bytes for event in events[1:]) == len(SESSION) - len(HANDSHAKE)


def test_cursor_only_updates_carry_no_pixels() -> None:
    events, _ = feed([SESSION])
    assert events[1].has_pixels
    assert not events[5].has_pixels


@given(st.lists(st.integers(min_value=0, max_value=len(SESSION)), max_size=40))
def test_any_split_of_the_stream_gives_the_same_events(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(SESSION)]
    chunks = [SESSION[a:b] for a, b in zip(points, points[1:], strict=False)]
    events, _ = feed(chunks)
    assert events == EXPECTED


def test_a_refusal_reports_the_servers_reason() -> None:
    refusal = b"RFB 003.008\n" + b"\x00" + struct.pack(">I", 9) + b"too many!"
    with pytest.raises(rfb.RfbError, match="too many!"):
        feed([refusal])


def test_raw_sizes_follow_the_pixel_format_the_client_set() -> None:
    bits_per_pixel_at = 12 + 2 + 4 + 4  # version, security, result, width and height
    native_16_bit = HANDSHAKE[:bits_per_pixel_at] + b"\x10" + HANDSHAKE[bits_per_pixel_at + 1 :]
    raw = b"\x00\x00" + struct.pack(">H", 1) + rect(0, 0, 2, 2, wire.ENCODING_RAW) + bytes(16)
    client = rfb.RfbClient()
    assert client.receive(native_16_bit)[0].bits_per_pixel == 16
    client.set_pixel_format()
    assert client.receive(raw) == [
        rfb.UpdateCompleted((rfb.Rect(0, 0, 2, 2, wire.ENCODING_RAW, 16),), len(raw))
    ]


def test_an_encoding_never_asked_for_is_an_error() -> None:
    hextile = b"\x00\x00" + struct.pack(">H", 1) + rect(0, 0, 16, 16, 5)
    with pytest.raises(rfb.RfbError, match="encoding 5"):
        feed([HANDSHAKE + hextile])


def test_client_messages_have_the_rfb_layout() -> None:
    assert rfb.RfbClient().set_pixel_format() == b"\x00\x00\x00\x00" + PIXEL_FORMAT
    assert wire.update_request_message(1920, 1080, incremental=True) == struct.pack(
        ">BBHHHH", 3, 1, 0, 0, 1920, 1080
    )
    encodings = wire.set_encodings_message((wire.ENCODING_ZRLE, wire.ENCODING_CURSOR))
    assert encodings == struct.pack(">BxHii", 2, 2, 16, -239)


TIGHT_RECTS = [
    # (rectangle, payload after the header): fill; JPEG with a one-byte length; palette of
    # two colours small enough to travel raw; zlib copy with a two-byte length; JPEG with a
    # three-byte length (20000 = 0x20 + 0x1C << 7 + 1 << 14)
    (rect(0, 0, 64, 64, wire.ENCODING_TIGHT), b"\x80" + b"\x01\x02\x03"),
    (rect(0, 0, 64, 64, wire.ENCODING_TIGHT), b"\x90\x05" + bytes(5)),
    (rect(0, 0, 8, 1, wire.ENCODING_TIGHT), b"\x40\x01\x01" + bytes(6) + b"\xaa"),
    (rect(0, 0, 10, 10, wire.ENCODING_TIGHT), b"\x00\xc8\x01" + bytes(200)),
    (rect(0, 0, 640, 480, wire.ENCODING_TIGHT), b"\x90\xa0\x9c\x01" + bytes(20000)),
]
TIGHT_UPDATE = (
    b"\x00\x00" + struct.pack(">H", len(TIGHT_RECTS))
    + b"".join(header + payload for header, payload in TIGHT_RECTS)
)  # fmt: skip


@given(st.lists(st.integers(min_value=0, max_value=len(TIGHT_UPDATE)), max_size=20))
def test_tight_rectangles_are_walked_to_their_end(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(TIGHT_UPDATE)]
    chunks = [HANDSHAKE] + [TIGHT_UPDATE[a:b] for a, b in zip(points, points[1:], strict=False)]
    events, _ = feed(chunks + [BELL])
    update = events[1]
    assert isinstance(update, rfb.UpdateCompleted)
    assert [r.payload_bytes for r in update.rects] == [len(p) for _, p in TIGHT_RECTS]
    assert update.bytes == len(TIGHT_UPDATE)
    assert events[2] == rfb.OtherMessage("bell", 1)
