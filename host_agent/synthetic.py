"""A moving test pattern for machines without a display (the demo); never for capture tests.

It looks like a desktop: a still background with text-like stripes, a moving square and a
ticking bar, so every stage of the pipeline (fill, lossless, JPEG, damage) has work to do.
"""

from __future__ import annotations

import time

import numpy as np

from host_agent.capture import CaptureError, Monitor
from host_agent.inject import Bounds

SYNTHETIC_WIDTH = 1280
SYNTHETIC_HEIGHT = 720
SQUARE_PIXELS = 96
SPEED_PIXELS_PER_SECOND = 240.0


class SyntheticSource:
    def __init__(self, number: int = 1, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self._clock = clock
        self._start = clock()
        self._monitor = self.select(number)
        self._background = self._draw_background()
        self._pointer = (SYNTHETIC_WIDTH // 2, SYNTHETIC_HEIGHT // 2)

    def monitors(self) -> list[Monitor]:
        return [Monitor(1, Bounds(0, 0, SYNTHETIC_WIDTH, SYNTHETIC_HEIGHT))]

    def select(self, number: int) -> Monitor:
        if number != 1:
            raise CaptureError(f"there is no monitor {number} (this PC has 1)")
        self._monitor = self.monitors()[0]
        return self._monitor

    @property
    def monitor(self) -> Monitor:
        return self._monitor

    def _draw_background(self) -> np.ndarray:
        frame = np.full((SYNTHETIC_HEIGHT, SYNTHETIC_WIDTH, 4), 255, dtype=np.uint8)
        frame[:40, :, :3] = (120, 70, 30)  # a title bar (BGR)
        rng = np.random.default_rng(7)
        for row in range(60, SYNTHETIC_HEIGHT - 20, 18):
            length = int(rng.integers(200, SYNTHETIC_WIDTH - 100))
            words = rng.integers(0, 2, size=-(-length // 6)).repeat(6)[:length].astype(bool)
            frame[row : row + 10, 40 : 40 + length, :3][:, words] = (40, 40, 40)
        return frame

    def grab(self) -> np.ndarray:
        elapsed = self._clock() - self._start
        frame = self._background.copy()
        span = SYNTHETIC_WIDTH - SQUARE_PIXELS
        position = int(elapsed * SPEED_PIXELS_PER_SECOND) % (2 * span)
        x = position if position < span else 2 * span - position
        y = SYNTHETIC_HEIGHT // 2 - SQUARE_PIXELS // 2
        hue = int(elapsed * 60) % 256
        frame[y : y + SQUARE_PIXELS, x : x + SQUARE_PIXELS, :3] = (hue, 255 - hue, 200)
        seconds_bar = int((elapsed % 1.0) * 200)
        frame[10:30, SYNTHETIC_WIDTH - 220 : SYNTHETIC_WIDTH - 220 + seconds_bar, :3] = 255
        return frame

    def pointer(self) -> tuple[int, int] | None:
        return self._pointer

    def close(self) -> None:
        pass
