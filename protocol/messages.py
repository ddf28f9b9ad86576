"""End-to-end messages between host and viewer, as typed dataclasses with a msgpack codec.

On the wire (inside the encrypted channel) a message is a msgpack array:
``[type number, field, field, ...]`` in the order the dataclass declares its fields.
Decoding is strict: unknown types, wrong field types, values out of range and oversize
payloads all raise ProtocolError with a sentence a person can act on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar

import msgpack

from protocol.errors import ProtocolError
from protocol.schema import (
    Blob,
    Choice,
    Flag,
    Float,
    Int,
    ListOf,
    Record,
    Text,
    check,
    from_values,
    rule,
    to_values,
)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_SCREEN_PIXELS = 16384
# A screen's area is bounded too (an 8K screen, 7680x4320, fits): a viewer allocates the
# screen as the update announces it, before it has read a pixel.
MAX_SCREEN_AREA_PIXELS = 32 * 1024 * 1024
# The tiles of one update cover at most this many screens (a host's tiles do not overlap,
# so one is the most it sends; each tile is decoded into memory of its own size).
MAX_TILE_AREA_SCREENS = 2
# The copies of one update move at most this many screens of pixels.
MAX_COPY_AREA_SCREENS = 8
MAX_TILES_PER_UPDATE = 8192
MAX_COPIES_PER_UPDATE = 64
MAX_VIDEO_PACKETS_PER_UPDATE = 4
MAX_VIDEO_STREAM = 255
MAX_VIDEO_PACKET_BYTES = 4 * 1024 * 1024
# Most colours a palette tile may carry, and the flag bit saying its indices are deflated.
MAX_PALETTE_COLOURS = 16
PALETTE_DEFLATED_FLAG = 0x80
# A rects tile: its background colour (RGB), then per rectangle its colour (RGB) and
# x, y, width, height inside the tile (u16 each, big-endian), painted in order.
RECTS_BACKGROUND_BYTES = 3
RECTS_ENTRY_BYTES = 11
MAX_RECTS_PER_TILE = 64
MAX_CHAT_CHARS = 2000
MAX_REASON_CHARS = 500
MAX_SEQUENCE = 2**63 - 1
# Seconds since the epoch, up to the year 2500.
MAX_TIMESTAMP = 16_725_225_600.0
HEAD_BYTES = 32
# At most this much zero padding may follow a message (protocol/padding.py).
MAX_PADDING_BYTES = 1024

_COORDINATE = Int(0, MAX_SCREEN_PIXELS - 1)
_SIZE = Int(1, MAX_SCREEN_PIXELS)
_SCREEN_SIDE = Int(0, MAX_SCREEN_PIXELS)
_SEQUENCE = Int(0, MAX_SEQUENCE)
# One printable character (any script, so "ä" and "ß" work) or a key name such as "Return".
KEY_PATTERN = r"[^\x00-\x1f\x7f]|[A-Za-z][A-Za-z0-9_]{1,31}"


class Codec(enum.Enum):
    """How a tile's bytes are to be turned back into pixels."""

    FILL = "fill"  # 3 bytes: one RGB colour for the whole tile
    JPEG = "jpeg"
    WEBP_LOSSLESS = "webp"
    PNG = "png"
    # 1 byte header (colour count - 1, plus PALETTE_DEFLATED_FLAG), the colours as RGB,
    # then row-major indices packed at 1, 2 or 4 bits (rows padded to whole bytes).
    PALETTE = "palette"
    # A background colour and up to MAX_RECTS_PER_TILE solid rectangles on it (VNC's RRE):
    # moving blocks, buttons, menus. Layout: see RECTS_ENTRY_BYTES.
    RECTS = "rects"


# What a viewer announces in Hello.capabilities to receive the richer updates; a host
# sends them only to a viewer that announced them.
CAPABILITY_PALETTE = "tiles.palette"
CAPABILITY_RECTS = "tiles.rects"
CAPABILITY_COPY = "copy"
CAPABILITY_VIDEO_H264 = "video.h264"
RICH_CAPABILITIES = (
    CAPABILITY_PALETTE,
    CAPABILITY_RECTS,
    CAPABILITY_COPY,
    CAPABILITY_VIDEO_H264,
)


class ConsentLevel(enum.Enum):
    PENDING = "pending"
    DENIED = "denied"
    VIEW = "view"
    CONTROL = "control"


class Button(enum.Enum):
    LEFT = "left"
    MIDDLE = "middle"
    RIGHT = "right"


class Message:
    """Base of every end-to-end message."""

    TYPE: ClassVar[int]

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True, slots=True)
class Tile:
    """A rectangle of the screen and its encoded pixels."""

    x: int = rule(_COORDINATE)
    y: int = rule(_COORDINATE)
    width: int = rule(_SIZE)
    height: int = rule(_SIZE)
    codec: Codec = rule(Choice(Codec))
    data: bytes = rule(Blob(MAX_MESSAGE_BYTES), repr=False)

    def __post_init__(self) -> None:
        check(self)
        if self.x + self.width > MAX_SCREEN_PIXELS or self.y + self.height > MAX_SCREEN_PIXELS:
            raise ProtocolError("a tile reaches beyond the largest screen supported")
        if self.codec is Codec.FILL and len(self.data) != 3:
            raise ProtocolError("a fill tile carries exactly 3 bytes of colour")
        if self.codec is Codec.RECTS:
            entries, rest = divmod(len(self.data) - RECTS_BACKGROUND_BYTES, RECTS_ENTRY_BYTES)
            if entries < 0 or rest or entries > MAX_RECTS_PER_TILE:
                raise ProtocolError(
                    f"a rects tile carries a colour and 0 to {MAX_RECTS_PER_TILE} "
                    f"rectangles of {RECTS_ENTRY_BYTES} bytes"
                )


@dataclass(frozen=True, slots=True)
class Hello(Message):
    TYPE: ClassVar[int] = 1
    versions: tuple[int, ...] = rule(ListOf(Int(1, 255), 16))
    capabilities: tuple[str, ...] = rule(ListOf(Text(32, r"[a-z0-9_.-]+"), 64))
    screen_width: int = rule(_SCREEN_SIDE)
    screen_height: int = rule(_SCREEN_SIDE)


@dataclass(frozen=True, slots=True)
class FrameUpdate(Message):
    TYPE: ClassVar[int] = 2
    seq: int = rule(_SEQUENCE)
    capture_time: float = rule(Float(0.0, MAX_TIMESTAMP))
    screen_width: int = rule(_SIZE)
    screen_height: int = rule(_SIZE)
    tiles: tuple[Tile, ...] = rule(ListOf(Record(Tile), MAX_TILES_PER_UPDATE))

    def __post_init__(self) -> None:
        check(self)
        screen = self.screen_width * self.screen_height
        if screen > MAX_SCREEN_AREA_PIXELS:
            raise ProtocolError(
                f"a screen of {self.screen_width}x{self.screen_height} pixels is larger "
                f"than the largest supported ({MAX_SCREEN_AREA_PIXELS} pixels)"
            )
        area = 0
        for tile in self.tiles:
            if tile.x + tile.width > self.screen_width or tile.y + tile.height > self.screen_height:
                raise ProtocolError("a tile of the frame update lies outside the screen")
            area += tile.width * tile.height
        if area > MAX_TILE_AREA_SCREENS * screen:
            raise ProtocolError("the tiles of a frame update cover the screen more than twice")


@dataclass(frozen=True, slots=True)
class CopyRect:
    """Move the pixels at (src_x, src_y) to (x, y): how a scroll travels (like RFB CopyRect).

    The source is read from the viewer's screen as it is before this copy is applied, so
    overlapping source and destination are allowed.
    """

    src_x: int = rule(_COORDINATE)
    src_y: int = rule(_COORDINATE)
    x: int = rule(_COORDINATE)
    y: int = rule(_COORDINATE)
    width: int = rule(_SIZE)
    height: int = rule(_SIZE)

    def __post_init__(self) -> None:
        check(self)
        if (self.src_x, self.src_y) == (self.x, self.y):
            raise ProtocolError("a copy must move its pixels somewhere else")


@dataclass(frozen=True, slots=True)
class VideoPacket:
    """One H.264 access unit (Annex B) of the video stream shown at the rectangle.

    A stream is decoded in order; it starts, and restarts after a change of rectangle,
    with a key frame. H.264 (4:2:0) needs even sides.
    """

    stream: int = rule(Int(0, MAX_VIDEO_STREAM))
    x: int = rule(_COORDINATE)
    y: int = rule(_COORDINATE)
    width: int = rule(_SIZE)
    height: int = rule(_SIZE)
    keyframe: bool = rule(Flag())
    data: bytes = rule(Blob(MAX_VIDEO_PACKET_BYTES), repr=False)

    def __post_init__(self) -> None:
        check(self)
        if self.width % 2 or self.height % 2:
            raise ProtocolError("a video rectangle must have even width and height")
        if not self.data:
            raise ProtocolError("a video packet carries at least one byte")


def _inside(parts: tuple[Any, ...], width: int, height: int) -> bool:
    return all(p.x + p.width <= width and p.y + p.height <= height for p in parts)


@dataclass(frozen=True, slots=True)
class ExtendedFrameUpdate(FrameUpdate):
    """A frame update that also carries copies and video packets.

    It is a FrameUpdate (same sequence, ack and flow control), applied in this order:
    the copies one after the other, then the video packets, then the tiles.
    """

    TYPE: ClassVar[int] = 17
    copies: tuple[CopyRect, ...] = rule(ListOf(Record(CopyRect), MAX_COPIES_PER_UPDATE))
    video: tuple[VideoPacket, ...] = rule(ListOf(Record(VideoPacket), MAX_VIDEO_PACKETS_PER_UPDATE))

    def __post_init__(self) -> None:
        FrameUpdate.__post_init__(self)
        width, height = self.screen_width, self.screen_height
        sources = tuple(CopySource(c.src_x, c.src_y, c.width, c.height) for c in self.copies)
        if not (_inside(self.copies, width, height) and _inside(sources, width, height)):
            raise ProtocolError("a copy of the frame update reaches outside the screen")
        if sum(c.width * c.height for c in self.copies) > MAX_COPY_AREA_SCREENS * width * height:
            raise ProtocolError("the copies of a frame update move too many pixels")
        if not _inside(self.video, width, height):
            raise ProtocolError("a video rectangle of the frame update lies outside the screen")
        streams = [packet.stream for packet in self.video]
        if len(set(streams)) != len(streams):
            raise ProtocolError("a frame update carries at most one packet per video stream")


@dataclass(frozen=True, slots=True)
class CopySource:
    """Where a copy reads from (for bounds checks)."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Cursor(Message):
    TYPE: ClassVar[int] = 3
    x: int = rule(_COORDINATE)
    y: int = rule(_COORDINATE)
    visible: bool = rule(Flag())


@dataclass(frozen=True, slots=True)
class PointerMove(Message):
    TYPE: ClassVar[int] = 4
    x: int = rule(_COORDINATE)
    y: int = rule(_COORDINATE)


@dataclass(frozen=True, slots=True)
class PointerButton(Message):
    TYPE: ClassVar[int] = 5
    x: int = rule(_COORDINATE)
    y: int = rule(_COORDINATE)
    button: Button = rule(Choice(Button))
    pressed: bool = rule(Flag())


@dataclass(frozen=True, slots=True)
class Scroll(Message):
    TYPE: ClassVar[int] = 6
    x: int = rule(_COORDINATE)
    y: int = rule(_COORDINATE)
    dx: int = rule(Int(-100, 100))
    dy: int = rule(Int(-100, 100))


@dataclass(frozen=True, slots=True)
class Key(Message):
    TYPE: ClassVar[int] = 7
    key: str = rule(Text(32, KEY_PATTERN))
    pressed: bool = rule(Flag())


@dataclass(frozen=True, slots=True)
class Ack(Message):
    TYPE: ClassVar[int] = 8
    seq: int = rule(_SEQUENCE)


@dataclass(frozen=True, slots=True)
class ConsentState(Message):
    TYPE: ClassVar[int] = 9
    level: ConsentLevel = rule(Choice(ConsentLevel))


@dataclass(frozen=True, slots=True)
class Pause(Message):
    TYPE: ClassVar[int] = 10


@dataclass(frozen=True, slots=True)
class Resume(Message):
    TYPE: ClassVar[int] = 11


@dataclass(frozen=True, slots=True)
class Chat(Message):
    TYPE: ClassVar[int] = 12
    text: str = rule(Text(MAX_CHAT_CHARS))


@dataclass(frozen=True, slots=True)
class Checkpoint(Message):
    """The sender's recording chain head after `records` records."""

    TYPE: ClassVar[int] = 13
    records: int = rule(_SEQUENCE)
    head: bytes = rule(Blob(HEAD_BYTES, exact_bytes=HEAD_BYTES))


@dataclass(frozen=True, slots=True)
class Bye(Message):
    TYPE: ClassVar[int] = 14
    reason: str = rule(Text(MAX_REASON_CHARS))


@dataclass(frozen=True, slots=True)
class RefreshRequest(Message):
    TYPE: ClassVar[int] = 15


@dataclass(frozen=True, slots=True)
class ControlRequest(Message):
    TYPE: ClassVar[int] = 16


MESSAGE_TYPES: dict[int, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        FrameUpdate,
        Cursor,
        PointerMove,
        PointerButton,
        Scroll,
        Key,
        Ack,
        ConsentState,
        Pause,
        Resume,
        Chat,
        Checkpoint,
        Bye,
        RefreshRequest,
        ControlRequest,
        ExtendedFrameUpdate,
    )
}

INPUT_TYPES = (PointerMove, PointerButton, Scroll, Key)


def encode(message: Message) -> bytes:
    """The plaintext bytes of a message, ready to be sealed by the channel."""
    data: bytes = msgpack.packb([message.TYPE, *to_values(message)], use_bin_type=True)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
    return data


def decode(data: bytes) -> Message:
    """Parse and validate plaintext bytes from the peer (padding after it: zeros only,
    protocol/padding.py)."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
    unpacker = msgpack.Unpacker(
        raw=False,
        use_list=True,
        strict_map_key=True,
        max_ext_len=0,
        max_map_len=0,
        max_array_len=MAX_TILES_PER_UPDATE + 8,
        max_buffer_size=max(len(data), 1),
    )
    unpacker.feed(data)
    try:
        value: Any = unpacker.unpack()
    except msgpack.OutOfData:
        raise ProtocolError("message is not well-formed msgpack (OutOfData)") from None
    except (ValueError, TypeError, OverflowError, msgpack.UnpackException) as error:
        raise ProtocolError(
            f"message is not well-formed msgpack ({type(error).__name__})"
        ) from None
    padding = data[unpacker.tell() :]
    if padding and (len(padding) > MAX_PADDING_BYTES or padding.count(0) != len(padding)):
        raise ProtocolError("a message is followed by data that is not padding")
    if not isinstance(value, list) or not value:
        raise ProtocolError("a message must be a non-empty msgpack array")
    type_number, *fields = value
    if isinstance(type_number, bool) or not isinstance(type_number, int):
        raise ProtocolError("a message must start with its type number")
    cls = MESSAGE_TYPES.get(type_number)
    if cls is None:
        raise ProtocolError(f"unknown message type {type_number}")
    return from_values(cls, fields)


def encoded_length(data: bytes) -> int:
    """How many bytes of `data` the message's msgpack value takes (the rest is padding)."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(data), 1))
    unpacker.feed(data)
    try:
        unpacker.skip()
    except (msgpack.OutOfData, ValueError, msgpack.UnpackException):
        return len(data)
    return unpacker.tell()


def negotiate_version(own: tuple[int, ...], peer: tuple[int, ...]) -> int:
    """The highest version both sides speak, or UnsupportedVersion with advice."""
    from protocol.errors import UnsupportedVersion

    common = set(own) & set(peer)
    if not common:
        raise UnsupportedVersion(
            f"the peer speaks protocol version(s) {', '.join(map(str, peer)) or 'none'}, "
            f"this program {', '.join(map(str, own))}: update the older side"
        )
    return max(common)
