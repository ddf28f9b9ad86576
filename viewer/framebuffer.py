"""The viewer's copy of the remote screen, kept up to date by applying frame updates.

Decoding and pasting run on a worker thread; the display reads regions of the image under
the same lock. Each kind of update (today only `FrameUpdate` with its tiles) has one
applier in `APPLIERS`, and each tile codec one decoder in `TILE_DECODERS`, so new kinds
(a copy of a moved region, an H.264 packet for a video region) slot in as one function
each, without touching the rest.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from protocol import messages
from protocol.errors import ProtocolError

# Refuse decompression bombs: a tile never holds more pixels than the largest screen.
MAX_TILE_PIXELS = messages.MAX_SCREEN_PIXELS * messages.MAX_SCREEN_PIXELS
BACKGROUND_RGB = (0, 0, 0)


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


TILE_DECODERS: dict[messages.Codec, Callable[[messages.Tile], Image.Image]] = {
    messages.Codec.FILL: _decode_fill,
    messages.Codec.JPEG: _decode_compressed,
    messages.Codec.WEBP_LOSSLESS: _decode_compressed,
    messages.Codec.PNG: _decode_compressed,
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
            regions: list[Region] = []
            if self._image is None or self._image.size != size:
                resized = Image.new("RGB", size, BACKGROUND_RGB)
                if self._image is not None:
                    resized.paste(self._image, (0, 0))
                self._image = resized
                regions.append(Region(0, 0, *size))
            for tile, pixels in decoded:
                self._image.paste(pixels, (tile.x, tile.y))
                regions.append(Region(tile.x, tile.y, tile.width, tile.height))
        return regions

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
}
