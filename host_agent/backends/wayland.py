"""The Wayland backend: a screen source and an input backend over one portal session.

`WaylandBackend` holds the portal session both share (the portal takes input only from the
connection that created the session). Nothing is asked of the portal before `start`, which
the agent calls once the customer has consented (or, failing that, the first grab does):
until then the source knows one monitor of a provisional size and grabs nothing.

Monitors are the streams the customer chose in the portal's dialog, in its order; the
shared one has a PipeWire stream (pipewire_frames.py). Input coordinates arrive in the
frame's pixels and go to the portal in the stream's logical coordinates (they differ on a
scaled screen).
"""

from __future__ import annotations

import os
import threading

import numpy as np

import host_agent.backends.libpipewire as pw
from host_agent.backends.pipewire_frames import FrameWatcher, PipeWireFrames, StreamFailed
from host_agent.backends.wayland_portal import (
    BUTTON_LEFT,
    BUTTON_MIDDLE,
    BUTTON_RIGHT,
    DEVICE_KEYBOARD,
    DEVICE_POINTER,
    PortalFailed,
    PortalSession,
    PortalStream,
)
from host_agent.capture import CaptureError, Monitor
from host_agent.damage.tiles import Rect
from host_agent.inject import Bounds, keysym_for
from protocol.messages import Button

# What the source reports before the portal has said which screens the customer shares
# (the viewer's Hello carries it; the first frame update carries the real size).
PROVISIONAL_WIDTH = 1280
PROVISIONAL_HEIGHT = 720
# Portal axis units per wheel step (mutter's and libinput's: 10 per discrete step).
AXIS_UNITS_PER_STEP = 10.0

_BUTTONS = {Button.LEFT: BUTTON_LEFT, Button.MIDDLE: BUTTON_MIDDLE, Button.RIGHT: BUTTON_RIGHT}


class WaylandBackend:
    """One portal session, shared by the source (capture thread) and the input backend
    (injector thread)."""

    def __init__(self, session: PortalSession) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._current: PortalStream | None = None
        self._scale = (1.0, 1.0)  # frame pixels -> logical coordinates
        self._users = 0

    @property
    def started(self) -> bool:
        return bool(self.session.streams)

    def make_source(self, number: int = 1) -> WaylandSource:
        with self._lock:
            self._users += 1
        return WaylandSource(self, number)

    def make_input(self, bounds: Bounds) -> PortalInput:
        with self._lock:
            self._users += 1
        return PortalInput(self)

    def share(self, stream: PortalStream, frame_size: tuple[int, int]) -> None:
        """Input goes to `stream` from now on; its frames are `frame_size` pixels."""
        width, height = frame_size
        logical = stream.size or frame_size
        with self._lock:
            self._current = stream
            self._scale = (logical[0] / max(1, width), logical[1] / max(1, height))

    def target(self) -> tuple[int, tuple[float, float]]:
        """The node of the shared stream and the scale to its logical coordinates."""
        with self._lock:
            if self._current is None:
                raise PortalFailed("no screen is shared through the portal yet")
            return self._current.node_id, self._scale

    def release(self) -> None:
        """One user is done; the last one ends the portal session."""
        with self._lock:
            self._users -= 1
            last = self._users <= 0
        if last:
            self.session.close()

    def end(self) -> None:
        """End the portal session now (the kill switch, from any thread)."""
        self.session.close()


class WaylandSource:
    """A ScreenSource over the portal's streams. Used from the capture thread only."""

    def __init__(self, backend: WaylandBackend, number: int) -> None:
        self._backend = backend
        self._number = number
        self._loop: pw.ThreadLoop | None = None
        self._frames: PipeWireFrames | None = None
        self._watcher = FrameWatcher()
        self._monitor = Monitor(1, Bounds(0, 0, PROVISIONAL_WIDTH, PROVISIONAL_HEIGHT))
        self._closed = False

    # -- the portal -------------------------------------------------------------------------

    def start(self) -> Monitor:
        """Ask the portal (its dialog) and connect to the chosen screen's stream; the
        monitor shared. Raises PortalRefused when the customer declines there."""
        if self._frames is not None:
            return self._monitor
        if self._closed:
            raise CaptureError("the screen source is closed")
        session = self._backend.session
        if not self._backend.started:
            session.start()
        try:
            fd = session.open_pipewire_remote()
            self._loop = pw.ThreadLoop("fernwartung-screen", fd)
        except (pw.PipeWireUnavailable, OSError) as error:
            raise CaptureError(f"the screen's stream cannot be opened: {error}") from error
        number = self._number if 1 <= self._number <= len(session.streams) else 1
        return self.select(number)

    def cancel(self) -> None:
        """From any thread (the kill switch): stop asking the portal, end its session;
        a `start` waiting for the dialog raises PortalRefused."""
        self._backend.end()

    # -- ScreenSource -----------------------------------------------------------------------

    def monitors(self) -> list[Monitor]:
        streams = self._backend.session.streams
        if not streams:
            return [self._monitor]
        return [self._monitor_of(i + 1, s) for i, s in enumerate(streams)]

    def _monitor_of(self, number: int, stream: PortalStream) -> Monitor:
        width, height = stream.size or (PROVISIONAL_WIDTH, PROVISIONAL_HEIGHT)
        if self._frames is not None and number == self._monitor.number:
            width, height = self._frames.size or (width, height)
        return Monitor(number, Bounds(stream.position[0], stream.position[1], width, height))

    def select(self, number: int) -> Monitor:
        streams = self._backend.session.streams
        if not streams:
            if number != 1:
                raise CaptureError(f"there is no monitor {number} (this PC has 1)")
            self._number = number
            return self._monitor
        if not 1 <= number <= len(streams):
            raise CaptureError(f"there is no monitor {number} (this PC has {len(streams)})")
        assert self._loop is not None
        stream = streams[number - 1]
        if self._frames is not None:
            self._frames.close()
            self._frames = None
        hint = stream.size or (PROVISIONAL_WIDTH, PROVISIONAL_HEIGHT)
        try:
            self._frames = PipeWireFrames(self._loop, stream.node_id, hint)
            self._frames.latest_ready()  # the first frame: its size is the monitor's
        except StreamFailed as error:
            raise CaptureError(str(error)) from error
        self._number = number
        self._monitor = self._monitor_of(number, stream)
        b = self._monitor.bounds
        self._backend.share(stream, (b.width, b.height))
        self._watcher.follow(self._frames, (b.left, b.top))
        return self._monitor

    @property
    def monitor(self) -> Monitor:
        return self._monitor

    def grab(self) -> np.ndarray:
        frames = self._started()
        try:
            frame = frames.latest()
        except StreamFailed as error:
            raise CaptureError(str(error)) from error
        if frame.shape[:2] != (self._monitor.bounds.height, self._monitor.bounds.width):
            self._monitor = self._monitor_of(self._monitor.number, self._stream())
        return frame

    def grab_region(self, rect: Rect) -> np.ndarray:
        """The pixels of `rect` (monitor coordinates) of the newest frame."""
        frames = self._started()
        try:
            return frames.region(rect)
        except StreamFailed as error:
            raise CaptureError(str(error)) from error

    def damage_watcher(self) -> FrameWatcher:
        return self._watcher

    def pointer(self) -> tuple[int, int] | None:
        if self._frames is None:
            return None
        position = self._frames.pointer()
        if position is None:
            return None
        x, y = position
        b = self._monitor.bounds
        return (x, y) if b.contains(x, y) else None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._frames is not None:
            self._frames.close()
            self._frames = None
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        self._backend.release()

    def _started(self) -> PipeWireFrames:
        if self._frames is None:
            self.start()
        assert self._frames is not None
        return self._frames

    def _stream(self) -> PortalStream:
        return self._backend.session.streams[self._monitor.number - 1]


class PortalInput:
    """Input through the portal's Notify* calls on the shared stream. Used from the
    injector thread; `close` ends the portal session (nothing can be injected after it)."""

    def __init__(self, backend: WaylandBackend) -> None:
        self._backend = backend
        self._closed = False

    def _allowed(self, device: int) -> bool:
        return bool(self._backend.session.devices & device)

    def move(self, x: int, y: int) -> None:
        if not self._allowed(DEVICE_POINTER):
            return
        node, (scale_x, scale_y) = self._backend.target()
        self._backend.session.pointer_motion_absolute(node, x * scale_x, y * scale_y)

    def button(self, button: Button, pressed: bool) -> None:
        if self._allowed(DEVICE_POINTER):
            self._backend.session.pointer_button(_BUTTONS[button], pressed)

    def scroll(self, dx: int, dy: int) -> None:
        # The protocol's dy > 0 is a wheel step up (away from the user); the portal's axis
        # grows downwards.
        if self._allowed(DEVICE_POINTER):
            self._backend.session.pointer_axis(dx * AXIS_UNITS_PER_STEP, -dy * AXIS_UNITS_PER_STEP)

    def key(self, key: str, pressed: bool) -> None:
        if self._allowed(DEVICE_KEYBOARD):
            self._backend.session.keyboard_keysym(keysym_for(key), pressed)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._backend.release()


def portal_session_from(environ: dict[str, str] | os._Environ[str]) -> PortalSession:
    """A probed portal connection on this login's session bus (no dialog, no session)."""
    from host_agent.backends.wayland_portal import PortalUnavailable, session_bus_address

    address = session_bus_address(environ)
    if address is None:
        raise PortalUnavailable("no session bus")
    session = PortalSession(address)
    try:
        session.probe()
    except BaseException:
        session.close()
        raise
    return session
