"""Tile decoding: the pixels of each tile codec of a frame update, as the viewer shows them.

Both endpoints need it: the viewer to paint, the host agent's tests and benchmarks to
check what a viewer will see. One decoder per codec in `TILE_DECODERS`; each validates
what it reads and raises ProtocolError with a sentence a person can act on.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

from protocol import messages
from protocol.errors import ProtocolError

_RECT = struct.Struct(">4H")  # x, y, width, height of a rectangle in a rects tile


def _decode_fill(tile: messages.Tile) -> Image.Image:
    return Image.new("RGB", (tile.width, tile.height), tuple(tile.data))


def _decode_compressed(tile: messages.Tile) -> Image.Image:
    try:
        with Image.open(io.BytesIO(tile.data)) as encoded:
            # Only the header is read so far: a picture of another size (a decompression
            # bomb among them) is refused before its pixels are decoded into memory.
            if encoded.size != (tile.width, tile.height):
                raise ProtocolError(
                    f"a {tile.codec.value} tile is {encoded.width}x{encoded.height} pixels "
                    f"but announced {tile.width}x{tile.height}"
                )
            return encoded.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ProtocolError(f"a {tile.codec.value} tile could not be decoded") from None


def _decode_palette(tile: messages.Tile) -> Image.Image:
    data = tile.data
    if not data:
        raise ProtocolError("a palette tile is empty")
    colours = (data[0] & ~messages.PALETTE_DEFLATED_FLAG) + 1
    if colours < 2 or colours > messages.MAX_PALETTE_COLOURS:
        raise ProtocolError("a palette tile names 2 to 16 colours")
    start = 1 + 3 * colours
    rgb = np.frombuffer(data[1:start], dtype=np.uint8)
    if rgb.size != 3 * colours:
        raise ProtocolError("a palette tile is shorter than its colours")
    bits = 1 if colours <= 2 else 2 if colours <= 4 else 4
    per_byte = 8 // bits
    row_bytes = -(-tile.width // per_byte)
    expected = row_bytes * tile.height
    packed = data[start:]
    if data[0] & messages.PALETTE_DEFLATED_FLAG:
        inflater = zlib.decompressobj()
        try:
            packed = inflater.decompress(packed, expected + 1)
        except zlib.error:
            raise ProtocolError("a palette tile's indices could not be inflated") from None
        if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
            raise ProtocolError("a palette tile's indices are not one whole deflate stream")
    if len(packed) != expected:
        raise ProtocolError(f"a palette tile must carry {expected} bytes of indices")
    raw = np.frombuffer(packed, dtype=np.uint8).reshape(tile.height, row_bytes, 1)
    shifts = (8 - bits * (np.arange(per_byte) + 1)).astype(np.uint8)
    indices = ((raw >> shifts) & ((1 << bits) - 1)).reshape(tile.height, -1)[:, : tile.width]
    if int(indices.max()) >= colours:
        raise ProtocolError("a palette tile uses a colour it does not name")
    pixels = rgb.reshape(colours, 3)[indices]
    return Image.fromarray(np.ascontiguousarray(pixels), "RGB")


def _decode_rects(tile: messages.Tile) -> Image.Image:
    # The length was checked with the tile (messages.Tile): a colour and whole entries.
    data = tile.data
    start = messages.RECTS_BACKGROUND_BYTES
    pixels = np.empty((tile.height, tile.width, 3), dtype=np.uint8)
    pixels[:, :] = np.frombuffer(data[:start], dtype=np.uint8)
    for offset in range(start, len(data), messages.RECTS_ENTRY_BYTES):
        colour = np.frombuffer(data[offset : offset + 3], dtype=np.uint8)
        x, y, width, height = _RECT.unpack_from(data, offset + 3)
        if width == 0 or height == 0 or x + width > tile.width or y + height > tile.height:
            raise ProtocolError("a rects tile names a rectangle outside the tile")
        pixels[y : y + height, x : x + width] = colour
    return Image.fromarray(pixels, "RGB")


TILE_DECODERS: dict[messages.Codec, Callable[[messages.Tile], Image.Image]] = {
    messages.Codec.FILL: _decode_fill,
    messages.Codec.JPEG: _decode_compressed,
    messages.Codec.WEBP_LOSSLESS: _decode_compressed,
    messages.Codec.PNG: _decode_compressed,
    messages.Codec.PALETTE: _decode_palette,
    messages.Codec.RECTS: _decode_rects,
}


def decode_tile(tile: messages.Tile) -> Image.Image:
    """The pixels of one tile as an RGB image of exactly the tile's size."""
    decoder = TILE_DECODERS.get(tile.codec)
    if decoder is None:
        raise ProtocolError(f"this viewer cannot decode {tile.codec.value} tiles")
    return decoder(tile)
