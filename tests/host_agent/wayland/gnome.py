"""A real compositor for tests: GNOME's mutter, headless with one virtual monitor, with
xdg-desktop-portal-gnome behind the real portal front end, and a stand-in for the
customer who clicks through the portal's dialog through mutter's own remote-desktop
D-Bus API (org.gnome.Mutter.RemoteDesktop), watching the screen through its ScreenCast.

Debian 12 (mutter 43, xdg-desktop-portal-gnome 43.1): the dialog "Remote desktop" is
centred on the 1280x720 monitor; "Allow remote interaction" is off each time, so the
customer switches it on, then presses "Share" (or "Cancel"). mutter runs as root here
(and as an unprivileged user: both were tried).
"""

from __future__ import annotations

import queue
import shutil
import time
from typing import Any

import numpy as np

import host_agent.backends.libpipewire as pw
from host_agent.backends.pipewire_frames import PipeWireFrames
from tests.host_agent.wayland.desk import Desk

MONITOR = (1280, 720)
SHARE_BUTTON = (852, 232)
CANCEL_BUTTON = (430, 232)
INTERACTION_SWITCH = (830, 432)
BUTTON_LEFT = 0x110
MUTTER_RD = "org.gnome.Mutter.RemoteDesktop"
MUTTER_SC = "org.gnome.Mutter.ScreenCast"
PORTAL_GNOME = "/usr/libexec/xdg-desktop-portal-gnome"
DIALOG_SECONDS = 20.0
CLICK_EFFECT_SECONDS = 1.0


def gnome_missing() -> list[str]:
    return [tool for tool in ("mutter", PORTAL_GNOME) if shutil.which(tool) is None]


def start_gnome(desk: Desk) -> None:
    """mutter, then the GNOME portal backend, then the portal front end, on `desk`'s bus."""
    desk.env.update(XDG_CURRENT_DESKTOP="GNOME", WAYLAND_DISPLAY="wayland-0")
    desk.env.pop("XDG_DESKTOP_PORTAL_DIR", None)
    width, height = MONITOR
    desk.spawn("mutter", ["mutter", "--headless", "--virtual-monitor", f"{width}x{height}",
                          "--wayland", "--no-x11"])  # fmt: skip
    desk.wait_for_name(MUTTER_SC)
    desk.wait_for_name(MUTTER_RD)
    desk.spawn("xdg-desktop-portal-gnome", [PORTAL_GNOME, "--verbose"])
    desk.wait_for_name("org.freedesktop.impl.portal.desktop.gnome")
    desk.spawn("xdg-desktop-portal", ["/usr/libexec/xdg-desktop-portal", "--verbose", "--replace"])
    desk.wait_for_name("org.freedesktop.portal.Desktop")


class Customer:
    """Sees mutter's monitor and clicks on it, as the person at the PC would."""

    def __init__(self, desk: Desk) -> None:
        from jeepney.io.threading import DBusRouter, open_dbus_connection

        self._router = DBusRouter(open_dbus_connection(desk.env["DBUS_SESSION_BUS_ADDRESS"]))
        (self._session,) = self._call("/org/gnome/Mutter/RemoteDesktop", MUTTER_RD, MUTTER_RD,
                                      "CreateSession")  # fmt: skip
        ((_sig, session_id),) = self._call(
            self._session, MUTTER_RD, "org.freedesktop.DBus.Properties", "Get", "ss",
            (f"{MUTTER_RD}.Session", "SessionId"),
        )  # fmt: skip
        (cast,) = self._call("/org/gnome/Mutter/ScreenCast", MUTTER_SC, MUTTER_SC,
                             "CreateSession", "a{sv}",
                             ({"remote-desktop-session-id": ("s", session_id)},))  # fmt: skip
        (self._stream,) = self._call(cast, MUTTER_SC, f"{MUTTER_SC}.Session", "RecordMonitor",
                                     "sa{sv}", ("Meta-0", {"cursor-mode": ("u", 2)}))  # fmt: skip
        from jeepney import MatchRule
        from jeepney.bus_messages import message_bus

        rule = MatchRule(type="signal", interface=f"{MUTTER_SC}.Stream",
                         member="PipeWireStreamAdded", path=self._stream)  # fmt: skip
        added: queue.Queue[Any] = queue.Queue()
        with self._router.filter(rule, queue=added):
            self._router.send_and_get_reply(message_bus.AddMatch(rule), timeout=10)
            self._call(self._session, MUTTER_RD, f"{MUTTER_RD}.Session", "Start")
            (node,) = added.get(timeout=10).body
        self._loop = pw.ThreadLoop("customer")
        self.screen = PipeWireFrames(self._loop, node, MONITOR)

    def _call(self, path: str, bus: str, interface: str, method: str, signature: str = "",
              args: tuple[Any, ...] = ()) -> tuple[Any, ...]:  # fmt: skip
        from jeepney import DBusAddress, MessageType, new_method_call

        reply = self._router.send_and_get_reply(
            new_method_call(DBusAddress(path, bus, interface), method, signature, args), timeout=10
        )
        if reply.header.message_type is MessageType.error:
            raise RuntimeError(f"{method}: {reply.body}")
        return tuple(reply.body)

    def click(self, point: tuple[int, int]) -> None:
        session = f"{MUTTER_RD}.Session"
        x, y = point
        self._call(self._session, MUTTER_RD, session, "NotifyPointerMotionAbsolute", "sdd",
                   (self._stream, float(x), float(y)))  # fmt: skip
        for pressed in (True, False):
            self._call(self._session, MUTTER_RD, session, "NotifyPointerButton", "ib",
                       (BUTTON_LEFT, pressed))  # fmt: skip

    def pixel(self, point: tuple[int, int]) -> np.ndarray:
        x, y = point
        return self.screen.latest(10)[y, x, :3]

    def wait_for_dialog(self) -> None:
        """Until the portal's dialog shows its blue "Share" button."""
        deadline = time.monotonic() + DIALOG_SECONDS
        while not _blue(self.pixel((SHARE_BUTTON[0] + 20, SHARE_BUTTON[1]))):
            if time.monotonic() > deadline:
                raise TimeoutError("the portal's dialog did not appear")
            time.sleep(0.1)

    def wait_for_dialog_gone(self) -> None:
        deadline = time.monotonic() + DIALOG_SECONDS
        while _blue(self.pixel((SHARE_BUTTON[0] + 20, SHARE_BUTTON[1]))):
            if time.monotonic() > deadline:
                raise TimeoutError("the portal's dialog stayed")
            time.sleep(0.1)

    def allow_interaction_and_share(self) -> None:
        self.wait_for_dialog()
        switch_track = (INTERACTION_SWITCH[0] - 10, INTERACTION_SWITCH[1])
        self._click_until(INTERACTION_SWITCH, lambda: _blue(self.pixel(switch_track)))
        self._click_until(SHARE_BUTTON, self._dialog_gone)

    def decline(self) -> None:
        self.wait_for_dialog()
        self._click_until(CANCEL_BUTTON, self._dialog_gone)

    def _dialog_gone(self) -> bool:
        return not _blue(self.pixel((SHARE_BUTTON[0] + 20, SHARE_BUTTON[1])))

    def _click_until(self, point: tuple[int, int], done: Any) -> None:
        """Click, and again if nothing happened within a second: a dialog that has just
        appeared may not take input yet."""
        deadline = time.monotonic() + DIALOG_SECONDS
        while True:
            self.click(point)
            clicked = time.monotonic()
            while time.monotonic() - clicked < CLICK_EFFECT_SECONDS:
                if done():
                    return
                time.sleep(0.05)
            if time.monotonic() > deadline:
                raise TimeoutError(f"clicking at {point} changed nothing")

    def close(self) -> None:
        self.screen.close()
        self._loop.close()
        self._router.close()
        self._router.conn.close()


def _blue(rgb: np.ndarray) -> bool:
    b, g, r = (int(v) for v in rgb)  # the frame is BGRA
    return b > 170 and r < 120
