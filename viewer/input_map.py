"""From the viewer's window to the remote screen: coordinates, buttons, wheel and keys.

Pure functions and small state, no Tk: the Tk UI hands in numbers and names from its
events and gets remote coordinates and protocol messages back.

Scrolling follows pynput's convention, which the host injects with: dy > 0 scrolls up,
dx > 0 scrolls right.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from protocol import keys, messages
from viewer.framebuffer import Region

MIN_FIT_SCALE = 0.05


class ScaleMode(enum.Enum):
    FIT = "fit"  # the whole remote screen scaled into the window, centred
    ACTUAL = "1:1"  # one remote pixel per screen pixel, with scroll bars


@dataclass(frozen=True, slots=True)
class Viewport:
    """Where the remote screen is drawn, in canvas coordinates (scrolling already applied)."""

    remote_width: int
    remote_height: int
    canvas_width: int
    canvas_height: int
    mode: ScaleMode = ScaleMode.FIT

    @property
    def scale(self) -> float:
        if self.mode is ScaleMode.ACTUAL or self.remote_width == 0 or self.remote_height == 0:
            return 1.0
        fit = min(self.canvas_width / self.remote_width, self.canvas_height / self.remote_height)
        return max(fit, MIN_FIT_SCALE)

    @property
    def display_size(self) -> tuple[int, int]:
        """The size of the drawn image."""
        scale = self.scale
        return (
            max(1, round(self.remote_width * scale)),
            max(1, round(self.remote_height * scale)),
        )

    @property
    def origin(self) -> tuple[int, int]:
        """The canvas position of the image's top-left corner (centred when fitting)."""
        if self.mode is ScaleMode.ACTUAL:
            return (0, 0)
        width, height = self.display_size
        return (
            max(0, (self.canvas_width - width) // 2),
            max(0, (self.canvas_height - height) // 2),
        )

    def to_remote(self, canvas_x: float, canvas_y: float) -> tuple[int, int]:
        """The remote pixel under a canvas point, clamped to the remote screen."""
        origin_x, origin_y = self.origin
        scale = self.scale
        x = math.floor((canvas_x - origin_x) / scale)
        y = math.floor((canvas_y - origin_y) / scale)
        return (
            min(max(x, 0), max(self.remote_width - 1, 0)),
            min(max(y, 0), max(self.remote_height - 1, 0)),
        )

    def to_canvas(self, remote_x: float, remote_y: float) -> tuple[float, float]:
        origin_x, origin_y = self.origin
        return (origin_x + remote_x * self.scale, origin_y + remote_y * self.scale)

    def display_region(self, region: Region) -> Region | None:
        """The pixels of the drawn image that show (part of) a remote region."""
        scale = self.scale
        width, height = self.display_size
        left = max(0, math.floor(region.x * scale))
        top = max(0, math.floor(region.y * scale))
        right = min(width, math.ceil((region.x + region.width) * scale))
        bottom = min(height, math.ceil((region.y + region.height) * scale))
        if right <= left or bottom <= top:
            return None
        return Region(left, top, right - left, bottom - top)

    def source_box(self, display: Region) -> tuple[float, float, float, float]:
        """The remote area (fractional pixels) that a region of the drawn image shows."""
        scale = self.scale
        return (
            display.x / scale,
            display.y / scale,
            min((display.x + display.width) / scale, self.remote_width),
            min((display.y + display.height) / scale, self.remote_height),
        )


# Tk button numbers on X11: 1 left, 2 middle, 3 right; 4/5 wheel up/down, 6/7 left/right.
_BUTTONS = {1: messages.Button.LEFT, 2: messages.Button.MIDDLE, 3: messages.Button.RIGHT}
_WHEEL_BUTTONS = {4: (0, 1), 5: (0, -1), 6: (-1, 0), 7: (1, 0)}
# One notch of a Windows/macOS <MouseWheel> event.
WHEEL_DELTA_PER_NOTCH = 120
MAX_SCROLL_STEPS = 100


def button_for(number: int) -> messages.Button | None:
    return _BUTTONS.get(number)


def wheel_for_button(number: int) -> tuple[int, int] | None:
    """(dx, dy) for an X11 wheel 'button', None for a real button."""
    return _WHEEL_BUTTONS.get(number)


def wheel_for_delta(delta: int, horizontal: bool = False) -> tuple[int, int]:
    """(dx, dy) for a <MouseWheel> delta (positive delta: away from the user, up)."""
    steps = (
        delta // WHEEL_DELTA_PER_NOTCH
        if abs(delta) >= WHEEL_DELTA_PER_NOTCH
        else (1 if delta > 0 else -1 if delta < 0 else 0)
    )
    steps = max(-MAX_SCROLL_STEPS, min(MAX_SCROLL_STEPS, steps))
    return (steps, 0) if horizontal else (0, steps)


def key_for(keysym: str, char: str) -> str | None:
    """The protocol key for a Tk key event, or None when the host could not type it.

    Named keys (Return, F5, Control_L...) go by name; everything else by the character
    it produces, or by its keysym when that is one character (Ctrl+C gives char "\\x03"
    and keysym "c").
    """
    if keysym in keys.NAMED_KEYS:
        return keysym
    if len(char) == 1 and char.isprintable():
        return char
    if len(keysym) == 1 and keysym.isprintable():
        return keysym
    return None


class KeyTracker:
    """Remembers what each physical key sent on press, so its release sends the same key.

    Tk may report a different char on release (after a modifier changed), and the host
    must see a release for every press, or keys stay stuck down.
    """

    def __init__(self) -> None:
        self._down: dict[int, str] = {}

    def press(self, keycode: int, keysym: str, char: str) -> messages.Key | None:
        key = key_for(keysym, char)
        if key is None:
            return None
        self._down[keycode] = key
        return messages.Key(key, True)

    def release(self, keycode: int, keysym: str, char: str) -> messages.Key | None:
        key = self._down.pop(keycode, None) or key_for(keysym, char)
        return messages.Key(key, False) if key is not None else None

    def release_all(self) -> list[messages.Key]:
        """Releases for every key still down (the window lost focus)."""
        released = [messages.Key(key, False) for key in self._down.values()]
        self._down.clear()
        return released
