"""The screen as the viewer has it (the reference), and which of its tiles show lossy
artefacts since when.

The pipeline compares each capture with the reference, so what it sends is exactly what
the viewer lacks, and changes made while the flow-control window was full merge into the
next update. Whatever the viewer is sent (a copy, a tile, a video packet) is applied here
the same way. A region sent lossy (JPEG, H.264) is sent again losslessly once it has been
still for LOSSLESS_AFTER_SECONDS.
"""

from __future__ import annotations

import numpy as np

from host_agent.damage import tiles as damage
from host_agent.damage.move import Move
from host_agent.damage.tiles import TILE_PIXELS, Rect
from protocol.messages import Codec, CopyRect, Tile

LOSSLESS_AFTER_SECONDS = 1.0
# Shorter vertical shifts are applied through a copy of the source (see copy_within).
MIN_BLOCK_ROWS = 8


class ViewerPicture:
    """The reference picture (BGRA, as grabbed) and, per tile, lossy or not and when it
    last changed (monotonic seconds)."""

    def __init__(self, frame: np.ndarray, now: float) -> None:
        self.reference = frame.copy()
        grid = damage.tile_grid(*frame.shape[:2])
        self._lossy = np.zeros(grid, dtype=bool)
        self._changed_at = np.full(grid, now)

    @property
    def pixels(self) -> np.ndarray:
        """The reference as a (rows, columns) uint32 view."""
        return damage.as_pixels(self.reference)

    @property
    def grid(self) -> tuple[int, int]:
        return self._lossy.shape

    def changed(self, dirty: np.ndarray, now: float) -> None:
        """Tiles (a boolean grid) that changed on the screen at `now`."""
        self._changed_at[dirty] = now

    @property
    def lossless(self) -> bool:
        """No tile of the reference is lossy: it equals the screen as last sent."""
        return not self._lossy.any()

    def apply_move(self, move: Move, now: float, *, pixels: bool = True) -> CopyRect:
        """Apply a move as the viewer will; returns the copy to send. With pixels=False the
        caller gives the destination its pixels later (take_pixels, or exchange)."""
        if pixels:
            copy_within(self.reference, move)
        # Artefacts travel with the pixels: the destination is lossy where the source was.
        target_tiles = tile_slices(move.destination)
        if self._lossy[tile_slices(move.source)].any():
            self._lossy[target_tiles] = True
            self._changed_at[target_tiles] = now
        return CopyRect(move.src_x, move.src_y, move.x, move.y, move.width, move.height)

    def take_pixels(self, frame: np.ndarray, rect: Rect) -> None:
        """The viewer has `rect` of `frame` (a tile, a video region, a move's destination
        verified equal)."""
        window = pixel_slices(rect)
        self.reference[window] = frame[window]

    def exchange(self, frame: np.ndarray) -> np.ndarray:
        """The viewer has `frame` now, all of it (the caller knows); it becomes the
        reference, and the former reference buffer is returned for the caller to reuse."""
        previous, self.reference = self.reference, frame
        return previous

    def took_tiles(self, frame: np.ndarray, tiles: list[Tile]) -> None:
        """The viewer gets these tiles of `frame`; JPEG ones leave their tiles lossy."""
        for tile in tiles:
            self.take_pixels(frame, Rect(tile.x, tile.y, tile.width, tile.height))
        self.mark_lossy(tiles)

    def mark_lossy(self, tiles: list[Tile]) -> None:
        """JPEG tiles leave their tiles lossy."""
        for tile in tiles:
            if tile.codec is Codec.JPEG:
                self._lossy[tile_slices(Rect(tile.x, tile.y, tile.width, tile.height))] = True

    def took_video(self, frame: np.ndarray, rect: Rect) -> None:
        """The viewer gets `rect` of `frame` as video: lossy."""
        self.take_pixels(frame, rect)
        self._lossy[tile_slices(rect)] = True

    def still_lossy(self, now: float, video: Rect | None) -> np.ndarray:
        """Tiles lossy and still for LOSSLESS_AFTER_SECONDS, outside the video region."""
        still = self._lossy & (now - self._changed_at >= LOSSLESS_AFTER_SECONDS)
        if video is not None:
            still[tile_slices(video)] = False
        return still

    def made_lossless(self, tiles: np.ndarray) -> None:
        self._lossy &= ~tiles

    def lossless_due(self, video: Rect | None) -> float | None:
        """When the next lossy tile outside the video region is due to go losslessly."""
        if not self._lossy.any():
            return None
        lossy = self._lossy.copy()
        if video is not None:
            lossy[tile_slices(video)] = False
        if not lossy.any():
            return None
        return float(self._changed_at[lossy].min()) + LOSSLESS_AFTER_SECONDS


def copy_within(picture: np.ndarray, move: Move) -> None:
    """picture[destination] = picture[source], as if through a copy of the source.

    A scroll's source and destination overlap all but a line: copying the source aside
    first would move the whole block through memory twice. Blocks of rows no taller than
    the vertical shift never overlap their own source, and taken in the right order
    (upward moves from the top, downward ones from the bottom) none overwrites rows still
    to be read: one pass. Short shifts would make many small blocks; they, and
    horizontal moves, go through a copy.
    """
    shift, height = move.src_y - move.y, move.height
    source_columns = slice(move.src_x, move.src_x + move.width)
    columns = slice(move.x, move.x + move.width)
    if abs(shift) < MIN_BLOCK_ROWS:
        source = picture[move.src_y : move.src_y + height, source_columns].copy()
        picture[move.y : move.y + height, columns] = source
        return
    step = abs(shift)
    starts = range(0, height, step) if shift > 0 else range((height - 1) // step * step, -1, -step)
    for start in starts:
        rows = min(step, height - start)
        picture[move.y + start : move.y + start + rows, columns] = picture[
            move.src_y + start : move.src_y + start + rows, source_columns
        ]


def pixel_slices(rect: Rect) -> tuple[slice, slice]:
    """The rows and columns of a pixel rectangle, to index a frame or a mask."""
    return slice(rect.y, rect.y + rect.height), slice(rect.x, rect.x + rect.width)


def tile_slices(rect: Rect) -> tuple[slice, slice]:
    """The tiles a pixel rectangle touches, as slices of the tile grid."""
    return (
        slice(rect.y // TILE_PIXELS, -(-(rect.y + rect.height) // TILE_PIXELS)),
        slice(rect.x // TILE_PIXELS, -(-(rect.x + rect.width) // TILE_PIXELS)),
    )
