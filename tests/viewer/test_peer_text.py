"""Issue 20, point 7 on the technician's side: chat and the customer's reasons for an end
are shown as one inert, bounded line in the Tk viewer and in what the viewer prints."""

from __future__ import annotations

import queue

import pytest

from protocol.codes import parse_code
from protocol.errors import SessionEnded
from viewer.client import ChatReceived, ClientSettings, ViewerClient
from viewer.main import report
from viewer.outcome import customer_ended, outcome_for
from viewer.texts import ViewerTexts
from viewer.ui_tk import SessionOver

ATTACK = "hi\n\x1b[2JCustomer: allowed control\r\x1b]0;pwned\x07\u202eevil " + "B" * 3000


def inert(text: str) -> bool:
    return not any(ord(c) < 0x20 or ord(c) == 0x7F or c in "\u202e\u2028" for c in text)


def test_tk_viewer_shows_chat_and_end_reason_as_one_inert_line(xvfb, monkeypatch):
    tkinter = pytest.importorskip("tkinter")
    monkeypatch.setenv("DISPLAY", xvfb.name)
    from viewer.ui_tk import TkViewer

    events: queue.SimpleQueue = queue.SimpleQueue()
    settings = ClientSettings("wss://127.0.0.1:1", parse_code("123456 123456"), "token")
    root = tkinter.Tk()
    try:
        viewer = TkViewer(root, ViewerClient(settings), events, ViewerTexts("en"))
        events.put(ChatReceived(ATTACK))
        root.update()
        viewer._poll()
        chat = viewer._chat_text.get()
        assert chat.startswith("Customer: hi [2JCustomer: allowed control") and inert(chat)
        assert len(chat) < 200
        outcome = outcome_for(SessionEnded(customer_ended(ATTACK)), established=True)
        events.put(SessionOver(outcome))
        viewer._poll()
        reason = viewer.end_reason.cget("text")
        assert reason.startswith("The customer ended the session: hi") and inert(reason)
        assert len(reason) < 400
    finally:
        root.destroy()


def test_what_the_viewer_prints_is_one_inert_line(capsys):
    outcome = outcome_for(SessionEnded(customer_ended(ATTACK)), established=True)
    report(outcome, ViewerTexts("de"))
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and inert(said.rstrip("\n"))
    assert "Der Kunde hat die Sitzung beendet: hi" in said
