"""python-dbusmock template: the RemoteDesktop *backend* of xdg-desktop-portal
(org.freedesktop.impl.portal.RemoteDesktop). Load screencast.py first: the session and the
stream (a real PipeWire node) are shared with it, as in a desktop's implementation.

Start answers as the customer would in the portal's dialog (parameter "response": 0
shared, 1 declined, -1 never answers); every Notify* call is kept in the mock's call log, which the tests
read to see what the agent injected.
"""

import dbus
import dbus.service

BUS_NAME = "org.freedesktop.impl.portal.Test"
MAIN_OBJ = "/org/freedesktop/portal/desktop"
SYSTEM_BUS = False
MAIN_IFACE = "org.freedesktop.impl.portal.RemoteDesktop"


def load(mock, parameters):
    mock.portal = getattr(mock, "portal", {"sessions": set()})
    if "response" in parameters:
        mock.portal["response"] = int(parameters["response"])
    if "devices" in parameters:
        mock.portal["devices"] = int(parameters["devices"])
    mock.AddProperties(
        MAIN_IFACE,
        dbus.Dictionary(
            {
                "version": dbus.UInt32(parameters.get("version", 1)),
                "AvailableDeviceTypes": dbus.UInt32(3),
            }
        ),
    )


def _screencast(mock):
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "screencast.py")
    spec = importlib.util.spec_from_file_location("screencast_template", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dbus.service.method(MAIN_IFACE, in_signature="oosa{sv}", out_signature="ua{sv}")
def CreateSession(self, handle, session_handle, app_id, options):
    _screencast(self).export_session(self, session_handle)
    return dbus.UInt32(0), dbus.Dictionary({"session_handle": session_handle}, signature="sv")


@dbus.service.method(MAIN_IFACE, in_signature="oosa{sv}", out_signature="ua{sv}")
def SelectDevices(self, handle, session_handle, app_id, options):
    assert session_handle in self.portal["sessions"], "unknown session"
    return dbus.UInt32(0), dbus.Dictionary({}, signature="sv")


@dbus.service.method(
    MAIN_IFACE,
    in_signature="oossa{sv}",
    out_signature="ua{sv}",
    async_callbacks=("answer", "fail"),
)
def Start(self, handle, session_handle, app_id, parent_window, options, answer, fail):
    response = self.portal.get("response", 0)
    if response < 0:
        return  # the customer never answers the dialog
    if response != 0:
        answer(dbus.UInt32(response), dbus.Dictionary({}, signature="sv"))
        return
    results = {
        "devices": dbus.UInt32(self.portal.get("devices", 3)),
        "streams": _screencast(self).streams(self),
    }
    answer(dbus.UInt32(0), dbus.Dictionary(results, signature="sv"))


@dbus.service.method(MAIN_IFACE, in_signature="oa{sv}udd", out_signature="")
def NotifyPointerMotionAbsolute(self, session_handle, options, stream, x, y):
    pass


@dbus.service.method(MAIN_IFACE, in_signature="oa{sv}dd", out_signature="")
def NotifyPointerMotion(self, session_handle, options, dx, dy):
    pass


@dbus.service.method(MAIN_IFACE, in_signature="oa{sv}iu", out_signature="")
def NotifyPointerButton(self, session_handle, options, button, state):
    pass


@dbus.service.method(MAIN_IFACE, in_signature="oa{sv}dd", out_signature="")
def NotifyPointerAxis(self, session_handle, options, dx, dy):
    pass


@dbus.service.method(MAIN_IFACE, in_signature="oa{sv}iu", out_signature="")
def NotifyKeyboardKeysym(self, session_handle, options, keysym, state):
    pass


@dbus.service.method(MAIN_IFACE, in_signature="oa{sv}iu", out_signature="")
def NotifyKeyboardKeycode(self, session_handle, options, keycode, state):
    pass
