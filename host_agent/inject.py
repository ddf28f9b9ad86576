"""Input from the technician, validated and injected only while the customer allows control.

The `InputGate` is the one place where a technician's input can become a real mouse or
keyboard event. Its state is checked under one lock right before every injection, and the
kill switch (`end`) takes the same lock, so once `end()` has returned nothing more is
injected, even if the viewer keeps sending. Revoking control or pausing (`block`) also
bumps a generation number: inputs queued before it are never injected later.

python-xlib is imported lazily in `PynputBackend` (it fails without a display).
"""

from __future__ import annotations

import contextlib
import enum
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from protocol import keys as key_names
from protocol.messages import Button, Key, Message, PointerButton, PointerMove, Scroll

MAX_QUEUED_INPUTS = 256
MAX_INPUTS_PER_SECOND = 250.0
INPUT_BURST = 500
_STOP = object()


class GateState(enum.Enum):
    BLOCKED = "blocked"  # no control: asking, view only or paused; inputs are dropped
    OPEN = "open"  # the customer allowed control
    ENDED = "ended"  # kill switch: final


class Verdict(enum.Enum):
    QUEUED = "queued"
    NO_CONTROL = "dropped: no control"
    INVALID = "dropped: invalid"
    RATE_LIMITED = "dropped: rate limit"
    QUEUE_FULL = "dropped: queue full"


class InputBackend(Protocol):
    """Something that really moves the pointer and presses keys (pynput, or a test double)."""

    def move(self, x: int, y: int) -> None: ...
    def button(self, button: Button, pressed: bool) -> None: ...
    def scroll(self, dx: int, dy: int) -> None: ...
    def key(self, key: str, pressed: bool) -> None: ...
    def close(self) -> None:
        """Let go of what it holds (X connections); called once, as the session ends."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """The shared monitor in screen coordinates: inputs arrive relative to its corner."""

    left: int
    top: int
    width: int
    height: int

    def contains(self, x: int, y: int) -> bool:
        return 0 <= x < self.width and 0 <= y < self.height


@dataclass
class GateCounters:
    injected: int = 0
    dropped_no_control: int = 0
    dropped_invalid: int = 0
    dropped_rate: int = 0
    dropped_queue: int = 0


class InputGate:
    """Validates, rate-limits and injects input; see the module docstring for the guarantees."""

    def __init__(
        self,
        backend: InputBackend,
        bounds: Bounds,
        on_injected: Callable[[Message], None] = lambda message: None,
    ) -> None:
        self._backend = backend
        self._bounds = bounds
        self._on_injected = on_injected
        self._lock = threading.Lock()
        self._state = GateState.BLOCKED
        self._generation = 0
        self._queue: queue.Queue[object] = queue.Queue(MAX_QUEUED_INPUTS)
        self._held_keys: set[str] = set()
        self._held_buttons: set[Button] = set()
        self._tokens = float(INPUT_BURST)
        self._last_refill: float | None = None
        self.counters = GateCounters()
        self._worker = threading.Thread(target=self._run, name="input-injector", daemon=True)
        self._worker.start()

    @property
    def state(self) -> GateState:
        return self._state

    # -- called on the event loop -------------------------------------------------------

    def submit(self, message: Message, now: float) -> Verdict:
        """Take one input message from the viewer: queue it for injection or drop it."""
        if self._state is not GateState.OPEN:
            self.counters.dropped_no_control += 1
            return Verdict.NO_CONTROL
        if not self._valid(message):
            self.counters.dropped_invalid += 1
            return Verdict.INVALID
        if not self._take_token(now):
            self.counters.dropped_rate += 1
            return Verdict.RATE_LIMITED
        try:
            self._queue.put_nowait((self._generation, message))
        except queue.Full:
            self.counters.dropped_queue += 1
            return Verdict.QUEUE_FULL
        return Verdict.QUEUED

    def _valid(self, message: Message) -> bool:
        if isinstance(message, PointerMove | PointerButton | Scroll):
            return self._bounds.contains(message.x, message.y)
        if isinstance(message, Key):
            return key_names.is_known_key(message.key)
        return False

    def _take_token(self, now: float) -> bool:
        if self._last_refill is not None:
            elapsed = max(0.0, now - self._last_refill)
            self._tokens = min(float(INPUT_BURST), self._tokens + elapsed * MAX_INPUTS_PER_SECOND)
        self._last_refill = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    # -- the customer's actions ---------------------------------------------------------

    def open(self) -> None:
        """The customer allowed control."""
        with self._lock:
            if self._state is GateState.BLOCKED:
                self._state = GateState.OPEN

    def block(self) -> None:
        """Control revoked or sharing paused: drop what is queued, release what is held."""
        with self._lock:
            if self._state is GateState.OPEN:
                self._state = GateState.BLOCKED
            self._generation += 1
            self._release_held()
        self._drain()

    def end(self) -> None:
        """The kill switch. After this returns, nothing is ever injected again."""
        with self._lock:
            self._state = GateState.ENDED
            self._generation += 1
            self._release_held()
        self._drain()
        # A full queue is fine: the worker sees ENDED on its next item and stops anyway.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_STOP)

    def set_bounds(self, bounds: Bounds) -> None:
        """Another monitor is shared now; held keys and buttons are let go first."""
        with self._lock:
            self._release_held()
            self._generation += 1
            self._bounds = bounds
            if isinstance(self._backend, PynputBackend):
                self._backend.bounds = bounds
        self._drain()

    def join(self, timeout: float) -> None:
        self._worker.join(timeout)

    # -- the injector thread ------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                generation, message = item  # type: ignore[misc]
                with self._lock:
                    if self._state is GateState.ENDED:
                        return
                    if self._state is not GateState.OPEN or generation != self._generation:
                        continue
                    self._inject(message)
                self._on_injected(message)
        finally:
            # The backend's X connections go with the session, here, where they were
            # used: not whenever the collector finds them, by then perhaps without the X
            # server they talk to.
            self._backend.close()

    def _inject(self, message: Message) -> None:
        backend = self._backend
        if isinstance(message, PointerMove):
            backend.move(message.x, message.y)
        elif isinstance(message, PointerButton):
            backend.move(message.x, message.y)
            if message.pressed:
                self._held_buttons.add(message.button)
            else:
                self._held_buttons.discard(message.button)
            backend.button(message.button, message.pressed)
        elif isinstance(message, Scroll):
            backend.move(message.x, message.y)
            backend.scroll(message.dx, message.dy)
        elif isinstance(message, Key):
            if message.pressed:
                self._held_keys.add(message.key)
            else:
                self._held_keys.discard(message.key)
            backend.key(message.key, message.pressed)
        self.counters.injected += 1

    def _release_held(self) -> None:
        # Called with the lock held: the release is part of the state change.
        for key in sorted(self._held_keys):
            self._backend.key(key, False)
        for button in sorted(self._held_buttons, key=lambda b: b.value):
            self._backend.button(button, False)
        self._held_keys.clear()
        self._held_buttons.clear()


class PynputBackend:
    """Real injection into the X display of this process (DISPLAY).

    Pointer and keys go through the XTEST extension (python-xlib, pure Python), as
    xdotool's do and as pynput's X pointer did (the name stays; pynput itself is no longer
    needed: on Linux its install builds `evdev` with a C compiler). XTEST input is
    indistinguishable from a real keyboard and mouse, where pynput's X keyboard sent
    synthetic events that Tk and many toolkits ignore.
    """

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self._keyboard = XTestKeyboard()
        self._mouse: Any = XTestPointer(self._keyboard.display)
        self._buttons: dict[Button, Any] = {
            Button.LEFT: 1,
            Button.MIDDLE: 2,
            Button.RIGHT: 3,
        }

    def move(self, x: int, y: int) -> None:
        self._mouse.position = (self.bounds.left + x, self.bounds.top + y)

    def button(self, button: Button, pressed: bool) -> None:
        if pressed:
            self._mouse.press(self._buttons[button])
        else:
            self._mouse.release(self._buttons[button])

    def scroll(self, dx: int, dy: int) -> None:
        self._mouse.scroll(dx, dy)

    def key(self, key: str, pressed: bool) -> None:
        self._keyboard.key(key, pressed)

    def close(self) -> None:
        """Let go of the X connection; nothing is injected after this."""
        self._keyboard.close()
        self._mouse = None


class XTestPointer:
    """Moves the pointer, presses buttons and scrolls through XTEST, with pynput's
    conventions (buttons 1-3; dy > 0 scrolls up, dx > 0 right: X buttons 4-7)."""

    def __init__(self, display: Any) -> None:
        from Xlib import X
        from Xlib.ext import xtest

        self._X, self._xtest, self._display = X, xtest, display

    @property
    def position(self) -> tuple[int, int]:
        pointer = self._display.screen().root.query_pointer()
        return pointer.root_x, pointer.root_y

    @position.setter
    def position(self, point: tuple[int, int]) -> None:
        x, y = point
        self._xtest.fake_input(self._display, self._X.MotionNotify, x=x, y=y)
        self._display.sync()

    def press(self, button: int) -> None:
        self._xtest.fake_input(self._display, self._X.ButtonPress, button)
        self._display.sync()

    def release(self, button: int) -> None:
        self._xtest.fake_input(self._display, self._X.ButtonRelease, button)
        self._display.sync()

    def scroll(self, dx: int, dy: int) -> None:
        steps = [(4 if dy > 0 else 5, abs(dy)), (7 if dx > 0 else 6, abs(dx))]
        for button, count in steps:
            for _ in range(count):
                self._xtest.fake_input(self._display, self._X.ButtonPress, button)
                self._xtest.fake_input(self._display, self._X.ButtonRelease, button)
        self._display.sync()


def keysym_for(key: str) -> int:
    """The X keysym of a key as the protocol names it (one character, or a keysym name);
    Wayland's portal takes the same numbers."""
    from Xlib import XK  # python-xlib's tables; no display needed

    if len(key) == 1:
        code = ord(key)
        named = XK.string_to_keysym(key)
        if named:
            return named
        return code if 0x20 <= code <= 0xFF else 0x01000000 | code
    return XK.string_to_keysym(key)


class XTestKeyboard:
    """Presses keys by keysym through XTEST, remapping a spare keycode for characters the
    keyboard layout lacks (for example "€" on a US layout)."""

    def __init__(self) -> None:
        from Xlib import XK, X
        from Xlib import display as xdisplay
        from Xlib.ext import xtest

        self._X, self._XK, self._xtest = X, XK, xtest
        self._display = xdisplay.Display()
        self.display = self._display
        self._shift = self._display.keysym_to_keycode(XK.string_to_keysym("Shift_L"))
        self._spare: int | None = None
        self._pressed: dict[str, tuple[int, bool]] = {}

    def _keysym(self, key: str) -> int:
        return keysym_for(key)

    def _keycode(self, keysym: int) -> tuple[int, bool]:
        for keycode, index in self._display.keysym_to_keycodes(keysym):
            if index in (0, 1):
                return keycode, index == 1
        return self._remap(keysym), False

    def _remap(self, keysym: int) -> int:
        if self._spare is None:
            first = self._display.display.info.min_keycode
            count = self._display.display.info.max_keycode - first + 1
            mapping = self._display.get_keyboard_mapping(first, count)
            spare = [first + i for i, syms in enumerate(mapping) if not any(syms)]
            if not spare:
                raise ValueError("no free keycode to type this character")
            self._spare = spare[-1]
        self._display.change_keyboard_mapping(self._spare, [(keysym,) * 4])
        self._display.sync()
        return self._spare

    def key(self, key: str, pressed: bool) -> None:
        X = self._X
        if pressed:
            keycode, shifted = self._keycode(self._keysym(key))
            self._pressed[key] = (keycode, shifted)
            if shifted:
                self._xtest.fake_input(self._display, X.KeyPress, self._shift)
            self._xtest.fake_input(self._display, X.KeyPress, keycode)
        else:
            keycode, shifted = self._pressed.pop(key, (None, False))
            if keycode is None:
                keycode, shifted = self._keycode(self._keysym(key))
            self._xtest.fake_input(self._display, X.KeyRelease, keycode)
            if shifted:
                self._xtest.fake_input(self._display, X.KeyRelease, self._shift)
        self._display.sync()

    def close(self) -> None:
        from Xlib import error as xerror

        with contextlib.suppress(xerror.ConnectionClosedError, OSError):
            self._display.close()


class NoInjectionBackend:
    """For the synthetic screen: inputs are validated and logged, but go nowhere."""

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds

    def move(self, x: int, y: int) -> None:
        pass

    def button(self, button: Button, pressed: bool) -> None:
        pass

    def scroll(self, dx: int, dy: int) -> None:
        pass

    def key(self, key: str, pressed: bool) -> None:
        pass

    def close(self) -> None:
        pass
