"""The Wayland backends on a real compositor: GNOME's mutter headless, the GNOME portal
backend and its real dialog, which a stand-in customer clicks through. A refusal there is
PortalRefused; after "Share" frames come from mutter's stream, an idle screen sends none,
and the technician's pointer lands where the agent put it (mutter's own cursor metadata
says so, on the agent's stream and on the customer's)."""

from __future__ import annotations

import threading
import time

import pytest

from host_agent import backends
from host_agent.backends.wayland_portal import PortalRefused
from host_agent.inject import Bounds
from tests.host_agent.wayland.desk import Desk, missing_tools
from tests.host_agent.wayland.gnome import MONITOR, Customer, gnome_missing, start_gnome

WAIT_SECONDS = 20.0


@pytest.fixture
def gnome(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    missing = missing_tools() + gnome_missing()
    if missing:
        pytest.fail(f"the GNOME desk needs: {', '.join(missing)} (.ci/run installs them)")
    desk = Desk()
    customer = None
    try:
        desk.start(portal=False)
        for name in ("XDG_RUNTIME_DIR", "PIPEWIRE_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"):
            monkeypatch.setenv(name, desk.env[name])
        start_gnome(desk)
        customer = Customer(desk)
        yield desk, customer
    finally:
        if customer is not None:
            customer.close()
        desk.stop()


def _in_thread(function):  # type: ignore[no-untyped-def]
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except Exception as error:  # handed to the test thread
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_the_portal_dialog_of_gnome_decides_and_mutter_streams_and_takes_input(gnome) -> None:  # type: ignore[no-untyped-def]
    desk, customer = gnome
    backend = backends.choose("real", "auto", 1, dict(desk.env), "linux")
    assert backend.name == "wayland"

    declined = backend.make_source()
    thread, outcome = _in_thread(declined.start)
    customer.decline()
    thread.join(WAIT_SECONDS)
    assert isinstance(outcome.get("error"), PortalRefused)
    declined.close()
    customer.wait_for_dialog_gone()

    backend = backends.choose("real", "auto", 1, dict(desk.env), "linux")
    screen = backend.make_source()
    try:
        thread, outcome = _in_thread(screen.start)
        customer.allow_interaction_and_share()
        thread.join(WAIT_SECONDS)
        assert "error" not in outcome, outcome
        width, height = MONITOR
        assert outcome["value"].bounds == Bounds(0, 0, width, height)
        watcher = screen.damage_watcher()
        customer.wait_for_dialog_gone()
        while watcher.wait(0.5).rects:  # the dialog closing, then quiet
            pass
        frame = screen.grab()
        assert frame.shape == (height, width, 4)
        # Both streams show mutter's monitor: the same backdrop where nothing is drawn.
        assert (frame[10, 10, :3] == customer.pixel((10, 10))).all()
        started = time.monotonic()
        assert watcher.wait(1.0).rects == ()  # an idle screen sends nothing
        assert time.monotonic() - started >= 0.9

        pointer = backend.make_input(Bounds(0, 0, width, height))
        pointer.move(321, 123)
        deadline = time.monotonic() + WAIT_SECONDS
        while screen.pointer() != (321, 123) or customer.screen.pointer() != (321, 123):
            assert time.monotonic() < deadline, (screen.pointer(), customer.screen.pointer())
            watcher.wait(0.2)
        pointer.close()
    finally:
        screen.close()
