"""The screen pipeline: detect -> rectangles -> classify -> encode, run in the capture thread.

Send under flow control is the streaming task's part (agent.py, flow.py). Each stage is a
function of its own module, so DAMAGE-driven detection, scroll-as-copy and video regions
(issue 11) replace or add a stage without touching the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from host_agent.capture import Monitor, ScreenSource
from host_agent.damage import tiles as damage
from host_agent.encode import encode_rect
from protocol.messages import Codec, Tile

# A region sent as JPEG is sent again losslessly once it has been still this long.
LOSSLESS_AFTER_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class PreparedUpdate:
    """A frame update ready to be numbered and sent."""

    capture_time: float  # host wall clock, seconds since the epoch
    width: int
    height: int
    tiles: tuple[Tile, ...]

    @property
    def size_bytes(self) -> int:
        return sum(len(tile.data) for tile in self.tiles)


class FramePipeline:
    """Owns the screen source and the reference frame (the frame last sent)."""

    def __init__(self, make_source: Callable[[], ScreenSource]) -> None:
        self._make_source = make_source
        self._source: ScreenSource | None = None
        self._reference: np.ndarray | None = None
        self._lossy: np.ndarray | None = None  # per tile: shows JPEG artefacts now
        self._changed_at: np.ndarray | None = None  # per tile: monotonic time of last change
        self._full_requested = True

    # All methods below run in the capture thread.

    def open(self) -> Monitor:
        if self._source is None:
            self._source = self._make_source()
        return self._source.monitor

    def monitors(self) -> list[Monitor]:
        assert self._source is not None
        return self._source.monitors()

    def select(self, number: int) -> Monitor:
        assert self._source is not None
        monitor = self._source.select(number)
        self.request_full()
        return monitor

    def request_full(self) -> None:
        """The next update covers the whole screen (after consent, resume or on request)."""
        self._full_requested = True

    def pointer(self) -> tuple[int, int] | None:
        assert self._source is not None
        return self._source.pointer()

    def produce(self, jpeg_quality: int, now: float | None = None) -> PreparedUpdate | None:
        """Capture, and return what changed since the last frame sent (None: nothing)."""
        assert self._source is not None
        now = time.monotonic() if now is None else now
        capture_time = time.time()
        frame = self._source.grab()
        height, width = frame.shape[:2]
        grid = damage.tile_grid(height, width)
        reference = self._reference
        if self._full_requested or reference is None or reference.shape != frame.shape:
            self._full_requested = False
            self._lossy = np.zeros(grid, dtype=bool)
            self._changed_at = np.full(grid, now)
            dirty = np.ones(grid, dtype=bool)
            rects = damage.tiles_to_rects(dirty, height, width)
        else:
            mask = damage.changed_pixels(frame, reference)
            dirty = damage.tiles_of(mask)
            rects = damage.rectangles(dirty, height, width, mask) if dirty.any() else []
        assert self._lossy is not None and self._changed_at is not None
        self._changed_at[dirty] = now
        tiles = [encode_rect(frame, rect, jpeg_quality) for rect in rects]
        for tile in tiles:
            if tile.codec is Codec.JPEG:
                self._mark_lossy(tile)
        still_lossy = self._lossy & ~dirty & (now - self._changed_at >= LOSSLESS_AFTER_SECONDS)
        if still_lossy.any():
            for rect in damage.tiles_to_rects(still_lossy, height, width):
                tiles.append(encode_rect(frame, rect, jpeg_quality, lossless_only=True))
            self._lossy &= ~still_lossy
        self._reference = frame
        if not tiles:
            return None
        return PreparedUpdate(capture_time, width, height, tuple(tiles))

    def _mark_lossy(self, tile: Tile) -> None:
        assert self._lossy is not None
        size = damage.TILE_PIXELS
        rows = slice(tile.y // size, -(-(tile.y + tile.height) // size))
        columns = slice(tile.x // size, -(-(tile.x + tile.width) // size))
        self._lossy[rows, columns] = True

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
