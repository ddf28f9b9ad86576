"""The viewer's copy of the remote screen, kept up to date by applying frame updates.

Decoding and pasting run on a worker thread; the display reads regions of the image under
the same lock. Each kind of update has one applier in `APPLIERS` (`FrameUpdate` with its
tiles; `ExtendedFrameUpdate`, which adds copies of moved regions and H.264 packets of
video regions), and each tile codec one decoder in `endpoint.tile_decode`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from endpoint.tile_decode import decode_tile
from protocol import messages
from protocol.errors import ProtocolError
from viewer.video_decode import VideoDecoders

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
