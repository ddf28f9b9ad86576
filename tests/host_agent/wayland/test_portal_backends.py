"""The Wayland backends against the real xdg-desktop-portal front end, python-dbusmock
backends for ScreenCast and RemoteDesktop, and a real PipeWire test source: frames and
damage arrive, an idle source sends nothing, input arrives as the right Notify* calls,
the kill switch and a revoked control let go of held keys and end the portal session,
and a refusal in the portal's dialog is a denial."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from host_agent import backends
from host_agent.backends.wayland_portal import PortalRefused
from host_agent.capture import SharingRefused
from host_agent.damage.tiles import Rect
from host_agent.inject import Bounds, GateState, InputGate
from host_agent.pipeline import FramePipeline
from protocol.messages import Button, Key, PointerButton, PointerMove, Scroll
from tests.host_agent.wayland.conftest import HEIGHT, WIDTH, backdrop, environment

STARTED_SECONDS = 15.0


def _wayland(desk, source, **parameters):  # type: ignore[no-untyped-def]
    desk.start_portal(**{"node-id": source.node_id, "size": [WIDTH, HEIGHT], **parameters})
    backend = backends.choose("real", "auto", 1, environment(desk), "linux")
    assert backend.name == "wayland"
    return backend


def _start(screen, source) -> object:  # type: ignore[no-untyped-def]
    """screen.start() (the portal's dialog, then the stream) while the test source
    draws, as a compositor draws for a consumer that just connected."""
    outcome: dict[str, object] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["monitor"] = screen.start()
        except Exception as error:  # handed to the test thread
            outcome["error"] = error
        done.set()

    threading.Thread(target=run, daemon=True).start()
    deadline = time.monotonic() + STARTED_SECONDS
    while not done.wait(0.1):
        assert time.monotonic() < deadline, "the portal session did not start"
        source.draw_again()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["monitor"]


def _settle(watcher) -> None:  # type: ignore[no-untyped-def]
    """Take what the start's repeated frames left, until the source is quiet."""
    while watcher.wait(0.3).rects:
        pass


def test_frames_and_damage_arrive_and_an_idle_source_sends_nothing(desk_parts) -> None:  # type: ignore[no-untyped-def]
    desk, source = desk_parts
    source.draw(backdrop())
    backend = _wayland(desk, source)
    screen = backend.make_source()
    try:
        watcher = screen.damage_watcher()
        monitor = _start(screen, source)
        assert monitor.bounds == Bounds(0, 0, WIDTH, HEIGHT)
        assert np.array_equal(screen.grab(), backdrop())
        _settle(watcher)

        changed = backdrop()
        changed[50:60, 100:140, :3] = (10, 20, 250)
        source.draw(changed, (Rect(100, 50, 40, 10),))
        seen = watcher.wait(5.0)
        # The compositor's damage rectangles reach the pipeline (SPA_META_VideoDamage).
        assert seen.rects == (Rect(100, 50, 40, 10),)
        assert np.array_equal(screen.grab_region(Rect(100, 50, 40, 10)), changed[50:60, 100:140])

        changed[0:8, 0:8, :3] = 200
        source.draw(changed)  # without damage rectangles: the whole frame is compared
        assert watcher.wait(5.0).rects == (Rect(0, 0, WIDTH, HEIGHT),)
        assert np.array_equal(screen.grab(), changed)

        # Idle: no frame, no damage, and the wait sleeps its whole timeout.
        started = time.monotonic()
        seen = watcher.wait(1.0)
        assert seen.rects == () and not seen.woken
        assert time.monotonic() - started >= 0.9
    finally:
        screen.close()


def test_input_arrives_as_notify_calls_only_while_control_is_allowed(desk_parts) -> None:  # type: ignore[no-untyped-def]
    desk, source = desk_parts
    source.draw(backdrop())
    backend = _wayland(desk, source)
    screen = backend.make_source()
    injected = threading.Semaphore(0)
    try:
        monitor = _start(screen, source)
        gate = InputGate(
            backend.make_input(monitor.bounds), monitor.bounds, lambda m: injected.release()
        )
        now = time.monotonic()
        assert gate.submit(PointerMove(1, 1), now).name == "NO_CONTROL"  # before control
        gate.open()
        messages = [
            PointerMove(10, 20),
            PointerButton(30, 40, Button.LEFT, True),
            PointerButton(30, 40, Button.LEFT, False),
            Scroll(5, 6, 0, 1),
            Key("€", True),
            Key("€", False),
            Key("Return", True),
            Key("Shift_L", True),  # held when control is revoked
        ]
        for message in messages:
            assert gate.submit(message, now).name == "QUEUED"
        for _ in messages:
            assert injected.acquire(timeout=10)
        gate.block()  # control revoked: what is held is let go
        assert gate.submit(Key("x", True), now).name == "NO_CONTROL"

        node = source.node_id
        moves = [
            (stream, x, y) for _s, _o, stream, x, y in desk.calls("NotifyPointerMotionAbsolute")
        ]
        assert moves == [
            (node, 10.0, 20.0),
            (node, 30.0, 40.0),
            (node, 30.0, 40.0),
            (node, 5.0, 6.0),
        ]
        buttons = [(code, state) for _s, _o, code, state in desk.calls("NotifyPointerButton")]
        assert buttons == [(0x110, 1), (0x110, 0)]
        axes = [(options, dx, dy) for _s, options, dx, dy in desk.calls("NotifyPointerAxis")]
        assert axes == [({"finish": True}, 0.0, -10.0)]  # one step up
        keys = [(sym, state) for _s, _o, sym, state in desk.calls("NotifyKeyboardKeysym")]
        assert keys[:4] == [(0x10020AC, 1), (0x10020AC, 0), (0xFF0D, 1), (0xFFE1, 1)]
        # Released by the block, in the gate's order: Return, Shift_L.
        assert sorted(keys[4:]) == [(0xFF0D, 0), (0xFFE1, 0)]

        gate.open()
        assert gate.submit(Key("Control_L", True), now).name == "QUEUED"
        assert injected.acquire(timeout=10)
        gate.end()  # the kill switch: released, then nothing more
        assert gate.state is GateState.ENDED
        assert gate.submit(Key("y", True), now).name == "NO_CONTROL"
        gate.join(10)
        keys = [(sym, state) for _s, _o, sym, state in desk.calls("NotifyKeyboardKeysym")]
        assert keys[-2:] == [(0xFFE3, 1), (0xFFE3, 0)]
        screen.close()  # the input backend closed with the gate's thread: the session ends
        (session,) = [handle for _h, handle, *_ in desk.calls("CreateSession")]
        assert desk.calls("Close", path=session) == [()]
    finally:
        screen.close()


def test_a_refusal_in_the_portal_dialog_is_a_denial(desk_parts) -> None:  # type: ignore[no-untyped-def]
    desk, source = desk_parts
    source.draw(backdrop())
    backend = _wayland(desk, source, response=1)
    screen = backend.make_source()
    try:
        with pytest.raises(PortalRefused):
            screen.start()
        assert desk.calls("NotifyPointerMotionAbsolute") == []
    finally:
        screen.close()


def test_every_portal_request_asks_for_no_restore_token(desk_parts) -> None:  # type: ignore[no-untyped-def]
    desk, source = desk_parts
    source.draw(backdrop())
    backend = _wayland(desk, source)
    screen = backend.make_source()
    try:
        _start(screen, source)
        ((_h, _s, _app, options),) = desk.calls("SelectSources")
        assert options.get("persist_mode", 0) == 0 and "restore_token" not in options
        ((_h, _s, _app, _parent, start_options),) = desk.calls("Start")
        assert "restore_token" not in start_options
    finally:
        screen.close()


def test_the_pipeline_asks_the_portal_only_when_told_and_a_refusal_is_a_denial(desk_parts) -> None:  # type: ignore[no-untyped-def]
    desk, source = desk_parts
    source.draw(backdrop())
    backend = _wayland(desk, source, response=1)
    pipeline = FramePipeline(backend.make_source)
    try:
        monitor = pipeline.open()
        assert monitor.number == 1
        assert desk.calls("CreateSession") == []  # opening asks nobody: no dialog before consent
        with pytest.raises(SharingRefused):
            pipeline.start_sharing()
    finally:
        pipeline.close()


def test_the_kill_switch_ends_a_portal_dialog_that_waits_for_the_customer(desk_parts) -> None:  # type: ignore[no-untyped-def]
    desk, source = desk_parts
    source.draw(backdrop())
    backend = _wayland(desk, source, response=-1)
    pipeline = FramePipeline(backend.make_source)
    outcome: dict[str, object] = {}

    def ask() -> None:
        try:
            outcome["monitor"] = pipeline.start_sharing()
        except SharingRefused as error:
            outcome["refused"] = error

    try:
        pipeline.open()
        asking = threading.Thread(target=ask, daemon=True)
        asking.start()
        deadline = time.monotonic() + STARTED_SECONDS
        while not desk.calls("Start"):  # the dialog is up
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pipeline.stop_asking()
        asking.join(5)
        assert not asking.is_alive() and "refused" in outcome
        (session,) = [handle for _h, handle, *_ in desk.calls("CreateSession")]
        assert desk.calls("Close", path=session) == [()]
    finally:
        pipeline.close()
