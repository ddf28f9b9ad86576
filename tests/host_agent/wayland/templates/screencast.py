"""python-dbusmock template: the ScreenCast *backend* of xdg-desktop-portal
(org.freedesktop.impl.portal.ScreenCast), as a desktop's portal implementation offers it.

The real xdg-desktop-portal front end talks to it; the agent talks to the front end. It
hands out the PipeWire node of a real test source. Written for these tests after the
template of xdg-desktop-portal's own tests (Debian 12's 1.16 sources have none).
Parameters: node-id (u), size ((ii)), position ((ii)), response (i: 0 shared, 1 the
customer declined, -1 the customer never answers), cursor-modes (u), version (u).
Runs in the mock's process (Debian's python3 with python3-dbusmock), not in the agent's.
"""

import dbus
import dbus.service

BUS_NAME = "org.freedesktop.impl.portal.Test"
MAIN_OBJ = "/org/freedesktop/portal/desktop"
SYSTEM_BUS = False
MAIN_IFACE = "org.freedesktop.impl.portal.ScreenCast"
SESSION_IFACE = "org.freedesktop.impl.portal.Session"


def load(mock, parameters):
    mock.portal = getattr(mock, "portal", {})
    mock.portal.update(
        {
            "node-id": int(parameters.get("node-id", 42)),
            "size": tuple(parameters.get("size", (1280, 720))),
            "position": tuple(parameters.get("position", (0, 0))),
            "response": int(parameters.get("response", 0)),
            "devices": int(parameters.get("devices", 3)),
            "sessions": mock.portal.get("sessions", set()),
        }
    )
    mock.AddProperties(
        MAIN_IFACE,
        dbus.Dictionary(
            {
                "version": dbus.UInt32(parameters.get("version", 4)),
                "AvailableSourceTypes": dbus.UInt32(1),
                "AvailableCursorModes": dbus.UInt32(parameters.get("cursor-modes", 7)),
            }
        ),
    )


def export_session(mock, session_handle):
    """The backend's session object; the front end calls its Close when the app ends it."""
    if session_handle not in mock.portal["sessions"]:
        mock.portal["sessions"].add(session_handle)
        mock.AddObject(session_handle, SESSION_IFACE, {}, [("Close", "", "", "")])


def streams(mock):
    portal = mock.portal
    properties = dbus.Dictionary(
        {
            "position": dbus.Struct([dbus.Int32(v) for v in portal["position"]], signature="ii"),
            "size": dbus.Struct([dbus.Int32(v) for v in portal["size"]], signature="ii"),
            "source_type": dbus.UInt32(1),
        },
        signature="sv",
    )
    return dbus.Array([(dbus.UInt32(portal["node-id"]), properties)], signature="(ua{sv})")


@dbus.service.method(MAIN_IFACE, in_signature="oosa{sv}", out_signature="ua{sv}")
def CreateSession(self, handle, session_handle, app_id, options):
    export_session(self, session_handle)
    return dbus.UInt32(0), dbus.Dictionary({"session_handle": session_handle}, signature="sv")


@dbus.service.method(MAIN_IFACE, in_signature="oosa{sv}", out_signature="ua{sv}")
def SelectSources(self, handle, session_handle, app_id, options):
    assert session_handle in self.portal["sessions"], "unknown session"
    return dbus.UInt32(0), dbus.Dictionary({}, signature="sv")


@dbus.service.method(MAIN_IFACE, in_signature="oossa{sv}", out_signature="ua{sv}")
def Start(self, handle, session_handle, app_id, parent_window, options):
    response = self.portal["response"]
    if response < 0:
        response = 1  # a ScreenCast-only Start is not used by the agent: no hanging here
    if response != 0:
        return dbus.UInt32(response), dbus.Dictionary({}, signature="sv")
    return dbus.UInt32(0), dbus.Dictionary({"streams": streams(self)}, signature="sv")
