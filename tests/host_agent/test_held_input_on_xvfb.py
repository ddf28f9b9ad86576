"""Keys and buttons the technician holds are let go the moment the link is lost
(issue 20, point 6), checked on the real X display from outside the agent.

Before the fix, with the left button and Shift held when the relay went away, both
stayed down on the customer's display until reconnecting gave up (72 s).
"""

from __future__ import annotations

import asyncio
import contextlib

from Xlib import X
from Xlib import display as xdisplay

from host_agent import events as ui
from host_agent.agent import AgentSettings, HostAgent
from host_agent.capture import MssSource
from host_agent.inject import PynputBackend
from host_agent.texts import Texts
from protocol.messages import Button, ConsentLevel, Key, PointerButton
from tests.host_agent.harness import UiRecorder
from tests.host_agent.viewer_client import TestViewer
from tests.support.relay import add_technician
from tests.support.tcp_proxy import tcp_proxy

WAIT_SECONDS = 15.0
HELD = X.Button1Mask | X.ShiftMask


def held_on_display(name: str) -> int:
    """Which of the left button and Shift the X server holds down now."""
    connection = xdisplay.Display(name)
    try:
        return connection.screen().root.query_pointer().mask & HELD
    finally:
        connection.close()


async def until_held(name: str, wanted: int) -> None:
    async with asyncio.timeout(WAIT_SECONDS):
        while await asyncio.to_thread(held_on_display, name) != wanted:
            await asyncio.sleep(0.05)  # polling the X server's state, bounded above


async def test_a_lost_link_lets_go_of_held_keys_and_buttons(relay, on_display):
    async with tcp_proxy(relay.port) as proxy:
        recorder = UiRecorder()
        settings = AgentSettings(proxy.url("wss"), relay.fingerprint, resume_give_up_seconds=60.0)
        agent = HostAgent(
            settings, Texts("en"), recorder.notify, lambda: MssSource(1), PynputBackend
        )
        task = asyncio.create_task(agent.run())
        viewer = None
        try:
            code = await recorder.wait_for(ui.CodeReady)
            token = add_technician(relay.data_dir, "Alice")
            viewer = await TestViewer.join(relay.url, relay.fingerprint, token, code.spoken)
            await recorder.wait_for(ui.ConsentAsked)
            agent.command(ui.Answer(ConsentLevel.CONTROL))
            await viewer.next_frame()
            await viewer.send(PointerButton(200, 200, Button.LEFT, True))
            await viewer.send(Key("Shift_L", True))
            await until_held(on_display.name, HELD)

            await proxy.cut()  # the relay is gone for the host: no goodbye, no release sent
            await recorder.wait_for(ui.Reconnecting)
            await until_held(on_display.name, 0)
        finally:
            agent.kill()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WAIT_SECONDS):
                    await task
            if viewer is not None:
                await viewer.close()
