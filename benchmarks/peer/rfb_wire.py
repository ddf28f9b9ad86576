"""RFB 3.8 on the wire: the numbers and formats the benchmark's client uses, and the few
messages it sends. The parser that reads the server's side is `rfb.py`.
"""

from __future__ import annotations

import struct

PROTOCOL_VERSION = b"RFB 003.008\n"
SECURITY_TYPE_NONE = 1

# Client -> server message types.
MSG_SET_PIXEL_FORMAT = 0
MSG_SET_ENCODINGS = 2
MSG_FRAMEBUFFER_UPDATE_REQUEST = 3

# Server -> client message types.
MSG_FRAMEBUFFER_UPDATE = 0
MSG_SET_COLOUR_MAP_ENTRIES = 1
MSG_BELL = 2
MSG_SERVER_CUT_TEXT = 3

# Encodings (signed 32-bit numbers from the RFB registry).
ENCODING_RAW = 0
ENCODING_COPY_RECT = 1
ENCODING_TIGHT = 7
ENCODING_ZRLE = 16
ENCODING_QUALITY_LEVEL_8 = -24  # Tight JPEG quality 8 of 0..9, TigerVNC's viewer default
ENCODING_COMPRESS_LEVEL_2 = -254  # Tight zlib level 2, TigerVNC's viewer default
ENCODING_CURSOR = -239
ENCODING_LAST_RECT = -224
ENCODING_DESKTOP_SIZE = -223

# What the benchmark asks for, in order of preference: what a plain viewer would ask for.
BENCHMARK_ENCODINGS = (
    ENCODING_ZRLE,
    ENCODING_COPY_RECT,
    ENCODING_RAW,
    ENCODING_CURSOR,
    ENCODING_LAST_RECT,
    ENCODING_DESKTOP_SIZE,
)

# What TigerVNC's viewer asks for by default: Tight with JPEG where the server sees photos.
TIGHT_ENCODINGS = (
    ENCODING_TIGHT,
    ENCODING_ZRLE,
    ENCODING_COPY_RECT,
    ENCODING_RAW,
    ENCODING_CURSOR,
    ENCODING_LAST_RECT,
    ENCODING_DESKTOP_SIZE,
    ENCODING_QUALITY_LEVEL_8,
    ENCODING_COMPRESS_LEVEL_2,
)

PSEUDO_ENCODINGS = frozenset({ENCODING_CURSOR, ENCODING_LAST_RECT, ENCODING_DESKTOP_SIZE})

# Tight's compression-control byte, high nibble: 0-7 basic (zlib), 8 fill, 9 JPEG.
TIGHT_FILL = 0x8
TIGHT_JPEG = 0x9
TIGHT_READ_FILTER_BIT = 0x4
TIGHT_FILTER_COPY, TIGHT_FILTER_PALETTE, TIGHT_FILTER_GRADIENT = 0, 1, 2
TIGHT_MIN_COMPRESSED_BYTES = 12  # below this the data is sent as it is, without a length
TIGHT_PIXEL_BYTES = 3  # 32 bpp depth 24 true colour travels as 3 bytes in Tight

# 32 bits per pixel, depth 24, little-endian true colour, red in the high byte: ZRLE then
# sends 3-byte compressed pixels, as every current viewer asks.
PIXEL_FORMAT_BGRX = struct.pack(">BBBBHHHBBBxxx", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)

MAX_REASON_BYTES = 64 * 1024
MAX_CUT_TEXT_BYTES = 16 * 1024 * 1024
MAX_ZRLE_RECT_BYTES = 256 * 1024 * 1024


def set_encodings_message(encodings: tuple[int, ...] = BENCHMARK_ENCODINGS) -> bytes:
    return struct.pack(f">BxH{len(encodings)}i", MSG_SET_ENCODINGS, len(encodings), *encodings)


def update_request_message(width: int, height: int, *, incremental: bool) -> bytes:
    return struct.pack(
        ">BBHHHH", MSG_FRAMEBUFFER_UPDATE_REQUEST, int(incremental), 0, 0, width, height
    )
