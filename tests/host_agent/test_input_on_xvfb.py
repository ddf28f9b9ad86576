"""Input from the viewer reaches a real X client only while the customer allows control.

Checked from outside: the X client (a Tk Entry on Xvfb) prints what it receives, and
xdotool reports where the pointer is.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from host_agent import events as ui
from host_agent.capture import MssSource
from host_agent.inject import Bounds, PynputBackend
from protocol.messages import Button, ConsentLevel, Key, PointerButton, PointerMove, RefreshRequest
from tests.host_agent.conftest import mouse_location, move_mouse
from tests.host_agent.harness import host_session
from tests.host_agent.lines import LineReader
from tests.host_agent.x_client import ENTRY_HEIGHT, ENTRY_X, ENTRY_Y

NOTHING_HAPPENS_SECONDS = 1.0
CLICK_X, CLICK_Y = ENTRY_X + 50, ENTRY_Y + ENTRY_HEIGHT // 2


class CountingBackend:
    """The real pynput backend, counting every call (to prove none come after the kill)."""

    def __init__(self, bounds: Bounds) -> None:
        self.real = PynputBackend(bounds)
        self.bounds = bounds
        self.calls = 0
        self.lock = threading.Lock()

    def _count(self) -> None:
        with self.lock:
            self.calls += 1

    def move(self, x: int, y: int) -> None:
        self._count()
        self.real.move(x, y)

    def button(self, button: Button, pressed: bool) -> None:
        self._count()
        self.real.button(button, pressed)

    def scroll(self, dx: int, dy: int) -> None:
        self._count()
        self.real.scroll(dx, dy)

    def key(self, key: str, pressed: bool) -> None:
        self._count()
        self.real.key(key, pressed)

    def close(self) -> None:
        self.real.close()


async def click(viewer, x: int, y: int) -> None:  # type: ignore[no-untyped-def]
    await viewer.send(PointerButton(x, y, Button.LEFT, True))
    await viewer.send(PointerButton(x, y, Button.LEFT, False))


async def type_text(viewer, text: str) -> None:  # type: ignore[no-untyped-def]
    for char in text:
        await viewer.send(Key(char, True))
        await viewer.send(Key(char, False))


async def host_has_read_everything(viewer) -> None:  # type: ignore[no-untyped-def]
    """The host handles messages in order: a refresh answered means all before it were seen."""
    seq_before = viewer.frames_received
    await viewer.send(RefreshRequest())
    while viewer.frames_received <= seq_before:
        await viewer.next_frame()


async def test_click_and_typed_text_reach_a_real_x_client(relay, x_client, on_display):
    client = LineReader(x_client("entry").stdout)
    async with host_session(
        relay, lambda: MssSource(1), PynputBackend, answer=ConsentLevel.CONTROL
    ) as running:
        viewer = running.viewer
        await viewer.next_frame()
        await click(viewer, CLICK_X, CLICK_Y)
        await client.wait_for(lambda line: line == f"click {CLICK_X} {CLICK_Y} 1")
        assert await asyncio.to_thread(mouse_location, on_display) == (CLICK_X, CLICK_Y)
        await type_text(viewer, "hallo")
        await client.wait_for(lambda line: line == "text hallo")
        await running.ui.wait_for(ui.ActivityLine)
        async with asyncio.timeout(10):
            while not any("types 5 characters" in line for line in running.ui.lines):
                await running.ui.events.get()
        assert f"Technician clicks at ({CLICK_X}, {CLICK_Y})" in running.ui.lines


async def test_view_only_and_revoked_control_inject_nothing(relay, x_client, on_display):
    client = LineReader(x_client("entry").stdout)
    await asyncio.to_thread(move_mouse, on_display, 10, 10)
    async with host_session(
        relay, lambda: MssSource(1), PynputBackend, answer=ConsentLevel.VIEW
    ) as running:
        viewer, agent = running.viewer, running.agent
        await viewer.next_frame()
        await viewer.send(PointerMove(700, 500))
        await click(viewer, CLICK_X, CLICK_Y)
        await type_text(viewer, "nein")
        await host_has_read_everything(viewer)
        assert agent.gate.counters.dropped_no_control == 1 + 2 + 8
        assert agent.gate.counters.injected == 0
        assert await asyncio.to_thread(mouse_location, on_display) == (10, 10)

        agent.command(ui.ChangeLevel(ConsentLevel.CONTROL))
        await viewer.send(PointerMove(300, 300))
        async with asyncio.timeout(10):
            while await asyncio.to_thread(mouse_location, on_display) != (300, 300):
                await asyncio.sleep(0.05)

        agent.command(ui.ChangeLevel(ConsentLevel.VIEW))
        await host_has_read_everything(viewer)
        await viewer.send(PointerMove(800, 600))
        await click(viewer, CLICK_X, CLICK_Y)
        await type_text(viewer, "x")
        await host_has_read_everything(viewer)
        assert await asyncio.to_thread(mouse_location, on_display) == (300, 300)
        with pytest.raises(TimeoutError):
            await client.wait_for(lambda line: line.startswith(("click", "text")),
                                  timeout=NOTHING_HAPPENS_SECONDS)  # fmt: skip


async def test_kill_switch_stops_injection_while_the_viewer_keeps_sending(
    relay, x_client, on_display
):
    x_client("entry")
    backends: list[CountingBackend] = []

    def make_backend(bounds: Bounds) -> CountingBackend:
        backends.append(CountingBackend(bounds))
        return backends[-1]

    async with host_session(
        relay, lambda: MssSource(1), make_backend, answer=ConsentLevel.CONTROL
    ) as running:
        viewer, agent = running.viewer, running.agent
        await viewer.next_frame()
        stop_sending = asyncio.Event()

        async def keep_sending() -> None:
            x = 0
            while not stop_sending.is_set():
                x = (x + 7) % 1200
                try:
                    await viewer.send(PointerMove(x, 400))
                except Exception:  # noqa: BLE001 - the link may close under us; keep trying
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.005)

        sender = asyncio.create_task(keep_sending())
        async with asyncio.timeout(10):
            while backends[0].calls < 20:
                await asyncio.sleep(0.02)
        await asyncio.to_thread(agent.kill)  # from another thread, as Tk and signals do
        calls_at_kill = backends[0].calls
        where_at_kill = await asyncio.to_thread(mouse_location, on_display)
        await asyncio.sleep(NOTHING_HAPPENS_SECONDS)  # the viewer keeps sending meanwhile
        stop_sending.set()
        await sender
        assert backends[0].calls == calls_at_kill
        assert await asyncio.to_thread(mouse_location, on_display) == where_at_kill
        status = await asyncio.wait_for(running.task, 10)
        assert status == 0
        assert agent.gate.state.value == "ended"
        # The injector's X connections went with the session, while the X server was
        # there, not whenever the collector finds them.
        assert backends[0].real._mouse is None
        assert backends[0].real._keyboard._display.display.socket_error is not None
