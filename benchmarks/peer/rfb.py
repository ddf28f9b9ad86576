"""A minimal RFB 3.8 client as a sans-I/O state machine, for counting what a VNC server sends.

It is fed the bytes the server sent and hands back events; it writes nothing and reads no
clock. It does not decode pixels: it only walks the stream far enough to know where every
message and rectangle ends, which is all the benchmark needs (updates, bytes, rectangles,
and the moment each update completed, which the caller stamps).

Large rectangle payloads are skipped by counting, never buffered, so a video at megabytes
per second costs the parser almost nothing.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

from . import rfb_wire as wire

_RECT_HEADER = struct.Struct(">HHHHi")


class RfbError(Exception):
    """The server sent something this client cannot follow (or refused the connection)."""


class State(enum.Enum):
    VERSION = "version"
    SECURITY_TYPE_COUNT = "security type count"
    SECURITY_TYPES = "security types"
    REASON_LENGTH = "failure reason length"
    REASON = "failure reason"
    SECURITY_RESULT = "security result"
    SERVER_INIT = "server init"
    SERVER_NAME = "server name"
    MESSAGE_TYPE = "message type"
    UPDATE_HEADER = "framebuffer update header"
    RECT_HEADER = "rectangle header"
    ZRLE_LENGTH = "ZRLE length"
    PAYLOAD = "rectangle payload"
    TIGHT_CONTROL = "Tight compression control"
    TIGHT_FILTER = "Tight filter"
    TIGHT_PALETTE_SIZE = "Tight palette size"
    TIGHT_PALETTE = "Tight palette"
    TIGHT_LENGTH = "Tight compact length"
    COLOUR_MAP_HEADER = "colour map header"
    CUT_TEXT_HEADER = "cut text header"
    SKIP = "skipping message body"


@dataclass(frozen=True, slots=True)
class Rect:
    """One rectangle of a framebuffer update: where, and how it was encoded."""

    x: int
    y: int
    width: int
    height: int
    encoding: int
    payload_bytes: int

    @property
    def is_pixels(self) -> bool:
        """True for rectangles that carry screen content (not cursor or size news)."""
        return self.encoding not in wire.PSEUDO_ENCODINGS


@dataclass(frozen=True, slots=True)
class ServerReady:
    """The handshake is done; the client may now send its setup messages."""

    width: int
    height: int
    bits_per_pixel: int
    name: str


@dataclass(frozen=True, slots=True)
class UpdateCompleted:
    """A whole FramebufferUpdate arrived; bytes counts its header and every payload."""

    rects: tuple[Rect, ...]
    bytes: int

    @property
    def has_pixels(self) -> bool:
        return any(rect.is_pixels for rect in self.rects)


@dataclass(frozen=True, slots=True)
class OtherMessage:
    """A Bell, SetColourMapEntries or ServerCutText; counted, otherwise ignored."""

    kind: str
    bytes: int


Event = ServerReady | UpdateCompleted | OtherMessage


@dataclass(slots=True)
class _Update:
    rects_left: int
    bytes: int = 4
    rects: list[Rect] = field(default_factory=list)


class RfbClient:
    """Client side of RFB 3.8 with security type None: feed bytes, get events and replies.

    `receive` returns the events completed by the bytes given; `take_outgoing` returns the
    bytes the client must send (the handshake answers). Setup and update requests come from
    the `*_message` functions below, sent by the shell when it wants.
    """

    def __init__(self) -> None:
        self.state = State.VERSION
        self.bits_per_pixel = 32
        self._buffer = bytearray()
        self._outgoing = bytearray()
        self._skip_left = 0
        self._skip_then: State = State.MESSAGE_TYPE
        self._update: _Update | None = None
        self._rect_header: tuple[int, int, int, int, int] | None = None
        self._other_kind = ""
        self._other_bytes = 0
        self._server_init = b""
        self._rect_read = 0  # bytes of the current rectangle's payload read as sub-headers
        self._palette_colours = 0
        self._length_value = 0
        self._length_bytes = 0
        self._need = len(wire.PROTOCOL_VERSION)

    def set_pixel_format(self) -> bytes:
        """The SetPixelFormat message for 32 bpp BGRX; from now on sizes follow that format."""
        self.bits_per_pixel = 32
        return struct.pack(">Bxxx", wire.MSG_SET_PIXEL_FORMAT) + wire.PIXEL_FORMAT_BGRX

    def take_outgoing(self) -> bytes:
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def receive(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        view = memoryview(data)
        while True:
            if self.state in (State.PAYLOAD, State.SKIP):
                if not view:
                    break
                step = min(self._skip_left, len(view))
                self._skip_left -= step
                view = view[step:]
                if self._skip_left == 0:
                    self._finish_skip(events)
                continue
            if len(self._buffer) < self._need:
                take = min(self._need - len(self._buffer), len(view))
                self._buffer += view[:take]
                view = view[take:]
                if len(self._buffer) < self._need:
                    break
            chunk = bytes(self._buffer)
            self._buffer.clear()
            self._handle(chunk, events)
        return events

    def _expect(self, state: State, size: int) -> None:
        self.state = state
        self._need = size

    def _skip(self, size: int, then: State, events: list[Event]) -> None:
        """Count `size` bytes away without keeping them, then carry on as `then` says."""
        self._skip_left = size
        self._skip_then = then
        self.state = State.PAYLOAD if then is State.RECT_HEADER else State.SKIP
        if size == 0:
            self._finish_skip(events)

    def _handle(self, chunk: bytes, events: list[Event]) -> None:
        handler = getattr(self, "_on_" + self.state.name.lower())
        handler(chunk, events)

    # Handshake

    def _on_version(self, chunk: bytes, events: list[Event]) -> None:
        if not chunk.startswith(b"RFB ") or chunk < b"RFB 003.008":
            raise RfbError(f"the server speaks {chunk!r}, not RFB 3.8 or later")
        self._outgoing += wire.PROTOCOL_VERSION
        self._expect(State.SECURITY_TYPE_COUNT, 1)

    def _on_security_type_count(self, chunk: bytes, events: list[Event]) -> None:
        if chunk[0] == 0:
            self._expect(State.REASON_LENGTH, 4)
        else:
            self._expect(State.SECURITY_TYPES, chunk[0])

    def _on_security_types(self, chunk: bytes, events: list[Event]) -> None:
        if wire.SECURITY_TYPE_NONE not in chunk:
            raise RfbError(f"the server wants authentication (types {list(chunk)}); run it without")
        self._outgoing += bytes([wire.SECURITY_TYPE_NONE])
        self._expect(State.SECURITY_RESULT, 4)

    def _on_reason_length(self, chunk: bytes, events: list[Event]) -> None:
        length = struct.unpack(">I", chunk)[0]
        if not 0 < length <= wire.MAX_REASON_BYTES:
            raise RfbError("the server refused the connection without a readable reason")
        self._expect(State.REASON, length)

    def _on_reason(self, chunk: bytes, events: list[Event]) -> None:
        raise RfbError(f"the server refused the connection: {chunk.decode('utf-8', 'replace')}")

    def _on_security_result(self, chunk: bytes, events: list[Event]) -> None:
        if struct.unpack(">I", chunk)[0] != 0:
            self._expect(State.REASON_LENGTH, 4)
            return
        self._outgoing += b"\x01"  # ClientInit: shared, so other viewers stay connected
        self._expect(State.SERVER_INIT, 24)

    def _on_server_init(self, chunk: bytes, events: list[Event]) -> None:
        self._server_init = chunk
        name_length = struct.unpack(">I", chunk[20:24])[0]
        if name_length > wire.MAX_REASON_BYTES:
            raise RfbError(f"the server's desktop name is {name_length} bytes long")
        if name_length:
            self._expect(State.SERVER_NAME, name_length)
        else:
            self._on_server_name(b"", events)

    def _on_server_name(self, chunk: bytes, events: list[Event]) -> None:
        width, height, bits_per_pixel = struct.unpack(">HHB", self._server_init[:5])
        if bits_per_pixel not in (8, 16, 32):
            raise RfbError(f"the server offers {bits_per_pixel} bits per pixel")
        self.bits_per_pixel = bits_per_pixel
        events.append(ServerReady(width, height, bits_per_pixel, chunk.decode("utf-8", "replace")))
        self._expect(State.MESSAGE_TYPE, 1)

    # Normal operation

    def _on_message_type(self, chunk: bytes, events: list[Event]) -> None:
        kind = chunk[0]
        if kind == wire.MSG_FRAMEBUFFER_UPDATE:
            self._expect(State.UPDATE_HEADER, 3)
        elif kind == wire.MSG_SET_COLOUR_MAP_ENTRIES:
            self._expect(State.COLOUR_MAP_HEADER, 5)
        elif kind == wire.MSG_BELL:
            events.append(OtherMessage("bell", 1))
            self._expect(State.MESSAGE_TYPE, 1)
        elif kind == wire.MSG_SERVER_CUT_TEXT:
            self._expect(State.CUT_TEXT_HEADER, 7)
        else:
            raise RfbError(f"unknown server message type {kind} in state {self.state.value}")

    def _on_update_header(self, chunk: bytes, events: list[Event]) -> None:
        count = struct.unpack(">xH", chunk)[0]
        self._update = _Update(rects_left=count)
        self._next_rect(events)

    def _next_rect(self, events: list[Event]) -> None:
        update = self._update
        assert update is not None
        if update.rects_left == 0:
            events.append(UpdateCompleted(tuple(update.rects), update.bytes))
            self._update = None
            self._expect(State.MESSAGE_TYPE, 1)
        else:
            self._expect(State.RECT_HEADER, _RECT_HEADER.size)

    def _on_rect_header(self, chunk: bytes, events: list[Event]) -> None:
        update = self._update
        assert update is not None
        x, y, width, height, encoding = _RECT_HEADER.unpack(chunk)
        update.bytes += _RECT_HEADER.size
        update.rects_left -= 1
        self._rect_header = (x, y, width, height, encoding)
        if encoding == wire.ENCODING_LAST_RECT:
            update.rects_left = 0  # the update announced 0xFFFF rectangles and ends here
            self._next_rect(events)
        elif encoding == wire.ENCODING_ZRLE:
            self._expect(State.ZRLE_LENGTH, 4)
        elif encoding == wire.ENCODING_TIGHT:
            self._rect_read = 0
            self._expect(State.TIGHT_CONTROL, 1)
        else:
            self._add_rect(self._payload_size(width, height, encoding), events)

    def _payload_size(self, width: int, height: int, encoding: int) -> int:
        pixel_bytes = self.bits_per_pixel // 8
        if encoding == wire.ENCODING_RAW:
            return width * height * pixel_bytes
        if encoding == wire.ENCODING_COPY_RECT:
            return 4
        if encoding == wire.ENCODING_CURSOR:
            return width * height * pixel_bytes + (width + 7) // 8 * height
        if encoding == wire.ENCODING_DESKTOP_SIZE:
            return 0
        raise RfbError(f"the server used encoding {encoding}, which this client did not ask for")

    def _on_zrle_length(self, chunk: bytes, events: list[Event]) -> None:
        length = struct.unpack(">I", chunk)[0]
        if length > wire.MAX_ZRLE_RECT_BYTES:
            raise RfbError(f"a ZRLE rectangle claims {length} bytes")
        self._add_rect(4 + length, events, already_read=4)

    # Tight: walk the sub-headers to the data's length; the data itself is skipped.

    def _on_tight_control(self, chunk: bytes, events: list[Event]) -> None:
        self._rect_read += 1
        kind = chunk[0] >> 4
        if kind == wire.TIGHT_FILL:
            self._add_rect(1 + wire.TIGHT_PIXEL_BYTES, events, already_read=1)
        elif kind == wire.TIGHT_JPEG:
            self._start_tight_length()
        elif kind > wire.TIGHT_JPEG:
            raise RfbError(f"unknown Tight compression type {kind} in state {self.state.value}")
        elif kind & wire.TIGHT_READ_FILTER_BIT:
            self._expect(State.TIGHT_FILTER, 1)
        else:
            self._tight_data(wire.TIGHT_FILTER_COPY, 0, events)

    def _on_tight_filter(self, chunk: bytes, events: list[Event]) -> None:
        self._rect_read += 1
        if chunk[0] == wire.TIGHT_FILTER_PALETTE:
            self._expect(State.TIGHT_PALETTE_SIZE, 1)
        elif chunk[0] in (wire.TIGHT_FILTER_COPY, wire.TIGHT_FILTER_GRADIENT):
            self._tight_data(chunk[0], 0, events)
        else:
            raise RfbError(f"unknown Tight filter {chunk[0]}")

    def _on_tight_palette_size(self, chunk: bytes, events: list[Event]) -> None:
        self._rect_read += 1
        self._palette_colours = chunk[0] + 1
        self._expect(State.TIGHT_PALETTE, self._palette_colours * wire.TIGHT_PIXEL_BYTES)

    def _on_tight_palette(self, chunk: bytes, events: list[Event]) -> None:
        self._rect_read += len(chunk)
        self._tight_data(wire.TIGHT_FILTER_PALETTE, self._palette_colours, events)

    def _tight_data(self, tight_filter: int, colours: int, events: list[Event]) -> None:
        assert self._rect_header is not None
        width, height = self._rect_header[2], self._rect_header[3]
        if tight_filter != wire.TIGHT_FILTER_PALETTE:
            size = width * height * wire.TIGHT_PIXEL_BYTES
        elif colours == 2:
            size = (width + 7) // 8 * height
        else:
            size = width * height
        if size < wire.TIGHT_MIN_COMPRESSED_BYTES:
            self._add_rect(self._rect_read + size, events, already_read=self._rect_read)
        else:
            self._start_tight_length()

    def _start_tight_length(self) -> None:
        self._length_value = 0
        self._length_bytes = 0
        self._expect(State.TIGHT_LENGTH, 1)

    def _on_tight_length(self, chunk: bytes, events: list[Event]) -> None:
        """A compact length: 7 bits per byte while the top bit is set, 8 in the third."""
        self._rect_read += 1
        byte = chunk[0]
        if self._length_bytes < 2:
            self._length_value |= (byte & 0x7F) << (7 * self._length_bytes)
            more = bool(byte & 0x80)
        else:
            self._length_value |= byte << 14
            more = False
        self._length_bytes += 1
        if not more:
            total = self._rect_read + self._length_value
            self._add_rect(total, events, already_read=self._rect_read)

    def _add_rect(self, payload_bytes: int, events: list[Event], already_read: int = 0) -> None:
        update = self._update
        assert update is not None and self._rect_header is not None
        update.rects.append(Rect(*self._rect_header, payload_bytes=payload_bytes))
        update.bytes += payload_bytes
        self._skip(payload_bytes - already_read, State.RECT_HEADER, events)

    def _on_colour_map_header(self, chunk: bytes, events: list[Event]) -> None:
        count = struct.unpack(">xHH", chunk)[1]
        self._other_kind, self._other_bytes = "colour map", 6 + count * 6
        self._skip(count * 6, State.MESSAGE_TYPE, events)

    def _on_cut_text_header(self, chunk: bytes, events: list[Event]) -> None:
        length = struct.unpack(">xxxI", chunk)[0]
        if length > wire.MAX_CUT_TEXT_BYTES:
            raise RfbError(f"the server's cut text claims {length} bytes")
        self._other_kind, self._other_bytes = "cut text", 8 + length
        self._skip(length, State.MESSAGE_TYPE, events)

    def _finish_skip(self, events: list[Event]) -> None:
        if self._skip_then is State.RECT_HEADER:
            self._next_rect(events)
        else:
            events.append(OtherMessage(self._other_kind, self._other_bytes))
            self._expect(State.MESSAGE_TYPE, 1)
