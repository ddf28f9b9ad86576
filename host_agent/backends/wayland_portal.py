"""The customer's screen and input on Wayland: one xdg-desktop-portal RemoteDesktop
session with a ScreenCast source, over D-Bus (jeepney).

The session is asked for only after the customer consented in the agent (`start`), and
then the portal shows its own dialog: the customer picks the screens and allows remote
control there too. A refusal there is a denial (`PortalRefused`). `persist_mode` is 0 on
every request and no restore token is ever kept: each session is asked for again, so
there is no unattended access through the portal either.

jeepney over dbus-next and dbus-fast: pure Python (nothing to compile on the customer's
PC), blocking calls that suit the capture and injector threads, file descriptors passed
(the PipeWire remote). dbus-next's introspection fails on xdg-desktop-portal 1.16.
A router thread reads the connection; calls may come from any thread.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from host_agent.capture import CaptureError, SharingRefused

PORTAL_BUS_NAME = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
REMOTE_DESKTOP = "org.freedesktop.portal.RemoteDesktop"
SCREEN_CAST = "org.freedesktop.portal.ScreenCast"
REQUEST = "org.freedesktop.portal.Request"
SESSION = "org.freedesktop.portal.Session"
PROPERTIES = "org.freedesktop.DBus.Properties"

DEVICE_KEYBOARD = 1
DEVICE_POINTER = 2
SOURCE_MONITOR = 1
CURSOR_HIDDEN = 1
CURSOR_EMBEDDED = 2
CURSOR_METADATA = 4
PERSIST_NONE = 0
RESPONSE_SUCCESS = 0
RESPONSE_CANCELLED = 1
# Linux input event codes of the buttons (linux/input-event-codes.h).
BUTTON_LEFT = 0x110
BUTTON_RIGHT = 0x111
BUTTON_MIDDLE = 0x112

CALL_TIMEOUT_SECONDS = 10.0
# The portal's dialog waits for the customer; the kill switch ends the wait at once.
DIALOG_TIMEOUT_SECONDS = 300.0
CLOSE_TIMEOUT_SECONDS = 2.0
_CLOSED = object()


class PortalUnavailable(CaptureError):
    """No usable portal: no session bus, or no RemoteDesktop and ScreenCast portal on it."""


class PortalRefused(SharingRefused):
    """The customer (or the portal) refused to share the screen in the portal's dialog."""


class PortalFailed(CaptureError):
    """The portal answered a call with an error, or the session ended."""


@dataclass(frozen=True, slots=True)
class PortalStream:
    """One screen the customer chose in the portal's dialog."""

    node_id: int  # the PipeWire node to read frames from; also names the stream in Notify*
    position: tuple[int, int]  # in the compositor's logical space
    size: tuple[int, int] | None  # logical size, when the portal tells it


def session_bus_address(environ: dict[str, str] | os._Environ[str]) -> str | None:
    """The session bus of this login: DBUS_SESSION_BUS_ADDRESS, or the systemd default."""
    address = environ.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.exists(os.path.join(runtime, "bus")):
        return f"unix:path={os.path.join(runtime, 'bus')}"
    return None


class PortalSession:
    """A connection to the portal, and at most one RemoteDesktop session over it."""

    def __init__(self, bus_address: str) -> None:
        from jeepney.bus_messages import message_bus
        from jeepney.io.threading import DBusRouter, open_dbus_connection

        try:
            connection = open_dbus_connection(bus_address, enable_fds=True)
        except (OSError, ValueError, StopIteration) as error:
            raise PortalUnavailable(f"no session bus ({error})") from error
        self._router = DBusRouter(connection)
        self._message_bus = message_bus
        self._lock = threading.Lock()  # one request at a time; close waits for none
        self._pending: queue.Queue[Any] | None = None
        self._tokens = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        self.handle: str | None = None
        self.streams: tuple[PortalStream, ...] = ()
        self.devices = 0  # what the customer allowed in the dialog: DEVICE_* bits
        self.closed = False  # the session is over (ended here, or by the compositor)
        self._disconnected = False
        self.remote_desktop_version = 0
        self.screen_cast_version = 0
        self.cursor_modes = 0

    # -- asking the portal ----------------------------------------------------------------

    def probe(self) -> None:
        """Check that the portal offers RemoteDesktop and ScreenCast; no dialog, no session."""
        self.remote_desktop_version = self._property(REMOTE_DESKTOP, "version")
        self.screen_cast_version = self._property(SCREEN_CAST, "version")
        self.cursor_modes = self._property(SCREEN_CAST, "AvailableCursorModes")
        sources = self._property(SCREEN_CAST, "AvailableSourceTypes")
        if not sources & SOURCE_MONITOR:
            raise PortalUnavailable("the portal cannot share a monitor")

    def _property(self, interface: str, name: str) -> int:
        from jeepney import DBusAddress, new_method_call

        address = DBusAddress(PORTAL_PATH, PORTAL_BUS_NAME, PROPERTIES)
        message = new_method_call(address, "Get", "ss", (interface, name))
        reply = self._call(message, PortalUnavailable)
        _signature, value = reply.body[0]
        return int(value)

    def start(self) -> tuple[PortalStream, ...]:
        """Create the session and let the portal ask the customer (its dialog). Returns the
        screens chosen; raises PortalRefused when the customer says no there."""
        with self._lock:
            if self.closed:
                raise PortalFailed("the portal session was ended")
            token = {"session_handle_token": ("s", self._token())}
            created = self._request(REMOTE_DESKTOP, "CreateSession", "a{sv}", (), token)
            self.handle = str(created["session_handle"][1])
            self._watch_closed()
            devices = {
                "types": ("u", DEVICE_KEYBOARD | DEVICE_POINTER),
                "persist_mode": ("u", PERSIST_NONE),  # RemoteDesktop 2; 1 (1.16) drops it
            }
            self._request(REMOTE_DESKTOP, "SelectDevices", "oa{sv}", (self.handle,), devices)
            options: dict[str, tuple[str, Any]] = {
                "types": ("u", SOURCE_MONITOR),
                "multiple": ("b", True),
            }
            if self.screen_cast_version >= 2:
                options["cursor_mode"] = ("u", self._cursor_mode())
            if self.screen_cast_version >= 4:
                options["persist_mode"] = ("u", PERSIST_NONE)
            self._request(SCREEN_CAST, "SelectSources", "oa{sv}", (self.handle,), options)
            started = self._request(
                REMOTE_DESKTOP, "Start", "osa{sv}", (self.handle, ""), {}, DIALOG_TIMEOUT_SECONDS
            )
            self.devices = int(started.get("devices", ("u", 0))[1])
            self.streams = tuple(
                _stream(node, properties)
                for node, properties in started.get("streams", ("", []))[1]
            )
            if not self.streams:
                raise PortalRefused("no screen was chosen in the portal's dialog")
            return self.streams

    def _cursor_mode(self) -> int:
        for mode in (CURSOR_METADATA, CURSOR_EMBEDDED):
            if self.cursor_modes & mode:
                return mode
        return CURSOR_HIDDEN

    def open_pipewire_remote(self) -> int:
        """A descriptor of the PipeWire connection that reaches this session's streams
        (and nothing else); the caller owns it."""
        from jeepney import DBusAddress, new_method_call

        assert self.handle is not None
        address = DBusAddress(PORTAL_PATH, PORTAL_BUS_NAME, SCREEN_CAST)
        message = new_method_call(address, "OpenPipeWireRemote", "oa{sv}", (self.handle, {}))
        reply = self._call(message, PortalFailed)
        return int(reply.body[0].to_raw_fd())

    # -- input (called from the injector thread) ----------------------------------------

    def pointer_motion_absolute(self, stream: int, x: float, y: float) -> None:
        self._notify("NotifyPointerMotionAbsolute", "oa{sv}udd", stream, float(x), float(y))

    def pointer_button(self, button: int, pressed: bool) -> None:
        self._notify("NotifyPointerButton", "oa{sv}iu", button, 1 if pressed else 0)

    def pointer_axis(self, dx: float, dy: float) -> None:
        self._notify("NotifyPointerAxis", "oa{sv}dd", float(dx), float(dy), finish=True)

    def keyboard_keysym(self, keysym: int, pressed: bool) -> None:
        self._notify("NotifyKeyboardKeysym", "oa{sv}iu", keysym, 1 if pressed else 0)

    def _notify(self, method: str, signature: str, *args: Any, finish: bool = False) -> None:
        from jeepney import DBusAddress, new_method_call

        if self.handle is None or self.closed:
            raise PortalFailed("the portal session is not running")
        options = {"finish": ("b", True)} if finish else {}
        address = DBusAddress(PORTAL_PATH, PORTAL_BUS_NAME, REMOTE_DESKTOP)
        message = new_method_call(address, method, signature, (self.handle, options, *args))
        self._call(message, PortalFailed)

    # -- the wire -------------------------------------------------------------------------

    def _token(self) -> str:
        return f"fernwartung_{self._prefix}_{next(self._tokens)}"

    def _request(
        self,
        interface: str,
        method: str,
        signature: str,
        args: tuple[Any, ...],
        options: dict[str, tuple[str, Any]],
        timeout_seconds: float = CALL_TIMEOUT_SECONDS,
    ) -> dict[str, tuple[str, Any]]:
        """Call a portal method that answers through a Request object's Response signal;
        returns its results, raises PortalRefused on a refusal."""
        from jeepney import DBusAddress, MatchRule, new_method_call

        token = self._token()
        sender = self._router.unique_name.lstrip(":").replace(".", "_")
        path = f"{PORTAL_PATH}/request/{sender}/{token}"
        rule = MatchRule(type="signal", interface=REQUEST, member="Response", path=path)
        answers: queue.Queue[Any] = queue.Queue()
        self._pending = answers
        with self._router.filter(rule, queue=answers):
            self._call(self._message_bus.AddMatch(rule), PortalFailed)
            try:
                address = DBusAddress(PORTAL_PATH, PORTAL_BUS_NAME, interface)
                options = {**options, "handle_token": ("s", token)}
                message = new_method_call(address, method, signature, (*args, options))
                self._call(message, PortalFailed)
                try:
                    answer = answers.get(timeout=timeout_seconds)
                except queue.Empty:
                    raise PortalFailed(f"the portal did not answer {method}") from None
            finally:
                self._pending = None
                with contextlib.suppress(PortalFailed):
                    self._call(self._message_bus.RemoveMatch(rule), PortalFailed)
        if answer is _CLOSED:
            raise PortalRefused("the session was ended while the portal asked")
        response, results = answer.body
        if response == RESPONSE_CANCELLED:
            raise PortalRefused("the customer declined in the portal's dialog")
        if response != RESPONSE_SUCCESS:
            raise PortalRefused(f"the portal ended the request ({method}, response {response})")
        return dict(results)

    def _call(self, message: Any, failure: type[CaptureError]) -> Any:
        from jeepney import HeaderFields, MessageType
        from jeepney.io.threading import RouterClosed

        try:
            reply = self._router.send_and_get_reply(message, timeout=CALL_TIMEOUT_SECONDS)
        except (TimeoutError, RouterClosed, OSError) as error:
            raise failure(f"the portal did not answer ({type(error).__name__})") from error
        if reply.header.message_type is MessageType.error:
            name = reply.header.fields.get(HeaderFields.error_name, "error")
            detail = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            member = message.header.fields.get(HeaderFields.member)
            raise failure(f"the portal refused {member}: {name} {detail}")
        return reply

    def _watch_closed(self) -> None:
        """Note when the compositor or the customer ends the session from outside."""
        from jeepney import MatchRule

        rule = MatchRule(type="signal", interface=SESSION, member="Closed", path=self.handle)
        closed: queue.Queue[Any] = _ClosedFlag(self)
        self._router.filter(rule, queue=closed)  # lives as long as the router
        self._call(self._message_bus.AddMatch(rule), PortalFailed)

    def close(self) -> None:
        """End the portal session (the compositor stops the screen cast and the remote
        input) and the connection. From any thread; a dialog still open is abandoned."""
        from jeepney import DBusAddress, new_method_call

        if self._disconnected:
            return
        self._disconnected = True
        self.closed = True
        pending = self._pending
        if pending is not None:
            pending.put(_CLOSED)
        if self.handle is not None:
            message = new_method_call(DBusAddress(self.handle, PORTAL_BUS_NAME, SESSION), "Close")
            with contextlib.suppress(PortalFailed):
                self._call(message, PortalFailed)
        with self._lock:
            self._router.close()
            self._router.conn.close()


class _ClosedFlag(queue.Queue):  # type: ignore[type-arg]
    """A filter's queue that marks the session closed when its Closed signal arrives."""

    def __init__(self, session: PortalSession) -> None:
        super().__init__()
        self._session = session

    def put_nowait(self, item: Any) -> None:
        self._session.closed = True


def _stream(node: int, properties: dict[str, tuple[str, Any]]) -> PortalStream:
    position = tuple(properties["position"][1]) if "position" in properties else (0, 0)
    size = tuple(properties["size"][1]) if "size" in properties else None
    return PortalStream(int(node), (int(position[0]), int(position[1])), size)  # type: ignore[arg-type]
