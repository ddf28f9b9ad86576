"""Detect stage on X11: the DAMAGE extension says when and where the screen changed.

The watcher has an X connection of its own (used from the capture thread only) and a
damage object on the root window that reports every drawn rectangle (raw rectangles, so
no DamageSubtract round trips). `wait` blocks on the connection's socket, so an idle
screen costs no grab, no diff and no wakeup beyond the caller's timeout. After the first
event it keeps collecting while more arrive within COALESCE_QUIET_SECONDS, for at most
COALESCE_MAX_SECONDS, so one keystroke (glyph, then cursor) is one capture, not three.
"""

from __future__ import annotations

import select
import time
from typing import Any

from host_agent.damage.tiles import Rect

COALESCE_QUIET_SECONDS = 0.001
COALESCE_MAX_SECONDS = 0.004


class DamageUnavailable(Exception):
    """This display has no DAMAGE extension (the pipeline then polls)."""


class DamageWatcher:
    """Changed rectangles of the X screen, in root window coordinates."""

    def __init__(self, display_name: str | None = None) -> None:
        from Xlib import display as xdisplay
        from Xlib.ext import damage

        self._display: Any = xdisplay.Display(display_name)
        try:
            if not self._display.has_extension("DAMAGE"):
                raise DamageUnavailable("the X server has no DAMAGE extension")
            self._display.damage_query_version()
            root = self._display.screen().root
            self._damage = root.damage_create(damage.DamageReportRawRectangles)
            self._display.flush()
        except BaseException:
            self._display.close()
            raise

    def wait(self, timeout_seconds: float) -> list[Rect]:
        """The rectangles damaged since the last call; waits up to `timeout_seconds` for one."""
        rects = self._drain()
        if not rects:
            if not self._readable(timeout_seconds):
                return []
            rects = self._drain()
            if not rects:
                return []
        deadline = time.monotonic() + COALESCE_MAX_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            if not self._readable(min(COALESCE_QUIET_SECONDS, left)):
                break
            rects.extend(self._drain())
        return rects

    def _readable(self, timeout_seconds: float) -> bool:
        if self._display.pending_events():
            return True
        ready, _, _ = select.select([self._display.fileno()], [], [], max(0.0, timeout_seconds))
        return bool(ready)

    def _drain(self) -> list[Rect]:
        rects: list[Rect] = []
        while self._display.pending_events():
            event = self._display.next_event()
            # Matched by our damage object's id: python-xlib may load its extension module
            # twice, so the event class is not reliably the one imported here.
            if getattr(event, "damage", None) == self._damage:
                area = event.area
                if area.width > 0 and area.height > 0:
                    rects.append(Rect(area.x, area.y, area.width, area.height))
        return rects

    def close(self) -> None:
        try:
            self._display.damage_destroy(self._damage)
            self._display.flush()
        finally:
            self._display.close()
