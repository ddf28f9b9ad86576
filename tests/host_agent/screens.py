"""Screens for pipeline tests: a source whose picture the test sets, and pictures to show."""

from __future__ import annotations

import numpy as np

from host_agent.capture import Monitor
from host_agent.damage.tiles import Rect
from host_agent.damage.xdamage import Seen
from host_agent.inject import Bounds

WIDTH, HEIGHT = 1280, 720
LINE_PIXELS = 16


class SetSource:
    """A screen source showing whatever BGRA frame the test put in `frame` (polled)."""

    def __init__(self, frame: np.ndarray) -> None:
        self.frame = frame
        self.grabs = 0

    @property
    def monitor(self) -> Monitor:
        return Monitor(1, Bounds(0, 0, self.frame.shape[1], self.frame.shape[0]))

    def monitors(self) -> list[Monitor]:
        return [self.monitor]

    def select(self, number: int) -> Monitor:
        return self.monitor

    def grab(self) -> np.ndarray:
        self.grabs += 1
        return self.frame.copy()

    def pointer(self) -> tuple[int, int] | None:
        return None

    def close(self) -> None:
        pass


class DamagedSource(SetSource):
    """A SetSource driven as X DAMAGE drives the pipeline: each wait reports what changed
    since the last one, and only that is grabbed. A stand-in for X, for sequences of
    pictures no X client could draw as fast; tests on Xvfb cover the real thing.

    `cells`: None reports the bounding box of the changes (as DAMAGE's events do); a
    number reports them as rectangles that do not overlap, as the watcher's XFixes region
    does (here: runs of changed cells of that many pixels, row of cells by row of cells).
    """

    def __init__(self, frame: np.ndarray, cells: int | None = None) -> None:
        super().__init__(frame)
        self.cells = cells

    def grab_region(self, rect: Rect) -> np.ndarray:
        self.grabs += 1
        return self.frame[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width].copy()

    def damage_watcher(self) -> BoxWatcher:
        return BoxWatcher(self)


class BoxWatcher:
    pointer_events = False

    def __init__(self, source: DamagedSource) -> None:
        self._source = source
        self._seen = source.frame.copy()

    def wait(self, timeout_seconds: float | None) -> Seen:
        frame = self._source.frame
        changed = (frame != self._seen).any(axis=2)
        self._seen = frame.copy()
        if not changed.any():
            return Seen()
        cell = self._source.cells
        if cell is None:
            where = np.argwhere(changed)
            (top, left), (bottom, right) = where.min(axis=0), where.max(axis=0)
            return Seen((Rect(int(left), int(top), int(right - left) + 1, int(bottom - top) + 1),))
        return Seen(tuple(_changed_cells(changed, cell)))

    def wake(self) -> None:
        pass

    def close(self) -> None:
        pass


def _changed_cells(changed: np.ndarray, cell: int) -> list[Rect]:
    """Runs of cells (cell x cell pixels) with a changed pixel, per row of cells."""
    height, width = changed.shape
    rects = []
    for top in range(0, height, cell):
        columns = changed[top : top + cell].any(axis=0)
        hit = [columns[left : left + cell].any() for left in range(0, width, cell)]
        start = None
        for index, value in enumerate([*hit, False]):
            if value and start is None:
                start = index
            elif not value and start is not None:
                right = min(width, index * cell)
                rects.append(Rect(start * cell, top, right - start * cell, min(cell, height - top)))
                start = None
    return rects


def text_lines(count: int, seed: int = 5) -> list[np.ndarray]:
    """`count` lines of made-up text: each a (10, length) mask of glyph pixels."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(count):
        length = int(rng.integers(20, 180))
        glyphs = rng.random((10, length)) < 0.35
        glyphs[:, 5::6] = False  # gaps between the letters
        lines.append(glyphs)
    return lines


def terminal(lines: list[np.ndarray], first: int) -> np.ndarray:
    """A terminal showing `lines` from `first` on, one every LINE_PIXELS rows (BGRA)."""
    frame = np.full((HEIGHT, WIDTH, 4), 255, dtype=np.uint8)
    frame[:24, :, :3] = (90, 60, 30)  # a title bar that does not scroll
    for row, glyphs in enumerate(lines[first:]):
        y = 32 + row * LINE_PIXELS
        if y + 10 > HEIGHT:
            break
        frame[y : y + 10, 40 : 40 + glyphs.shape[1], :3][glyphs] = (30, 30, 30)
    return frame


def smooth_video(step: int, width: int, height: int) -> np.ndarray:
    """A photo-like moving picture (soft colour waves), BGRA."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 128 + 100 * np.sin((x + 4 * step) / 90.0) * np.cos(y / 70.0)
    green = 128 + 100 * np.sin((y + 3 * step) / 60.0 + x / 200.0)
    blue = 128 + 100 * np.cos((x - y + 5 * step) / 120.0)
    alpha = np.full_like(red, 255)
    return np.stack([blue, green, red, alpha], axis=-1).astype(np.uint8)


def rgb(frame: np.ndarray) -> np.ndarray:
    """BGRA -> RGB, as the viewer's framebuffer holds it."""
    return frame[:, :, 2::-1]


def psnr(received: np.ndarray, expected: np.ndarray) -> float:
    error = np.mean((received.astype(np.float64) - expected.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255.0**2 / error))


def strewn_terminal(frames: int, per_frame: int = 200, seed: int = 1) -> list[np.ndarray]:
    """A terminal of 200x44 character cells (6x10 pixels, 16 apart) on which `per_frame`
    characters are written at random places in each frame, as cmatrix does (BGRA)."""
    rng = np.random.default_rng(seed)
    glyphs = rng.random((64, 10, 6)) < 0.4
    glyphs[:, :, 5] = False  # the gap after each letter
    screen = np.full((HEIGHT, WIDTH, 4), 255, dtype=np.uint8)
    result = []
    for _ in range(frames):
        screen = screen.copy()
        for _ in range(per_frame):
            y = 16 + int(rng.integers(0, 44)) * LINE_PIXELS
            x = int(rng.integers(0, 200)) * 6 + 20
            cell = screen[y : y + 10, x : x + 6, :3]
            cell[...] = 255
            cell[glyphs[int(rng.integers(0, len(glyphs)))]] = 30
        result.append(screen)
    return result
