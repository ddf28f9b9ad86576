"""Walk the customer's Tk agent and the technician's Tk viewer through every state a person
meets, with a real relay, asserting the texts on screen at each step.

Used by the tests (tests/host_agent/test_tk_walk.py, tests/viewer/test_tk_walk.py) and by
docs/screenshots.py, which photographs each state: `on_state(name)` is called whenever a
state is on screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import queue
import socket
import tempfile
import threading
import tkinter as tk
from collections.abc import Callable
from pathlib import Path

from host_agent import events as ui
from host_agent.agent import AgentSettings, HostAgent
from host_agent.inject import NoInjectionBackend
from host_agent.synthetic import SyntheticSource
from host_agent.texts import Texts
from host_agent.ui_tk import TkHost
from protocol import messages
from protocol.billing import Tariff
from protocol.codes import parse_code
from tests.host_agent.harness import UiRecorder
from tests.host_agent.viewer_client import TestViewer
from tests.support.relay import RelayInfo, add_technician
from viewer.client import ClientSettings, ViewerClient
from viewer.evidence import viewer_evidence
from viewer.texts import ViewerTexts
from viewer.ui_tk import TkViewer, _run_network

WAIT_SECONDS = 20.0
PUMP_SECONDS = 0.02
TECHNICIAN = "Anna Techniker"
OnState = Callable[[str], None]


def closed_port_url() -> str:
    """A relay address where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"wss://127.0.0.1:{port}"


def texts_on_screen(root: tk.Misc) -> str:
    """Every text a person can see in the window and its dialogs, one per line."""
    found: list[str] = []

    def visit(widget: tk.Misc) -> None:
        if not widget.winfo_ismapped():
            return
        if isinstance(widget, tk.Listbox):
            found.extend(widget.get(0, "end"))
        elif isinstance(widget, tk.Text):
            found.append(widget.get("1.0", "end"))
        else:
            with contextlib.suppress(tk.TclError):
                text = str(widget.cget("text"))
                if text:
                    found.append(text)
        for child in widget.winfo_children():
            visit(child)

    visit(root)
    return "\n".join(found)


async def until(root: tk.Misc, condition: Callable[[], bool], what: str) -> None:
    """Let Tk and the event loop run until `condition()` holds (at most WAIT_SECONDS)."""
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                root.update()
                if condition():
                    return
                await asyncio.sleep(PUMP_SECONDS)
    except TimeoutError:
        raise AssertionError(f"{what}; on screen:\n{texts_on_screen(root)}") from None


async def shows(root: tk.Misc, *expected: str) -> str:
    """Wait until every one of `expected` is on screen; returns what is."""
    await until(
        root,
        lambda: all(text in texts_on_screen(root) for text in expected),
        f"expected on screen: {expected}",
    )
    return texts_on_screen(root)


# -- the customer's agent -------------------------------------------------------------------


async def walk_host(
    relay: RelayInfo, language: str, ending: str, on_state: OnState = lambda name: None
) -> None:
    """code -> consent -> sharing (view) -> control request -> control -> paused -> view
    only -> ended by `ending` ("customer" or "technician"); or for "unreachable" the error
    screen of a relay that is not there. The window must stay after the end."""
    gc.collect()  # Tk objects of an earlier window go here, on Tk's thread, not elsewhere
    t = Texts(language)
    url = closed_port_url() if ending == "unreachable" else relay.url
    record = Path(tempfile.mkdtemp(prefix="fernwartung-walk-"))
    settings = AgentSettings(url, relay.fingerprint, record_directory=record)
    host = TkHost(settings, t, "Bedingungen / Terms\n" + "\n".join(
        f"{number}. line of the terms" for number in range(1, 16)
    ), SyntheticSource, NoInjectionBackend)  # fmt: skip
    root, window = host.root, host.window
    viewer: TestViewer | None = None
    host.start()
    try:
        if ending == "unreachable":
            await shows(root, t("error_title"), t("reason_relay_unreachable", relay=url))
            await shows(root, t("advice_relay_unreachable"), t("end_not_shared"))
            on_state("relay-unreachable")
            await until(root, host.finished.is_set, "the agent ends")
            root.update()
            assert root.winfo_exists() and root.winfo_ismapped(), "the window must stay"
            return
        await until(root, lambda: bool(window.code.cget("text")), "a code is shown")
        code = window.code.cget("text")
        await shows(root, t("code_label"), t("terms_heading"), t("backup_note"))
        assert t("code_expires", duration=t.span(600)) in texts_on_screen(root)
        assert "15. line of the terms" in window.terms.get("1.0", "end")
        assert window.terms.cget("yscrollcommand"), "the terms can be scrolled"
        first, last = window.terms.yview()
        assert last < 1.0, "fifteen lines do not fit: the scroll bar has work to do"
        on_state("code")

        token = add_technician(relay.data_dir, f"{TECHNICIAN} {language} {ending}")
        name = f"{TECHNICIAN} {language} {ending}"
        viewer = await TestViewer.join(relay.url, relay.fingerprint, token, code)
        await shows(root, t("consent_intro", technician=name))
        await shows(root, t("consent_price", price=t.price(Tariff())), t("answer_control_help"))
        on_state("consent")
        window._answer(messages.ConsentLevel.VIEW)

        await shows(root, name, t("level_view"), t("ev_consent", level=t("level_view")))
        assert t("technician_connecting") not in texts_on_screen(root)
        assert code not in texts_on_screen(root)
        await viewer.next_frame()
        on_state("sharing")

        await viewer.send(messages.ControlRequest())
        await shows(root, t("control_request_text", technician=name), t("control_allow"))
        await shows(root, t("control_keep_view"), t("ev_control_requested"))
        on_state("control-request")
        window.allow_control_button.invoke()
        await shows(root, t("level_control"), t("ev_consent", level=t("level_control")))
        assert t("control_allow") not in texts_on_screen(root)
        on_state("control")

        window.pause_button.invoke()
        await shows(root, t("ev_paused"), t("resume"))
        assert "pausiert" in window.indicator.cget("text") or "paused" in window.indicator.cget(
            "text"
        )
        on_state("paused")
        window.pause_button.invoke()
        await shows(root, t("ev_resumed"))
        window.view_radio.invoke()
        await shows(root, t("ev_consent", level=t("level_view")))
        await until(root, lambda: t("level_view") in window.indicator.cget("text"), "view only")
        on_state("view-only")

        if ending == "customer":
            window.end_button.invoke()
            reason = t("reason_customer")
        else:
            await viewer.send(messages.Bye("the technician ended the session"))
            reason = t("reason_viewer_left")
        await shows(root, t("end_title"), reason, t("end_close_hint"))
        screen = await shows(root, t("end_tariff", price=t.price(Tariff())))
        assert t("end_duration", duration="") in screen
        assert t("end_recording", path=record) in screen
        assert "1,67 €" in screen if language == "de" else "€1.67" in screen
        await until(root, host.finished.is_set, "the agent ends")
        root.update()
        assert root.winfo_exists() and root.winfo_ismapped(), "the window must stay"
        on_state(f"ended-by-{ending}")
    finally:
        if viewer is not None:
            await viewer.close()
        with contextlib.suppress(tk.TclError):
            window.close_window()
        host.agent.kill()
        await asyncio.to_thread(host.finished.wait, WAIT_SECONDS)
        status = host.finish()
        if ending == "unreachable":
            assert status != 0
        elif host.finished.is_set():
            assert status == 0


# -- the technician's viewer ----------------------------------------------------------------


class ViewerRun:
    """A Tk viewer in this thread, its network on another, as `fernwartung viewer` has."""

    def __init__(self, relay_url: str, fingerprint: str | None, token: str, code: str,
                 language: str) -> None:  # fmt: skip
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        settings = ClientSettings(relay_url, parse_code(code), token, fingerprint)
        self.record = Path(tempfile.mkdtemp(prefix="fernwartung-walk-viewer-"))
        self.client = ViewerClient(
            settings,
            on_event=self.events.put,
            evidence=viewer_evidence(self.record, relay_url),
        )
        self.root = tk.Tk(className="fernwartung")
        self.window = TkViewer(self.root, self.client, self.events, ViewerTexts(language))
        self.network = threading.Thread(
            target=_run_network, args=(self.client, self.events), daemon=True
        )
        self.network.start()

    async def close(self) -> None:
        self.client.request_end("the technician closed the viewer")
        await asyncio.to_thread(self.network.join, WAIT_SECONDS)
        with contextlib.suppress(tk.TclError):
            self.root.destroy()


async def walk_viewer(
    relay: RelayInfo, language: str, ending: str, on_state: OnState = lambda name: None
) -> None:
    """waiting for approval -> view only -> control -> paused -> view only again -> ended
    by `ending` ("customer", "technician"); "denied"; or "unreachable". The window stays."""
    gc.collect()  # Tk objects of an earlier window go here, on Tk's thread, not elsewhere
    t = ViewerTexts(language)
    token = add_technician(relay.data_dir, f"{TECHNICIAN} v {language} {ending}")
    if ending == "unreachable":
        run = ViewerRun(closed_port_url(), None, token, "123456 123456", language)
        try:
            await shows(run.root, t("end_relay_unreachable"), t("end_close_hint"))
            await asyncio.to_thread(run.network.join, WAIT_SECONDS)
            run.root.update()
            assert run.root.winfo_exists() and run.root.winfo_ismapped()
            on_state("relay-unreachable")
        finally:
            await run.close()
        return
    recorder = UiRecorder()
    agent = HostAgent(
        AgentSettings(relay.url, relay.fingerprint), Texts("de"), recorder.notify,
        SyntheticSource, NoInjectionBackend,
    )  # fmt: skip
    host = asyncio.create_task(agent.run())
    code = (await recorder.wait_for(ui.CodeReady)).spoken
    run = ViewerRun(relay.url, relay.fingerprint, token, code, language)
    root = run.root
    try:
        await recorder.wait_for(ui.ConsentAsked)
        await shows(root, t("phase_awaiting_consent", price=t.price(Tariff())))
        on_state("waiting-for-approval")
        if ending == "denied":
            agent.command(ui.Answer(messages.ConsentLevel.DENIED))
            await shows(root, t("end_denied"), t("end_close_hint"))
            on_state("denied")
            return
        agent.command(ui.Answer(messages.ConsentLevel.VIEW))
        await shows(root, t("consent_view"), t("status_session", number=parse_code(code).session))
        await until(root, lambda: run.window.frames_shown > 0, "the first frame is shown")
        on_state("view-only")
        agent.command(ui.ChangeLevel(messages.ConsentLevel.CONTROL))
        await shows(root, t("consent_control"))
        on_state("control")
        agent.command(ui.PauseSharing())
        await shows(root, t("phase_paused"))
        on_state("paused")
        agent.command(ui.ResumeSharing())
        agent.command(ui.ChangeLevel(messages.ConsentLevel.VIEW))
        await shows(root, t("control_taken_back"))
        on_state("control-taken-back")
        if ending == "customer":
            agent.command(ui.EndSession())
            expected = t("reason_customer_ended")
        else:
            run.window.end_button.invoke()
            expected = t("reason_you_ended")
        screen = await shows(root, t("end_ended"), expected, t("end_close_hint"))
        assert t("end_tariff", price=t.price(Tariff())) in screen
        assert t("end_duration", duration="") in screen
        await asyncio.to_thread(run.network.join, WAIT_SECONDS)
        root.update()
        assert root.winfo_exists() and root.winfo_ismapped(), "the window must stay"
        assert run.window.outcome is not None and run.window.outcome.status == 0
        screen = texts_on_screen(root)
        assert str(run.record) in screen, screen
        on_state(f"ended-by-{ending}")
    finally:
        await run.close()
        if not host.done():
            agent.command(ui.EndSession())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WAIT_SECONDS):
                await host
