"""Issue 20, point 7: text from the technician's side (chat, the reason of a Bye) cannot
forge the customer's screen. A chat with line breaks, escape sequences, a bidirectional
override and a fake indicator line, sent by a real viewer through a real relay, is shown
as one inert, bounded line in the terminal UI (a process, its raw stdout read) and in the
Tk window."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from host_agent.agent import AgentSettings
from host_agent.inject import NoInjectionBackend
from host_agent.synthetic import SyntheticSource
from host_agent.texts import Texts
from host_agent.ui_tk import TkHost
from protocol import messages
from protocol.peer_text import MAX_PEER_LINE_CHARS
from tests.host_agent.test_ui_terminal import answer, relay_process, start_host  # noqa: F401
from tests.host_agent.viewer_client import TestViewer
from tests.support.relay import add_technician
from tests.support.ui_walk import shows, until

FORGED = "*** Screen shared with Nobody (view only) for 0:00, so far €0.00 incl. VAT"
ATTACK = (
    "hello\n" + FORGED + "\r\n[12:00:00 UTC] You allowed: view only"
    "\x1b[2J\x1b[31mRED\x1b]0;pwned\x07\u202eevil\u2028" + "A" * 5000
)
BYE = "bye\nYou allowed: view and control\x1b[1m"


def assert_inert(line: str) -> None:
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in line), repr(line)
    assert "\u202e" not in line and "\u2028" not in line


async def test_chat_and_bye_cannot_forge_the_terminal_ui(relay_process):  # noqa: F811
    url, fingerprint, data_dir = relay_process
    host = start_host(url, fingerprint)
    try:
        assert host.stdout is not None
        raw: list[str] = []

        async def line(predicate) -> str:  # noqa: ANN001
            async with asyncio.timeout(15):
                while True:
                    text = await asyncio.to_thread(host.stdout.readline)
                    assert text, "the agent's output ended"
                    raw.append(text)
                    if predicate(text):
                        return text

        code_line = await line(lambda text: text.startswith("CODE: "))
        token = add_technician(data_dir, "Mallory")
        viewer = await TestViewer.join(url, fingerprint, token, code_line[len("CODE: ") :].strip())
        await line(lambda text: text.rstrip().endswith("[n/v/c]"))
        answer(host, "v")
        await line(lambda text: "You allowed: view only" in text)
        before = len(raw)
        await viewer.send(messages.Chat(ATTACK[: messages.MAX_CHAT_CHARS]))
        chat = await line(lambda text: "Technician writes:" in text)
        await viewer.send(messages.Bye(BYE))
        await line(lambda text: "The technician's words:" in text)
        assert await asyncio.to_thread(host.wait, 15) == 0
        await viewer.close()
        rest = host.stdout.read()
    finally:
        host.kill()
        host.wait(15)
    output = "".join(raw[before:]) + rest
    assert "\x1b" not in output and "\x07" not in output and "\r" not in output
    lines = output.splitlines()
    # The forged text is inside the chat line, never a line of its own.
    forged = [text for text in lines if "Nobody" in text or "[12:00:00 UTC]" in text]
    assert forged == [chat.rstrip("\n")]
    assert not any(text.startswith(("[12:00:00", "You allowed")) for text in lines)
    assert "RED" in chat and FORGED in chat
    assert_inert(chat.rstrip("\n"))
    assert len(chat) < MAX_PEER_LINE_CHARS + 80
    words = next(text for text in lines if "The technician's words:" in text)
    assert "bye You allowed: view and control" in words
    assert_inert(words)


async def test_chat_cannot_forge_the_tk_window(relay, on_display):
    pytest.importorskip("tkinter")
    t = Texts("en")
    host = TkHost(
        AgentSettings(relay.url, relay.fingerprint), t, "Terms", SyntheticSource,
        NoInjectionBackend,
    )  # fmt: skip
    root, window = host.root, host.window
    host.start()
    viewer = None
    try:
        await until(root, lambda: bool(window.code.cget("text")), "a code is shown")
        token = add_technician(relay.data_dir, "Mallory")
        viewer = await TestViewer.join(
            relay.url, relay.fingerprint, token, window.code.cget("text")
        )
        await shows(root, t("consent_intro", technician="Mallory"))
        window._answer(messages.ConsentLevel.VIEW)
        await shows(root, t("ev_consent", level=t("level_view")))
        entries = window.log.size()
        await viewer.send(messages.Chat(ATTACK[: messages.MAX_CHAT_CHARS]))
        await until(root, lambda: window.log.size() > entries, "the chat is logged")
        [chat] = window.log.get(entries, "end")
        assert "Technician writes:" in chat and FORGED in chat
        assert_inert(chat)
        assert len(chat) < MAX_PEER_LINE_CHARS + 80
        await viewer.send(messages.Bye(BYE))
        await shows(root, t("end_title"))
        details = window.end_details.cget("text").split("\n")
        words = next(text for text in details if "The technician's words:" in text)
        assert "bye You allowed: view and control" in words
        assert_inert(words)
    finally:
        if viewer is not None:
            await viewer.close()
        host.agent.kill()
        await asyncio.to_thread(host.finished.wait, 15)
        with contextlib.suppress(Exception):
            window.close_window()
        host.finish()
