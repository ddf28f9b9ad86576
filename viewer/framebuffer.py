"""The viewer's copy of the remote screen, kept up to date by applying frame updates.

Decoding and pasting run on a worker thread; the display reads regions of the image under
the same lock. Each kind of update has one applier in `APPLIERS` (`FrameUpdate` with its
tiles; `ExtendedFrameUpdate`, which adds copies of moved regions and H.264 packets of
video regions), and each tile codec one decoder in `TILE_DECODERS`.
"""

from __future__ import annotations

import io
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from protocol import messages
from protocol.errors import ProtocolError
from viewer.video_decode import VideoDecoders

# Refuse decompression bombs: a tile never holds more pixels than the largest screen.
MAX_TILE_PIXELS = messages.MAX_SCREEN_PIXELS * messages.MAX_SCREEN_PIXELS
BACKGROUND_RGB = (0, 0, 0)
_RECT = struct.Struct(">4H")  # x, y, width, height of a rectangle in a rects tile


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle of the remote screen, in remote pixels."""

    x: int
    y: int
    width: int
    height: int

    def union(self, other: Region) -> Region:
        left = min(self.x, other.x)
        top = min(self.y, other.y)
        right = max(self.x + self.width, other.x + other.width)
        bottom = max(self.y + self.height, other.y + other.height)
        return Region(left, top, right - left, bottom - top)

    def box(self) -> tuple[int, int, int, int]:
        """The region as a Pillow box (left, top, right, bottom)."""
        return (self.x, self.y, self.x + self.width, self.y + self.height)


def bounding_region(regions: list[Region]) -> Region | None:
    """The smallest region covering all of `regions` (None when there are none)."""
    if not regions:
        return None
    result = regions[0]
    for region in regions[1:]:
        result = result.union(region)
    return result


def _decode_fill(tile: messages.Tile) -> Image.Image:
    return Image.new("RGB", (tile.width, tile.height), tuple(tile.data))


def _decode_compressed(tile: messages.Tile) -> Image.Image:
    try:
        with Image.open(io.BytesIO(tile.data)) as encoded:
            if encoded.width * encoded.height > MAX_TILE_PIXELS:
                raise ProtocolError("a tile image is larger than the largest screen")
            image = encoded.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ProtocolError(f"a {tile.codec.value} tile could not be decoded") from None
    if image.size != (tile.width, tile.height):
        raise ProtocolError(
            f"a {tile.codec.value} tile is {image.width}x{image.height} pixels "
            f"but announced {tile.width}x{tile.height}"
        )
    return image


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


class Framebuffer:
    """The remote screen as an RGB image; thread-safe for one writer and many readers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._image: Image.Image | None = None
        self._video = VideoDecoders()  # used by the one writer thread only

    @property
    def size(self) -> tuple[int, int]:
        with self._lock:
            return self._image.size if self._image is not None else (0, 0)

    def apply(self, update: messages.Message) -> list[Region]:
        """Apply one update; returns the regions that changed (the whole screen on resize)."""
        applier = APPLIERS.get(type(update))
        if applier is None:
            raise ProtocolError(f"this viewer cannot apply a {type(update).__name__}")
        return applier(self, update)

    def _apply_frame_update(self, update: messages.FrameUpdate) -> list[Region]:
        # Decode outside the lock so readers only wait for the pastes.
        decoded = [(tile, decode_tile(tile)) for tile in update.tiles]
        size = (update.screen_width, update.screen_height)
        with self._lock:
            regions = self._fit(size)
            assert self._image is not None
            self._paste_tiles(decoded, regions)
        return regions

    def _apply_extended_update(self, update: messages.ExtendedFrameUpdate) -> list[Region]:
        size = (update.screen_width, update.screen_height)
        if self.size != size:
            self._video.reset()
        pictures = [(packet, self._video.decode(packet)) for packet in update.video]
        decoded = [(tile, decode_tile(tile)) for tile in update.tiles]
        with self._lock:
            regions = self._fit(size)
            assert self._image is not None
            for copy in update.copies:
                moved = self._image.crop(
                    (copy.src_x, copy.src_y, copy.src_x + copy.width, copy.src_y + copy.height)
                )
                self._image.paste(moved, (copy.x, copy.y))
                regions.append(Region(copy.x, copy.y, copy.width, copy.height))
            for packet, picture in pictures:
                if picture is not None:
                    self._image.paste(picture, (packet.x, packet.y))
                    regions.append(Region(packet.x, packet.y, packet.width, packet.height))
            self._paste_tiles(decoded, regions)
        return regions

    def _fit(self, size: tuple[int, int]) -> list[Region]:
        """Make the image `size` (keeping what fits); the whole screen changed if it was not."""
        if self._image is not None and self._image.size == size:
            return []
        resized = Image.new("RGB", size, BACKGROUND_RGB)
        if self._image is not None:
            resized.paste(self._image, (0, 0))
        self._image = resized
        return [Region(0, 0, *size)]

    def _paste_tiles(
        self, decoded: list[tuple[messages.Tile, Image.Image]], regions: list[Region]
    ) -> None:
        assert self._image is not None
        for tile, pixels in decoded:
            self._image.paste(pixels, (tile.x, tile.y))
            regions.append(Region(tile.x, tile.y, tile.width, tile.height))

    def crop(self, region: Region) -> Image.Image | None:
        """A copy of `region` (clipped to the screen), or None before the first frame."""
        with self._lock:
            if self._image is None:
                return None
            return self._image.crop(region.box())

    def render(self, box: tuple[float, float, float, float], size: tuple[int, int]) -> Image.Image:
        """The remote area `box` (fractional pixels) scaled to `size`, for a display."""
        with self._lock:
            if self._image is None:
                return Image.new("RGB", size, BACKGROUND_RGB)
            left, top, right, bottom = box
            if (right - left, bottom - top) == size and all(float(v).is_integer() for v in box):
                return self._image.crop((int(left), int(top), int(right), int(bottom)))
            return self._image.resize(size, Image.Resampling.BILINEAR, box=box)

    def pixel(self, x: int, y: int) -> tuple[int, int, int] | None:
        """One pixel's colour, or None outside the screen or before the first frame."""
        with self._lock:
            if self._image is None or not (
                0 <= x < self._image.width and 0 <= y < self._image.height
            ):
                return None
            return self._image.getpixel((x, y))  # type: ignore[return-value]

    def snapshot(self) -> Image.Image | None:
        """A copy of the whole screen, or None before the first frame."""
        with self._lock:
            return self._image.copy() if self._image is not None else None


APPLIERS: dict[type[messages.Message], Callable[[Framebuffer, messages.Message], list[Region]]] = {
    messages.FrameUpdate: Framebuffer._apply_frame_update,  # type: ignore[dict-item]
    messages.ExtendedFrameUpdate: Framebuffer._apply_extended_update,  # type: ignore[dict-item]
}
