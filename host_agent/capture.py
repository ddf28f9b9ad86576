"""Screen sources: the real screen through mss, or the synthetic test pattern.

A source is used from one thread only (mss keeps per-thread X handles), the pipeline's
capture thread. `grab()` returns the monitor's pixels as an (height, width, 4) uint8 BGRA
array, the layout mss delivers and the damage detector compares as uint32.

Optional, for damage-driven capture: `grab_region(rect)` (part of the monitor) and
`damage_watcher()` (X DAMAGE events, and XInput 2 pointer motion where the server has it,
or None where there is no DAMAGE: then the pipeline polls). The synthetic source has
neither and is polled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from host_agent.damage.tiles import Rect
from host_agent.damage.xdamage import DamageUnavailable, DamageWatcher
from host_agent.inject import Bounds


class CaptureError(Exception):
    """The screen cannot be read (no display, monitor gone)."""


class SharingRefused(CaptureError):
    """The system asked the customer itself (the Wayland portal's dialog) and the customer
    said no there, or the asking was stopped (the kill switch): a denial."""


@dataclass(frozen=True, slots=True)
class Monitor:
    number: int  # as the customer and --monitor count: 1, 2, ...
    bounds: Bounds


class ScreenSource(Protocol):
    """Where frames come from."""

    def monitors(self) -> list[Monitor]: ...
    def select(self, number: int) -> Monitor: ...
    @property
    def monitor(self) -> Monitor: ...
    def grab(self) -> np.ndarray: ...
    def pointer(self) -> tuple[int, int] | None: ...
    def close(self) -> None: ...


class MssSource:
    """The real X screen. Create and use it in the capture thread only."""

    def __init__(self, number: int = 1) -> None:
        import mss  # imported here so the module loads without a display

        try:
            factory = getattr(mss, "MSS", None) or mss.mss
            self._mss = factory()
        except mss.exception.ScreenShotError as error:
            raise CaptureError("the screen cannot be read (is DISPLAY set?)") from error
        self._xlib_display = None
        self.grabs = 0  # how many times the screen was read (tests count them)
        self._monitor = self.select(number)

    def monitors(self) -> list[Monitor]:
        return [
            Monitor(i, Bounds(m["left"], m["top"], m["width"], m["height"]))
            for i, m in enumerate(self._mss.monitors)
            if i >= 1
        ]

    def select(self, number: int) -> Monitor:
        choices = self.monitors()
        if not 1 <= number <= len(choices):
            raise CaptureError(f"there is no monitor {number} (this PC has {len(choices)})")
        self._monitor = choices[number - 1]
        return self._monitor

    @property
    def monitor(self) -> Monitor:
        return self._monitor

    def grab(self) -> np.ndarray:
        b = self._monitor.bounds
        return self.grab_region(Rect(0, 0, b.width, b.height))

    def grab_region(self, rect: Rect) -> np.ndarray:
        """The pixels of `rect` (monitor coordinates) as (height, width, 4) BGRA."""
        b = self._monitor.bounds
        self.grabs += 1
        shot = self._mss.grab(
            {
                "left": b.left + rect.x,
                "top": b.top + rect.y,
                "width": rect.width,
                "height": rect.height,
            }
        )
        return np.frombuffer(shot.raw, dtype=np.uint8).reshape(shot.height, shot.width, 4)

    def damage_watcher(self) -> DamageWatcher | None:
        """DAMAGE events and pointer motion of this X screen (root coordinates), or None
        without the DAMAGE extension."""
        try:
            return DamageWatcher()
        except DamageUnavailable:
            return None

    def pointer(self) -> tuple[int, int] | None:
        """The pointer relative to the shared monitor, or None when it is elsewhere."""
        if self._xlib_display is None:
            from Xlib import display as xdisplay

            self._xlib_display = xdisplay.Display()
        reply = self._xlib_display.screen().root.query_pointer()
        b = self._monitor.bounds
        x, y = reply.root_x - b.left, reply.root_y - b.top
        return (x, y) if b.contains(x, y) else None

    def close(self) -> None:
        self._mss.close()
        if self._xlib_display is not None:
            self._xlib_display.close()
            self._xlib_display = None
