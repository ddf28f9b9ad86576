"""What every workload draws with: the X connection and its windows, terminals and key
presses, the log of stamped changes, a steady ticker, and the signal that starts the
measured part of a scenario.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import TextIO

from Xlib import XK, X
from Xlib import display as xdisplay
from Xlib.ext import xtest

SCREEN_WIDTH = 1920
SCREEN_HEIGHT = 1080
DESKTOP_RGB = (0x3A, 0x6E, 0xA5)
XTERM_START_SECONDS = 20
# A PutImage must stay below the X request size limit (65535 words without BIG-REQUESTS).
UPLOAD_BYTES_PER_REQUEST = 200_000
# The benchmark sends this when its measured window opens; scenarios that must begin
# inside the window (one event to time, such as a video that stops) wait for it.
GO_SIGNAL = signal.SIGUSR1
GO_CHECK_SECONDS = 0.05


class Stopped(Exception):
    """SIGTERM arrived: leave the loop and clean up."""


class EventLog:
    """Appends one JSON line per screen change, flushed at once so a stop loses nothing.

    `kind` names changes a scenario times on their own ("typed", "stop", "maximise"; "" for
    the rest)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def change(
        self, at: float, region: tuple[int, int, int, int], characters: int = 0, kind: str = ""
    ) -> None:
        record = {"at": at, "region": list(region), "characters": characters}
        if kind:
            record["kind"] = kind
        self._stream.write(json.dumps(record) + "\n")
        self._stream.flush()


def rgb_pixel(rgb: tuple[int, int, int]) -> int:
    """A TrueColor pixel value for depth 24 (red in the high byte)."""
    return (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]


def ticks(per_second: float) -> Iterator[int]:
    """Yield at a fixed rate on an absolute schedule (so drift does not add up)."""
    period = 1.0 / per_second
    start = time.monotonic()
    index = 0
    while True:
        delay = start + index * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield index
        index += 1


_go = threading.Event()


def listen_for_go() -> None:
    """Take GO_SIGNAL from now on (called before READY, so an early signal is neither lost
    nor fatal). A handler, not a blocked signal: numpy's threads would take a blocked one."""
    signal.signal(GO_SIGNAL, lambda signum, frame: _go.set())


def wait_for_go() -> None:
    """Block until the benchmark's measured window has opened."""
    while not _go.wait(GO_CHECK_SECONDS):  # the handler runs between the waits
        pass


class Scene:
    """The X connection, the desktop, and the windows and terminals a scenario opened."""

    def __init__(self, display_name: str, events_path: str, stack: ExitStack) -> None:
        self.display_name = display_name
        self.events_path = events_path  # programs that stamp their own changes write beside it
        self.display = xdisplay.Display(display_name)
        self.screen = self.display.screen()
        self.root = self.screen.root
        self._stack = stack
        self.root.change_attributes(background_pixel=rgb_pixel(DESKTOP_RGB))
        self.root.clear_area()
        self.display.sync()

    def window(
        self, x: int, y: int, width: int, height: int, rgb: tuple[int, int, int], *,
        mapped: bool = True,
    ):  # fmt: skip
        """A plain window (no window manager: override-redirect, placed exactly)."""
        window = self.root.create_window(
            x, y, width, height, 0, self.screen.root_depth,
            background_pixel=rgb_pixel(rgb), override_redirect=True,
        )  # fmt: skip
        if mapped:
            window.map()
        self.display.sync()
        return window

    def gc(self, drawable, rgb: tuple[int, int, int]):
        return drawable.create_gc(foreground=rgb_pixel(rgb))

    def upload(self, window, width: int, height: int, bgrx: bytes):
        """A server-side pixmap holding one BGRX picture of `width` x `height`."""
        pixmap = window.create_pixmap(width, height, self.screen.root_depth)
        gc = self.gc(pixmap, (0, 0, 0))
        row_bytes = width * 4
        rows = max(1, UPLOAD_BYTES_PER_REQUEST // row_bytes)
        for top in range(0, height, rows):
            strip = bgrx[top * row_bytes : (top + rows) * row_bytes]
            pixmap.put_image(gc, 0, top, width, len(strip) // row_bytes, X.ZPixmap, 24, 0, strip)
        gc.free()
        self.display.sync()
        return pixmap

    def xterm(self, title: str, geometry: str, command: list[str]):
        """Start an xterm owned by this scene and return its window once it is mapped."""
        process = subprocess.Popen(
            ["xterm", "-display", self.display_name, "-T", title, "-geometry", geometry,
             "-bg", "white", "-fg", "black", "-e", *command],
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self._stack.callback(stop_child, process)
        found = subprocess.run(
            ["xdotool", "search", "--sync", "--onlyvisible", "--name", title],
            env={**os.environ, "DISPLAY": self.display_name},
            capture_output=True,
            text=True,
            timeout=XTERM_START_SECONDS,
            check=True,
        )
        window_id = int(found.stdout.split()[0])
        return self.display.create_resource_object("window", window_id)

    def region_of(self, window) -> tuple[int, int, int, int]:
        geometry = window.get_geometry()
        origin = window.translate_coords(self.root, 0, 0)
        border = geometry.border_width
        return (-origin.x - border, -origin.y - border, geometry.width + 2 * border,
                geometry.height + 2 * border)  # fmt: skip

    def focus(self, window) -> None:
        """Give a terminal the keyboard, with the pointer resting over it as a user's would."""
        x, y, width, height = self.region_of(window)
        xtest.fake_input(self.display, X.MotionNotify, x=x + width // 2, y=y + height // 2)
        window.set_input_focus(X.RevertToPointerRoot, X.CurrentTime)
        self.display.sync()

    def key(self, character: str) -> None:
        keysym = XK.string_to_keysym({" ": "space", "\n": "Return"}.get(character, character))
        keycode = self.display.keysym_to_keycode(keysym)
        xtest.fake_input(self.display, X.KeyPress, keycode)
        xtest.fake_input(self.display, X.KeyRelease, keycode)
        self.display.flush()


def stop_child(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
