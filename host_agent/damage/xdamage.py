"""Detect stage on X11: DAMAGE says when and where the screen changed, XInput 2 says when
the pointer moved.

The watcher has an X connection of its own (used from the capture thread only) with
- a damage object on the root window that reports the bounding box of what was drawn
  since it was last emptied, once each time that box grows. `wait` empties it
  (DamageSubtract) just before it returns, so the grab that follows covers what it
  reports and whatever is drawn after it raises a new event. When the box grew often
  (REGION_MIN_EVENTS), what was drawn may lie in separate places (blocks bouncing about
  the screen), so DamageSubtract hands the damage over into an XFixes region
  (xregion.py) and `wait` returns that region's rectangles, one round trip (about 50 us
  here) instead of the box around them all. Asking for every rectangle as an event instead
  (DamageReportDeltaRectangles) was measured: 52 events a frame for the peer benchmark's
  animation, and 200 a frame, 11.5 % of a core in this watcher alone, for characters
  strewn over a terminal (2.2 % with boxes and the region);
- XInput 2 motion events: raw motion of every pointer (real devices and XTEST, so the
  agent's own injection too) and motion over the root window. A warp (XWarpPointer,
  `xdotool mousemove`) makes no raw motion: it shows only where it lands on a window no
  client takes motion events for (the root, a terminal); the pipeline's occasional
  pointer check finds the others. Without XInput 2 (`pointer_events` False) the pipeline
  asks for the pointer often instead;
- a Waker, so another thread can end a wait.
`wait` sleeps on the connection's socket and the waker's pipe, so an idle screen costs no
grab, no diff and no wakeup beyond the caller's timeout (None: none at all). After the
first damage it keeps collecting while more arrive within COALESCE_QUIET_SECONDS, for at
most COALESCE_MAX_SECONDS, so one keystroke (glyph, then cursor) is one capture, not three.
"""

from __future__ import annotations

import select
import time
from dataclasses import dataclass
from typing import Any

from Xlib import X

from host_agent.damage import xregion
from host_agent.damage.tiles import Rect
from host_agent.damage.waker import Waker

# A wait whose bounding box grew this often (things drawn in separate places, perhaps)
# asks for the damaged rectangles themselves. A scrolling terminal grows it three times a
# line and a typed character twice: for them the round trip would find no separate places.
REGION_MIN_EVENTS = 4
# More rectangles than this come as the box around them (each costs Python time here and
# in the pipeline, and so many are grabbed as one box anyway).
MAX_REGION_RECTS = 512
COALESCE_QUIET_SECONDS = 0.001
COALESCE_MAX_SECONDS = 0.004
# XInput 2.1 and later send raw events during grabs too (a menu open, a drag); the version
# python-xlib announces on its own, 2.0, would lose them then.
XINPUT_VERSION = (2, 2)


class DamageUnavailable(Exception):
    """This display has no DAMAGE extension (the pipeline then polls)."""


@dataclass(frozen=True, slots=True)
class Seen:
    """What one wait brought."""

    rects: tuple[Rect, ...] = ()  # damaged, root window coordinates
    pointer_moved: bool = False
    woken: bool = False  # another thread called `wake`

    @property
    def anything(self) -> bool:
        return bool(self.rects) or self.pointer_moved or self.woken


class DamageWatcher:
    """Changed rectangles and pointer motion of the X screen, in root window coordinates."""

    def __init__(self, display_name: str | None = None) -> None:
        from Xlib import display as xdisplay
        from Xlib.ext import damage

        self._display: Any = xdisplay.Display(display_name)
        self._waker = Waker()
        self.wakeups = 0  # how often a wait returned from its sleep (tests count them)
        try:
            if not self._display.has_extension("DAMAGE"):
                raise DamageUnavailable("the X server has no DAMAGE extension")
            self._display.damage_query_version()
            root = self._display.screen().root
            self._damage = root.damage_create(damage.DamageReportBoundingBox)
            self._region = xregion.create(self._display)
            self._xinput_opcode = self._select_pointer_motion(root)
            self._display.flush()
        except BaseException:
            self._display.close()
            self._waker.close()
            raise

    @property
    def pointer_events(self) -> bool:
        """True when pointer motion arrives as events (XInput 2)."""
        return self._xinput_opcode is not None

    def _select_pointer_motion(self, root: Any) -> int | None:
        """Ask for XInput 2 motion events; the extension's opcode, or None without it."""
        from Xlib import error as xerror
        from Xlib.ext import xinput

        if not self._display.has_extension(xinput.extname):
            return None
        opcode: int = self._display.display.get_extension_major(xinput.extname)
        try:
            reply = xinput.XIQueryVersion(
                display=self._display.display,
                opcode=opcode,
                major_version=XINPUT_VERSION[0],
                minor_version=XINPUT_VERSION[1],
            )
            if reply.major_version < 2:
                return None
            root.xinput_select_events(
                [(xinput.AllMasterDevices, xinput.RawMotionMask | xinput.MotionMask)]
            )
        except xerror.XError:
            return None  # an XInput 1 server
        return opcode

    def wake(self) -> None:
        """From any thread: end the current (or the next) wait."""
        self._waker.wake()

    def wait(self, timeout_seconds: float | None) -> Seen:
        """What happened since the last call; waits up to `timeout_seconds` (None: as long
        as it takes) for damage, pointer motion or a wake."""
        seen = self._drain()
        if not seen.anything:
            if not self._readable(timeout_seconds):
                return seen
            seen = self._drain()
        if not seen.rects:
            return seen
        rects, pointer_moved, woken = list(seen.rects), seen.pointer_moved, seen.woken
        deadline = time.monotonic() + COALESCE_MAX_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            if not self._readable(min(COALESCE_QUIET_SECONDS, left)):
                break
            more = self._drain()
            rects.extend(more.rects)
            pointer_moved, woken = pointer_moved or more.pointer_moved, woken or more.woken
        # Empty the damage region: what is drawn from now on raises an event again. What was
        # drawn meanwhile has its event waiting already: the next wait returns it.
        if self._region is not None and len(rects) >= REGION_MIN_EVENTS:
            # Perhaps drawn in separate places: the damage itself, not the box around it.
            self._display.damage_subtract(self._damage, X.NONE, self._region)
            rects = xregion.fetch(self._display, self._region, MAX_REGION_RECTS)
        else:
            self._display.damage_subtract(self._damage)
            self._display.flush()
        return Seen(tuple(rects), pointer_moved, woken)

    def _readable(self, timeout_seconds: float | None) -> bool:
        if self._display.pending_events():
            return True
        timeout = None if timeout_seconds is None else max(0.0, timeout_seconds)
        ready, _, _ = select.select([self._display.fileno(), self._waker], [], [], timeout)
        self.wakeups += 1
        return bool(ready)

    def _drain(self) -> Seen:
        rects: list[Rect] = []
        pointer_moved = False
        while self._display.pending_events():
            event = self._display.next_event()
            # Matched by our damage object's id and the extension's opcode: python-xlib may
            # load its extension modules twice, so event classes are not reliably the ones
            # imported here.
            if getattr(event, "damage", None) == self._damage:
                area = event.area
                if area.width > 0 and area.height > 0:
                    rects.append(Rect(area.x, area.y, area.width, area.height))
            elif (
                self._xinput_opcode is not None
                and getattr(event, "extension", None) == self._xinput_opcode
            ):
                pointer_moved = True  # the only XInput events selected are motion
        return Seen(tuple(rects), pointer_moved, self._waker.clear())

    def close(self) -> None:
        try:
            self._display.damage_destroy(self._damage)
            if self._region is not None:
                xregion.destroy(self._display, self._region)
            self._display.flush()
        finally:
            self._display.close()
            self._waker.close()
