"""Where the customer's screen and input come from, chosen once at start: X11 (mss, X
DAMAGE, XTEST), Wayland (the xdg-desktop-portal RemoteDesktop and ScreenCast portals and a
PipeWire stream), or the synthetic test pattern (demos and tests only, never chosen for a
customer's real screen).

`choose` picks one for `--backend auto|x11|wayland`; where none works (Windows, macOS, a
Wayland session without the portals, a console without any display) it raises
`Unsupported`, and the agent says so in German and English (`unsupported_message`) and
exits with EXIT_UNSUPPORTED. It never offers the test pattern instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from host_agent.capture import CaptureError, ScreenSource
from host_agent.inject import Bounds, InputBackend, NoInjectionBackend
from host_agent.texts import Texts

# `fernwartung host` exits with this when this system's screen cannot be shared.
EXIT_UNSUPPORTED = 9
BACKEND_CHOICES = ("auto", "x11", "wayland")


class Unsupported(Exception):
    """No backend works here; `reason` is a key of the translation table."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Backend:
    """How the screen is read and input is injected, for one agent run."""

    name: str  # "x11", "wayland" or "synthetic"
    make_source: Callable[[], ScreenSource]
    make_input: Callable[[Bounds], InputBackend]
    # Wayland: ends the portal session at once (the kill switch, from any thread).
    end: Callable[[], None] = field(default=lambda: None)


def choose(
    screen: str,
    backend: str,
    monitor: int,
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> Backend:
    """The backend for `--screen` and `--backend`; raises Unsupported."""
    env = os.environ if environ is None else environ
    system = sys.platform if platform is None else platform
    if screen == "synthetic":
        from host_agent.synthetic import SyntheticSource

        return Backend("synthetic", lambda: SyntheticSource(1), NoInjectionBackend)
    if not system.startswith("linux"):
        name = {"win32": "Windows", "darwin": "macOS"}.get(system, system)
        raise Unsupported("unsupported_platform", f"{name} is not supported yet")
    wayland = bool(env.get("WAYLAND_DISPLAY")) or env.get("XDG_SESSION_TYPE") == "wayland"
    if backend == "wayland" or (backend == "auto" and wayland):
        return _wayland(env, monitor)
    if env.get("DISPLAY"):
        return _x11(monitor)
    raise Unsupported("unsupported_no_display", "neither DISPLAY nor WAYLAND_DISPLAY is set")


def _x11(monitor: int) -> Backend:
    from host_agent.capture import MssSource
    from host_agent.inject import PynputBackend

    return Backend("x11", lambda: MssSource(monitor), PynputBackend)


def _wayland(env: Mapping[str, str], monitor: int) -> Backend:
    try:
        import jeepney  # noqa: F401
    except ImportError:
        raise Unsupported(
            "unsupported_no_portal",
            "the Wayland extras are not installed: pip install 'fernwartung[wayland]'",
        ) from None
    import host_agent.backends.libpipewire as libpipewire
    from host_agent.backends.wayland import WaylandBackend, portal_session_from

    try:
        libpipewire.library()
    except libpipewire.PipeWireUnavailable as error:
        raise Unsupported("unsupported_no_portal", str(error)) from None
    try:
        session = portal_session_from(dict(env))
    except CaptureError as error:
        raise Unsupported("unsupported_no_portal", f"no screen-sharing portal: {error}") from None
    shared = WaylandBackend(session)
    return Backend(
        "wayland", lambda: shared.make_source(monitor), shared.make_input, end=shared.end
    )


def unsupported_message(error: Unsupported) -> str:
    """What the customer reads when this system's screen cannot be shared: German, then
    English, then the technical detail for the provider's support."""
    lines = [Texts(language)(error.reason) for language in ("de", "en")]
    lines += [Texts(language)("unsupported_call") for language in ("de", "en")]
    return "\n".join([*lines, f"({error.detail})"])
