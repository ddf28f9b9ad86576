"""Wrong codes, the customer's denial, pause/resume, and the Tk window on Xvfb."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from decimal import Decimal

import pytest

from host_agent import events as ui
from host_agent.agent import AgentSettings, HostAgent
from host_agent.inject import NoInjectionBackend
from host_agent.synthetic import SyntheticSource
from host_agent.texts import Texts
from protocol import messages
from protocol.billing import Tariff
from protocol.errors import WrongCode
from tests.host_agent.harness import UiRecorder, host_session
from tests.host_agent.viewer_client import TestViewer
from tests.support.relay import add_technician


def wrong(code: str) -> str:
    digits = code.replace(" ", "")
    last = str((int(digits[-1]) + 1) % 10)
    return digits[:-1] + last


async def test_three_wrong_codes_void_the_code_and_a_new_one_is_shown(relay):
    recorder = UiRecorder()
    agent = HostAgent(
        AgentSettings(relay.url, relay.fingerprint), Texts("en"), recorder.notify,
        SyntheticSource, NoInjectionBackend,
    )  # fmt: skip
    task = asyncio.create_task(agent.run())
    try:
        first = await recorder.wait_for(ui.CodeReady)
        token = add_technician(relay.data_dir, "Mallory")
        for attempt in range(1, 4):
            viewer = await TestViewer.join(relay.url, relay.fingerprint, token, wrong(first.spoken))
            async with asyncio.timeout(10):
                await viewer.closed.wait()
            assert isinstance(viewer.error, WrongCode)
            tried = await recorder.wait_for(ui.WrongCodeTried)
            assert tried.tries == attempt
            await viewer.close()
        second = await recorder.wait_for(ui.CodeReady)
        assert second.why_new == "new_code_reason"
        assert second.spoken != first.spoken
    finally:
        agent.command(ui.EndSession())
        await asyncio.wait_for(task, 10)


async def test_denial_sends_nothing_of_the_screen(relay):
    async with host_session(relay, SyntheticSource, NoInjectionBackend, answer=None) as running:
        running.agent.command(ui.Answer(messages.ConsentLevel.DENIED))
        state = await running.viewer.next_of(messages.ConsentState)
        assert state.level is messages.ConsentLevel.DENIED
        await running.viewer.next_of(messages.Bye)
        assert running.viewer.frames_received == 0
        assert await asyncio.wait_for(running.task, 10) == 0


async def test_pause_stops_frames_and_resume_sends_a_full_frame(relay):
    async with host_session(relay, SyntheticSource, NoInjectionBackend) as running:
        viewer, agent = running.viewer, running.agent
        await viewer.next_frame()
        agent.command(ui.PauseSharing())
        await viewer.next_of(messages.Pause)
        while not viewer.frames.empty():
            viewer.frames.get_nowait()
        with pytest.raises(TimeoutError):
            await viewer.next_frame(timeout=1.0)
        agent.command(ui.ResumeSharing())
        await viewer.next_of(messages.Resume)
        full = await viewer.next_frame()
        assert sum(t.width * t.height for t in full.tiles) == 1280 * 720


async def test_tk_window_shows_code_question_and_indicator(on_display):
    tkinter = pytest.importorskip("tkinter")
    from host_agent.ui_tk import HostWindow

    class FakeAgent:
        settings = AgentSettings("wss://127.0.0.1:1")
        killed = False
        commands: list[ui.Command] = []

        def kill(self) -> None:
            self.killed = True

        def command_threadsafe(self, command: ui.Command) -> None:
            self.commands.append(command)

    root = tkinter.Tk()
    try:
        agent = FakeAgent()
        window = HostWindow(root, Texts("de"), "Bedingungen", agent)  # type: ignore[arg-type]
        window.show(ui.CodeReady("123 456 789 012", 600))
        assert window.code.cget("text") == "123 456 789 012"
        window.show(ui.ConsentAsked("Alice", Decimal("1.40")))
        assert window._dialog is not None
        window._answer(messages.ConsentLevel.CONTROL)
        assert agent.commands[-1] == ui.Answer(messages.ConsentLevel.CONTROL)
        from host_agent.consent import Consent

        consent = Consent()
        consent.answer(messages.ConsentLevel.CONTROL)
        window.show(
            ui.SharingChanged(
                consent.view(),
                "Alice",
                0.0,
                Tariff(),
                1,
                1,
            )  # fmt: skip
        )
        assert "Alice" in window.indicator.cget("text")
        assert "€" in window.indicator.cget("text")
        window.show(ui.ActivityLine("Techniker klickt bei (640, 300)"))
        assert window.log.get("end").endswith("Techniker klickt bei (640, 300)")
        window.end_session()
        assert agent.killed
    finally:
        with contextlib.suppress(tkinter.TclError):
            root.destroy()


async def test_tk_window_is_woken_by_events_instead_of_polling(on_display):
    tkinter = pytest.importorskip("tkinter")
    from host_agent.ui_tk import HostWindow

    class FakeAgent:
        settings = AgentSettings("wss://127.0.0.1:1")

    root = tkinter.Tk()
    window = HostWindow(root, Texts("en"), "Terms", FakeAgent())  # type: ignore[arg-type]
    try:
        # Nothing wakes Tk periodically but the once-a-second indicator refresh.
        scheduled = root.tk.splitlist(root.tk.call("after", "info"))
        scripts = [str(root.tk.call("after", "info", name)) for name in scheduled]
        assert not any("_poll" in script for script in scripts), scripts
        line = "Technician clicks at (640, 300)"
        sender = threading.Thread(target=window.notify_threadsafe, args=(ui.ActivityLine(line),))
        sender.start()
        sender.join()
        deadline = time.monotonic() + 5
        while not window.log.get("end").endswith(line):
            assert time.monotonic() < deadline, "the event never reached the window"
            root.tk.dooneevent(tkinter._tkinter.ALL_EVENTS)  # blocks until an event
    finally:
        window.close()
        with contextlib.suppress(tkinter.TclError):
            root.destroy()
